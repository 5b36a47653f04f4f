package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/uitest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/store"
)

var nonceAttr = regexp.MustCompile(`nonce="[^"]*"`)

// normalized is a response as a non-member could compare two: the project name asked for
// replaced, the per-response nonce dropped.
func normalized(r uitest.Response, name string) string {
	body := nonceAttr.ReplaceAllString(strings.ReplaceAll(r.Body, name, "NAME"), "")
	return fmt.Sprintf("%d %s\n%s", r.Status, strings.ReplaceAll(r.Location, url.PathEscape(name), "NAME"), body)
}

// TestUIProjectNamesDoNotLeak: a user who is no member of a project gets, on every
// project route, GET or POST, fresh or stale, the same answer for it as for a project
// that does not exist — so that no one can probe which names are taken by whom.
func TestUIProjectNamesDoNotLeak(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newUIEnv(t, b, "127.0.0.1")
		ctx := context.Background()
		e.user("alice", true)
		e.user("bob", true)
		mallorySecret := e.user("mallory", true)
		op := account.Actor{UserName: "alice", Via: account.ViaOperator}
		if _, err := e.acc.CreateProject(ctx, account.ViaOperator, "secretproj", "alice"); err != nil {
			t.Fatal(err)
		}
		pub, err := e.acc.AddPublisher(ctx, op, "secretproj", policy.Publisher{Kind: policy.GitHub, Issuer: providers.GitHubIssuer, Owner: "octo-org", Name: "octo-repo", Workflow: "release.yml"})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.acc.InviteOwner(ctx, op, "secretproj", "bob", store.RoleOwner); err != nil {
			t.Fatal(err)
		}
		routes := []struct {
			method, path string
			form         url.Values
		}{
			{"GET", "/projects/%s", nil},
			{"GET", "/projects/%s/publishers/" + fmt.Sprint(pub.ID) + "/remove", nil},
			{"POST", "/projects/%s/publishers", url.Values{"kind": {"github"}, "repository": {"octo-org/other"}, "workflow": {"release.yml"}}},
			{"POST", "/projects/%s/publishers/" + fmt.Sprint(pub.ID) + "/remove", nil},
			{"POST", "/projects/%s/owners", url.Values{"username": {"mallory"}}},
			{"POST", "/projects/%s/owners/alice/remove", url.Values{"confirm": {"alice"}}},
			{"POST", "/projects/%s/invitations/bob/cancel", nil},
			{"POST", "/account/invitations/%s/accept", nil},
			{"POST", "/account/invitations/%s/decline", nil},
		}
		before := e.snapshot([]string{"alice", "bob", "mallory"}, []string{"secretproj"})
		fresh := e.login("mallory", mallorySecret)
		stale := e.login("mallory", mallorySecret)
		for _, who := range []struct {
			name  string
			c     *uitest.Client
			stale bool
		}{{"fresh", fresh, false}, {"stale", stale, true}} {
			if who.stale {
				e.advance(account.RecentAuthentication + 1)
			}
			for _, rt := range routes {
				for _, taken := range []string{"secretproj", "SecretProj"} {
					t.Run(fmt.Sprintf("A %s non-member gets the same answer from %s %s for %s as for a free name", who.name, rt.method, rt.path, taken), func(t *testing.T) {
						do := func(name string) uitest.Response {
							who.c.Get("/projects")
							p := fmt.Sprintf(rt.path, url.PathEscape(name))
							if rt.method == "GET" {
								return who.c.Get(p)
							}
							return who.c.Post(p, rt.form)
						}
						got, free := normalized(do(taken), taken), normalized(do("freename"), "freename")
						if got != free {
							t.Fatalf("answers differ:\n%.600s\n---\n%.600s", got, free)
						}
					})
				}
			}
		}
		t.Run("Nothing changed", func(t *testing.T) {
			if after := e.snapshot([]string{"alice", "bob", "mallory"}, []string{"secretproj"}); after != before {
				t.Fatalf("before %s\nafter %s", before, after)
			}
		})
	})
}

