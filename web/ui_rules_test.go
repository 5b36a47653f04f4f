package web

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/internal/uitest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
)

var linkToken = regexp.MustCompile(`/account/verify-email\?token=([a-z2-7]+)`)

// TestUIEmail: one account per address; the verification page names the account it
// verifies; a pending publisher needs a verified address; a user enrolled from the
// command line is offered recovery codes.
func TestUIEmail(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newUIEnv(t, b, "127.0.0.1")
		ctx := context.Background()
		c, secret, _ := e.signUpWithTOTP(t, "alice")
		t.Run("A second account with the same address, in another case, is refused", func(t *testing.T) {
			other := uitest.New(t, e.url)
			other.Get("/account/signup")
			r := other.Post("/account/signup", url.Values{"username": {"mallory"}, "email": {"ALICE@example.org"}, "password": {testPassword}, "password2": {testPassword}})
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "one account per address") {
				t.Fatalf("%d %.500s", r.Status, r.Body)
			}
			if _, err := e.st.UserByName(ctx, "mallory"); err == nil {
				t.Fatal("the account was created")
			}
		})
		pending := url.Values{"kind": {"github"}, "project": {"brandnew"}, "repository": {"octo-org/brandnew"}, "workflow": {"release.yml"}}
		t.Run("A pending publisher is refused while the address is not verified", func(t *testing.T) {
			c.Get("/account")
			r := c.Post("/account/pending", pending)
			if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "verify the address") {
				t.Fatalf("%d %.500s", r.Status, r.Body)
			}
			u, _ := e.st.UserByName(ctx, "alice")
			if pp, _ := e.st.ListPending(ctx, u.ID); len(pp) != 0 {
				t.Fatal("stored")
			}
		})
		t.Run("The verification page names the account and the address, and changes nothing until clicked", func(t *testing.T) {
			mail, err := e.st.ClaimMail(ctx, e.Now(), 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var token string
			for _, m := range mail {
				if m.To == "alice@example.org" {
					if mm := linkToken.FindStringSubmatch(m.Body); mm != nil {
						token = mm[1]
					}
				}
			}
			if token == "" {
				t.Fatal("no verification link mailed")
			}
			visitor := uitest.New(t, e.url)
			page := visitor.Get("/account/verify-email?token=" + token)
			if page.Status != http.StatusOK || !strings.Contains(page.Body, "<strong>alice@example.org</strong> of the tpx account <strong>alice</strong>") {
				t.Fatalf("%d %.800s", page.Status, page.Body)
			}
			u, _ := e.st.UserByName(ctx, "alice")
			if ok, _ := e.st.EmailVerified(ctx, u.ID); ok {
				t.Fatal("opening the page verified the address")
			}
			if r := visitor.Get("/account/verify-email?token=notatoken"); r.Status != http.StatusNotFound {
				t.Fatalf("a wrong token: %d", r.Status)
			}
			if r := visitor.Post("/account/verify-email", url.Values{"token": {token}}); r.Status != http.StatusOK || !strings.Contains(r.Body, "of the account alice is verified") {
				t.Fatalf("%d %.500s", r.Status, r.Body)
			}
		})
		t.Run("With the address verified the pending publisher is accepted", func(t *testing.T) {
			c.Get("/account")
			r := c.Post("/account/pending", pending)
			if r.Status != http.StatusSeeOther {
				if r.Status == http.StatusUnauthorized {
					kept := hiddenFields(r.Body, "/account/reauthenticate/totp")
					kept.Set("code", e.code(secret, 0))
					r = c.Post("/account/reauthenticate/totp", kept)
					r = c.Post("/account/pending", hiddenFields(r.Body, "/account/pending"))
				}
				if r.Status != http.StatusSeeOther {
					t.Fatalf("%d %.500s", r.Status, r.Body)
				}
			}
		})
		t.Run("A user enrolled from the command line is offered recovery codes, and the login makes them", func(t *testing.T) {
			bob := e.user("bob", true)
			bc := e.login("bob", bob)
			page := bc.Get("/projects")
			if !strings.Contains(page.Body, `id="recovery-offer"`) {
				t.Fatalf("no offer: %.800s", page.Body)
			}
			r := bc.Post("/account/recovery-codes", confirmed)
			if r.Status != http.StatusOK || len(codeItem.FindAllStringSubmatch(r.Body, -1)) != account.RecoveryCodeCount {
				t.Fatalf("%d %.500s", r.Status, r.Body)
			}
			if page := bc.Get("/projects"); strings.Contains(page.Body, `id="recovery-offer"`) {
				t.Fatal("still offered")
			}
		})
	})
}

