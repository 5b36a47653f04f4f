package account

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"github.com/patrickmn/go-cache"
	"log/slog"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/tpx-dev/tpx/fault"
	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/verify"
)

// PendingLifetime is how long a pending publisher waits for its first exchange.
const PendingLifetime = 30 * 24 * time.Hour

// Errors of management actions. Each comes wrapped with a sentence that says what to do.
var (
	ErrInvalidInput    = fault.New(fault.Invalid, "invalid input")
	ErrUnknownUser     = fault.New(fault.Invalid, "no such user")
	ErrUnknownProject  = fault.New(fault.NotFound, "no such project")
	ErrUnknownID       = fault.New(fault.NotFound, "no such publisher")
	ErrNoSecondFactor  = fault.New(fault.Forbidden, "second factor required")
	ErrNotOwner        = fault.New(fault.Forbidden, "not an owner of the project")
	ErrProjectExists   = fault.New(fault.Conflict, "project already exists")
	ErrContested       = fault.New(fault.Conflict, "pending publisher contested")
	ErrBadTOTP         = fault.New(fault.Unauthorized, "wrong TOTP code")
	ErrTOTPCodeReused  = fault.New(fault.Unauthorized, "TOTP code already used")
	ErrAlreadyEnrolled = fault.New(fault.Conflict, "TOTP already enrolled")
	ErrEmailUnverified = fault.New(fault.Forbidden, "email address not verified")
)

// Via says through which interface an action came, for the audit log.
type Via string

const (
	ViaOperator Via = "operator" // the command line, run by the service's operator
	ViaWeb      Via = "web"
)

// Actor is the user on whose behalf a management action runs.
type Actor struct {
	UserName string
	Via      Via
	// AuthenticatedAt is when the user last proved who they are with Factor (web
	// sessions); every actor but the operator needs a second factor proved within
	// RecentAuthentication for management actions.
	AuthenticatedAt time.Time
	Factor          store.SessionFactor
	// FactorProofAt is the session's unspent second-factor proof, if any: changes of
	// second factors need one from the last FactorAuthentication, and spend it.
	FactorProofAt time.Time
	// Session is the web session's id: a change of factors or of the password ends every
	// other session of the user. Empty for the operator, whose changes end them all.
	Session string
	// Address is where the request came from, for the audit log.
	Address string
}

// String names the actor in the audit log: the user and the address they acted from,
// or the operator, or the channel of an action no user took (the index's admin API).
func (a Actor) String() string {
	switch {
	case a.Via == ViaOperator:
		return "operator"
	case a.UserName == "":
		return string(a.Via)
	case a.Address == "":
		return a.UserName
	}
	return a.UserName + " from " + a.Address
}

// Config wires a Service.
type Config struct {
	Store  Store
	Box    *secretbox.Box
	Issuer string // shown in authenticator apps ("tpx")
	// PublicURL is where users reach tpx (links in mail; the WebAuthn relying party).
	PublicURL string
	Now       func() time.Time
	Logger    *slog.Logger
	// Projects says who decides which projects exist (TPX_PROJECTS); empty is open.
	Projects ProjectsMode
	// Signup says who may create an account from the web (TPX_SIGNUP); empty is open.
	Signup SignupMode
	// NoPasswordLogin refuses passwords at login and sign-up (TPX_PASSWORD_LOGIN=off):
	// users sign in through the index's identity provider.
	NoPasswordLogin bool
	// Issuers are the CI issuers tpx trusts (TPX_CONFIG, switched off or not); none means
	// the default ones. A publisher may name only one of them, whichever interface
	// registers it; Service.Issuers is the list for every interface.
	Issuers []providers.IssuerConfig
	// Names is the index's naming rule (TPX_NAMES): which names a new project may have.
	// Uniqueness is the store's, in PEP 503 form, which equates at least the names every
	// rule equates. The zero value is PyPI's.
	Names verify.Names
}

// Service performs account and management actions.
type Service struct {
	cfg Config
	ui  uiState
	// hinted remembers, for an hour and at most maxHinted of them, the environment hints
	// (publisher and environment) this process has handed to the outbox, so that the jobs
	// of a busy repository do not read owners and queue messages again for hints the
	// outbox already holds.
	hinted *cache.Cache
	// refused remembers the refusals recorded in the last minutes (publisher, reason and
	// minute), at most maxHinted of them: a repository whose jobs run many times a minute
	// has the same refusal of a publisher recorded once a minute, not once a job.
	refused *cache.Cache
}

