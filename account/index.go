package account

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/tpx-dev/tpx/fault"
	"github.com/tpx-dev/tpx/store"
)

// ProjectsMode says who decides which names exist and who owns them (TPX_PROJECTS).
type ProjectsMode string

const (
	// ProjectsOpen: anyone with a second factor may create a name nobody has yet, and
	// register pending publishers for any free name. Right for an index that lets tpx be
	// its registry of owners; wrong in front of an index that already has projects,
	// whose unclaimed names anyone could then take.
	ProjectsOpen ProjectsMode = "open"
	// ProjectsManaged: projects and their owners come only from the index (admin API) or
	// the operator (command line); a pending publisher may name only what the index
	// granted to its registrant.
	ProjectsManaged ProjectsMode = "managed"
)

// SignupMode says who may create an account from the web (TPX_SIGNUP).
type SignupMode string

const (
	SignupOpen   SignupMode = "open"   // anyone
	SignupInvite SignupMode = "invite" // whoever holds an invitation link
	SignupClosed SignupMode = "closed" // nobody: accounts come from the admin API, the command line or sign-in through the index
)

// ViaAdmin marks actions of the index through the admin API, for the audit log.
const ViaAdmin Via = "admin"

// Errors of the index's rules and of API keys.
var (
	ErrManaged        = fault.New(fault.Forbidden, "projects are managed by the index")
	ErrSignupClosed   = fault.New(fault.Forbidden, "sign-up is closed")
	ErrBadAPIKey      = fault.New(fault.Unauthorized, "missing, unknown or revoked API key")
	ErrAPIKeyScope    = fault.New(fault.Forbidden, "API key lacks the scope")
	ErrBadInvitation  = fault.New(fault.Forbidden, "unknown, used or expired invitation link")
	ErrIdentityLinked = fault.New(fault.Conflict, "external identity already linked")
	ErrUserExists     = fault.New(fault.Conflict, "user already exists")
)

// APIKeyPrefix starts every operator API key, so that secret scanners recognise one.
const APIKeyPrefix = "tpxadm_"

// Lengths of an API key's parts, in hex characters: the lookup finds the row, the secret
// (256 bits) is what is compared.
const (
	apiKeyLookupLen = 16
	apiKeySecretLen = 64
)

// FieldError says which input field an invalid-input error is about, for replies that
// name the field (the admin API).
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// on names the field err is about, if err is about input.
func on(field string, err error) error {
	if err == nil || !errors.Is(err, ErrInvalidInput) && !errors.Is(err, ErrUnknownUser) {
		return err
	}
	return &FieldError{Field: field, Err: err}
}

// ProjectsMode returns the projects mode.
func (s *Service) ProjectsMode() ProjectsMode { return s.cfg.Projects }

// SignupMode returns the sign-up mode (TPX_SIGNUP).
func (s *Service) SignupMode() SignupMode { return s.cfg.Signup }

// managed refuses what only the index may do when it manages projects.
func (s *Service) managed(what string) error {
	if s.cfg.Projects == ProjectsManaged {
		return fmt.Errorf("%w: %s; the package index decides which projects exist and who owns them", ErrManaged, what)
	}
	return nil
}

// CreateAPIKey makes an operator API key and returns it, to be shown once: only the hash
// of its secret is kept.
func (s *Service) CreateAPIKey(ctx context.Context, name, scope string) (string, store.APIKey, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", store.APIKey{}, invalid("API key name: give 1 to 100 characters saying who uses it, such as index")
	}
	if scope != store.ScopeAdmin {
		return "", store.APIKey{}, invalid("API key scope %q: the only scope is %s", scope, store.ScopeAdmin)
	}
	b := make([]byte, (apiKeyLookupLen+apiKeySecretLen)/2)
	rand.Read(b)
	raw := hex.EncodeToString(b)
	lookup, secret := raw[:apiKeyLookupLen], raw[apiKeyLookupLen:]
	k, err := s.cfg.Store.CreateAPIKey(ctx, store.APIKey{Name: name, Scope: scope, Lookup: lookup, SecretHash: HashToken(secret), CreatedAt: s.cfg.Now()})
	if err != nil {
		return "", store.APIKey{}, err
	}
	s.audit(ctx, Actor{Via: ViaOperator}, 0, 0, "apikey.create", fmt.Sprintf("API key %d (%s, scope %s) created", k.ID, k.Name, k.Scope))
	return APIKeyPrefix + lookup + "_" + secret, k, nil
}

