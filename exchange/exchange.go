package exchange

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/patrickmn/go-cache"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/token"
	"github.com/tpx-dev/tpx/verify"
)

// ReplayMargin is how long past a CI token's expiry its jti stays recorded: longer than
// any clock leeway a verifier allows, so a token can never be accepted twice.
const ReplayMargin = 5 * time.Minute

// Verifier checks a CI platform's token and returns the identity it proves.
type Verifier interface {
	// Verify returns the identity raw proves; on failure, the identity holds at most
	// the configured issuer that raw named, for counting the failure against it.
	Verify(ctx context.Context, raw string) (policy.Identity, error)
	// VerifyAudience is Verify for a token that must carry audience rather than the
	// verifier's own: the audience of another client protocol (Request.Audience).
	VerifyAudience(ctx context.Context, raw, audience string) (policy.Identity, error)
}

// Store is the part of store.Store an exchange needs.
type Store interface {
	// FindCandidates returns the active and the pending publishers of a repository that
	// may accept job, bounded (store.Store.FindCandidates), from one snapshot: one round
	// trip before the commit's one.
	FindCandidates(ctx context.Context, issuer, key string, job store.Job, now time.Time) ([]store.Publisher, []store.PendingPublisher, error)
	CommitExchange(ctx context.Context, e store.Exchange) error
}

// Minter signs upload tokens.
type Minter interface {
	Claim(c token.Claims) (token.Unsigned, error)
}

// Config wires a Service. Now defaults to time.Now and Logger to slog.Default().
type Config struct {
	Verifier Verifier
	Store    Store
	Minter   Minter
	Now      func() time.Time
	Logger   *slog.Logger
	// Observer learns what owners see of exchanges in the web UI; nil for none.
	Observer Observer
	// Names is the index's rule for which spellings name one project, used to compare a
	// requested project with those matched and to write the token's project names; the
	// zero value is PyPI's (PEP 503).
	Names verify.Names
	// Admission bounds the tokens verified at once; the zero value takes its defaults.
	Admission Admission
}

// Service performs exchanges. It is safe for concurrent use.
type Service struct {
	cfg Config
	// seen remembers consumed (issuer, jti) pairs so a replay is refused without a
	// database round trip. It may only ever answer "seen": the database decides "unseen".
	// Its entries live as long as the database's record, measured on cfg.Now (remember);
	// go-cache counts that span down on the machine's clock, since it takes no clock of
	// its own, which is safe for a hint that can only refuse sooner.
	seen *cache.Cache
	// admit gives tokens their turns at verification.
	admit *admission
	// observing and observers track observer calls running after replies.
	observing chan struct{}
	observers sync.WaitGroup
}

