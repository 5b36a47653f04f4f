package account

import (
	"context"
	"time"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
)

// Store is the part of a store the account service uses, by concern. Each method means
// what the store.Store method of the same name promises; a store.Store has them all. The
// exchange's reads and writes, signing keys, retention and the outbox's sender are not
// here: account neither matches tokens nor sends mail.
type Store interface {
	Users
	Factors
	Sessions
	Emails
	Projects
	Members
	Publishers
	Index
	AuditLog
	// RevokeUploadToken revokes a leaked upload token (store.Store.RevokeUploadToken).
	RevokeUploadToken(ctx context.Context, id string, at time.Time) error
}

var _ Store = store.Store(nil)

// Users are the accounts themselves and their passwords.
type Users interface {
	CreateUser(ctx context.Context, u store.User) (store.User, error)
	CreateInvitedUser(ctx context.Context, u store.User, hash string, now time.Time) (store.User, error)
	DeleteUser(ctx context.Context, id int64) error
	UserByName(ctx context.Context, name string) (store.User, error)
	UserByID(ctx context.Context, id int64) (store.User, error)
	SetPassword(ctx context.Context, userID int64, hash string) error
}

// Factors are a user's second factors: TOTP, WebAuthn credentials and their ceremonies,
// recovery codes.
type Factors interface {
	SetTOTP(ctx context.Context, userID int64, sealed []byte, confirmed bool) error
	UseTOTPStep(ctx context.Context, userID int64, step int64) (bool, error)
	ConfirmTOTP(ctx context.Context, userID int64, sealed []byte, step int64) (bool, error)
	RemoveTOTP(ctx context.Context, userID int64) error

	PutChallenge(ctx context.Context, sessionID, ceremony string, data []byte, expires time.Time) error
	TakeChallenge(ctx context.Context, sessionID, ceremony string, now time.Time) ([]byte, error)
	AddWebAuthnCredential(ctx context.Context, c store.WebAuthnCredential) (store.WebAuthnCredential, error)
	WebAuthnCredentials(ctx context.Context, userID int64) ([]store.WebAuthnCredential, error)
	UseWebAuthnCredential(ctx context.Context, id int64, count uint32, record []byte, at time.Time) (bool, error)
	RenameWebAuthnCredential(ctx context.Context, userID, id int64, name string) error
	RemoveWebAuthnCredential(ctx context.Context, userID, id int64) error

	ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes []string, at time.Time) error
	UseRecoveryCode(ctx context.Context, userID int64, hash string, at time.Time) (bool, error)
	RecoveryCodesLeft(ctx context.Context, userID int64) (int, error)
}

// Sessions are what account does to a user's browser sessions: list and end them, spend
// a second-factor proof. Making and finding sessions is the web UI's.
type Sessions interface {
	DeleteSession(ctx context.Context, id string) error
	DeleteUserSessions(ctx context.Context, userID int64, except string) (int64, error)
	UserSessions(ctx context.Context, userID int64, now time.Time) ([]store.Session, error)
	SpendFactorProof(ctx context.Context, id string, notBefore time.Time) (bool, error)
}

// Emails are address verification and the outbox that messages are queued in.
type Emails interface {
	CreateEmailToken(ctx context.Context, t store.EmailToken) error
	UseEmailToken(ctx context.Context, hash string, now time.Time) (int64, error)
	PeekEmailToken(ctx context.Context, hash string, now time.Time) (store.EmailToken, error)
	EmailVerified(ctx context.Context, userID int64) (bool, error)
	EnqueueMail(ctx context.Context, msgs []store.Mail) error
}

// Projects are the projects and who may act on them.
type Projects interface {
	CreateProject(ctx context.Context, name string, owner int64, at time.Time) (store.Project, error)
	CreateProjectOwned(ctx context.Context, name string, owners []int64, at time.Time) (store.Project, error)
	ProjectByName(ctx context.Context, name string) (store.Project, error)
	RenameProject(ctx context.Context, id int64, name string) (store.Project, error)
	DeleteProject(ctx context.Context, id int64, at time.Time) ([]string, error)
	ListProjects(ctx context.Context, after int64, limit int) ([]store.Project, error)
	ProjectsOwnedBy(ctx context.Context, userID int64) ([]store.Project, error)
	ProjectsMaintainedBy(ctx context.Context, userID int64) ([]store.Project, error)
	MemberRole(ctx context.Context, projectID, userID int64) (store.Role, error)
}

