package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/verify"
)

// Tenants: what one signed-up user can do to another's publishing. Each attack is played
// over HTTP with real CI tokens, on every backend.

// as is an operator-side actor for user name.
func as(name string) account.Actor { return account.Actor{UserName: name, Via: account.ViaOperator} }

// releaseRules is the GitHub rules for octo-org/octo-repo's release.yml in environment
// env (none when empty), as a pending publisher would name them.
func (h *harness) releaseRules(env string) policy.Publisher {
	return policy.Publisher{Kind: policy.GitHub, Issuer: h.gh.URL(), Owner: "octo-org", Name: "octo-repo", Workflow: "release.yml", Environment: env}
}

func (h *harness) owns(t *testing.T, project, user string) bool {
	t.Helper()
	ctx := context.Background()
	p, err := h.store.ProjectByName(ctx, project)
	if err != nil {
		t.Fatalf("project %s: %v", project, err)
	}
	u, err := h.store.UserByName(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	ok, err := h.store.IsOwner(ctx, p.ID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func (h *harness) pendingOf(t *testing.T, user string) []store.PendingPublisher {
	t.Helper()
	u, err := h.store.UserByName(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	pps, err := h.store.ListPending(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return pps
}

func TestPendingPublisherCapture(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("an environment-bound pending publisher beats another user's earlier unbound one", func(t *testing.T) {
			h := newHarness(t, b)
			h.user("mallory", true)
			h.user("bob", true)
			if _, err := h.accounts.AddPending(ctx, as("mallory"), "newpkg", h.releaseRules("")); err != nil {
				t.Fatal(err)
			}
			if _, err := h.accounts.AddPending(ctx, as("bob"), "newpkg", h.releaseRules("prod")); err != nil {
				t.Fatalf("bob's environment-bound registration was refused: %v", err)
			}
			r := h.accepted(t, func() reply {
				return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(map[string]any{"environment": "prod"})))
			})
			if got := h.projects(t, r.Token); !slices.Equal(got, []string{"newpkg"}) {
				t.Fatalf("bob's job got a token for %v, want [newpkg]", got)
			}
			if !h.owns(t, "newpkg", "bob") || h.owns(t, "newpkg", "mallory") {
				t.Fatal("newpkg is not owned by bob alone, whose environment-bound publisher the job satisfied")
			}
			if pps := h.pendingOf(t, "mallory"); len(pps) != 1 {
				t.Fatalf("mallory's pending publisher was deleted by bob's exchange: %+v", pps)
			}
			// Mallory's registration cannot act any more: the name exists.
			h.refused(t, 422, "invalid-publisher", func() reply {
				return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(map[string]any{"environment": "staging"})))
			})
		})

		t.Run("registering another user's rules is refused as contested, whatever the name or the case of a GitHub environment", func(t *testing.T) {
			h := newHarness(t, b)
			h.user("mallory", true)
			h.user("bob", true)
			if _, err := h.accounts.AddPending(ctx, as("mallory"), "newpkg", h.releaseRules("PROD")); err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"newpkg", "bobspkg"} {
				_, err := h.accounts.AddPending(ctx, as("bob"), name, h.releaseRules("prod"))
				if !errors.Is(err, account.ErrContested) || !strings.Contains(err.Error(), "may be contested") || strings.Contains(err.Error(), "mallory") {
					t.Fatalf("bob registering mallory's rules for %s: got %v, want a refusal saying the name may be contested, naming no one", name, err)
				}
			}
			if pps := h.pendingOf(t, "bob"); len(pps) != 0 {
				t.Fatalf("bob's refused registrations were stored: %+v", pps)
			}
			if pps := h.pendingOf(t, "mallory"); len(pps) != 1 {
				t.Fatalf("mallory's pending publishers changed: %+v", pps)
			}
		})

		t.Run("a pending publisher whose name was taken meanwhile refuses the exchange and stays its registrant's", func(t *testing.T) {
			h := newHarness(t, b)
			h.user("bob", false)
			if _, err := h.accounts.AddPending(ctx, as("alice"), "newproj", h.releaseRules("")); err != nil {
				t.Fatal(err)
			}
			if _, err := h.accounts.CreateProject(ctx, account.ViaOperator, "NewProj", "bob"); err != nil {
				t.Fatal(err)
			}
			h.refused(t, 422, "invalid-publisher", func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) })
			if h.owns(t, "newproj", "alice") {
				t.Fatal("alice became an owner of bob's NewProj")
			}
			if pps := h.pendingOf(t, "alice"); len(pps) != 1 {
				t.Fatalf("alice's pending publisher was removed by someone's exchange: %+v", pps)
			}
		})
	})
}

func TestProjectNamesFold(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		h := newHarness(t, b)
		h.user("mallory", true)
		h.github("Foo.Bar", nil)

		for _, spelling := range []string{"foo-bar", "foo_bar", "FOO.BAR", "foo__bar"} {
			if _, err := h.accounts.CreateProject(ctx, account.ViaOperator, spelling, "mallory"); !errors.Is(err, account.ErrProjectExists) {
				t.Errorf("creating %s beside Foo.Bar: got %v, want ErrProjectExists", spelling, err)
			}
			if _, err := h.accounts.AddPending(ctx, as("mallory"), spelling, h.releaseRules("x")); !errors.Is(err, account.ErrProjectExists) {
				t.Errorf("a pending publisher for %s beside Foo.Bar: got %v, want ErrProjectExists", spelling, err)
			}
		}
		r := h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) })
		v, err := verify.New(verify.Config{Issuer: h.url})
		if err != nil {
			t.Fatal(err)
		}
		claims, err := v.Verify(ctx, r.Token)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(claims.Projects, []string{"foo-bar"}) {
			t.Fatalf("the token carries %v, want the canonical [foo-bar]", claims.Projects)
		}
		for _, spelling := range []string{"Foo.Bar", "foo_bar", "FOO-BAR"} {
			if !claims.Covers(spelling) {
				t.Errorf("the token does not cover %s", spelling)
			}
		}
		if claims.Covers("foobar") {
			t.Error("the token covers foobar, another name")
		}
	})
}
