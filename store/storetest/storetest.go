package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
)

// Capability is a behaviour the contract leaves to the backend, which Run then checks.
type Capability int

const (
	// HoldsRows: publishers an exchange only holds (Exchange.Recent) are not written.
	HoldsRows Capability = iota + 1
	// CommitsTogether: concurrent exchanges commit in shared transactions, which the
	// store's PoolStats count.
	CommitsTogether
)

// Run holds a backend to the store.Store contract, and to the capabilities it claims.
// open returns a migrated store with no data, used by one test only (each test runs in
// parallel with the others); it is also responsible for closing it when t ends.
func Run(t *testing.T, open func(t *testing.T) store.Store, claims ...Capability) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"schema", schemaTests()},
		{"users", userTests()},
		{"projects", projectTests()},
		{"publishers", publisherTests()},
		{"pending", pendingTests()},
		{"candidates", candidateTests()},
		{"exchange", exchangeTests()},
		{"exchanges committing together", togetherTests()},
		{"tokens", tokenTests()},
		{"signing keys", signingKeyTests()},
		{"audit", auditTests()},
		{"second factors", factorTests()},
		{"sessions", sessionTests()},
		{"email verification", emailTests()},
		{"outbox", outboxTests()},
		{"owners", ownerTests()},
		{"failed exchanges", failureTests()},
		{"expired records", expiryTests()},
		{"retention", retentionTests()},
		{"index", indexTests()},
		{"naming rules", nameTests()},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, &fixture{t: t, ctx: t.Context(), st: open(t), now: epoch, claims: claims})
				})
			}
		})
	}
}

type test struct {
	name string
	run  func(t *testing.T, f *fixture)
}

// epoch is the suite's "now": a whole number of microseconds, as stores keep times.
var epoch = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

const (
	githubIssuer = "https://token.actions.githubusercontent.com"
	ghesIssuer   = "https://ghes.example.com/_services/token"
	gitlabIssuer = "https://gitlab.com"
)

// fixture is one test's store and the shortcuts for filling it.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	st     store.Store
	now    time.Time
	claims []Capability
}

// can is whether the backend claims c.
func (f *fixture) can(c Capability) bool { return slices.Contains(f.claims, c) }

func (f *fixture) user(name string) store.User {
	f.t.Helper()
	u, err := f.st.CreateUser(f.ctx, store.User{Name: name, Email: name + "@example.com", PasswordHash: "hash-of-" + name, CreatedAt: f.now})
	must(f.t, err)
	return u
}

func (f *fixture) project(name string, owner store.User) store.Project {
	f.t.Helper()
	p, err := f.st.CreateProject(f.ctx, name, owner.ID, f.now)
	must(f.t, err)
	return p
}

// rules is a GitHub publisher for octo-org/octo-repo's release.yml, the repository that
// identity describes.
func rules() policy.Publisher {
	return policy.Publisher{Kind: policy.GitHub, Issuer: githubIssuer, Owner: "octo-org", Name: "octo-repo", Workflow: "release.yml"}
}

// publisher adds rules, changed by edit, to project as by.
func (f *fixture) publisher(project store.Project, by store.User, edit func(*policy.Publisher)) store.Publisher {
	f.t.Helper()
	r := rules()
	if edit != nil {
		edit(&r)
	}
	p, err := f.st.AddPublisher(f.ctx, store.Publisher{Publisher: r, ProjectID: project.ID, CreatedBy: by.ID, CreatedAt: f.now})
	must(f.t, err)
	return p
}

// pending registers rules, changed by edit, for a new project name as by, for a day.
func (f *fixture) pending(name string, by store.User, edit func(*policy.Publisher)) store.PendingPublisher {
	f.t.Helper()
	p, err := f.st.AddPending(f.ctx, pendingOf(name, by, f.now, edit))
	must(f.t, err)
	return p
}

// findActive is the active half of FindCandidates.
func (f *fixture) findActive(issuer, key string) ([]store.Publisher, error) {
	active, _, err := f.st.FindCandidates(f.ctx, issuer, key, job(), f.now)
	return active, err
}

// findPending is the pending half of FindCandidates at time at.
func (f *fixture) findPending(issuer, key string, at time.Time) ([]store.PendingPublisher, error) {
	_, pending, err := f.st.FindCandidates(f.ctx, issuer, key, job(), at)
	return pending, err
}

func pendingOf(name string, by store.User, now time.Time, edit func(*policy.Publisher)) store.PendingPublisher {
	r := rules()
	if edit != nil {
		edit(&r)
	}
	return store.PendingPublisher{Publisher: r, ProjectName: name, UserID: by.ID, CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}
}

// identity is a GitHub job of octo-org/octo-repo (owner id 65, repository id 74).
func identity(jti string) policy.Identity {
	return policy.Identity{
		Kind: policy.GitHub, Issuer: githubIssuer, Repository: "Octo-Org/Octo-Repo", OwnerID: "65", RepositoryID: "74",
		WorkflowRef: "Octo-Org/Octo-Repo/.github/workflows/release.yml@refs/heads/main", Environment: "release",
		Ref: "refs/heads/main", SHA: "0123456789abcdef0123456789abcdef01234567", EventName: "push", RunID: "1001",
		RunAttempt: "1", Actor: "octocat", JTI: jti, IssuedAt: epoch.Add(-time.Minute), Expiry: epoch.Add(5 * time.Minute),
	}
}

