package store

import (
	"time"

	"github.com/tpx-dev/tpx/fault"
)

// Errors of the owner web UI's methods.
var (
	ErrLastFactor = fault.New(fault.Conflict, "the user's last second factor")
	ErrLastOwner  = fault.New(fault.Conflict, "the project's last owner")
	// ErrEmailTaken: another user has this email address, compared without case.
	ErrEmailTaken = fault.New(fault.Conflict, "email address already in use")
)

// Limits of the owner web UI's tables, enforced by the store.
const (
	// MaxFailedPerProject is how many failed exchanges a project keeps, newest first: enough
	// for an owner to see what went wrong, bounded whoever sends tokens.
	MaxFailedPerProject = 50
	// MailAttempts is how often a message is tried before the sender gives up on it.
	MailAttempts = 10
	// SentMailKept is how long a sent message stays in the outbox; its dedupe key keeps a
	// notification once-only for that long.
	SentMailKept = 30 * 24 * time.Hour
)

// SessionStage says how far a browser session got through logging in.
type SessionStage string

const (
	// StageSecondFactor: the password was right and the user's second factor is due.
	StageSecondFactor SessionStage = "second-factor"
	// StageFull: logged in.
	StageFull SessionStage = "full"
)

// SessionFactor is the strongest proof of identity a session passed.
type SessionFactor string

const (
	FactorPassword SessionFactor = "password" // the password alone: a user without a second factor
	FactorTOTP     SessionFactor = "totp"
	FactorWebAuthn SessionFactor = "webauthn"
	FactorRecovery SessionFactor = "recovery"
	// FactorIndex: a sign-in through the index's OpenID provider, a first factor like
	// the password.
	FactorIndex SessionFactor = "index"
	// FactorIndexMFA: such a sign-in whose amr claim named a real second factor, when
	// the operator chose to count it.
	FactorIndexMFA SessionFactor = "index-mfa"
)

// SecondFactor reports whether f is a proof beyond the password.
func (f SessionFactor) SecondFactor() bool {
	return f == FactorTOTP || f == FactorWebAuthn || f == FactorRecovery || f == FactorIndexMFA
}

// Session is a browser session. ID is the SHA-256 (hex) of the cookie's value, never the
// value itself.
type Session struct {
	ID     string
	UserID int64
	Stage  SessionStage
	// Factor is what the session passed; a password-only session of a user who has a
	// second factor is never a full session.
	Factor    SessionFactor
	CreatedAt time.Time
	// AuthenticatedAt is the last time the user proved who they are with Factor.
	AuthenticatedAt time.Time
	// FactorProofAt is the last second-factor proof not yet spent on a change of second
	// factors (SpendFactorProof); nil when there is none.
	FactorProofAt *time.Time
	ExpiresAt     time.Time
	// LastSeenAt, Address and UserAgent are what the user sees of their sessions.
	LastSeenAt time.Time
	Address    string
	UserAgent  string
}

// WebAuthnCredential is a registered security key or passkey. Record is the credential as
// the WebAuthn library serialises it; SignCount is the authoritative signature counter.
type WebAuthnCredential struct {
	ID           int64
	UserID       int64
	CredentialID []byte
	PublicKey    []byte
	SignCount    uint32
	Name         string
	Record       []byte
	CreatedAt    time.Time
	LastUsedAt   *time.Time
}

// EmailToken is an email verification link's token, by its SHA-256 (hex).
type EmailToken struct {
	Hash      string
	UserID    int64
	Email     string
	ExpiresAt time.Time
}

// Mail is a message in the outbox.
type Mail struct {
	ID        int64
	To        string
	Subject   string
	Body      string
	DedupeKey string // "" for none; else a second message with the same key is dropped
	CreatedAt time.Time
	Attempts  int
}

// Owner is one owner of a project.
type Owner struct {
	UserID        int64
	Name          string
	Email         string
	EmailVerified bool
	Role          Role
}

// Role is what a member of a project may do there.
type Role string

const (
	// RoleOwner manages the project's publishers and members.
	RoleOwner Role = "owner"
	// RoleMaintainer sees the project, its publishers, failed exchanges and log, and
	// changes nothing.
	RoleMaintainer Role = "maintainer"
)

// Invitation asks UserID to become a member of ProjectID in Role.
type Invitation struct {
	Role          Role
	ProjectID     int64
	ProjectName   string
	UserID        int64
	UserName      string
	InvitedBy     int64 // 0 when that user is gone
	InvitedByName string
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// FailedExchange is an exchange that matched no publisher of ProjectID, with the policy's
// reason for one of them. It quotes the owner's configuration: owners' eyes only.
type FailedExchange struct {
	ID          int64
	ProjectID   int64
	PublisherID int64
	At          time.Time
	Issuer      string
	Repository  string
	WorkflowRef string
	Ref         string
	SHA         string
	RunID       string
	Environment string
	Event       string
	Reason      string
}
