package exchange

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/internal/sqlitetest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/store/sqlite"
	"github.com/tpx-dev/tpx/token"
)

// t0 is a year before any run of these tests: the services' clock, not the machine's.
var t0 = time.Now().Add(-365 * 24 * time.Hour).Truncate(time.Second)

// world is a Service on real parts: an OIDC issuer over HTTP, the providers' verifier, the
// embedded SQLite store and the upload-token minter, all on one injected clock.
type world struct {
	t     *testing.T
	clock *oidctest.Clock
	iss   *oidctest.Issuer
	st    store.Store
	ex    *Service
	cfg   Config // ex's
	alice store.User
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{t: t, clock: oidctest.NewClock(t0)}
	w.iss = oidctest.New(t, oidctest.WithClock(w.clock.Now))
	st, err := sqlite.Open(ctx, sqlitetest.Dir(t))
	must(t, err)
	t.Cleanup(func() { st.Close() })
	must(t, st.Migrate(ctx))
	w.st = st
	log := slog.New(slog.DiscardHandler)
	set, err := providers.New(providers.Config{Audience: "tpx", Now: w.clock.Now, Logger: log,
		Issuers: []providers.IssuerConfig{{Kind: policy.GitHub, Issuer: w.iss.URL()}}})
	must(t, err)
	t.Cleanup(set.Close)
	box, err := secretbox.New(strings.Repeat("k", 32))
	must(t, err)
	minter, err := token.NewMinter(ctx, token.MinterConfig{Issuer: "https://tpx.example.org", Keys: st, Box: box, Logger: log, Now: w.clock.Now})
	must(t, err)
	w.cfg = Config{Verifier: set, Store: st, Minter: minter, Now: w.clock.Now, Logger: log}
	w.ex, err = New(w.cfg)
	must(t, err)
	w.alice, err = st.CreateUser(ctx, store.User{Name: "alice", Email: "alice@example.org", PasswordHash: "-", CreatedAt: t0})
	must(t, err)
	return w
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// publisher registers the GitHub publisher that the issuer's default claims satisfy, on a
// project of its own, changed by edit.
func (w *world) publisher(project string, edit func(*policy.Publisher)) store.Publisher {
	w.t.Helper()
	ctx := context.Background()
	p, err := w.st.CreateProject(ctx, project, w.alice.ID, t0)
	must(w.t, err)
	rules := policy.Publisher{Kind: policy.GitHub, Issuer: w.iss.URL(), Owner: "octo-org", Name: "octo-repo",
		Workflow: "release.yml", Environment: "prod", OwnerID: "65", RepositoryID: "74"}
	if edit != nil {
		edit(&rules)
	}
	pub, err := w.st.AddPublisher(ctx, store.Publisher{Publisher: rules, ProjectID: p.ID, CreatedBy: w.alice.ID, CreatedAt: t0})
	must(w.t, err)
	return pub
}

// refused runs the exchange of raw and checks that it fails with class.
func (w *world) refused(raw string, class error) *Error {
	w.t.Helper()
	_, err := w.ex.Exchange(context.Background(), raw)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, class) {
		w.t.Fatalf("Exchange: %v, want an *Error of class %v", err, class)
	}
	return e
}

func TestAMatchingTokenBuysAnUploadTokenForItsProjectsOnly(t *testing.T) {
	w := newWorld(t)
	pub := w.publisher("sampleproject", nil)
	w.publisher("otherproject", func(p *policy.Publisher) { p.Environment = "staging" })
	res, err := w.ex.Exchange(context.Background(), w.iss.Sign(w.iss.GitHubClaims(nil)))
	must(t, err)
	if res.Issuer != w.iss.URL() || strings.Join(res.Projects, ",") != "sampleproject" || !strings.HasPrefix(res.Token, "tpx_") {
		t.Fatalf("result %+v", res)
	}
	c := res.Claims
	if c.Subject != "github:octo-org/octo-repo" || c.Publisher.ID != pub.ID || c.Publisher.Workflow != "release.yml" ||
		c.Environment != "prod" || !res.Expires.After(t0) {
		t.Fatalf("claims %+v", c)
	}
}

