package store

import (
	"context"
	"time"

	"github.com/tpx-dev/tpx/fault"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/verify"
)

// Errors every backend returns for the same conditions, so the core can tell them apart.
var (
	ErrNotFound          = fault.New(fault.NotFound, "not found")
	ErrConflict          = fault.New(fault.Conflict, "already exists")
	ErrReplay            = fault.New(fault.Conflict, "token id already used")
	ErrPinConflict       = fault.New(fault.Conflict, "publisher pinned to other ids")
	ErrRulesChanged      = fault.New(fault.Conflict, "publisher's rules changed since it was matched")
	ErrPendingTaken      = fault.New(fault.Conflict, "pending publisher's project name was taken")
	ErrTooManyPublishers = fault.New(fault.Conflict, "project has the most publishers allowed")
	ErrTooManyPending    = fault.New(fault.Conflict, "user has the most pending publishers allowed")
	ErrContested         = fault.New(fault.Conflict, "another user's pending publisher claims the same jobs")
	ErrUnavailable       = fault.New(fault.Unavailable, "database unavailable")
	// ErrNamesChanged: the store's project names are keyed by another naming rule than
	// the one asked for (UseNames).
	ErrNamesChanged = fault.New(fault.Conflict, "project names are keyed by another naming rule")
)

// Limits enforced by the store inside the same transaction as the insert.
const (
	MaxPublishersPerProject = 20
	MaxPendingPerUser       = 3
)

// Bounds on what FindCandidates reads and returns, whatever others registered.
const (
	// MaxCandidateRegistrants is the most registrants (users who registered publishers)
	// whose active publishers FindCandidates reads for one job.
	MaxCandidateRegistrants = 9
	// MaxCandidateProjects is what the registrants read share: each of R reads its first
	// ⌊MaxCandidateProjects/R⌋ (at least one) publishers bound to the job's environment and
	// as many bound to none. One more than an upload token covers, so that the exchange
	// knows when projects were left out.
	MaxCandidateProjects = 9
	// MaxNearMisses is the most publishers of each kind FindCandidates returns that the
	// job cannot satisfy.
	MaxNearMisses = 4
	// ShortCandidateRead is the most publishers of each kind (active, pending) that a
	// repository may have for one issuer for FindCandidates to read them all and choose
	// among them as the bounded read would, which costs a backend far less; with more, it
	// runs the bounded read.
	ShortCandidateRead = 16
)

type Project struct {
	ID        int64
	Name      string
	CreatedAt time.Time
}

// Publisher is an active publisher: a policy.Publisher attached to one project.
type Publisher struct {
	policy.Publisher
	ProjectID   int64
	ProjectName string
	CreatedBy   int64 // user id
	CreatedAt   time.Time
	LastUsedAt  *time.Time
	// RulesVersion counts the changes of the publisher's rules (ref rules and called
	// workflow): an exchange names the version it matched, and fails if it changed.
	RulesVersion int64
}

