package account

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
)

// A job that ran in an environment and used a publisher accepting any environment leads
// to one message per owner, publisher and environment, however many such jobs there are;
// a job of a repository that is not public is described without its environment's name.
func TestEnvironmentHints(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.user(t, "alice", true)
	if _, err := f.s.CreateProject(ctx, ViaOperator, "sampleproject", "alice"); err != nil {
		t.Fatal(err)
	}
	if u, err := f.s.user(ctx, "alice"); err != nil || f.s.markVerified(ctx, u) != nil {
		t.Fatal("alice's address not verified", err)
	}
	alice := Actor{UserName: "alice", Via: ViaWeb, Factor: store.FactorTOTP, AuthenticatedAt: f.now}
	unbound, err := f.s.AddPublisher(ctx, alice, "sampleproject", publisher())
	if err != nil {
		t.Fatal(err)
	}
	bound := publisher()
	bound.Workflow = "bound.yml"
	bound.Environment = "pypi"
	prod, err := f.s.AddPublisher(ctx, alice, "sampleproject", bound)
	if err != nil {
		t.Fatal(err)
	}
	drain := func() []string { return f.drainMail(t) }
	drain()
	job := policy.Identity{Kind: policy.GitHub, Issuer: unbound.Issuer, Repository: "octo-org/octo-repo", Environment: "Release", Public: true}

	for range 3 {
		f.s.ExchangeSucceeded(ctx, job, "t1", []store.Publisher{unbound, prod}, nil)
	}
	mail := drain()
	if len(mail) != 1 || !strings.Contains(mail[0], "restrict the publisher of sampleproject") || !strings.Contains(mail[0], `the environment "Release"`) {
		t.Fatalf("after three jobs in one environment, mail %q; want one hint naming the environment", mail)
	}

	// The platform compares environments without case: the same environment, no new hint.
	job.Environment = "release"
	f.s.ExchangeSucceeded(ctx, job, "t2", []store.Publisher{unbound}, nil)
	if mail := drain(); len(mail) != 0 {
		t.Fatalf("the same environment in another case sent %q", mail)
	}

	private := job
	private.Environment, private.Public = "staging-secret", false
	f.s.ExchangeSucceeded(ctx, private, "t3", []store.Publisher{unbound}, nil)
	mail = drain()
	if len(mail) != 1 || strings.Contains(mail[0], "staging-secret") || !strings.Contains(mail[0], "a deployment environment") {
		t.Fatalf("a private repository's job sent %q; want one hint without the environment's name", mail)
	}

	// A job without an environment gives no hint.
	none := job
	none.Environment = ""
	f.s.ExchangeSucceeded(ctx, none, "t4", []store.Publisher{unbound, prod}, nil)
	if mail := drain(); len(mail) != 0 {
		t.Fatalf("a job without an environment sent %q", mail)
	}
}

// The same refusal of a publisher is recorded once a minute, however many jobs meet it; a
// refusal for another reason, or in the next minute, is recorded.
func TestRefusalsRecordedOnceAMinute(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.user(t, "alice", true)
	if _, err := f.s.CreateProject(ctx, ViaOperator, "sampleproject", "alice"); err != nil {
		t.Fatal(err)
	}
	alice := Actor{UserName: "alice", Via: ViaWeb, Factor: store.FactorTOTP, AuthenticatedAt: f.now}
	p, err := f.s.AddPublisher(ctx, alice, "sampleproject", publisher())
	if err != nil {
		t.Fatal(err)
	}
	refusal := func(at time.Time, reason string) []store.FailedExchange {
		return []store.FailedExchange{{ProjectID: p.ProjectID, PublisherID: p.ID, At: at, Issuer: p.Issuer, Repository: "octo-org/octo-repo", Reason: reason}}
	}
	count := func() int {
		t.Helper()
		got, err := f.store.FailedExchanges(ctx, p.ProjectID)
		if err != nil {
			t.Fatal(err)
		}
		return len(got)
	}
	minute := f.now.Truncate(time.Minute)
	for i := range 5 {
		f.s.ExchangeFailed(ctx, refusal(minute.Add(time.Duration(i)*time.Second), "workflow other.yml is not release.yml"))
	}
	if n := count(); n != 1 {
		t.Fatalf("five identical refusals in one minute made %d records, want 1", n)
	}
	f.s.ExchangeFailed(ctx, refusal(minute.Add(10*time.Second), "environment staging is not prod"))
	if n := count(); n != 2 {
		t.Fatalf("a refusal for another reason made %d records in all, want 2", n)
	}
	f.s.ExchangeFailed(ctx, refusal(minute.Add(time.Minute), "workflow other.yml is not release.yml"))
	if n := count(); n != 3 {
		t.Fatalf("the first refusal again a minute later made %d records in all, want 3", n)
	}
}