func TestEachFailureHasItsClass(t *testing.T) {
	for _, tc := range []struct {
		name   string
		token  func(w *world) string
		class  error
		issuer bool // the failure is counted against the configured issuer
	}{
		{"a string that is not a JWT is an invalid payload", func(w *world) string { return "not.a.jwt" }, ErrInvalidPayload, false},
		{"a token of an issuer no one configured is an invalid payload", func(w *world) string {
			other := oidctest.New(w.t, oidctest.WithClock(w.clock.Now))
			return other.Sign(other.GitHubClaims(nil))
		}, ErrInvalidPayload, false},
		{"a token signed by another key is an invalid token", func(w *world) string {
			return w.iss.Sign(w.iss.GitHubClaims(nil), oidctest.WithKey(oidctest.AttackerKey()))
		}, ErrInvalidToken, true},
		{"a token for another audience is an invalid token", func(w *world) string {
			return w.iss.Sign(w.iss.GitHubClaims(map[string]any{"aud": "sigstore"}))
		}, ErrInvalidToken, true},
		{"a valid token that no publisher's rules accept is an invalid publisher", func(w *world) string {
			return w.iss.Sign(w.iss.GitHubClaims(map[string]any{"environment": "staging"}))
		}, ErrInvalidPublisher, true},
		{"a token whose issuer's keys cannot be fetched is keys unavailable", func(w *world) string {
			w.iss.Stop()
			return w.iss.Sign(w.iss.GitHubClaims(nil))
		}, ErrKeysUnavailable, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.publisher("sampleproject", nil)
			e := w.refused(tc.token(w), tc.class)
			if want := map[bool]string{true: w.iss.URL()}[tc.issuer]; e.Issuer != want {
				t.Fatalf("failure counted against issuer %q, want %q", e.Issuer, want)
			}
			if e.Description == "" {
				t.Fatal("a failure without a description for the caller")
			}
		})
	}
}

// What the caller is told names the job's own facts, never what the publisher expected:
// the caller may not be the owner of the project it tried.
func TestARefusalTellsTheJobsFactsNotThePublishersRules(t *testing.T) {
	w := newWorld(t)
	w.publisher("sampleproject", func(p *policy.Publisher) { p.Environment = "secret-env-name" })
	e := w.refused(w.iss.Sign(w.iss.GitHubClaims(nil)), ErrInvalidPublisher)
	if strings.Contains(e.Description, "secret-env-name") || strings.Contains(e.Description, "sampleproject") {
		t.Fatalf("the description shows the publisher's configuration: %s", e.Description)
	}
	for _, fact := range []string{`"octo-org/octo-repo"`, `"release.yml"`, `"prod"`} {
		if !strings.Contains(e.Description, fact) {
			t.Fatalf("the description lacks the job's %s: %s", fact, e.Description)
		}
	}
	if e.Cause == nil || !strings.Contains(e.Cause.Error(), "secret-env-name") {
		t.Fatalf("the private cause, for the log and the owner, lacks the reason: %v", e.Cause)
	}
}

func TestATokenIsExchangedOnceOnEveryReplica(t *testing.T) {
	w := newWorld(t)
	w.publisher("sampleproject", nil)
	raw := w.iss.Sign(w.iss.GitHubClaims(nil))
	_, err := w.ex.Exchange(context.Background(), raw)
	must(t, err)
	w.refused(raw, ErrReuse)

	// A second replica on the same database has no hint of its own: the database refuses.
	replica, err := New(w.ex.cfg)
	must(t, err)
	_, err = replica.Exchange(context.Background(), raw)
	if !errors.Is(err, ErrReuse) {
		t.Fatalf("the second replica: %v, want ErrReuse", err)
	}
}

// unsignable fixes an upload token's claims as the Minter does and keeps no key to sign
// them with: a signature that fails after the exchange's record has committed.
type unsignable struct{ m Minter }

func (u unsignable) Claim(c token.Claims) (token.Unsigned, error) {
	fixed, err := u.m.Claim(c)
	return token.Unsigned{Claims: fixed.Claims}, err
}

// toldOfSuccess records the token ids of the exchanges an Observer is told succeeded.
type toldOfSuccess struct {
	mu     sync.Mutex
	tokens []string
}

func (o *toldOfSuccess) ExchangeFailed(context.Context, []store.FailedExchange) {}

func (o *toldOfSuccess) ExchangeSucceeded(_ context.Context, _ policy.Identity, tokenID string, _ []store.Publisher, _ []store.PendingPublisher) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tokens = append(o.tokens, tokenID)
}

// The upload token is signed while the exchange's record commits. Should the signature
// fail once the record has committed, the job is told to request a fresh token (this one
// is used up), and the owners are told of the exchange as of any other that committed.
func TestAnExchangeRecordedWhoseTokenCannotBeSignedSaysSo(t *testing.T) {
	w := newWorld(t)
	w.publisher("sampleproject", nil)
	told := &toldOfSuccess{}
	cfg := w.cfg
	cfg.Minter, cfg.Observer = unsignable{w.cfg.Minter}, told
	ex, err := New(cfg)
	must(t, err)
	raw := w.iss.Sign(w.iss.GitHubClaims(nil))
	res, err := ex.Exchange(context.Background(), raw)
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrUnavailable) || !strings.Contains(e.Description, "request a fresh token") || res.Token != "" {
		t.Fatalf("Exchange: %v and a token of %d bytes; want ErrUnavailable asking for a fresh token, and no token", err, len(res.Token))
	}
	ex.Wait()
	if len(told.tokens) != 1 || told.tokens[0] == "" {
		t.Fatalf("owners told of %q, want the one recorded exchange's token id", told.tokens)
	}
	// The record committed: a service that can sign refuses the CI token as used.
	w.refused(raw, ErrReuse)
}