// APIKeys lists the operator API keys, revoked ones included.
func (s *Service) APIKeys(ctx context.Context) ([]store.APIKey, error) {
	return s.cfg.Store.APIKeys(ctx)
}

// RevokeAPIKey revokes key id at once, on every replica: each use reads the store.
func (s *Service) RevokeAPIKey(ctx context.Context, id int64) error {
	if err := s.cfg.Store.RevokeAPIKey(ctx, id, s.cfg.Now()); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: API key %d", ErrUnknownID, id)
	} else if err != nil {
		return err
	}
	s.audit(ctx, Actor{Via: ViaOperator}, 0, 0, "apikey.revoke", fmt.Sprintf("API key %d revoked", id))
	return nil
}

// AuthenticateAPIKey returns the key raw is, if it is unrevoked and has scope; the secret
// is compared in constant time. ErrBadAPIKey for no key, an unknown or revoked one,
// ErrAPIKeyScope for a key without the scope.
func (s *Service) AuthenticateAPIKey(ctx context.Context, raw, scope string) (store.APIKey, error) {
	rest, ok := strings.CutPrefix(raw, APIKeyPrefix)
	lookup, secret, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || len(lookup) != apiKeyLookupLen || len(secret) != apiKeySecretLen {
		return store.APIKey{}, ErrBadAPIKey
	}
	k, err := s.cfg.Store.APIKeyByLookup(ctx, lookup)
	if errors.Is(err, store.ErrNotFound) {
		return store.APIKey{}, ErrBadAPIKey
	}
	if err != nil {
		return store.APIKey{}, err
	}
	if subtle.ConstantTimeCompare([]byte(HashToken(secret)), []byte(k.SecretHash)) != 1 || k.RevokedAt != nil {
		return store.APIKey{}, ErrBadAPIKey
	}
	if k.Scope != scope {
		return store.APIKey{}, fmt.Errorf("%w %s", ErrAPIKeyScope, scope)
	}
	return k, nil
}

// RecordAPIKeyUse writes one use of key k to the audit log, and its last use.
func (s *Service) RecordAPIKeyUse(ctx context.Context, k store.APIKey, what string) {
	if err := s.cfg.Store.TouchAPIKey(ctx, k.ID, s.cfg.Now()); err != nil {
		s.cfg.Logger.Error("API key use not recorded", "key", k.ID, "error", err)
	}
	s.audit(ctx, Actor{Via: ViaAdmin}, 0, 0, "apikey.use", fmt.Sprintf("API key %d (%s): %s", k.ID, k.Name, clipUse(what)))
}

// MaxUseBytes bounds what RecordAPIKeyUse keeps of a request: its method and path are the
// key holder's to choose, however long, and the audit log keeps every use.
const MaxUseBytes = 256

// clipUse is what at most MaxUseBytes long, cut at a character boundary and marked as cut,
// with control characters (a decoded path may hold a newline) and invalid UTF-8 shown as
// '?'.
func clipUse(what string) string {
	if len(what) > MaxUseBytes {
		cut := MaxUseBytes
		for cut > 0 && !utf8.RuneStart(what[cut]) {
			cut--
		}
		what = what[:cut] + "…"
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(what, "?"))
}

// users finds each named user, saying which names are unknown.
func (s *Service) users(ctx context.Context, names []string) ([]store.User, error) {
	var (
		out     []store.User
		unknown []string
	)
	for _, n := range names {
		u, err := s.user(ctx, n)
		if errors.Is(err, ErrUnknownUser) {
			unknown = append(unknown, n)
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnknownUser, strings.Join(unknown, ", "))
	}
	return out, nil
}

func ids(users []store.User) []int64 {
	out := make([]int64, len(users))
	for i, u := range users {
		out[i] = u.ID
	}
	return out
}