// TestUIMaintainer: a maintainer sees the project, its publishers and failed exchanges,
// and every change is refused to them — by the account service, whatever the page shows.
func TestUIMaintainer(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newUIEnv(t, b, "127.0.0.1")
		ctx := context.Background()
		e.user("alice", true)
		bobSecret := e.user("bob", true)
		e.user("carol", true)
		op := account.Actor{UserName: "alice", Via: account.ViaOperator}
		if _, err := e.acc.CreateProject(ctx, account.ViaOperator, "proj", "alice"); err != nil {
			t.Fatal(err)
		}
		pub, err := e.acc.AddPublisher(ctx, op, "proj", policy.Publisher{Kind: policy.GitHub, Issuer: providers.GitHubIssuer, Owner: "octo-org", Name: "octo-repo", Workflow: "release.yml"})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := e.st.ProjectByName(ctx, "proj")
		e.acc.ExchangeFailed(ctx, []store.FailedExchange{{ProjectID: p.ID, PublisherID: pub.ID, At: e.Now(), Issuer: providers.GitHubIssuer, Repository: "octo-org/octo-repo",
			WorkflowRef: "octo-org/octo-repo/.github/workflows/other.yml@refs/heads/main", Reason: "the workflow is other.yml, not release.yml"}})
		if err := e.acc.InviteOwner(ctx, op, "proj", "bob", store.RoleMaintainer); err != nil {
			t.Fatal(err)
		}
		bob := e.login("bob", bobSecret)
		t.Run("The invitation shows on the projects page and makes a maintainer", func(t *testing.T) {
			page := bob.Get("/projects")
			if !strings.Contains(page.Body, "a maintainer of <strong>proj</strong>") {
				t.Fatalf("projects page: %.1500s", page.Body)
			}
			if r := bob.Post("/account/invitations/proj/accept", nil); r.Status != http.StatusSeeOther {
				t.Fatalf("accept: %d %.300s", r.Status, r.Body)
			}
			if page := bob.Get("/projects"); !strings.Contains(page.Body, `id="maintained"`) {
				t.Fatalf("projects page: %.1500s", page.Body)
			}
		})
		t.Run("The maintainer sees the publishers and the failed exchanges, and no form that changes them", func(t *testing.T) {
			page := bob.Get("/projects/proj")
			if page.Status != http.StatusOK || !strings.Contains(page.Body, "octo-org/octo-repo") || !strings.Contains(page.Body, "not release.yml") {
				t.Fatalf("%d %.1500s", page.Status, page.Body)
			}
			if strings.Contains(page.Body, `action="/projects/proj/publishers"`) || strings.Contains(page.Body, "/remove") || strings.Contains(page.Body, `action="/projects/proj/owners"`) {
				t.Fatal("the maintainer's page has forms that change the project")
			}
		})
		before := e.snapshot([]string{"alice", "bob", "carol"}, []string{"proj"})
		for _, rt := range []struct {
			path string
			form url.Values
		}{
			{"/projects/proj/publishers", url.Values{"kind": {"github"}, "repository": {"octo-org/other"}, "workflow": {"release.yml"}}},
			{fmt.Sprintf("/projects/proj/publishers/%d/remove", pub.ID), nil},
			{"/projects/proj/owners", url.Values{"username": {"carol"}, "role": {"owner"}}},
			{"/projects/proj/owners/alice/remove", url.Values{"confirm": {"alice"}}},
		} {
			t.Run("The maintainer is refused "+rt.path, func(t *testing.T) {
				bob.Get("/projects/proj")
				if r := bob.Post(rt.path, rt.form); r.Status != http.StatusForbidden {
					t.Fatalf("got %d %.300s", r.Status, r.Body)
				}
			})
		}
		t.Run("The account service refuses the maintainer too", func(t *testing.T) {
			a := account.Actor{UserName: "bob", Via: account.ViaWeb, Factor: store.FactorTOTP, AuthenticatedAt: e.Now()}
			_, err := e.acc.AddPublisher(ctx, a, "proj", policy.Publisher{Kind: policy.GitHub, Issuer: providers.GitHubIssuer, Owner: "octo-org", Name: "x", Workflow: "release.yml"})
			if err == nil || !strings.Contains(err.Error(), "maintainer") {
				t.Fatalf("AddPublisher: %v", err)
			}
			if err := e.acc.RemovePublisher(ctx, a, pub.ID); err == nil {
				t.Fatal("RemovePublisher accepted")
			}
			if err := e.acc.InviteOwner(ctx, a, "proj", "carol", store.RoleOwner); err == nil {
				t.Fatal("InviteOwner accepted")
			}
		})
		t.Run("Nothing changed", func(t *testing.T) {
			if after := e.snapshot([]string{"alice", "bob", "carol"}, []string{"proj"}); after != before {
				t.Fatalf("before %s\nafter %s", before, after)
			}
		})
	})
}

