package main

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/uitest"
	"github.com/tpx-dev/tpx/policy"
)

// uiLogin logs name in through the owner web UI with the password and a TOTP code.
func uiLogin(t *testing.T, base, name, secret string) *uitest.Client {
	t.Helper()
	c := uitest.New(t, base)
	c.Get("/account/login")
	c.Follow(c.Post("/account/login", url.Values{"username": {name}, "password": {"correct horse battery staple"}}))
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Post("/account/login/totp", url.Values{"code": {code}}); r.Status != http.StatusSeeOther {
		t.Fatalf("logging in %s: %d %.300s", name, r.Status, r.Body)
	}
	return c
}

// enrolled creates a user with TOTP through the harness's account service and returns
// the secret.
func (h *harness) enrolled(name string) string {
	h.t.Helper()
	h.user(name, false)
	uri, err := h.accounts.EnrollTOTP(context.Background(), account.ViaOperator, name)
	if err != nil {
		h.t.Fatal(err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		h.t.Fatal(err)
	}
	return u.Query().Get("secret")
}

// TestUIFailedExchanges: the project page shows its owners why an exchange failed
// against its publishers; the CI job and other users see none of it.
func TestUIFailedExchanges(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		owner, other := h.enrolled("owner"), h.enrolled("other")
		ctx := context.Background()
		if _, err := h.accounts.CreateProject(ctx, account.ViaOperator, "failproj", "owner"); err != nil {
			t.Fatal(err)
		}
		p := policy.Publisher{Kind: policy.GitHub, Issuer: h.gh.URL(), Owner: "octo-org", Name: "octo-repo", Workflow: "release.yml", Environment: "release"}
		if _, err := h.accounts.AddPublisher(ctx, account.Actor{UserName: "owner", Via: account.ViaOperator}, "failproj", p); err != nil {
			t.Fatal(err)
		}
		const reason = "environment was 'staging', publisher requires 'release'"
		r := h.refused(t, http.StatusUnprocessableEntity, "invalid-publisher", func() reply {
			return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(map[string]any{"environment": "staging", "run_id": "4242", "repository_visibility": "public"})))
		})
		t.Run("The exchange's reply states the job's own facts, not the publisher's", func(t *testing.T) {
			d := r.Errors[0].Description
			if !strings.Contains(d, `environment "staging"`) {
				t.Fatalf("the reply does not state the job's environment: %s", r.raw)
			}
			if strings.Contains(d, `"release"`) || strings.Contains(d, "failproj") || strings.Contains(d, "requires") {
				t.Fatalf("the reply quotes the publisher: %s", r.raw)
			}
		})
		t.Run("An owner sees the reason on the project page", func(t *testing.T) {
			page := uiLogin(t, h.url, "owner", owner).Get("/projects/failproj")
			body := html.UnescapeString(page.Body)
			if page.Status != http.StatusOK || !strings.Contains(body, reason) || !strings.Contains(body, "4242") {
				t.Fatalf("got %d, reason shown %v", page.Status, strings.Contains(body, reason))
			}
		})
		t.Run("Another user sees nothing of the project", func(t *testing.T) {
			page := uiLogin(t, h.url, "other", other).Get("/projects/failproj")
			if page.Status != http.StatusNotFound || strings.Contains(page.Body, "staging") || strings.Contains(page.Body, "4242") {
				t.Fatalf("got %d %.500s", page.Status, page.Body)
			}
		})
	})
}