// IndexCreateProject creates project name owned by owners (possibly none) for the index.
func (s *Service) IndexCreateProject(ctx context.Context, name string, owners []string) (store.Project, error) {
	if err := s.validProjectName(name); err != nil {
		return store.Project{}, on("name", err)
	}
	us, err := s.users(ctx, owners)
	if err != nil {
		return store.Project{}, on("owners", err)
	}
	p, err := s.cfg.Store.CreateProjectOwned(ctx, name, ids(us), s.cfg.Now())
	if errors.Is(err, store.ErrConflict) {
		return store.Project{}, fmt.Errorf("%w: %q", ErrProjectExists, name)
	}
	if err != nil {
		return store.Project{}, err
	}
	s.audit(ctx, Actor{Via: ViaAdmin}, 0, p.ID, "project.add", fmt.Sprintf("project %s created by the index, owned by %s", p.Name, names(us)))
	return p, nil
}

func names(us []store.User) string {
	if len(us) == 0 {
		return "nobody"
	}
	n := make([]string, len(us))
	for i, u := range us {
		n[i] = u.Name
	}
	return strings.Join(n, ", ")
}

// IndexRenameProject renames project name to next: publishers and owners stay.
func (s *Service) IndexRenameProject(ctx context.Context, name, next string) (store.Project, error) {
	if err := s.validProjectName(next); err != nil {
		return store.Project{}, on("name", err)
	}
	p, err := s.project(ctx, name)
	if err != nil {
		return store.Project{}, err
	}
	r, err := s.cfg.Store.RenameProject(ctx, p.ID, next)
	switch {
	case errors.Is(err, store.ErrConflict):
		return store.Project{}, fmt.Errorf("%w: %q", ErrProjectExists, next)
	case errors.Is(err, store.ErrNotFound):
		return store.Project{}, fmt.Errorf("%w: %q", ErrUnknownProject, name)
	case err != nil:
		return store.Project{}, err
	}
	s.audit(ctx, Actor{Via: ViaAdmin}, 0, p.ID, "project.rename", fmt.Sprintf("project %s renamed %s by the index", p.Name, r.Name))
	return r, nil
}

// IndexDeleteProject deletes project name for the index (DeleteProject).
func (s *Service) IndexDeleteProject(ctx context.Context, name string) error {
	return s.deleteProject(ctx, Actor{Via: ViaAdmin}, "the index", name)
}

// DeleteProject deletes project name with its publishers, as the operator: no token is
// minted for it afterwards, and the live upload tokens that name it are revoked with it,
// so that introspection calls them inactive at once (verifiers that check only the
// signature accept them until they expire, minutes later).
func (s *Service) DeleteProject(ctx context.Context, via Via, name string) error {
	return s.deleteProject(ctx, Actor{Via: via}, "the operator", name)
}

func (s *Service) deleteProject(ctx context.Context, a Actor, by, name string) error {
	p, err := s.project(ctx, name)
	if err != nil {
		return err
	}
	revoked, err := s.cfg.Store.DeleteProject(ctx, p.ID, s.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrUnknownProject, name)
	} else if err != nil {
		return err
	}
	detail := fmt.Sprintf("project %s deleted by %s", p.Name, by)
	if len(revoked) > 0 {
		detail += fmt.Sprintf("; its %d live upload tokens revoked (%s)", len(revoked), strings.Join(revoked, ", "))
	}
	s.audit(ctx, a, 0, p.ID, "project.delete", detail)
	return nil
}

// IndexSetOwners makes owners exactly the owners of project name; repeating it changes
// nothing. A removed owner can no longer manage the project: every management action
// reads the owners from the store.
func (s *Service) IndexSetOwners(ctx context.Context, name string, owners []string) (added, removed []string, err error) {
	p, err := s.project(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	us, err := s.users(ctx, owners)
	if err != nil {
		return nil, nil, on("owners", err)
	}
	a, r, err := s.cfg.Store.SetOwners(ctx, p.ID, ids(us))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, fmt.Errorf("%w: %q", ErrUnknownProject, name)
	}
	if err != nil {
		return nil, nil, err
	}
	for _, id := range a {
		u, _ := s.cfg.Store.UserByID(ctx, id)
		added = append(added, u.Name)
		s.audit(ctx, Actor{Via: ViaAdmin}, id, p.ID, "owner.add", fmt.Sprintf("the index made %s an owner", u.Name))
	}
	for _, id := range r {
		u, err := s.cfg.Store.UserByID(ctx, id)
		if err != nil {
			continue
		}
		removed = append(removed, u.Name)
		s.audit(ctx, Actor{Via: ViaAdmin}, id, p.ID, "owner.remove", fmt.Sprintf("the index removed %s as an owner", u.Name))
		s.mailUser(ctx, u, "tpx: you no longer own "+p.Name, fmt.Sprintf("the package index removed you as an owner of %s.", p.Name))
	}
	return added, removed, nil
}

