package account

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
)

func TestSetPublisherRules(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.user(t, "alice", true)
	f.user(t, "mallory", true)
	if _, err := f.s.CreateProject(ctx, ViaOperator, "sampleproject", "alice"); err != nil {
		t.Fatal(err)
	}
	if u, err := f.s.user(ctx, "alice"); err != nil || f.s.markVerified(ctx, u) != nil {
		t.Fatal("alice's address not verified", err)
	}
	alice := Actor{UserName: "alice", Via: ViaWeb, Factor: store.FactorTOTP, AuthenticatedAt: f.now}
	sp, err := f.s.AddPublisher(ctx, alice, "sampleproject", publisher())
	if err != nil {
		t.Fatal(err)
	}
	drain := func() []string { return f.drainMail(t) }
	drain()
	stored := func() policy.Publisher {
		p, err := f.store.PublisherByID(ctx, sp.ID)
		if err != nil {
			t.Fatal(err)
		}
		return p.Publisher
	}
	tags := policy.RefRules{TagsOnly: true, Pattern: "refs/tags/v*"}

	t.Run("a user who is no member of the project does not find the publisher", func(t *testing.T) {
		_, err := f.s.SetPublisherRules(ctx, Actor{UserName: "mallory", Via: ViaWeb, Factor: store.FactorTOTP, AuthenticatedAt: f.now}, sp.ID, tags, "")
		if !errors.Is(err, ErrUnknownID) || !stored().Refs.Any() {
			t.Fatalf("err = %v, stored %+v", err, stored().Refs)
		}
	})
	t.Run("an invalid pattern is refused and nothing changes", func(t *testing.T) {
		_, err := f.s.SetPublisherRules(ctx, alice, sp.ID, policy.RefRules{Pattern: "^v.*$"}, "")
		if !errors.Is(err, ErrInvalidInput) || !stored().Refs.Any() {
			t.Fatalf("err = %v, stored %+v", err, stored().Refs)
		}
	})
	t.Run("the owner restricts to tags, the log records it and every owner is told", func(t *testing.T) {
		before, err := f.store.PublisherByID(ctx, sp.ID)
		if err != nil {
			t.Fatal(err)
		}
		changed, err := f.s.SetPublisherRules(ctx, alice, sp.ID, tags, "octo-org/shared/.github/workflows/publish.yml")
		if err != nil {
			t.Fatal(err)
		}
		if got := stored(); got.Refs != tags || got.CalledWorkflow != "octo-org/shared/.github/workflows/publish.yml" {
			t.Fatalf("stored %+v", got)
		}
		if changed.Publisher != stored() || changed.RulesVersion != before.RulesVersion+1 {
			t.Fatalf("returned %+v, rules version %d; stored %+v, version %d before", changed.Publisher, changed.RulesVersion, stored(), before.RulesVersion)
		}
		events, err := f.store.AuditLog(ctx, sp.ProjectID, 0, 10)
		if err != nil || len(events) == 0 || events[0].Action != "publisher.rules" ||
			!strings.Contains(events[0].Detail, "refs tags only and refs matching refs/tags/v* (was any ref)") {
			t.Fatalf("audit log %+v, %v", events, err)
		}
		mail := drain()
		if len(mail) != 1 || !strings.Contains(mail[0], "tags only and refs matching refs/tags/v* (was any ref)") ||
			!strings.Contains(mail[0], "called workflow octo-org/shared/.github/workflows/publish.yml (was any)") {
			t.Fatalf("mail %q", mail)
		}
	})
	t.Run("setting the same rules again tells nobody", func(t *testing.T) {
		if _, err := f.s.SetPublisherRules(ctx, alice, sp.ID, tags, "octo-org/shared/.github/workflows/publish.yml"); err != nil {
			t.Fatal(err)
		}
		if mail := drain(); len(mail) != 0 {
			t.Fatalf("mail %q", mail)
		}
	})
	t.Run("an unknown publisher is refused", func(t *testing.T) {
		if _, err := f.s.SetPublisherRules(ctx, alice, 424242, tags, ""); !errors.Is(err, ErrUnknownID) {
			t.Fatalf("err = %v", err)
		}
	})
}