// The in-process hint of used token ids lasts as long as the database keeps the record:
// until the token's expiry plus ReplayMargin on the service's clock, which may not be the
// machine's.
func TestTheSeenHintLastsUntilTheRecordExpiresOnTheServicesClock(t *testing.T) {
	w := newWorld(t)
	w.publisher("sampleproject", nil)
	claims := w.iss.GitHubClaims(nil)
	exp := time.Unix(claims["exp"].(int64), 0)
	_, err := w.ex.Exchange(context.Background(), w.iss.Sign(claims))
	must(t, err)
	items := w.ex.seen.Items()
	if len(items) != 1 {
		t.Fatalf("%d hints, want 1", len(items))
	}
	want := time.Now().Add(exp.Add(ReplayMargin).Sub(t0))
	for _, it := range items {
		got := time.Unix(0, it.Expiration)
		if it.Expiration == 0 || got.Sub(want).Abs() > 5*time.Second {
			t.Fatalf("the hint expires at %v, want about %v (the token's remaining life on the service's clock, counted from now)", got, want)
		}
	}
}

// recorder is a store that keeps what each exchange committed through it asked for.
type recorder struct {
	store.Store
	committed []store.Exchange
}

func (r *recorder) CommitExchange(ctx context.Context, e store.Exchange) error {
	r.committed = append(r.committed, e)
	return r.Store.CommitExchange(ctx, e)
}

// The embedded store writes every use, held or not: each exchange is judged by the one
// before it.
func TestPublishersUsedLessThanAMinuteAgoAreHeldNotWritten(t *testing.T) {
	w := newWorld(t)
	pub := w.publisher("sampleproject", nil)
	rec := &recorder{Store: w.st}
	cfg := w.cfg
	cfg.Store = rec
	ex, err := New(cfg)
	must(t, err)
	for i, c := range []struct {
		after time.Duration
		held  bool
	}{
		{0, false}, // never used
		{59 * time.Second, true},
		{time.Minute, false},
		{time.Minute - time.Millisecond, true},
		{2 * time.Minute, false},
	} {
		w.clock.Advance(c.after)
		_, err := ex.Exchange(context.Background(), w.iss.Sign(w.iss.GitHubClaims(nil)))
		must(t, err)
		e := rec.committed[len(rec.committed)-1]
		if held := slices.Equal(e.Recent, []int64{pub.ID}); held != c.held || (!held && len(e.Recent) > 0) {
			t.Fatalf("exchange %d at %v: recent %v, want held %v", i, w.clock.Now().Sub(t0), e.Recent, c.held)
		}
	}
}

// ruleChanger is a store whose owner changes a publisher's rules to rules once, between
// an exchange's read of the publishers and its commit.
type ruleChanger struct {
	store.Store
	publisher int64
	rules     policy.RefRules
	commits   []store.Exchange
}

func (r *ruleChanger) CommitExchange(ctx context.Context, e store.Exchange) error {
	if len(r.commits) == 0 {
		if err := r.Store.SetPublisherRules(ctx, r.publisher, r.rules, ""); err != nil {
			return err
		}
	}
	r.commits = append(r.commits, e)
	return r.Store.CommitExchange(ctx, e)
}

func TestAnExchangeWhosePublishersRulesChangeBeforeItsCommitIsJudgedByTheNewRules(t *testing.T) {
	for _, c := range []struct {
		name    string
		rules   policy.RefRules
		refused bool
	}{
		{"rules the job still satisfies", policy.RefRules{Pattern: "refs/heads/*"}, false},
		{"rules the job no longer satisfies", policy.RefRules{TagsOnly: true}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			pub := w.publisher("sampleproject", nil)
			changer := &ruleChanger{Store: w.st, publisher: pub.ID, rules: c.rules}
			cfg := w.cfg
			cfg.Store = changer
			ex, err := New(cfg)
			must(t, err)
			res, err := ex.Exchange(context.Background(), w.iss.Sign(w.iss.GitHubClaims(nil)))
			if len(changer.commits) == 0 || changer.commits[0].RulesVersions[0] != pub.RulesVersion {
				t.Fatalf("the first commit named rules versions %v, want the publisher's as read, %d", changer.commits, pub.RulesVersion)
			}
			if c.refused {
				var e *Error
				if !errors.As(err, &e) || !errors.Is(e, ErrInvalidPublisher) {
					t.Fatalf("got %v, want a refusal: no publisher matches under the new rules", err)
				}
				if len(changer.commits) != 1 {
					t.Fatalf("%d commits, want 1: the new rules refuse the job before any other commit", len(changer.commits))
				}
				return
			}
			must(t, err)
			if len(changer.commits) != 2 || changer.commits[1].RulesVersions[0] != pub.RulesVersion+1 {
				t.Fatalf("commits %+v: want a second one under the new rules' version", changer.commits)
			}
			if _, err := w.st.UploadToken(context.Background(), res.Claims.ID); err != nil {
				t.Fatalf("the upload token handed out is not recorded: %v", err)
			}
		})
	}
}