// IndexUser is a user as the index creates one: no password (they sign in through the
// index, or are given one by the operator), optionally linked to a subject of the
// index's OpenID provider.
type IndexUser struct {
	Name    string
	Email   string
	Issuer  string
	Subject string
}

// IndexCreateUser creates a user for the index. The index vouches for the address, so it
// counts as verified.
func (s *Service) IndexCreateUser(ctx context.Context, in IndexUser) (store.User, error) {
	if !userNameRe.MatchString(in.Name) {
		return store.User{}, on("name", invalid("user name %q: use 1 to 50 letters, digits, '.', '_' or '-', starting and ending with a letter or digit", in.Name))
	}
	if a, err := mail.ParseAddress(in.Email); err != nil || a.Address != in.Email {
		return store.User{}, on("email", invalid("email %q is not a plain email address", in.Email))
	}
	if in.Issuer == "" && in.Subject != "" {
		return store.User{}, on("issuer", invalid("an external identity needs both issuer and subject"))
	}
	if in.Issuer != "" && in.Subject == "" {
		return store.User{}, on("subject", invalid("an external identity needs both issuer and subject"))
	}
	if len(in.Issuer) > 255 {
		return store.User{}, on("issuer", invalid("the issuer is at most 255 characters"))
	}
	if len(in.Subject) > 255 {
		return store.User{}, on("subject", invalid("the subject is at most 255 characters"))
	}
	// One transaction: a user is never left behind without the identity the index
	// meant to sign in with, nor with an address nobody vouched for.
	u, err := s.cfg.Store.CreateLinkedUser(ctx, store.User{Name: in.Name, Email: in.Email, CreatedAt: s.cfg.Now()},
		store.ExternalIdentity{Issuer: in.Issuer, Subject: in.Subject}, "")
	switch {
	case errors.Is(err, store.ErrConflict):
		return store.User{}, fmt.Errorf("%w: user %q", ErrUserExists, in.Name)
	case errors.Is(err, store.ErrEmailTaken):
		return store.User{}, on("email", invalid("another user has the address %s; one account per address", in.Email))
	case errors.Is(err, store.ErrIdentityTaken):
		return store.User{}, fmt.Errorf("%w: subject %q of %s", ErrIdentityLinked, in.Subject, in.Issuer)
	case err != nil:
		return store.User{}, err
	}
	s.audit(ctx, Actor{Via: ViaAdmin}, u.ID, 0, "user.add", "user "+u.Name+" created by the index")
	return u, nil
}

// IndexLinkIdentity links (issuer, subject) of the index's OpenID provider to user, who
// then signs in through it; linking the same pair to the same user again changes
// nothing, linking it to another user is refused.
func (s *Service) IndexLinkIdentity(ctx context.Context, user, issuer, subject string) (store.User, error) {
	switch {
	case issuer == "":
		return store.User{}, on("issuer", invalid("issuer is required"))
	case subject == "":
		return store.User{}, on("subject", invalid("subject is required"))
	case len(issuer) > 255:
		return store.User{}, on("issuer", invalid("the issuer is at most 255 characters"))
	case len(subject) > 255:
		return store.User{}, on("subject", invalid("the subject is at most 255 characters"))
	}
	u, err := s.user(ctx, user)
	if err != nil {
		return store.User{}, err
	}
	if linked, err := s.cfg.Store.UserByIdentity(ctx, issuer, subject); err == nil && linked.ID == u.ID {
		return u, nil
	}
	err = s.cfg.Store.LinkIdentity(ctx, store.ExternalIdentity{Issuer: issuer, Subject: subject, UserID: u.ID, CreatedAt: s.cfg.Now()})
	switch {
	case errors.Is(err, store.ErrIdentityTaken):
		return store.User{}, fmt.Errorf("%w: subject %q of %s belongs to another user", ErrIdentityLinked, subject, issuer)
	case errors.Is(err, store.ErrNotFound):
		return store.User{}, fmt.Errorf("%w: %q", ErrUnknownUser, user)
	case err != nil:
		return store.User{}, err
	}
	s.audit(ctx, Actor{Via: ViaAdmin}, u.ID, 0, "identity.link", fmt.Sprintf("the index linked subject %s of %s to %s", subject, issuer, u.Name))
	return u, nil
}