// maxHinted bounds hinted and refused: past it, every hint is checked against the outbox
// and every refusal recorded.
const maxHinted = 10_000

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "tpx"
	}
	if cfg.Projects == "" {
		cfg.Projects = ProjectsOpen
	}
	if cfg.Signup == "" {
		cfg.Signup = SignupOpen
	}
	if len(cfg.Issuers) == 0 {
		cfg.Issuers = providers.DefaultIssuers()
	}
	return &Service{cfg: cfg, ui: newUIState(cfg), hinted: cache.New(time.Hour, 10*time.Minute),
		refused: cache.New(2*time.Minute, time.Minute)}
}

var (
	userNameRe = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,48}[A-Za-z0-9])?$`)
)

// validProjectName refuses a name the index's rule does not allow for a new project.
func (s *Service) validProjectName(name string) error {
	if err := s.cfg.Names.Valid(name); err != nil {
		return invalid("%v", err)
	}
	return nil
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidInput}, args...)...)
}

// CreateUser adds a user with a password of at least MinPasswordLen characters, as the
// operator, who vouches for the address: it counts as verified.
func (s *Service) CreateUser(ctx context.Context, name, email, password string) (store.User, error) {
	u, err := s.createUser(ctx, Actor{Via: ViaOperator}, name, email, password)
	if err != nil {
		return store.User{}, err
	}
	return u, s.markVerified(ctx, u)
}

// createUser adds a user for a: the operator, or a visitor signing up.
func (s *Service) createUser(ctx context.Context, a Actor, name, email, password string) (store.User, error) {
	return s.createUserInvited(ctx, a, "", name, email, password)
}

// createUserInvited is createUser spending the invitation whose token hashes to
// invitation, when it is not empty, in the same transaction.
func (s *Service) createUserInvited(ctx context.Context, a Actor, invitation, name, email, password string) (store.User, error) {
	if !userNameRe.MatchString(name) {
		return store.User{}, invalid("user name %q: use 1 to 50 letters, digits, '.', '_' or '-', starting and ending with a letter or digit", name)
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != email {
		return store.User{}, invalid("email %q is not a plain email address", email)
	}
	if err := s.passwordProblem(name, password); err != nil {
		return store.User{}, err
	}
	nu := store.User{Name: name, Email: email, PasswordHash: HashPassword(password), CreatedAt: s.cfg.Now()}
	var (
		u   store.User
		err error
	)
	if invitation != "" {
		u, err = s.cfg.Store.CreateInvitedUser(ctx, nu, invitation, s.cfg.Now())
		if errors.Is(err, store.ErrNotFound) {
			return store.User{}, fmt.Errorf("%w: ask whoever invited you for a new link", ErrBadInvitation)
		}
	} else {
		u, err = s.cfg.Store.CreateUser(ctx, nu)
	}
	switch {
	case errors.Is(err, store.ErrConflict):
		return store.User{}, fmt.Errorf("%w: user %q already exists", ErrInvalidInput, name)
	case errors.Is(err, store.ErrEmailTaken):
		return store.User{}, fmt.Errorf("%w: another account has the address %s; one account per address", ErrInvalidInput, email)
	case err != nil:
		return store.User{}, err
	}
	a.UserName = name
	s.audit(ctx, a, u.ID, 0, "user.add", "user "+name+" created")
	return u, nil
}

func (s *Service) user(ctx context.Context, name string) (store.User, error) {
	u, err := s.cfg.Store.UserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, fmt.Errorf("%w: %q", ErrUnknownUser, name)
	}
	return u, err
}

// EnrollTOTP gives user name a new TOTP secret and returns its otpauth:// URI, to be shown
// once. Enrolment by the operator counts at once; a user who already has TOTP must remove
// it first, so an operator cannot silently replace a working factor.
func (s *Service) EnrollTOTP(ctx context.Context, via Via, name string) (string, error) {
	u, err := s.user(ctx, name)
	if err != nil {
		return "", err
	}
	if u.TOTPSecret != nil && u.TOTPConfirmed {
		return "", fmt.Errorf("%w: user %q has TOTP already", ErrAlreadyEnrolled, name)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: s.cfg.Issuer, AccountName: u.Name, Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return "", err
	}
	sealed, err := s.cfg.Box.Seal("totp", []byte(key.Secret()))
	if err != nil {
		return "", err
	}
	if err := s.cfg.Store.SetTOTP(ctx, u.ID, sealed, true); err != nil {
		return "", err
	}
	a := Actor{Via: via, UserName: u.Name}
	s.audit(ctx, a, u.ID, 0, "totp.enroll", "TOTP enrolled for "+u.Name)
	// The user's sessions passed the password alone: none may go on now that a second
	// factor is due.
	if err := s.endOtherSessions(ctx, a, u); err != nil {
		return "", err
	}
	return key.URL(), nil
}

// CheckTOTP accepts code for user name if it is right for the current 30-second step or
// one step either side, and that step is later than the last accepted one (RFC 6238 §5.2:
// a code is never accepted twice).
func (s *Service) CheckTOTP(ctx context.Context, name, code string) error {
	u, err := s.user(ctx, name)
	if err != nil {
		return err
	}
	if u.TOTPSecret == nil {
		return fmt.Errorf("%w: user %q has no TOTP enrolled", ErrBadTOTP, name)
	}
	secret, err := s.cfg.Box.Open("totp", u.TOTPSecret)
	if err != nil {
		return err
	}
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return fmt.Errorf("%w: a code is six digits", ErrBadTOTP)
	}
	now := s.cfg.Now().Unix() / 30
	for step := now - 1; step <= now+1; step++ {
		want, err := hotp.GenerateCodeCustom(string(secret), uint64(step), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) != 1 {
			continue
		}
		fresh, err := s.cfg.Store.UseTOTPStep(ctx, u.ID, step)
		if err != nil {
			return err
		}
		if !fresh {
			return ErrTOTPCodeReused
		}
		return nil
	}
	return ErrBadTOTP
}

// CreateProject creates project name owned by user owner. It is an operator action: the
// project has no publisher yet, and adding one needs the owner's second factor.
func (s *Service) CreateProject(ctx context.Context, via Via, name, owner string) (store.Project, error) {
	return s.createProject(ctx, Actor{Via: via, UserName: owner}, name, owner)
}

func (s *Service) createProject(ctx context.Context, a Actor, name, owner string) (store.Project, error) {
	if err := s.validProjectName(name); err != nil {
		return store.Project{}, err
	}
	u, err := s.user(ctx, owner)
	if err != nil {
		return store.Project{}, err
	}
	p, err := s.cfg.Store.CreateProject(ctx, name, u.ID, s.cfg.Now())
	if errors.Is(err, store.ErrConflict) {
		return store.Project{}, fmt.Errorf("%w: %q", ErrProjectExists, name)
	}
	if err != nil {
		return store.Project{}, err
	}
	s.audit(ctx, a, u.ID, p.ID, "project.add", "project "+name+" created, owned by "+u.Name)
	return p, nil
}

// authorize is the second-factor gate: every action that adds, changes or removes a
// publisher passes here. The actor must exist and have a confirmed TOTP or a WebAuthn
// credential, and have authenticated recently with it unless they are the operator
// (fresh). It looks at no project, so its answer says nothing about one; ownedBy comes
// after it.
func (s *Service) authorize(ctx context.Context, a Actor) (store.User, error) {
	u, err := s.user(ctx, a.UserName)
	if err != nil {
		return store.User{}, err
	}
	if !u.HasSecondFactor() {
		return store.User{}, fmt.Errorf("%w: %s has no second factor (TOTP or security key); enrol one before managing publishers", ErrNoSecondFactor, u.Name)
	}
	if err := s.fresh(a); err != nil {
		return store.User{}, err
	}
	return u, nil
}

// memberOf finds project name and u's role in it. A project that does not exist and one
// u is no member of get the same error, naming the project as it was asked for (not as
// it is stored): a non-member learns nothing about which names exist. Only the operator,
// who sees every project anyway, is told the difference.
func (s *Service) memberOf(ctx context.Context, a Actor, u store.User, name string) (store.Project, store.Role, error) {
	unknown := fmt.Errorf("%w: %q", ErrUnknownProject, name)
	p, err := s.cfg.Store.ProjectByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Project{}, "", unknown
	}
	if err != nil {
		return store.Project{}, "", err
	}
	role, err := s.cfg.Store.MemberRole(ctx, p.ID, u.ID)
	if errors.Is(err, store.ErrNotFound) {
		if a.Via == ViaOperator {
			return store.Project{}, "", fmt.Errorf("%w: %s does not own %s", ErrNotOwner, u.Name, p.Name)
		}
		return store.Project{}, "", unknown
	}
	if err != nil {
		return store.Project{}, "", err
	}
	return p, role, nil
}

// ownedBy is memberOf for changes: only owners change a project's publishers and
// members; a maintainer, who sees the project anyway, is told so.
func (s *Service) ownedBy(ctx context.Context, a Actor, u store.User, name string) (store.Project, error) {
	p, role, err := s.memberOf(ctx, a, u, name)
	if err != nil {
		return store.Project{}, err
	}
	if role != store.RoleOwner {
		return store.Project{}, fmt.Errorf("%w: %s is a maintainer of %s; only its owners change publishers and members", ErrNotOwner, u.Name, p.Name)
	}
	return p, nil
}

func (s *Service) project(ctx context.Context, name string) (store.Project, error) {
	p, err := s.cfg.Store.ProjectByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.Project{}, fmt.Errorf("%w: %q", ErrUnknownProject, name)
	}
	return p, err
}

// AddPublisher registers p on project for actor, an owner with a second factor.
func (s *Service) AddPublisher(ctx context.Context, a Actor, project string, p policy.Publisher) (store.Publisher, error) {
	u, err := s.authorize(ctx, a)
	if err != nil {
		return store.Publisher{}, err
	}
	proj, err := s.ownedBy(ctx, a, u, project)
	if err != nil {
		return store.Publisher{}, err
	}
	if err := s.validatePublisher(p); err != nil {
		return store.Publisher{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	sp, err := s.cfg.Store.AddPublisher(ctx, store.Publisher{Publisher: p, ProjectID: proj.ID, ProjectName: proj.Name, CreatedBy: u.ID, CreatedAt: s.cfg.Now()})
	switch {
	case errors.Is(err, store.ErrTooManyPublishers):
		return store.Publisher{}, fmt.Errorf("%w: project %s has %d publishers, the most allowed; remove one first", ErrInvalidInput, proj.Name, store.MaxPublishersPerProject)
	case errors.Is(err, store.ErrConflict):
		return store.Publisher{}, fmt.Errorf("%w: project %s already has this publisher", ErrInvalidInput, proj.Name)
	case err != nil:
		return store.Publisher{}, err
	}
	s.audit(ctx, a, u.ID, proj.ID, "publisher.add", fmt.Sprintf("publisher %d added: %s", sp.ID, Describe(sp.Publisher)))
	s.notifyOwners(ctx, proj.ID, "", "tpx: publisher added to "+proj.Name, fmt.Sprintf("%s added a trusted publisher to %s: %s.", u.Name, proj.Name, Describe(sp.Publisher)))
	return sp, nil
}

// Issuers are the CI issuers a publisher may name, switched off or not, in the operator's
// order: the first of a kind is its default.
func (s *Service) Issuers() []providers.IssuerConfig { return slices.Clone(s.cfg.Issuers) }

// validatePublisher checks p as policy does, and that its issuer is one tpx trusts for its
// kind: a publisher for any other could never match, and its owner would not learn why.
// Both kinds of problem come back in one *policy.ValidationError.
func (s *Service) validatePublisher(p policy.Publisher) error {
	err := policy.Validate(p)
	if slices.ContainsFunc(s.cfg.Issuers, func(ic providers.IssuerConfig) bool { return ic.Issuer == p.Issuer && ic.Kind == p.Kind }) {
		return err
	}
	msg := fmt.Sprintf("issuer %s is not one this service trusts for %s publishers; the operator adds it to the providers list of TPX_CONFIG", p.Issuer, p.Kind)
	if p.Issuer == "" {
		msg = fmt.Sprintf("no %s issuer is configured; the operator adds one to the providers list of TPX_CONFIG", p.Kind)
	}
	untrusted := policy.FieldError{Field: policy.FieldIssuer, Message: msg}
	var ve *policy.ValidationError
	switch {
	case errors.As(err, &ve):
		ve.Fields = append(ve.Fields, untrusted)
		return ve
	case err != nil:
		return err
	}
	return &policy.ValidationError{Fields: []policy.FieldError{untrusted}}
}

// AddPending registers p for project, which must not exist yet; the first exchange that
// matches creates it with actor as owner. The name is not reserved meanwhile.
func (s *Service) AddPending(ctx context.Context, a Actor, project string, p policy.Publisher) (store.PendingPublisher, error) {
	if err := s.validProjectName(project); err != nil {
		return store.PendingPublisher{}, err
	}
	if _, err := s.project(ctx, project); err == nil {
		return store.PendingPublisher{}, fmt.Errorf("%w: %q exists; add a publisher to it instead of a pending one", ErrProjectExists, project)
	} else if !errors.Is(err, ErrUnknownProject) {
		return store.PendingPublisher{}, err
	}
	u, err := s.authorize(ctx, a)
	if err != nil {
		return store.PendingPublisher{}, err
	}
	// A pending publisher makes a project whose owner is known by nothing but an
	// account: that account must be reachable at a verified address (the operator
	// vouches for the addresses it enters).
	if a.Via != ViaOperator {
		verified, err := s.cfg.Store.EmailVerified(ctx, u.ID)
		if err != nil {
			return store.PendingPublisher{}, err
		}
		if !verified {
			return store.PendingPublisher{}, fmt.Errorf("%w: verify the address %s first, with the link mailed to it (your account page sends it again)", ErrEmailUnverified, u.Email)
		}
	}
	if s.cfg.Projects == ProjectsManaged {
		granted, err := s.cfg.Store.HasPendingGrant(ctx, u.ID, project)
		if err != nil {
			return store.PendingPublisher{}, err
		}
		if !granted {
			return store.PendingPublisher{}, fmt.Errorf("%w: the index has not granted the name %q to %s; a pending publisher may name only a project the index granted you", ErrManaged, project, u.Name)
		}
	}
	if err := s.validatePublisher(p); err != nil {
		return store.PendingPublisher{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	now := s.cfg.Now()
	pp, err := s.cfg.Store.AddPending(ctx, store.PendingPublisher{Publisher: p, ProjectName: project, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(PendingLifetime)})
	switch {
	case errors.Is(err, store.ErrTooManyPending):
		return store.PendingPublisher{}, fmt.Errorf("%w: %s has %d pending publishers, the most allowed; remove one or wait until one is used", ErrInvalidInput, u.Name, store.MaxPendingPerUser)
	case errors.Is(err, store.ErrContested):
		// Saying whose, or for which project, would tell one user about another's plans.
		return store.PendingPublisher{}, fmt.Errorf("%w: the project name %s may be contested: another user has a pending publisher for the same repository, workflow and environment, and whichever registered first would receive the project; bind yours to a deployment environment of your own, or ask the operators", ErrContested, project)
	case errors.Is(err, store.ErrConflict):
		return store.PendingPublisher{}, fmt.Errorf("%w: you already have this pending publisher for %s", ErrInvalidInput, project)
	}
	if err != nil {
		return store.PendingPublisher{}, err
	}
	s.audit(ctx, a, u.ID, 0, "pending.add", fmt.Sprintf("pending publisher %d for new project %s: %s", pp.ID, project, Describe(pp.Publisher)))
	return pp, nil
}

// RemovePublisher removes publisher id for actor, an owner of its project with a second
// factor.
func (s *Service) RemovePublisher(ctx context.Context, a Actor, id int64) error {
	u, p, err := s.ownedPublisher(ctx, a, id)
	if err != nil {
		return err
	}
	if err := s.cfg.Store.RemovePublisher(ctx, id); err != nil {
		return err
	}
	s.audit(ctx, a, u.ID, p.ProjectID, "publisher.remove", fmt.Sprintf("publisher %d removed: %s", id, Describe(p.Publisher)))
	s.notifyOwners(ctx, p.ProjectID, "", "tpx: publisher removed from "+p.ProjectName, fmt.Sprintf("%s removed a trusted publisher from %s: %s.", u.Name, p.ProjectName, Describe(p.Publisher)))
	return nil
}

// Describe says what a publisher trusts, in one line for people.
func Describe(p policy.Publisher) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s workflow %s", p.Kind, p.Repository(), p.Workflow)
	if p.Environment != "" {
		fmt.Fprintf(&b, " environment %s", p.Environment)
	}
	fmt.Fprintf(&b, " issuer %s", p.Issuer)
	if p.RepositoryID != "" {
		fmt.Fprintf(&b, " ids %s/%s", p.OwnerID, p.RepositoryID)
	}
	if !p.Refs.Any() {
		fmt.Fprintf(&b, " refs: %s", p.Refs)
	}
	if p.CalledWorkflow != "" {
		fmt.Fprintf(&b, " called workflow %s", p.CalledWorkflow)
	}
	return b.String()
}

// ownedPublisher finds publisher id for actor, an owner of its project with a second
// factor. A publisher of a project the actor is no member of is as unknown as one that
// does not exist.
func (s *Service) ownedPublisher(ctx context.Context, a Actor, id int64) (store.User, store.Publisher, error) {
	u, err := s.authorize(ctx, a)
	if err != nil {
		return store.User{}, store.Publisher{}, err
	}
	unknown := fmt.Errorf("%w: %d", ErrUnknownID, id)
	p, err := s.cfg.Store.PublisherByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, store.Publisher{}, unknown
	}
	if err != nil {
		return store.User{}, store.Publisher{}, err
	}
	role, err := s.cfg.Store.MemberRole(ctx, p.ProjectID, u.ID)
	switch {
	case errors.Is(err, store.ErrNotFound) && a.Via == ViaOperator:
		return store.User{}, store.Publisher{}, fmt.Errorf("%w: %s does not own %s", ErrNotOwner, u.Name, p.ProjectName)
	case errors.Is(err, store.ErrNotFound):
		return store.User{}, store.Publisher{}, unknown
	case err != nil:
		return store.User{}, store.Publisher{}, err
	case role != store.RoleOwner:
		return store.User{}, store.Publisher{}, fmt.Errorf("%w: %s is a maintainer of %s; only its owners change publishers and members", ErrNotOwner, u.Name, p.ProjectName)
	}
	return u, p, nil
}

// SetPublisherRules replaces publisher id's ref rules and called-workflow pin for actor, an
// owner of its project with a second factor, and tells every owner what changed: a rule
// that lets more refs publish is as much a change of who can publish as a new publisher.
func (s *Service) SetPublisherRules(ctx context.Context, a Actor, id int64, refs policy.RefRules, calledWorkflow string) (store.Publisher, error) {
	u, p, err := s.ownedPublisher(ctx, a, id)
	if err != nil {
		return store.Publisher{}, err
	}
	next := p
	next.Refs, next.CalledWorkflow = refs, calledWorkflow
	if err := policy.Validate(next.Publisher); err != nil {
		return store.Publisher{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	if next.Refs == p.Refs && next.CalledWorkflow == p.CalledWorkflow {
		return p, nil
	}
	if err := s.cfg.Store.SetPublisherRules(ctx, id, refs, calledWorkflow); err != nil {
		return store.Publisher{}, err
	}
	change := fmt.Sprintf("refs %s (was %s)", next.Refs, p.Refs)
	if next.CalledWorkflow != p.CalledWorkflow {
		change += fmt.Sprintf(", called workflow %s (was %s)", orAny(next.CalledWorkflow), orAny(p.CalledWorkflow))
	}
	s.audit(ctx, a, u.ID, p.ProjectID, "publisher.rules", fmt.Sprintf("publisher %d rules changed: %s", id, change))
	s.notifyOwners(ctx, p.ProjectID, "", "tpx: publisher rules changed on "+p.ProjectName,
		fmt.Sprintf("%s changed the rules of trusted publisher %d of %s (%s %s workflow %s): %s.", u.Name, id, p.ProjectName, p.Kind, p.Repository(), p.Workflow, change))
	// As stored now, its rules version counted up; as changed, if it was removed since.
	if now, err := s.cfg.Store.PublisherByID(ctx, id); err == nil {
		next = now
	}
	return next, nil
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

// audit records an event by a; a failure to record is logged, since the action already
// happened.
func (s *Service) audit(ctx context.Context, a Actor, user, project int64, action, detail string) {
	err := s.cfg.Store.Audit(ctx, store.AuditEvent{At: s.cfg.Now(), Actor: a.String(), UserID: user, ProjectID: project, Action: action, Detail: detail})
	if err != nil {
		s.cfg.Logger.Error("audit event not recorded", "action", action, "user", user, "project", project, "error", err)
	}
}

// ParseID reads a publisher id given on a command line or in a form.
func ParseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, invalid("publisher id %q is not a positive number", s)
	}
	return id, nil
}