// exchange is a successful exchange of token jti that matched pubs.
func (f *fixture) exchange(jti string, pubs ...store.Publisher) store.Exchange {
	e := store.Exchange{
		At: f.now, Issuer: githubIssuer, JTI: jti, JTIExpires: f.now.Add(10 * time.Minute), Identity: identity(jti),
		TokenID: "token-" + jti, TokenSubject: "github:Octo-Org/Octo-Repo", TokenExpires: f.now.Add(15 * time.Minute),
	}
	for _, p := range pubs {
		e.Publishers = append(e.Publishers, p.ID)
		e.RulesVersions = append(e.RulesVersions, p.RulesVersion)
		e.Projects = append(e.Projects, p.ProjectName)
	}
	return e
}

func (f *fixture) publisherByID(id int64) store.Publisher {
	f.t.Helper()
	p, err := f.st.PublisherByID(f.ctx, id)
	must(f.t, err)
	return p
}

// tokenRecorded reports whether the upload token of an exchange was stored.
func (f *fixture) tokenRecorded(e store.Exchange) bool {
	f.t.Helper()
	_, err := f.st.UploadToken(f.ctx, e.TokenID)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	must(f.t, err)
	return true
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails t unless err is target (errors.Is).
func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

// concurrently calls fn(i) for i in [0, n) all at once and returns the errors by i.
func concurrently(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// tally counts errors by their kind, naming each by the first of kinds it is, "nil" for
// none and its text otherwise.
func tally(errs []error, kinds ...error) map[string]int {
	out := map[string]int{}
	for _, err := range errs {
		name := "nil"
		if err != nil {
			name = fmt.Sprintf("unexpected %v", err)
			for _, k := range kinds {
				if errors.Is(err, k) {
					name = k.Error()
					break
				}
			}
		}
		out[name]++
	}
	return out
}

func schemaTests() []test {
	return []test{
		{"Migrate run again changes nothing and keeps the data", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			must(t, f.st.Migrate(f.ctx))
			must(t, f.st.Migrate(f.ctx))
			got, err := f.st.UserByID(f.ctx, u.ID)
			must(t, err)
			equal(t, "user", got, u)
		}},
		{"Ping succeeds on an open store", func(t *testing.T, f *fixture) {
			must(t, f.st.Ping(f.ctx))
		}},
		{"A closed store answers ErrUnavailable", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			must(t, f.st.Close())
			wantErr(t, f.st.Ping(f.ctx), store.ErrUnavailable)
			_, err := f.st.UserByID(f.ctx, u.ID)
			wantErr(t, err, store.ErrUnavailable)
			_, err = f.st.ListPublishers(f.ctx, 0)
			wantErr(t, err, store.ErrUnavailable)
			wantErr(t, f.st.CommitExchange(f.ctx, f.exchange("jti-1")), store.ErrUnavailable)
		}},
	}
}

func auditTests() []test {
	return []test{
		{"The audit log lists events newest first, filtered by project and user, up to the limit", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			proj := f.project("proj", alice)
			events := []store.AuditEvent{
				{At: f.now, Actor: "operator", UserID: alice.ID, ProjectID: proj.ID, Action: "publisher.add", Detail: "added publisher 1"},
				{At: f.now.Add(time.Second), Actor: "web", UserID: bob.ID, Action: "totp.enroll", Detail: "enrolled TOTP"},
				{At: f.now.Add(2 * time.Second), Actor: "web", UserID: alice.ID, ProjectID: proj.ID, Action: "publisher.remove", Detail: "removed publisher 1"},
				{At: f.now.Add(3 * time.Second), Actor: "exchange", ProjectID: proj.ID, Action: "project.create", Detail: "created by a pending publisher"},
			}
			for _, e := range events {
				must(t, f.st.Audit(f.ctx, e))
			}
			all, err := f.st.AuditLog(f.ctx, 0, 0, 0)
			must(t, err)
			if len(all) != len(events) {
				t.Fatalf("got %d events, want %d", len(all), len(events))
			}
			for i, got := range all {
				want := events[len(events)-1-i]
				want.ID = got.ID
				equal(t, fmt.Sprintf("event %d", i), got, want)
				if i > 0 && got.ID >= all[i-1].ID {
					t.Fatalf("events are not newest first: id %d after %d", got.ID, all[i-1].ID)
				}
			}
			actions := func(es []store.AuditEvent) []string {
				var out []string
				for _, e := range es {
					out = append(out, e.Action)
				}
				return out
			}
			for _, c := range []struct {
				project, user int64
				limit         int
				want          []string
			}{
				{proj.ID, 0, 10, []string{"project.create", "publisher.remove", "publisher.add"}},
				{0, alice.ID, 10, []string{"publisher.remove", "publisher.add"}},
				{proj.ID, alice.ID, 1, []string{"publisher.remove"}},
				{0, bob.ID, 10, []string{"totp.enroll"}},
				{proj.ID, bob.ID, 10, nil},
				{0, 0, 2, []string{"project.create", "publisher.remove"}},
			} {
				got, err := f.st.AuditLog(f.ctx, c.project, c.user, c.limit)
				must(t, err)
				equal(t, fmt.Sprintf("AuditLog(project %d, user %d, limit %d)", c.project, c.user, c.limit), actions(got), c.want)
			}
		}},
	}
}

// job is the Job of a run of rules(): its workflow, in no environment, without ids.
func job() store.Job { return store.Job{Workflow: rules().Workflow} }