// IndexDeleteUser deletes user for the index: their sessions end at once, and with them
// their memberships, factors, linked identities, grants and pending publishers.
// Publishers they added stay with their projects.
func (s *Service) IndexDeleteUser(ctx context.Context, user string) error {
	u, err := s.user(ctx, user)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.DeleteUser(ctx, u.ID); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %q", ErrUnknownUser, user)
	} else if err != nil {
		return err
	}
	s.audit(ctx, Actor{Via: ViaAdmin}, u.ID, 0, "user.delete", fmt.Sprintf("user %s (%s) deleted by the index", u.Name, u.Email))
	return nil
}

// markVerified records u's address as verified, through the same record a link would use.
func (s *Service) markVerified(ctx context.Context, u store.User) error {
	token := randomToken(32)
	now := s.cfg.Now()
	if err := s.cfg.Store.CreateEmailToken(ctx, store.EmailToken{Hash: HashToken(token), UserID: u.ID, Email: u.Email, ExpiresAt: now.Add(time.Minute)}); err != nil {
		return err
	}
	_, err := s.cfg.Store.UseEmailToken(ctx, HashToken(token), now)
	return err
}

// IndexGrantPending lets user register pending publishers for project name, which must
// not exist yet; granting it again changes nothing.
func (s *Service) IndexGrantPending(ctx context.Context, user, name string) error {
	if err := s.validProjectName(name); err != nil {
		return on("name", err)
	}
	u, err := s.user(ctx, user)
	if err != nil {
		return err
	}
	if _, err := s.project(ctx, name); err == nil {
		return fmt.Errorf("%w: %q exists; set its owners instead", ErrProjectExists, name)
	} else if !errors.Is(err, ErrUnknownProject) {
		return err
	}
	if err := s.cfg.Store.GrantPending(ctx, store.PendingGrant{UserID: u.ID, Name: name, CreatedAt: s.cfg.Now()}); err != nil {
		return err
	}
	s.audit(ctx, Actor{Via: ViaAdmin}, u.ID, 0, "pending.grant", fmt.Sprintf("the index granted %s the name %s for pending publishers", u.Name, name))
	return nil
}

// IndexRevokePending withdraws a grant and the user's pending publishers for that name.
func (s *Service) IndexRevokePending(ctx context.Context, user, name string) error {
	u, err := s.user(ctx, user)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.RevokePendingGrant(ctx, u.ID, name); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s has no grant of %q", ErrUnknownID, u.Name, name)
	} else if err != nil {
		return err
	}
	pending, err := s.cfg.Store.ListPending(ctx, u.ID)
	if err != nil {
		return err
	}
	// The store decides which pending publishers named the withdrawn name: it alone
	// knows the canonical form in which names are compared.
	for _, p := range pending {
		still, err := s.cfg.Store.HasPendingGrant(ctx, u.ID, p.ProjectName)
		if err != nil {
			return err
		}
		if still || s.cfg.Projects != ProjectsManaged {
			continue
		}
		if err := s.cfg.Store.RemovePending(ctx, p.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	s.audit(ctx, Actor{Via: ViaAdmin}, u.ID, 0, "pending.revoke", fmt.Sprintf("the index withdrew the name %s from %s", name, u.Name))
	return nil
}

// PendingGrants lists the names granted to user.
func (s *Service) PendingGrants(ctx context.Context, user store.User) ([]store.PendingGrant, error) {
	return s.cfg.Store.PendingGrants(ctx, user.ID)
}

// IndexProject is a project as the index reads it.
type IndexProject struct {
	Project    store.Project
	Owners     []store.Owner
	Publishers []store.Publisher
}

// IndexProjects lists up to limit projects with ids above after, with owners and
// publishers.
func (s *Service) IndexProjects(ctx context.Context, after int64, limit int) ([]IndexProject, error) {
	ps, err := s.cfg.Store.ListProjects(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]IndexProject, 0, len(ps))
	for _, p := range ps {
		ip, err := s.indexProject(ctx, p)
		if err != nil {
			return nil, err
		}
		out = append(out, ip)
	}
	return out, nil
}

// IndexProjectByName is one project with owners and publishers.
func (s *Service) IndexProjectByName(ctx context.Context, name string) (IndexProject, error) {
	p, err := s.project(ctx, name)
	if err != nil {
		return IndexProject{}, err
	}
	return s.indexProject(ctx, p)
}