// New returns a Service for cfg.
func New(cfg Config) (*Service, error) {
	if cfg.Verifier == nil || cfg.Store == nil || cfg.Minter == nil {
		return nil, errors.New("exchange: Verifier, Store and Minter are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{cfg: cfg, seen: cache.New(time.Hour, 10*time.Minute), admit: newAdmission(cfg.Admission), observing: make(chan struct{}, maxObserving)}, nil
}

// Result is a successful exchange.
type Result struct {
	// Issuer is the CI token's issuer.
	Issuer   string
	Token    string
	Expires  time.Time
	Projects []string
	Claims   token.Claims
}

// Exchange verifies raw, a CI platform's OIDC token, and mints an upload token for the
// projects whose publishers the token's identity satisfies, within the bounds of choose.
// Every failure is an *Error.
func (s *Service) Exchange(ctx context.Context, raw string) (Result, error) {
	return s.ExchangeFor(ctx, raw, "")
}

// ExchangeFor is Exchange for the one project the client names, in any spelling; empty
// means every project within the bounds. Naming it makes the token's size and cost
// independent of whatever other tenants registered for the same repository.
func (s *Service) ExchangeFor(ctx context.Context, raw, project string) (Result, error) {
	return s.ExchangeRequest(ctx, Request{Token: raw, Project: project})
}

// Request is one exchange as a client protocol asks for it.
type Request struct {
	// Token is the CI platform's OIDC token.
	Token string
	// Project, when set, is the one project the token is asked for, in any spelling.
	Project string
	// Audience, when set, is the audience Token must carry instead of the service's
	// own: that of the client protocol whose route received the request, so that a
	// token requested for one protocol is refused on every other.
	Audience string
}

// ExchangeRequest is ExchangeFor for a request of any client protocol: every protocol is
// a front on this one exchange, with the same checks, replay protection and records.
func (s *Service) ExchangeRequest(ctx context.Context, r Request) (_ Result, err error) {
	project := r.Project
	if err := s.admit.enter(ctx); err != nil {
		return Result{}, err
	}
	id, err := s.verify(ctx, r)
	defer func() { attribute(err, id.Issuer) }()
	if err != nil {
		return Result{}, verifyError(err)
	}
	log := s.cfg.Logger.With("issuer", id.Issuer, "repository", id.Repository, "workflow_ref", id.WorkflowRef, "run_id", id.RunID)
	seenKey := id.Issuer + "\x00" + id.JTI
	if _, ok := s.seen.Get(seenKey); ok {
		return Result{}, fail(ErrReuse, "this token was already exchanged; request a fresh one from your CI platform", nil)
	}

	o, err := s.attempt(ctx, log, id, seenKey, project)
	if rulesChanged(err) {
		// An owner changed the rules of a publisher this exchange matched, after it was
		// read: once more, under the rules now in place.
		o, err = s.attempt(ctx, log, id, seenKey, project)
	}
	if errors.Is(err, ErrInvalidPending) {
		// A pending publisher this exchange matched was converted by a concurrent exchange
		// (on any replica), or its name was taken; either way it is gone now. Once more:
		// the project it created, if any, now has an active publisher that may match.
		if o2, err2 := s.attempt(ctx, log, id, seenKey, project); !errors.Is(err2, ErrInvalidPublisher) && !errors.Is(err2, ErrInvalidPending) {
			o, err = o2, err2
		}
	}
	if err != nil && o.tokenID == "" {
		s.observeFailures(ctx, o.failed, o.matched)
		return Result{}, err
	}
	// Owners learn of what committed (projects created, publishers used) even when the
	// token could not be signed after its record committed.
	if s.cfg.Observer != nil {
		s.afterReply(ctx, func(ctx context.Context) {
			s.observeFailures(ctx, o.failed, o.matched)
			s.cfg.Observer.ExchangeSucceeded(ctx, id, o.tokenID, o.matched, o.convert)
		})
	}
	if err != nil {
		return Result{}, err
	}
	return o.res, nil
}

// verify judges r.Token in the turn the caller entered, and leaves it: refused at once
// when the Verifier can tell (Screener), else verified. A token whose verification would
// wait for its issuer's keys gives its turn back first: a turn is a processor's worth of
// work, and a fetch one flood caused must not stall every token behind it.
func (s *Service) verify(ctx context.Context, r Request) (policy.Identity, error) {
	if sc, ok := s.cfg.Verifier.(Screener); ok {
		iss, fetch, err := sc.Screen(r.Token)
		if err != nil {
			s.admit.leave()
			return policy.Identity{Issuer: iss}, err
		}
		if fetch {
			s.admit.leave()
			return s.verifyToken(ctx, r)
		}
	}
	defer s.admit.leave()
	return s.verifyToken(ctx, r)
}

// verifyToken verifies r.Token for the service's audience or the one r names.
func (s *Service) verifyToken(ctx context.Context, r Request) (policy.Identity, error) {
	if r.Audience == "" {
		return s.cfg.Verifier.Verify(ctx, r.Token)
	}
	return s.cfg.Verifier.VerifyAudience(ctx, r.Token, r.Audience)
}

// maxObserving bounds the observer calls of successful exchanges running after their
// replies; past it, an exchange observes before it replies, which slows the exchanges that
// cause the backlog rather than letting it grow.
const maxObserving = 64

// afterReply runs what owners are told of a successful exchange (notices, refusals of
// other projects' publishers) after the reply, not in it: which projects a job's
// publishers reach is partly chosen by other tenants, and the job's token must not wait on
// writes made for them. Wait returns when every such call is done.
func (s *Service) afterReply(ctx context.Context, f func(context.Context)) {
	ctx = context.WithoutCancel(ctx)
	select {
	case s.observing <- struct{}{}:
		s.observers.Go(func() {
			defer func() { <-s.observing }()
			f(ctx)
		})
	default:
		f(ctx)
	}
}

// Wait waits for the owners' notices of finished exchanges (afterReply).
func (s *Service) Wait() { s.observers.Wait() }

// outcome is what one attempt at an exchange found and, on success, made.
type outcome struct {
	res     Result
	matched []store.Publisher
	convert []store.PendingPublisher
	failed  []store.FailedExchange
	// tokenID is the upload token's id once the exchange's record committed, even if the
	// token could then not be signed.
	tokenID string
}

// attempt looks the identity's publishers up, matches them, mints and commits.
func (s *Service) attempt(ctx context.Context, log *slog.Logger, id policy.Identity, seenKey, want string) (outcome, error) {
	var o outcome
	now := s.cfg.Now()
	key := policy.RepositoryKey(id.Repository)
	job := store.JobOf(id)
	if want != "" {
		job.Project = s.cfg.Names.Key(want)
	}
	pubs, pending, err := s.cfg.Store.FindCandidates(ctx, id.Issuer, key, job, now)
	if err != nil {
		return o, fail(ErrUnavailable, "publishers could not be read; try again", err)
	}

	// reasons says why publishers refused the job, for the log: the first few, and how
	// many there were, since strangers' publishers can make them thousands.
	var (
		reasons []string
		refused int
	)
	reason := func(what string, p policy.Publisher, err error) {
		refused++
		if len(reasons) < MaxFailuresRecorded {
			reasons = append(reasons, fmt.Sprintf("%s publisher %d: %v", what, p.ID, err))
		}
	}
	var matched []store.Publisher
	for _, p := range pubs {
		if err := policy.Match(p.Publisher, id); err != nil {
			reason("project "+p.ProjectName, p.Publisher, err)
			if len(o.failed) < MaxFailuresRecorded {
				o.failed = append(o.failed, failure(now, id, p, err))
			}
			continue
		}
		matched = append(matched, p)
	}
	var satisfied []store.PendingPublisher
	for _, p := range pending {
		if err := policy.Match(p.Publisher, id); err != nil {
			reason("pending project "+p.ProjectName, p.Publisher, err)
			continue
		}
		satisfied = append(satisfied, p)
	}
	convert, contested := mostSpecific(satisfied)
	chosen := choose(matched, convert, want, s.cfg.Names)
	if len(chosen) == 0 {
		if want != "" && len(matched)+len(convert) > 0 {
			log.InfoContext(ctx, "exchange refused: the project asked for is not among those matched", "project", want, "matched", len(matched)+len(convert))
			return o, fail(ErrInvalidPublisher, "valid token, but no trusted publisher of the project asked for matches it; check the project name and its publishers", nil)
		}
		if contested != nil {
			log.InfoContext(ctx, "exchange refused: pending publishers of several users claim this job", "reasons", contested.Error())
			return o, fail(ErrInvalidPending, "the project this pending publisher would create is contested: pending publishers of several users match this job equally; register a publisher bound to this job's environment, or ask the operators", contested)
		}
		why := fmt.Sprintf("%d refused: %s", refused, strings.Join(reasons, "; "))
		log.InfoContext(ctx, "exchange refused: no publisher matched", "candidates", len(pubs)+len(pending), "reasons", why)
		return o, fail(ErrInvalidPublisher, noPublisher(id), errors.New(why))
	}

	// Only the chosen projects' publishers are used: pinned, marked used and logged.
	keep := map[string]bool{}
	projects := make([]string, len(chosen))
	for i, c := range chosen {
		keep[c.key] = true
		projects[i] = c.key
		if c.pending != nil {
			o.convert = append(o.convert, *c.pending)
		}
	}
	var pins []store.Pin
	for _, p := range matched {
		if !keep[s.cfg.Names.Key(p.ProjectName)] {
			continue
		}
		o.matched = append(o.matched, p)
		if owner, repo, needed := policy.Pins(p.Publisher, id); needed {
			pins = append(pins, store.Pin{PublisherID: p.ID, OwnerID: owner, RepositoryID: repo})
		}
	}

	unsigned, err := s.cfg.Minter.Claim(uploadClaims(id, named(chosen[0]), projects))
	if err != nil {
		return o, fail(ErrUnavailable, "the upload token could not be signed; try again", err)
	}
	claims := unsigned.Claims
	// The token is signed while its record commits: the reply needs both, neither needs
	// the other, and the signature is never sent unless the record committed.
	signed := make(chan signature, 1)
	go func() { signed <- sign(unsigned) }()
	matchedIDs := make([]int64, len(o.matched))
	versions := make([]int64, len(o.matched))
	var recent []int64
	events := make([]store.AuditEvent, len(o.matched))
	facts := id.SourceForOwners()
	for i, p := range o.matched {
		matchedIDs[i], versions[i] = p.ID, p.RulesVersion
		if store.LastUseRecent(p.LastUsedAt, now) {
			recent = append(recent, p.ID)
		}
		events[i] = store.AuditEvent{At: now, Actor: "exchange", ProjectID: p.ProjectID, Action: "token.mint",
			Detail: fmt.Sprintf("upload token %s minted for publisher %d: %s", claims.ID, p.ID, facts)}
	}
	err = s.cfg.Store.CommitExchange(ctx, store.Exchange{
		At:            now,
		Issuer:        id.Issuer,
		JTI:           id.JTI,
		JTIExpires:    id.Expiry.Add(ReplayMargin),
		Publishers:    matchedIDs,
		RulesVersions: versions,
		Pins:          pins,
		Recent:        recent,
		Pending:       o.convert,
		Identity:      id,
		TokenID:       claims.ID,
		TokenSubject:  claims.Subject,
		TokenExpires:  claims.ExpiresAt,
		Projects:      projects,
		Events:        events,
	})
	if err != nil {
		return o, s.commitError(ctx, log, seenKey, id, err)
	}
	s.remember(seenKey, id)
	o.tokenID = claims.ID
	sig := <-signed
	if sig.err != nil {
		// The claims are fixed and recorded: signing them once more costs nothing else.
		sig = sign(unsigned)
	}
	if sig.err != nil {
		log.ErrorContext(ctx, "exchange recorded, but its upload token could not be signed", "token_id", claims.ID, "error", sig.err)
		return o, fail(ErrUnavailable, "the exchange was recorded but its upload token could not be signed; request a fresh token from your CI platform and try again", sig.err)
	}
	// One line per exchange, however many projects it covers; left_out counts those the
	// token's bounds left out.
	log.InfoContext(ctx, "exchange succeeded", "projects", projects, "token_id", claims.ID, "pinned", len(pins), "created_projects", len(o.convert),
		"left_out", len(matched)+len(convert)-len(chosen))
	o.res = Result{Issuer: id.Issuer, Token: sig.raw, Expires: claims.ExpiresAt, Projects: projects, Claims: claims}
	return o, nil
}

// signature is an upload token signed, or why it could not be.
type signature struct {
	raw string
	err error
}

// sign signs u; a panic on the way is its error, since it may run on a goroutine where
// nothing else would recover it.
func sign(u token.Unsigned) (sig signature) {
	defer func() {
		if r := recover(); r != nil {
			sig = signature{err: fmt.Errorf("signing the upload token: panic: %v", r)}
		}
	}()
	raw, err := u.Sign()
	return signature{raw, err}
}

// remember records that id's token was consumed, for as long as its replay record is
// kept: until its expiry plus ReplayMargin on the service's clock. A span already over is
// not recorded at all (go-cache would keep an entry of no positive lifetime for ever).
func (s *Service) remember(seenKey string, id policy.Identity) {
	if left := id.Expiry.Add(ReplayMargin).Sub(s.cfg.Now()); left > 0 {
		s.seen.Set(seenKey, struct{}{}, left)
	}
}

func (s *Service) commitError(ctx context.Context, log *slog.Logger, seenKey string, id policy.Identity, err error) error {
	var taken *store.PendingTakenError
	switch {
	case errors.Is(err, store.ErrReplay):
		s.remember(seenKey, id)
		return fail(ErrReuse, "this token was already exchanged; request a fresh one from your CI platform", err)
	case errors.Is(err, store.ErrPinConflict), errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrRulesChanged):
		// Pinned to other ids by a concurrent exchange, or removed or its rules changed
		// by an owner.
		return fail(ErrInvalidPublisher, noPublisher(id), err)
	case errors.As(err, &taken):
		// A pending publisher does not reserve its name: someone created the project
		// first, or a concurrent exchange converted it. It is left alone, whoever it
		// belongs to (its registrant removes it, or it expires): an exchange, which anyone
		// who can run a job in the repository may start, never deletes registrations.
		log.InfoContext(ctx, "pending publishers gone: converted by another exchange, or their project name was taken", "pending_publishers", taken.IDs)
		return fail(ErrInvalidPending, "the project this pending publisher would create already exists; ask the project's owners to add a publisher", err)
	default:
		log.ErrorContext(ctx, "exchange not recorded", "error", err)
		return fail(ErrUnavailable, "the exchange could not be recorded; try again with a fresh token", err)
	}
}

// rulesChanged reports whether err is an exchange's failure because the rules of a
// publisher it matched changed before its commit.
func rulesChanged(err error) bool {
	var e *Error
	return errors.As(err, &e) && errors.Is(e.Cause, store.ErrRulesChanged)
}

// noPublisher says that no publisher matched, and lists what this job's own token says
// about it, the facts a publisher is matched on, so the job's log shows what to compare
// with the registration. It never says what any publisher expected: that is another
// owner's configuration, and the caller may not be the project's owner.
func noPublisher(id policy.Identity) string {
	env := "none"
	if id.Environment != "" {
		env = show(id.Environment)
	}
	return fmt.Sprintf("valid token, but no trusted publisher matches it. This job, as its token says: repository %s, workflow %s, ref %s, environment %s, event %s. Check these against the publisher registered for your project",
		show(id.Repository), show(workflowPath(id.WorkflowRef)), show(id.Ref), env, show(id.EventName))
}

// workflowPath is the workflow file of a GitHub workflow_ref
// ("owner/repo/.github/workflows/release.yml@refs/heads/main") or the configuration path of
// a GitLab ci_config_ref_uri ("gitlab.com/group/project//.gitlab-ci.yml@refs/heads/main").
func workflowPath(ref string) string {
	path, _, _ := strings.Cut(ref, "@")
	if _, file, ok := strings.Cut(path, "/.github/workflows/"); ok {
		return file
	}
	if _, file, ok := strings.Cut(path, "//"); ok {
		return file
	}
	return path
}

// show quotes a claim value for a sentence, clipped: no character of it can pass for the
// sentence's own.
func show(s string) string {
	const max = 128
	if len(s) > max {
		return strconv.Quote(s[:max]) + "…"
	}
	return strconv.Quote(s)
}

func verifyError(err error) error {
	switch {
	case errors.Is(err, providers.ErrMalformed):
		return fail(ErrInvalidPayload, "the token is not a well-formed JWT", err)
	case errors.Is(err, providers.ErrNotEnabled):
		return fail(ErrNotEnabled, "trusted publishing from this CI platform's issuer is switched off on this service; ask its operators", err)
	case errors.Is(err, providers.ErrUnknownIssuer):
		var unknown *providers.IssuerError
		if errors.As(err, &unknown) {
			return fail(ErrInvalidPayload, fmt.Sprintf("the token's issuer %s is not one this service trusts; tokens from CI platforms its operators did not configure are refused", unknown.Issuer), err)
		}
		return fail(ErrInvalidPayload, "the token's issuer is not one this service trusts", err)
	case errors.Is(err, providers.ErrKeysUnavailable):
		return fail(ErrKeysUnavailable, "the CI platform's signing keys cannot be fetched right now; try again later", err)
	case errors.Is(err, providers.ErrInvalidToken):
		var check *providers.CheckError
		if errors.As(err, &check) {
			return fail(ErrInvalidToken, check.Public, err)
		}
		return fail(ErrInvalidToken, "the token failed verification (signature, audience or validity period); request a fresh token with the right audience", err)
	default:
		return fail(ErrUnavailable, "the token could not be verified; try again", err)
	}
}

// mostSpecific picks, of the pending publishers a job satisfied, those that may create
// their projects: only the most specific ones (policy.Specificity), since a job that
// satisfies an environment-bound registration belongs to whoever bound it, not to someone
// who registered the same repository for any environment. Registration refuses rules that
// another user's pending publisher has, but rows from before that rule may remain: when the
// most specific ones belong to several users, none may act, and the error says so.
func mostSpecific(satisfied []store.PendingPublisher) ([]store.PendingPublisher, error) {
	if len(satisfied) == 0 {
		return nil, nil
	}
	top := slices.MaxFunc(satisfied, func(a, b store.PendingPublisher) int {
		return cmp.Compare(policy.Specificity(a.Publisher), policy.Specificity(b.Publisher))
	})
	best := policy.Specificity(top.Publisher)
	var out []store.PendingPublisher
	for _, p := range satisfied {
		if policy.Specificity(p.Publisher) != best {
			continue
		}
		if p.UserID != top.UserID {
			return nil, fmt.Errorf("pending publishers %d and %d of different users are equally specific", top.ID, p.ID)
		}
		out = append(out, p)
	}
	return out, nil
}

// named is the publisher the upload token names: the one that gave the token its first
// project, the most specific the job satisfied and first in the token's order. A pending
// publisher is named without an id, since it gets a new one when it becomes active.
func named(c candidate) policy.Publisher {
	p := c.publisher
	if c.pending != nil {
		p.ID = 0
	}
	return p
}

func uploadClaims(id policy.Identity, p policy.Publisher, projects []string) token.Claims {
	return token.Claims{
		Subject:  string(id.Kind) + ":" + id.Repository,
		Projects: projects,
		Publisher: token.Publisher{
			ID:          p.ID,
			Kind:        string(p.Kind),
			Repository:  p.Repository(),
			Workflow:    p.Workflow,
			Environment: p.Environment,
		},
		Ref:         id.Ref,
		SHA:         id.SHA,
		RunID:       id.RunID,
		RunAttempt:  id.RunAttempt,
		Event:       id.EventName,
		Environment: id.Environment,
	}
}