// TestUIDestructiveConfirm: removing a member needs their name typed; removing a factor,
// new recovery codes and removing a pending publisher need a confirmation page's button.
func TestUIDestructiveConfirm(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newUIEnv(t, b, "127.0.0.1")
		ctx := context.Background()
		secret := e.user("alice", true)
		e.user("bob", true)
		op := account.Actor{UserName: "alice", Via: account.ViaOperator}
		if _, err := e.acc.CreateProject(ctx, account.ViaOperator, "proj", "alice"); err != nil {
			t.Fatal(err)
		}
		if err := e.acc.InviteOwner(ctx, op, "proj", "bob", store.RoleOwner); err != nil {
			t.Fatal(err)
		}
		p, _ := e.st.ProjectByName(ctx, "proj")
		bobUser, _ := e.st.UserByName(ctx, "bob")
		if err := e.st.AcceptInvitation(ctx, p.ID, bobUser.ID, e.Now()); err != nil {
			t.Fatal(err)
		}
		alice := e.login("alice", secret)
		members := func() int {
			m, _ := e.st.ProjectMembers(ctx, p.ID)
			return len(m)
		}
		t.Run("Removing a member without typing the name shows the confirmation and removes no one", func(t *testing.T) {
			alice.Get("/projects/proj")
			r := alice.Post("/projects/proj/owners/bob/remove", nil)
			if r.Status != http.StatusOK || !strings.Contains(r.Body, `id="confirm"`) || members() != 2 {
				t.Fatalf("%d, %d members: %.500s", r.Status, members(), r.Body)
			}
		})
		t.Run("A wrongly typed name removes no one", func(t *testing.T) {
			for _, typed := range []string{"alice", "bo", "bob "} {
				if r := alice.Post("/projects/proj/owners/bob/remove", url.Values{"confirm": {typed}}); r.Status != http.StatusUnprocessableEntity || members() != 2 {
					t.Fatalf("typed %q: %d, %d members", typed, r.Status, members())
				}
			}
		})
		t.Run("The typed name removes the member", func(t *testing.T) {
			if r := alice.Post("/projects/proj/owners/bob/remove", url.Values{"confirm": {"bob"}}); r.Status != http.StatusSeeOther || members() != 1 {
				t.Fatalf("%d, %d members", r.Status, members())
			}
		})
		u, _ := e.st.UserByName(ctx, "alice")
		t.Run("New recovery codes need the confirmation page's button", func(t *testing.T) {
			left, _ := e.st.RecoveryCodesLeft(ctx, u.ID)
			alice.Get("/account/two-factor")
			r := alice.Post("/account/recovery-codes", nil)
			if r.Status != http.StatusOK || len(codeItem.FindAllStringSubmatch(r.Body, -1)) != 0 || !strings.Contains(r.Body, `name="confirmed" value="yes"`) {
				t.Fatalf("%d %.500s", r.Status, r.Body)
			}
			if now, _ := e.st.RecoveryCodesLeft(ctx, u.ID); now != left {
				t.Fatal("the codes changed")
			}
		})
		t.Run("Removing the authenticator app needs the confirmation page's button", func(t *testing.T) {
			alice.Get("/account/two-factor")
			if r := alice.Post("/account/totp/remove", nil); r.Status != http.StatusOK || !strings.Contains(r.Body, `id="confirm-button"`) {
				t.Fatalf("%d %.500s", r.Status, r.Body)
			}
			if u, _ := e.st.UserByName(ctx, "alice"); !u.TOTPConfirmed {
				t.Fatal("TOTP was removed")
			}
		})
		t.Run("Removing a pending publisher needs the confirmation page's button", func(t *testing.T) {
			pp, err := e.st.AddPending(ctx, store.PendingPublisher{Publisher: policy.Publisher{Kind: policy.GitHub, Issuer: providers.GitHubIssuer, Owner: "octo-org", Name: "new", Workflow: "release.yml"},
				ProjectName: "newproj", UserID: u.ID, CreatedAt: e.Now(), ExpiresAt: e.Now().Add(account.PendingLifetime)})
			if err != nil {
				t.Fatal(err)
			}
			alice.Get("/account")
			path := fmt.Sprintf("/account/pending/%d/remove", pp.ID)
			if r := alice.Post(path, nil); r.Status != http.StatusOK || !strings.Contains(r.Body, `id="confirm-button"`) {
				t.Fatalf("%d %.500s", r.Status, r.Body)
			}
			if left, _ := e.st.ListPending(ctx, u.ID); len(left) != 1 {
				t.Fatal("removed without confirmation")
			}
			if r := alice.Post(path, confirmed); r.Status != http.StatusSeeOther {
				t.Fatalf("confirmed: %d %.300s", r.Status, r.Body)
			}
			if left, _ := e.st.ListPending(ctx, u.ID); len(left) != 0 {
				t.Fatal("not removed")
			}
		})
	})
}