// Members are a project's owners and maintainers, and the invitations to become one.
type Members interface {
	ProjectOwners(ctx context.Context, projectID int64) ([]store.Owner, error)
	OwnersOf(ctx context.Context, projectIDs []int64) (map[int64][]store.Owner, error)
	ProjectMembers(ctx context.Context, projectID int64) ([]store.Owner, error)
	SetOwners(ctx context.Context, projectID int64, users []int64) (added, removed []int64, err error)
	RemoveOwner(ctx context.Context, projectID, userID int64) error
	Invite(ctx context.Context, inv store.Invitation) error
	Invitations(ctx context.Context, projectID, userID int64, now time.Time) ([]store.Invitation, error)
	AcceptInvitation(ctx context.Context, projectID, userID int64, now time.Time) error
	RemoveInvitation(ctx context.Context, projectID, userID int64) error
}

// Publishers are the active and pending publishers, and the exchanges that failed to
// match them, which their owners see.
type Publishers interface {
	AddPublisher(ctx context.Context, p store.Publisher) (store.Publisher, error)
	PublisherByID(ctx context.Context, id int64) (store.Publisher, error)
	RemovePublisher(ctx context.Context, id int64) error
	SetPublisherRules(ctx context.Context, id int64, refs policy.RefRules, calledWorkflow string) error
	ListPublishers(ctx context.Context, projectID int64) ([]store.Publisher, error)

	AddPending(ctx context.Context, p store.PendingPublisher) (store.PendingPublisher, error)
	RemovePending(ctx context.Context, id int64) error
	ListPending(ctx context.Context, userID int64) ([]store.PendingPublisher, error)

	RecordFailedExchanges(ctx context.Context, failures []store.FailedExchange) error
	FailedExchanges(ctx context.Context, projectID int64) ([]store.FailedExchange, error)
}

// Index is what an index that tpx serves sets through its admin API and sign-in: API
// keys, the names it grants to pending publishers, linked identities, invitations to
// sign up.
type Index interface {
	CreateAPIKey(ctx context.Context, k store.APIKey) (store.APIKey, error)
	APIKeyByLookup(ctx context.Context, lookup string) (store.APIKey, error)
	APIKeys(ctx context.Context) ([]store.APIKey, error)
	RevokeAPIKey(ctx context.Context, id int64, at time.Time) error
	TouchAPIKey(ctx context.Context, id int64, at time.Time) error

	Grants
	GrantPending(ctx context.Context, g store.PendingGrant) error
	RevokePendingGrant(ctx context.Context, userID int64, name string) error
	PendingGrants(ctx context.Context, userID int64) ([]store.PendingGrant, error)

	LinkIdentity(ctx context.Context, id store.ExternalIdentity) error
	CreateLinkedUser(ctx context.Context, u store.User, link store.ExternalIdentity, invitation string) (store.User, error)
	UserByIdentity(ctx context.Context, issuer, subject string) (store.User, error)

	CreateSignupInvitation(ctx context.Context, inv store.SignupInvitation) error
	SignupInvitation(ctx context.Context, hash string, now time.Time) (store.SignupInvitation, error)
}

// Grants is what the exchange's view of pending publishers needs when the index manages
// projects (Service.ForExchange).
type Grants interface {
	HasPendingGrant(ctx context.Context, userID int64, name string) (bool, error)
}

// AuditLog is the audit log: written by every action, read by owners and by the index.
type AuditLog interface {
	Audit(ctx context.Context, e store.AuditEvent) error
	AuditLog(ctx context.Context, projectID, userID int64, limit int) ([]store.AuditEvent, error)
	AuditAfter(ctx context.Context, after int64, limit int, except string) ([]store.AuditEvent, error)
}