// TestUISmallerRules: static files without listings and with caching; HTML error pages
// for the UI and JSON for the API; escaped look-alike names.
func TestUISmallerRules(t *testing.T) {
	b := uitest.Backends()[0]
	e := newUIEnv(t, b, "127.0.0.1")
	c := uitest.New(t, e.url)
	t.Run("No directory listing under /static/", func(t *testing.T) {
		for _, p := range []string{"/static/", "/static", "/static/.", "/static/nosuch.css", "/static/../static/"} {
			r := c.Get(p)
			if r.Status != http.StatusNotFound || strings.Contains(r.Body, "webauthn.js") || strings.Contains(r.Body, "<pre>") {
				t.Fatalf("GET %s: %d %.300s", p, r.Status, r.Body)
			}
		}
	})
	t.Run("Static files are cached and revalidated by their ETag", func(t *testing.T) {
		r := c.Get("/static/style.css")
		etag := r.Header.Get("ETag")
		if r.Status != http.StatusOK || r.Header.Get("Cache-Control") != "public, max-age=3600" || etag == "" || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/css") {
			t.Fatalf("%d %v", r.Status, r.Header)
		}
		req, _ := http.NewRequest(http.MethodGet, e.url+"/static/style.css", nil)
		req.Header.Set("If-None-Match", etag)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified {
			t.Fatalf("revalidation: %d", resp.StatusCode)
		}
	})
	t.Run("A page that does not exist is an HTML page", func(t *testing.T) {
		for _, p := range []string{"/nosuch", "/account/nosuch", "/projects/a/b/c/d"} {
			r := c.Get(p)
			if r.Status != http.StatusNotFound || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(r.Body, "Page not found") ||
				!strings.Contains(r.Header.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Fatalf("GET %s: %d %s %.300s", p, r.Status, r.Header.Get("Content-Type"), r.Body)
			}
		}
	})
	t.Run("A method a page does not take is an HTML 405", func(t *testing.T) {
		c.Get("/account/login")
		r := c.Post("/account/two-factor", nil)
		if r.Status != http.StatusMethodNotAllowed || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%d %s %.300s", r.Status, r.Header.Get("Content-Type"), r.Body)
		}
	})
	t.Run("The API's routing errors stay JSON", func(t *testing.T) {
		for _, p := range []string{"/_/oidc/nosuch", "/v1/nosuch", "/.well-known/nosuch"} {
			r := c.Get(p)
			if r.Status != http.StatusNotFound || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("GET %s: %d %s", p, r.Status, r.Header.Get("Content-Type"))
			}
		}
		if r := c.Get("/_/oidc/mint-token"); r.Status != http.StatusMethodNotAllowed || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Fatalf("GET mint-token: %d %s", r.Status, r.Header.Get("Content-Type"))
		}
	})
	t.Run("Look-alike workflow and environment names are shown escaped", func(t *testing.T) {
		ctx := context.Background()
		secret := e.user("alice", true)
		if _, err := e.acc.CreateProject(ctx, account.ViaOperator, "proj", "alice"); err != nil {
			t.Fatal(err)
		}
		op := account.Actor{UserName: "alice", Via: account.ViaOperator}
		// Invisible and control characters are refused outright.
		for _, env := range []string{"prod\u202Etset", "prod\u200B", "prod\x07"} {
			if _, err := e.acc.AddPublisher(ctx, op, "proj", policy.Publisher{Kind: policy.GitHub, Issuer: providers.GitHubIssuer, Owner: "octo-org", Name: "octo-repo",
				Workflow: "release.yml", Environment: env}); err == nil {
				t.Fatalf("environment %q accepted", env)
			}
		}
		// Letters of other scripts are names GitHub accepts: a Cyrillic "е" (U+0435) in the
		// workflow and "о" (U+043E) in the environment are shown escaped.
		if _, err := e.acc.AddPublisher(ctx, op, "proj", policy.Publisher{Kind: policy.GitHub, Issuer: providers.GitHubIssuer, Owner: "octo-org", Name: "octo-repo",
			Workflow: "r\u0435lease.yml", Environment: "pr\u043Ed"}); err != nil {
			t.Fatal(err)
		}
		page := e.login("alice", secret).Get("/projects/proj")
		if !strings.Contains(page.Body, `r\u{0435}lease.yml`) || !strings.Contains(page.Body, `pr\u{043E}d`) || strings.Contains(page.Body, "r\u0435lease.yml") {
			t.Fatalf("%.3000s", page.Body)
		}
	})
}

// TestUILocalhostWarning: plain http works for localhost and loopback addresses
// (browsers' secure contexts), so the start-up warning is for other hosts only.
func TestUILocalhostWarning(t *testing.T) {
	for _, tc := range []struct {
		public string
		warn   bool
	}{
		{"http://localhost:8080", false},
		{"http://127.0.0.1:8080", false},
		{"http://[::1]:8080", false},
		{"https://tpx.example.org", false},
		{"http://tpx.internal:8080", true},
		{"http://192.0.2.10:8080", true},
	} {
		t.Run(tc.public, func(t *testing.T) {
			st := uitest.Backends()[0].Open(t)
			box, _ := secretbox.New(strings.Repeat("k", 32))
			var log bytes.Buffer
			acc := account.New(account.Config{Store: st, Box: box, PublicURL: tc.public})
			New(Config{Store: st, Logger: slog.New(slog.NewTextHandler(&log, nil)), UI: &UIConfig{Accounts: acc, Store: st, PublicURL: tc.public}})
			if got := strings.Contains(log.String(), "logging in will not work"); got != tc.warn {
				t.Fatalf("warned %v, want %v: %s", got, tc.warn, log.String())
			}
		})
	}
}