func (s *Service) indexProject(ctx context.Context, p store.Project) (IndexProject, error) {
	ip := IndexProject{Project: p}
	var err error
	if ip.Owners, err = s.cfg.Store.ProjectOwners(ctx, p.ID); err != nil {
		return IndexProject{}, err
	}
	if ip.Publishers, err = s.cfg.Store.ListPublishers(ctx, p.ID); err != nil {
		return IndexProject{}, err
	}
	return ip, nil
}

// IndexEvents returns up to limit audit events after cursor after, oldest first, as
// soon as they are committed. The uses of API keys are left out: the index knows its own
// requests, and each read of the feed would otherwise put a new event in it.
func (s *Service) IndexEvents(ctx context.Context, after int64, limit int) ([]store.AuditEvent, error) {
	return s.cfg.Store.AuditAfter(ctx, after, limit, "apikey.use")
}

// ExchangeStore is the part of the store an exchange uses (exchange.Store).
type ExchangeStore interface {
	FindCandidates(ctx context.Context, issuer, key string, job store.Job, now time.Time) ([]store.Publisher, []store.PendingPublisher, error)
	CommitExchange(ctx context.Context, e store.Exchange) error
	RemovePending(ctx context.Context, id int64) error
}

// ForExchange returns st as the exchange should see it. When the index manages projects,
// a pending publisher creates its project only while the index's grant of that name to
// its registrant stands: one registered before the switch to managed, or whose grant was
// withdrawn, matches nothing.
func (s *Service) ForExchange(st ExchangeStore) ExchangeStore {
	if s.cfg.Projects != ProjectsManaged {
		return st
	}
	return grantedPending{ExchangeStore: st, grants: s.cfg.Store}
}

type grantedPending struct {
	ExchangeStore
	grants Grants
}

func (g grantedPending) FindCandidates(ctx context.Context, issuer, key string, job store.Job, now time.Time) ([]store.Publisher, []store.PendingPublisher, error) {
	active, found, err := g.ExchangeStore.FindCandidates(ctx, issuer, key, job, now)
	if err != nil {
		return nil, nil, err
	}
	out := found[:0]
	for _, p := range found {
		ok, err := g.grants.HasPendingGrant(ctx, p.UserID, p.ProjectName)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			out = append(out, p)
		}
	}
	return active, out, nil
}

// IndexPublishers lists every active publisher.
func (s *Service) IndexPublishers(ctx context.Context) ([]store.Publisher, error) {
	return s.cfg.Store.ListPublishers(ctx, 0)
}

// SignupInvitationLifetime is how long an invitation link works.
const SignupInvitationLifetime = 7 * 24 * time.Hour

// InviteSignup makes a one-use invitation to sign up with address email and returns its
// link, for the operator or the index to send; only the hash of its token is kept.
func (s *Service) InviteSignup(ctx context.Context, a Actor, email string) (string, store.SignupInvitation, error) {
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
		return "", store.SignupInvitation{}, on("email", invalid("email %q is not a plain email address", email))
	}
	token := randomToken(32)
	now := s.cfg.Now()
	inv := store.SignupInvitation{Hash: HashToken(token), Email: email, CreatedAt: now, ExpiresAt: now.Add(SignupInvitationLifetime)}
	if err := s.cfg.Store.CreateSignupInvitation(ctx, inv); err != nil {
		return "", store.SignupInvitation{}, err
	}
	s.audit(ctx, a, 0, 0, "signup.invite", "invitation to sign up sent for "+email)
	return s.cfg.PublicURL + "/account/signup?invitation=" + token, inv, nil
}

// SignupInvitation returns the unexpired, unused invitation whose link carries token.
func (s *Service) SignupInvitation(ctx context.Context, token string) (store.SignupInvitation, error) {
	if token == "" {
		return store.SignupInvitation{}, fmt.Errorf("%w: sign-up is by invitation; open the link you were sent", ErrBadInvitation)
	}
	inv, err := s.cfg.Store.SignupInvitation(ctx, HashToken(token), s.cfg.Now())
	if errors.Is(err, store.ErrNotFound) {
		return store.SignupInvitation{}, fmt.Errorf("%w: ask whoever invited you for a new link", ErrBadInvitation)
	}
	return inv, err
}
