package store

import (
	"context"
	"time"

	"github.com/tpx-dev/tpx/fault"
)

// ErrIdentityTaken: the (issuer, subject) pair is linked to a user already.
var ErrIdentityTaken = fault.New(fault.Conflict, "external identity already linked")

// Scopes of operator API keys.
const (
	// ScopeAdmin lets the key's holder use the admin API: the index that tpx serves.
	ScopeAdmin = "admin"
)

// APIKey is an operator API key. The key itself is never stored: Lookup finds the row, and
// SecretHash is the SHA-256 (hex) of the key's secret part.
type APIKey struct {
	ID         int64
	Name       string
	Scope      string
	Lookup     string
	SecretHash string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// PendingGrant is a project name the index granted to a user: with TPX_PROJECTS=managed a
// pending publisher may only name one of the user's grants.
type PendingGrant struct {
	UserID    int64
	Name      string
	CreatedAt time.Time
}

// ExternalIdentity links a user to a subject of an OpenID provider.
type ExternalIdentity struct {
	Issuer    string
	Subject   string
	UserID    int64
	CreatedAt time.Time
}

// SignupInvitation lets one person sign up while sign-up is by invitation; Hash is the
// SHA-256 (hex) of the token in the link.
type SignupInvitation struct {
	Hash      string
	Email     string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// IndexStore is what the admin API of an index and sign-in through it need: API keys,
// projects and owners set by the index, pending grants, linked identities, sign-up
// invitations and the audit feed. Every Store implements it.
type IndexStore interface {
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
}