// PendingPublisher is registered by a user for a project that does not exist yet. The
// first matching exchange creates the project with the registrant as owner.
type PendingPublisher struct {
	policy.Publisher
	ProjectName string
	UserID      int64
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// Pin records the ids observed on a publisher's first successful use.
type Pin struct {
	PublisherID  int64
	OwnerID      string
	RepositoryID string
}

// LastUseResolution is how precisely a publisher's last use is kept: an exchange writes
// it only when it is older than that, so that a publisher that every job of a busy
// repository uses is written once a minute, not once per job.
const LastUseResolution = time.Minute

// LastUseRecent is whether a publisher last used at last (nil: never) needs no new record
// of a use at at.
func LastUseRecent(last *time.Time, at time.Time) bool {
	return last != nil && at.Sub(*last) < LastUseResolution
}

// MaxUploadTokenLifetime bounds the lifetime of upload tokens, and ExchangeSpan the time
// between an exchange's At and the signing of its token: CommitExchange refuses a token
// that expires later than both after At, so that revocation need look no further back
// than that among the exchanges for the tokens still live.
const (
	MaxUploadTokenLifetime = time.Hour
	ExchangeSpan           = time.Minute
)

// Exchange is everything one successful exchange writes, in one transaction.
type Exchange struct {
	At         time.Time
	Issuer     string
	JTI        string
	JTIExpires time.Time // the replay record is kept until then
	// Publishers are the matched active publishers; Pins those among them to pin now.
	Publishers []int64
	// RulesVersions are the versions of Publishers' rules (Publisher.RulesVersion) that
	// the exchange matched, in the same order: if any publisher's rules changed since,
	// the exchange fails with ErrRulesChanged and nothing is written.
	RulesVersions []int64
	Pins          []Pin
	// Recent are those of Publishers whose last use is recent (LastUseRecent): their last
	// use is not written again, and they are only held against removal and changes of
	// their rules until the commit, which concurrent exchanges can do together. A backend
	// that cannot hold a row without writing it writes every use.
	Recent []int64
	// Pending are matched pending publishers: each creates its project (owned by the
	// registrant) and becomes an active publisher pinned to the identity's ids.
	Pending []PendingPublisher
	// Identity facts recorded for the audit log.
	Identity policy.Identity
	// The upload token handed out.
	TokenID      string
	TokenSubject string    // its sub claim
	TokenExpires time.Time // at most MaxUploadTokenLifetime + ExchangeSpan after At
	Projects     []string
	// Events are audit events written with the exchange ("token minted" on each
	// project's log), so the log of a minted token cannot be lost.
	Events []AuditEvent
}

// UploadToken is the server-side record of a minted upload token.
type UploadToken struct {
	ID        string
	Projects  []string
	Subject   string
	IssuedAt  time.Time
	ExpiresAt time.Time
	RevokedAt *time.Time
}

// SigningKey is an upload-token signing key. Private is sealed (internal/secretbox).
type SigningKey struct {
	ID         string // kid
	Algorithm  string
	Private    []byte
	PublicJWK  []byte // JSON of the public JWK
	CreatedAt  time.Time
	ActivateAt time.Time // not used to sign before this; published from CreatedAt
}

// AuditEvent is one line of the audit log.
type AuditEvent struct {
	ID        int64
	At        time.Time
	Actor     string // "operator" for the command line, "web", "exchange"
	UserID    int64  // acting user, 0 if none
	ProjectID int64  // 0 if not about a project
	Action    string // "publisher.add", "publisher.remove", "totp.enroll", …
	Detail    string // plain words, never a secret
	// UserName and ProjectName are the names of UserID and ProjectID as they are now,
	// "" once deleted; only AuditAfter reads them.
	UserName, ProjectName string
}

// Store is the contract both backends (SQLite and PostgreSQL) implement; the conformance
// suite in storetest holds them to it. Methods that change data do so atomically: on error
// nothing is changed.
type Store interface {
	Close() error
	Ping(ctx context.Context) error
	// Migrate applies the embedded migrations not yet applied (serialised across
	// replicas on PostgreSQL with an advisory lock).
	Migrate(ctx context.Context) error
	// UseNames makes names (the index's naming rule, TPX_NAMES) the form project names
	// are unique and looked up in; call it after Migrate, before anything else. A store
	// whose names were keyed by another rule is rekeyed only when rekey is set (tpx
	// migrate) — failing, naming them, when names would fold onto one another — or when
	// it holds no project names yet; otherwise ErrNamesChanged, and nothing changes.
	UseNames(ctx context.Context, names verify.Names, rekey bool) error

	// CreateUser stores u (ErrConflict if the name is taken, ErrEmailTaken if the email
	// address is, both compared without case).
	CreateUser(ctx context.Context, u User) (User, error)
	// UserByName finds a user by name, compared without case.
	UserByName(ctx context.Context, name string) (User, error)
	UserByID(ctx context.Context, id int64) (User, error)
	// SetTOTP stores a sealed TOTP secret (nil removes it) and whether it is confirmed,
	// resetting the last used step.
	SetTOTP(ctx context.Context, userID int64, sealed []byte, confirmed bool) error
	// UseTOTPStep records step as used if it is later than the last used one; false if not.
	UseTOTPStep(ctx context.Context, userID int64, step int64) (bool, error)

	// CreateProject creates a project owned by owner (ErrConflict if the name is taken,
	// compared in verify.ProjectKey form; ErrNotFound if owner is not a user).
	CreateProject(ctx context.Context, name string, owner int64, at time.Time) (Project, error)
	// ProjectByName finds a project by name, compared in verify.ProjectKey form.
	ProjectByName(ctx context.Context, name string) (Project, error)
	// IsOwner reports whether the user is a member of the project in RoleOwner.
	IsOwner(ctx context.Context, projectID, userID int64) (bool, error)
	// ProjectsOwnedBy lists the projects the user owns (RoleOwner) by name.
	ProjectsOwnedBy(ctx context.Context, userID int64) ([]Project, error)
	// ProjectsMaintainedBy lists the projects the user is a maintainer of by name.
	ProjectsMaintainedBy(ctx context.Context, userID int64) ([]Project, error)
	// MemberRole returns the user's role in the project (ErrNotFound if none).
	MemberRole(ctx context.Context, projectID, userID int64) (Role, error)

	// AddPublisher stores p on its project (ErrTooManyPublishers past the limit,
	// ErrConflict for an identical publisher on the same project) and returns it with its id.
	AddPublisher(ctx context.Context, p Publisher) (Publisher, error)
	PublisherByID(ctx context.Context, id int64) (Publisher, error)
	RemovePublisher(ctx context.Context, id int64) error
	// SetPublisherRules replaces publisher id's ref rules and called-workflow pin
	// (ErrNotFound if there is no such publisher).
	SetPublisherRules(ctx context.Context, id int64, refs policy.RefRules, calledWorkflow string) error
	// ListPublishers lists the publishers of one project, or all when projectID is 0.
	ListPublishers(ctx context.Context, projectID int64) ([]Publisher, error)

	// AddPending stores a pending publisher (ErrTooManyPending past the per-user limit,
	// counting those unexpired at p.CreatedAt; ErrConflict for an unexpired identical one
	// for the same project name; ErrContested when another user's unexpired pending
	// publisher has the same rules, policy.SameRules, for whatever project name).
	AddPending(ctx context.Context, p PendingPublisher) (PendingPublisher, error)
	RemovePending(ctx context.Context, id int64) error
	// ListPending lists a user's pending publishers, expired ones included, oldest first.
	ListPending(ctx context.Context, userID int64) ([]PendingPublisher, error)
	// FindCandidates returns, from one snapshot of the database (a pending publisher
	// converted meanwhile shows up as itself or as its active successor, never as neither),
	// publishers bound to issuer whose policy.RepositoryKey equals key that job may
	// satisfy, and at most MaxNearMisses of each kind that it cannot (for the refusal
	// records). When job.Project is set, only that project's publishers. Otherwise, of the
	// active ones whose workflow and environment fit the job, in two ranges (bound to the
	// job's environment, and to none): of each range's first MaxCandidateRegistrants
	// registrants by user id, the first MaxCandidateRegistrants, those with a publisher
	// bound to the job's environment first, then by user id; of each, its first
	// ⌊MaxCandidateProjects/R⌋ (at least one) publishers by id of each range where it was
	// among the first, R being the registrants chosen, of which those whose pinned ids fit;
	// and every fitting publisher of the projects those belong to. Pending publishers count
	// only while unexpired at now and while their project name does not exist. Whatever
	// others register, what the read costs is bounded by what it returns.
	FindCandidates(ctx context.Context, issuer, key string, job Job, now time.Time) ([]Publisher, []PendingPublisher, error)

	// CommitExchange writes an exchange atomically: its record, which is also the replay
	// record (ErrReplay if (Issuer, JTI) is recorded) and the upload token's record, the pins (ErrPinConflict if a publisher was pinned to other
	// ids meanwhile), the pending conversions (ErrPendingTaken, wrapped in a
	// *PendingTakenError naming them, if a project name exists or the pending publisher
	// is gone; the caller then removes those pending publishers, and may find them gone),
	// last-used times (ErrNotFound if a matched publisher was removed meanwhile,
	// ErrRulesChanged if the rules of one are no longer of the version in RulesVersions)
	// and the audit events. A token expiring more than MaxUploadTokenLifetime + ExchangeSpan after
	// At is refused. On any error nothing is written.
	CommitExchange(ctx context.Context, e Exchange) error

	UploadToken(ctx context.Context, id string) (UploadToken, error)
	RevokeUploadToken(ctx context.Context, id string, at time.Time) error

	// SigningKeys returns every stored signing key, oldest first.
	SigningKeys(ctx context.Context) ([]SigningKey, error)
	// AddSigningKeyUnlessNewer stores k unless a key created after notAfter exists; it is
	// serialised across replicas, so two concurrent rotations store one key.
	AddSigningKeyUnlessNewer(ctx context.Context, k SigningKey, notAfter time.Time) (bool, error)
	DeleteSigningKey(ctx context.Context, id string) error

	Audit(ctx context.Context, e AuditEvent) error
	// AuditLog returns up to limit events (a default page when limit <= 0), newest first,
	// of one project and/or one user; a zero id does not filter.
	AuditLog(ctx context.Context, projectID, userID int64, limit int) ([]AuditEvent, error)

	// Retain applies p in one transaction, one caller at a time across replicas (an
	// advisory lock on PostgreSQL): it tells the registrant of each pending publisher that
	// expires within p.NoticeBefore, once, with an audit event of theirs and, if their
	// address is verified, a message in the outbox; records each expired pending
	// publisher in its registrant's audit log and deletes it; and deletes the exchange
	// records older than p.KeepExchanges whose CI token and upload token have both expired
	// (each is also the replay record of its CI token and the record of its upload token).
	// Call it periodically: nothing else bounds the exchange records.
	Retain(ctx context.Context, p RetentionPolicy) (Retained, error)

	// Passwords and second factors (factors.go), sessions (sessions.go), email
	// verification (emails.go), the outbox (outbox.go), owners, maintainers and invitations
	// (owners.go), failed exchanges (failures.go).

	// SetPassword replaces a user's password hash (ErrNotFound for no such user).
	SetPassword(ctx context.Context, userID int64, hash string) error
	// ConfirmTOTP marks the user's TOTP secret confirmed and records step as its last used
	// step, only if the stored secret is still sealed and unconfirmed; false if not.
	ConfirmTOTP(ctx context.Context, userID int64, sealed []byte, step int64) (bool, error)
	// RemoveTOTP removes the user's TOTP, unless it is their only second factor
	// (ErrLastFactor; ErrNotFound if they have none).
	RemoveTOTP(ctx context.Context, userID int64) error

	// CreateSession stores s (ErrConflict if its id exists).
	CreateSession(ctx context.Context, s Session) error
	// Session returns the session with id unless it expired at now (ErrNotFound).
	Session(ctx context.Context, id string, now time.Time) (Session, error)
	// RenewSession replaces session oldID by s atomically (ErrNotFound if oldID is gone).
	RenewSession(ctx context.Context, oldID string, s Session) error
	DeleteSession(ctx context.Context, id string) error
	// DeleteUserSessions deletes the user's sessions except the one with id except.
	DeleteUserSessions(ctx context.Context, userID int64, except string) (int64, error)
	// UserSessions lists the user's sessions unexpired at now, last seen first.
	UserSessions(ctx context.Context, userID int64, now time.Time) ([]Session, error)
	// TouchSession records a use of session id at time at, from address and userAgent.
	TouchSession(ctx context.Context, id string, at time.Time, address, userAgent string) error
	// SpendFactorProof clears the session's second-factor proof if it was made after
	// notBefore, and reports whether it was: of two requests racing with one proof, one
	// gets it.
	SpendFactorProof(ctx context.Context, id string, notBefore time.Time) (bool, error)

	// PutChallenge stores a WebAuthn ceremony's data for a session, replacing that
	// session's earlier one of the same ceremony (ErrNotFound if the session is gone).
	PutChallenge(ctx context.Context, sessionID, ceremony string, data []byte, expires time.Time) error
	// TakeChallenge deletes and returns it; ErrNotFound if absent or expired at now.
	TakeChallenge(ctx context.Context, sessionID, ceremony string, now time.Time) ([]byte, error)

	// AddWebAuthnCredential stores c (ErrConflict for a credential id already registered).
	AddWebAuthnCredential(ctx context.Context, c WebAuthnCredential) (WebAuthnCredential, error)
	// WebAuthnCredentials lists a user's credentials, oldest first.
	WebAuthnCredentials(ctx context.Context, userID int64) ([]WebAuthnCredential, error)
	// UseWebAuthnCredential records a login with credential id whose authenticator
	// reported count, storing record (the credential with its updated flags): only if count
	// is above the stored counter, or both are zero (an authenticator without a counter);
	// false otherwise (a cloned key or a replay).
	UseWebAuthnCredential(ctx context.Context, id int64, count uint32, record []byte, at time.Time) (bool, error)
	RenameWebAuthnCredential(ctx context.Context, userID, id int64, name string) error
	// RemoveWebAuthnCredential removes the user's credential id, unless it is their only
	// second factor (ErrLastFactor).
	RemoveWebAuthnCredential(ctx context.Context, userID, id int64) error

	// ReplaceRecoveryCodes replaces all the user's recovery codes by hashes.
	ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes []string, at time.Time) error
	// UseRecoveryCode marks the user's unused code with hash used; false if there is none.
	UseRecoveryCode(ctx context.Context, userID int64, hash string, at time.Time) (bool, error)
	RecoveryCodesLeft(ctx context.Context, userID int64) (int, error)

	// CreateEmailToken stores a verification token for the user's address t.Email.
	CreateEmailToken(ctx context.Context, t EmailToken) error
	// UseEmailToken deletes the token and marks the user's address verified if it is still
	// the token's; it returns the user. ErrNotFound if absent or expired at now.
	UseEmailToken(ctx context.Context, hash string, now time.Time) (int64, error)
	EmailVerified(ctx context.Context, userID int64) (bool, error)
	// PeekEmailToken returns the token without using it; ErrNotFound if absent or
	// expired at now.
	PeekEmailToken(ctx context.Context, hash string, now time.Time) (EmailToken, error)

	// EnqueueMail stores messages, dropping those whose DedupeKey is already in the outbox.
	EnqueueMail(ctx context.Context, msgs []Mail) error
	// ClaimMail leases up to limit unsent messages whose lease ended at now, tried fewer
	// than MailAttempts times, until now+lease, counting an attempt; oldest first.
	ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Mail, error)
	MarkMailSent(ctx context.Context, id int64, at time.Time) error
	MarkMailFailed(ctx context.Context, id int64, reason string) error

	// ProjectOwners lists a project's owners (RoleOwner) by name.
	ProjectOwners(ctx context.Context, projectID int64) ([]Owner, error)
	// OwnersOf lists the owners (RoleOwner) of each of several projects, by name, in one
	// read; a project without owners, or that does not exist, has no entry.
	OwnersOf(ctx context.Context, projectIDs []int64) (map[int64][]Owner, error)
	// ProjectMembers lists a project's members of every role, owners first, then by name.
	ProjectMembers(ctx context.Context, projectID int64) ([]Owner, error)
	// RemoveOwner removes a member of any role, unless they are the last owner
	// (ErrLastOwner).
	RemoveOwner(ctx context.Context, projectID, userID int64) error
	// Invite stores an invitation to inv.Role (RoleOwner when empty; ErrConflict if the
	// user is a member of the project or is invited).
	Invite(ctx context.Context, inv Invitation) error
	// Invitations lists the invitations of a project (userID 0) or to a user (projectID
	// 0) unexpired at now, oldest first.
	Invitations(ctx context.Context, projectID, userID int64, now time.Time) ([]Invitation, error)
	// AcceptInvitation makes the invitee a member in the invitation's role and deletes the
	// invitation; ErrNotFound if there is no unexpired one at now.
	AcceptInvitation(ctx context.Context, projectID, userID int64, now time.Time) error
	RemoveInvitation(ctx context.Context, projectID, userID int64) error

	// RecordFailedExchanges stores failures, keeping the newest MaxFailedPerProject of
	// each project.
	RecordFailedExchanges(ctx context.Context, failures []FailedExchange) error
	// FailedExchanges returns a project's failures, newest first.
	FailedExchanges(ctx context.Context, projectID int64) ([]FailedExchange, error)

	// API keys (apikeys.go), projects and owners set by an index, pending grants
	// (grants.go), linked identities and sign-up invitations (users.go), and the audit feed an
	// index mirrors: what the admin API of an index and sign-in through it need.

	// CreateAPIKey stores k (ErrConflict if its Lookup exists).
	CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error)
	// APIKeyByLookup finds a key, revoked or not (ErrNotFound).
	APIKeyByLookup(ctx context.Context, lookup string) (APIKey, error)
	// APIKeys lists every key, oldest first.
	APIKeys(ctx context.Context) ([]APIKey, error)
	// RevokeAPIKey revokes key id at at; revoking a revoked key keeps the first time
	// (ErrNotFound for no such key).
	RevokeAPIKey(ctx context.Context, id int64, at time.Time) error
	// TouchAPIKey records a use of key id.
	TouchAPIKey(ctx context.Context, id int64, at time.Time) error

	// CreateProjectOwned creates a project owned by owners, possibly none (ErrConflict if
	// the name is taken in canonical form; ErrNotFound if an owner is not a user).
	CreateProjectOwned(ctx context.Context, name string, owners []int64, at time.Time) (Project, error)
	ProjectByID(ctx context.Context, id int64) (Project, error)
	// RenameProject gives project id a new name (ErrConflict if another project has it
	// in canonical form; ErrNotFound for no such project).
	RenameProject(ctx context.Context, id int64, name string) (Project, error)
	// DeleteProject deletes a project with its publishers, owners and invitations, and
	// revokes at at every upload token that names it and is live at at, in one
	// transaction; it returns the ids of the tokens it revoked (ErrNotFound for no such
	// project).
	DeleteProject(ctx context.Context, id int64, at time.Time) ([]string, error)
	// ListProjects lists up to limit projects with ids above after, by id.
	ListProjects(ctx context.Context, after int64, limit int) ([]Project, error)
	// SetOwners makes users exactly the owners of project id, in one transaction, and
	// returns who was added and who removed (ErrNotFound if the project or a user is
	// not there; then nothing changes).
	SetOwners(ctx context.Context, projectID int64, users []int64) (added, removed []int64, err error)

	// GrantPending grants name to g.UserID; granting it again changes nothing (ErrNotFound
	// for no such user).
	GrantPending(ctx context.Context, g PendingGrant) error
	// RevokePendingGrant withdraws a grant (ErrNotFound if there was none).
	RevokePendingGrant(ctx context.Context, userID int64, name string) error
	// PendingGrants lists a user's grants by name.
	PendingGrants(ctx context.Context, userID int64) ([]PendingGrant, error)
	// HasPendingGrant reports whether name, in canonical form, was granted to the user.
	HasPendingGrant(ctx context.Context, userID int64, name string) (bool, error)

	// LinkIdentity links (Issuer, Subject) to a user (ErrIdentityTaken if that pair is linked
	// already; ErrNotFound for no such user).
	LinkIdentity(ctx context.Context, id ExternalIdentity) error
	// DeleteUser deletes a user with their sessions, factors, memberships, linked
	// identities, grants and pending publishers; publishers they added stay (ErrNotFound
	// for no such user).
	DeleteUser(ctx context.Context, id int64) error
	// UserByIdentity finds the user linked to (issuer, subject) (ErrNotFound).
	UserByIdentity(ctx context.Context, issuer, subject string) (User, error)
	// CreateLinkedUser creates u with its address verified at u.CreatedAt (the index, or
	// its identity provider, vouches for it), links link's (Issuer, Subject) to it unless
	// Issuer is empty, and spends the sign-up invitation whose hash is invitation unless
	// it is empty, all in one transaction: ErrConflict if the name is taken,
	// ErrEmailTaken if the address, ErrIdentityTaken if the pair is linked, ErrNotFound if
	// the invitation is gone or expired at u.CreatedAt. On error nothing changes.
	CreateLinkedUser(ctx context.Context, u User, link ExternalIdentity, invitation string) (User, error)

	// CreateSignupInvitation stores an invitation.
	CreateSignupInvitation(ctx context.Context, inv SignupInvitation) error
	// SignupInvitation finds an unexpired invitation at now (ErrNotFound).
	SignupInvitation(ctx context.Context, hash string, now time.Time) (SignupInvitation, error)
	// CreateInvitedUser creates u and deletes the invitation with hash in one
	// transaction: ErrNotFound if the invitation is gone or expired at now, ErrConflict if
	// the name is taken; on error neither changes.
	CreateInvitedUser(ctx context.Context, u User, hash string, now time.Time) (User, error)

	// AuditAfter returns up to limit events with ids above after and an action other than
	// except, oldest first, with the names their user and project have now: the feed an
	// index mirrors into its own journal. Every event with a smaller id than one it
	// returns is committed already (or never will be), so that a reader whose cursor
	// moves past the last event returned never passes over one.
	AuditAfter(ctx context.Context, after int64, limit int, except string) ([]AuditEvent, error)

	// DeleteExpired deletes sessions, challenges, email tokens and invitations expired at
	// now, but for those another transaction holds (the next sweep takes them), and
	// messages sent (or given up on) more than SentMailKept before now; it returns how many.
	DeleteExpired(ctx context.Context, now time.Time) (int64, error)
}

// PendingTakenError names the pending publishers whose project names were taken.
type PendingTakenError struct{ IDs []int64 }

func (e *PendingTakenError) Error() string { return ErrPendingTaken.Error() }

func (e *PendingTakenError) Unwrap() error { return ErrPendingTaken }

// Job is what FindCandidates narrows a repository's publishers by: the fields a job
// presents that a publisher names, so that publishers bound to another workflow,
// environment or pinned repository are not read at all.
type Job struct {
	// Kind is the job's platform, which says how environments compare.
	Kind policy.Kind
	// Workflow is the workflow a publisher must name to accept the job
	// (policy.JobWorkflow); "" when the job names none, and then no publisher matches.
	Workflow    string
	Environment string
	// Project, when set, is the one project the client asked for, in the canonical form
	// of the naming rule the store was given (UseNames).
	Project string
	// OwnerID and RepositoryID are the job's ids, which pinned publishers must equal.
	OwnerID      string
	RepositoryID string
}

// JobOf is the Job of an identity.
func JobOf(id policy.Identity) Job {
	return Job{Kind: id.Kind, Workflow: policy.JobWorkflow(id), Environment: id.Environment, OwnerID: id.OwnerID, RepositoryID: id.RepositoryID}
}
