package web

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/internal/uitest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/store"
)

const testPassword = "a long enough password"

// confirmed is the field a destructive action's confirmation page sends.
var confirmed = url.Values{"confirmed": {"yes"}}

// uiEnv is the web UI over real HTTP on a real store, with a clock the test moves.
type uiEnv struct {
	t   *testing.T
	st  store.Store
	acc *account.Service
	url string
	log *bytes.Buffer
	// protocols are the client protocols served (nil: PyPI's alone); newUIEnvFull's ui
	// may set them.
	protocols []Protocol

	mu  sync.Mutex
	now time.Time
}

func (e *uiEnv) Now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *uiEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

// newUIEnv serves the UI at http://host:port; host is 127.0.0.1 or localhost (security
// keys need a domain name).
func newUIEnv(t *testing.T, b uitest.Backend, host string) *uiEnv {
	t.Helper()
	return newUIEnvWith(t, b, host, nil)
}

// newUIEnvWith is newUIEnv with the account service's configuration changed by edit.
func newUIEnvWith(t *testing.T, b uitest.Backend, host string, edit func(*account.Config)) *uiEnv {
	t.Helper()
	return newUIEnvIssuers(t, b, host, edit, []providers.IssuerConfig{{Kind: policy.GitHub, Issuer: providers.GitHubIssuer}, {Kind: policy.GitLab, Issuer: providers.GitLabIssuer}})
}

// newUIEnvIssuers is newUIEnvWith with the given CI issuers configured.
func newUIEnvIssuers(t *testing.T, b uitest.Backend, host string, edit func(*account.Config), issuers []providers.IssuerConfig) *uiEnv {
	t.Helper()
	return newUIEnvFull(t, b, host, edit, issuers, nil)
}

// newUIEnvFull is newUIEnvIssuers with the UI's configuration changed by ui, which gets
// the environment and the secret box (issuers nil: github.com and gitlab.com).
func newUIEnvFull(t *testing.T, b uitest.Backend, host string, edit func(*account.Config), issuers []providers.IssuerConfig, ui func(*uiEnv, *UIConfig, *secretbox.Box)) *uiEnv {
	t.Helper()
	if issuers == nil {
		issuers = []providers.IssuerConfig{{Kind: policy.GitHub, Issuer: providers.GitHubIssuer}, {Kind: policy.GitLab, Issuer: providers.GitLabIssuer}}
	}
	e := &uiEnv{t: t, st: b.Open(t), log: &bytes.Buffer{}, now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	srv := httptest.NewUnstartedServer(nil)
	e.url = fmt.Sprintf("http://%s:%d", host, srv.Listener.Addr().(*net.TCPAddr).Port)
	box, err := secretbox.New(strings.Repeat("k", 32))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(&lockedBuffer{b: e.log}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := account.Config{Store: e.st, Box: box, Now: e.Now, PublicURL: e.url, Logger: log, Issuers: issuers}
	if edit != nil {
		edit(&cfg)
	}
	e.acc = account.New(cfg)
	uc := &UIConfig{Accounts: e.acc, Store: e.st, PublicURL: e.url}
	if ui != nil {
		ui(e, uc, box)
	}
	srv.Config.Handler = New(Config{Store: e.st, Logger: log, Now: e.Now, UI: uc, Protocols: e.protocols})
	srv.Start()
	t.Cleanup(srv.Close)
	return e
}

type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// user creates a user; with TOTP it returns the secret, enrolled by the operator.
func (e *uiEnv) user(name string, withTOTP bool) string {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.acc.CreateUser(ctx, name, name+"@example.org", testPassword); err != nil {
		e.t.Fatal(err)
	}
	if !withTOTP {
		return ""
	}
	uri, err := e.acc.EnrollTOTP(ctx, account.ViaOperator, name)
	if err != nil {
		e.t.Fatal(err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.Query().Get("secret")
}

func (e *uiEnv) code(secret string, offset time.Duration) string {
	e.t.Helper()
	c, err := totp.GenerateCode(secret, e.Now().Add(offset))
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// login logs name in with the password, and with a TOTP code when secret is given; the
// clock then moves on a step, so the next login has a fresh code.
func (e *uiEnv) login(name, secret string) *uitest.Client {
	e.t.Helper()
	c := uitest.New(e.t, e.url)
	c.Get("/account/login")
	r := c.Post("/account/login", url.Values{"username": {name}, "password": {testPassword}})
	if r.Status != http.StatusSeeOther {
		e.t.Fatalf("login: %d %.300s", r.Status, r.Body)
	}
	if secret == "" {
		return c
	}
	c.Follow(r)
	r = c.Post("/account/login/totp", url.Values{"code": {e.code(secret, 0)}})
	if r.Status != http.StatusSeeOther || r.Location != "/projects" {
		e.t.Fatalf("second factor: %d %s %.300s", r.Status, r.Location, r.Body)
	}
	e.advance(30 * time.Second)
	return c
}

// snapshot is what management actions change, for users and projects by name.
func (e *uiEnv) snapshot(users, projects []string) string {
	e.t.Helper()
	ctx := context.Background()
	var b strings.Builder
	pubs, err := e.st.ListPublishers(ctx, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, p := range pubs {
		fmt.Fprintf(&b, "publisher %d %s %s refs %s called %q\n", p.ID, p.ProjectName, p.Repository(), p.Refs, p.CalledWorkflow)
	}
	for _, name := range users {
		u, err := e.st.UserByName(ctx, name)
		if err != nil {
			e.t.Fatal(err)
		}
		pending, _ := e.st.ListPending(ctx, u.ID)
		owned, _ := e.st.ProjectsOwnedBy(ctx, u.ID)
		invs, _ := e.st.Invitations(ctx, 0, u.ID, e.Now())
		left, _ := e.st.RecoveryCodesLeft(ctx, u.ID)
		fmt.Fprintf(&b, "user %s totp=%v keys=%d pending=%d owns=%d invited=%d recovery=%d\n", name, u.TOTPConfirmed, u.WebAuthnCount, len(pending), len(owned), len(invs), left)
	}
	for _, name := range projects {
		p, err := e.st.ProjectByName(ctx, name)
		if err != nil {
			fmt.Fprintf(&b, "project %s: %v\n", name, err)
			continue
		}
		owners, _ := e.st.ProjectOwners(ctx, p.ID)
		invs, _ := e.st.Invitations(ctx, p.ID, 0, e.Now())
		fmt.Fprintf(&b, "project %s owners=%d invitations=%d\n", name, len(owners), len(invs))
	}
	return b.String()
}

// TestUIGate: every management route refuses a user without a second factor, and a user
// whose authentication is older than 15 minutes, and changes nothing.
func TestUIGate(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newUIEnv(t, b, "127.0.0.1")
		ctx := context.Background()
		alice := e.user("alice", true)
		e.user("nofactor", false)
		e.user("bob", true)
		e.user("carol", true)
		e.user("dave", true)
		operator := func(name string) account.Actor { return account.Actor{UserName: name, Via: account.ViaOperator} }
		if _, err := e.acc.CreateProject(ctx, account.ViaOperator, "proj", "alice"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.acc.CreateProject(ctx, account.ViaOperator, "carolproj", "carol"); err != nil {
			t.Fatal(err)
		}
		pub, err := e.acc.AddPublisher(ctx, operator("alice"), "proj", policy.Publisher{Kind: policy.GitHub, Issuer: providers.GitHubIssuer, Owner: "octo-org", Name: "octo-repo", Workflow: "release.yml"})
		if err != nil {
			t.Fatal(err)
		}
		pending, err := e.acc.AddPending(ctx, operator("alice"), "newproj", policy.Publisher{Kind: policy.GitHub, Issuer: providers.GitHubIssuer, Owner: "octo-org", Name: "new", Workflow: "release.yml"})
		if err != nil {
			t.Fatal(err)
		}
		for _, inv := range []struct{ by, project, who string }{{"alice", "proj", "bob"}, {"alice", "proj", "nofactor"}, {"carol", "carolproj", "alice"}} {
			if err := e.acc.InviteOwner(ctx, operator(inv.by), inv.project, inv.who, store.RoleOwner); err != nil {
				t.Fatal(err)
			}
		}
		routes := []struct {
			path string
			form url.Values
		}{
			{"/projects", url.Values{"name": {"another"}}},
			{"/projects/proj/publishers", url.Values{"kind": {"github"}, "repository": {"octo-org/other"}, "workflow": {"release.yml"}}},
			{fmt.Sprintf("/projects/proj/publishers/%d/remove", pub.ID), nil},
			{fmt.Sprintf("/projects/proj/publishers/%d/rules", pub.ID), url.Values{"ref_tags_only": {"true"}}},
			{"/projects/proj/owners", url.Values{"username": {"dave"}}},
			{"/projects/proj/owners/alice/remove", url.Values{"confirm": {"alice"}}},
			{"/projects/proj/invitations/bob/cancel", nil},
			{"/account/pending", url.Values{"kind": {"gitlab"}, "project": {"pendingtwo"}, "repository": {"my-group/my-project"}, "workflow": {".gitlab-ci.yml"}}},
			{fmt.Sprintf("/account/pending/%d/remove", pending.ID), confirmed},
			{"/account/invitations/carolproj/accept", nil},
			{"/account/invitations/proj/accept", nil},
			{"/account/totp/remove", confirmed},
			{"/account/webauthn/1/remove", confirmed},
			{"/account/recovery-codes", confirmed},
		}
		users, projects := []string{"alice", "nofactor", "bob", "carol", "dave"}, []string{"proj", "carolproj", "another", "newproj", "pendingtwo"}
		before := e.snapshot(users, projects)

		nofactor := e.login("nofactor", "")
		stale := e.login("alice", alice)
		e.advance(account.RecentAuthentication + time.Minute)
		for _, rt := range routes {
			t.Run("A user without a second factor is refused "+rt.path, func(t *testing.T) {
				nofactor.Get("/account/two-factor")
				if r := nofactor.Post(rt.path, rt.form); r.Status != http.StatusForbidden {
					t.Fatalf("got %d %s, want 403", r.Status, r.Location)
				}
			})
			t.Run("A user who logged in 16 minutes ago is asked to confirm, with the form kept, by "+rt.path, func(t *testing.T) {
				stale.Get("/projects/proj")
				r := stale.Post(rt.path, rt.form)
				if r.Status != http.StatusUnauthorized || !strings.Contains(r.Body, `id="form-kept"`) || uitest.DataAttribute(r.Body, `name="then" value`) != rt.path {
					t.Fatalf("got %d %.300s, want 401 with the confirmation page keeping the form", r.Status, r.Body)
				}
				if strings.Contains(r.Body, `type="password"`) {
					t.Fatal("the confirmation asks for the password: it must ask for a second factor")
				}
			})
		}
		t.Run("Pages other than enrolment send a user without a second factor to enrolment", func(t *testing.T) {
			for _, p := range []string{"/projects", "/projects/proj", "/account"} {
				if r := nofactor.Get(p); r.Status != http.StatusSeeOther || r.Location != "/account/two-factor" {
					t.Fatalf("GET %s: %d %s", p, r.Status, r.Location)
				}
			}
		})
		t.Run("Nothing changed", func(t *testing.T) {
			if after := e.snapshot(users, projects); after != before {
				t.Fatalf("refused requests changed stored data:\nbefore %s\nafter  %s", before, after)
			}
		})
		t.Run("After confirming with a TOTP code the kept form is sent again and the action is done", func(t *testing.T) {
			stale.Get("/projects/proj")
			r := stale.Post("/projects/proj/owners", url.Values{"username": {"dave"}})
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("invite while stale: %d", r.Status)
			}
			kept := hiddenFields(r.Body, "/account/reauthenticate/totp")
			kept.Set("code", e.code(alice, 0))
			r = stale.Post("/account/reauthenticate/totp", kept)
			if r.Status != http.StatusOK || !strings.Contains(r.Body, `id="kept-form"`) {
				t.Fatalf("confirm: %d %.300s", r.Status, r.Body)
			}
			again := hiddenFields(r.Body, "/projects/proj/owners")
			if again.Get("username") != "dave" {
				t.Fatalf("the kept form lost its values: %v", again)
			}
			r = stale.Post("/projects/proj/owners", again)
			if r.Status != http.StatusSeeOther {
				t.Fatalf("invite: %d %.300s", r.Status, r.Body)
			}
			p, _ := e.st.ProjectByName(ctx, "proj")
			invs, _ := e.st.Invitations(ctx, p.ID, 0, e.Now())
			if len(invs) != 3 {
				t.Fatalf("%d invitations, want 3", len(invs))
			}
		})
	})
}

var (
	formRe   = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// hiddenFields returns the hidden inputs of the first form of body posting to action,
// but its CSRF token, which the client adds.
func hiddenFields(body, action string) url.Values {
	out := url.Values{}
	for _, f := range formRe.FindAllStringSubmatch(body, -1) {
		if html.UnescapeString(f[1]) != action {
			continue
		}
		for _, m := range hiddenRe.FindAllStringSubmatch(f[2], -1) {
			if m[1] != "csrf" {
				out.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
			}
		}
		return out
	}
	return out
}

// TestUICSRF: a state-changing request without the session's CSRF token is refused and
// changes nothing.
func TestUICSRF(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newUIEnv(t, b, "127.0.0.1")
		alice := e.user("alice", true)
		bobSecret := e.user("bob", true)
		c := e.login("alice", alice)
		other := e.login("bob", bobSecret)
		other.Get("/projects")
		c.Get("/projects")
		for _, tc := range []struct{ name, token string }{
			{"A form without a token", ""},
			{"A form with a made-up token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
			{"A form with another session's token", other.CSRF},
		} {
			t.Run(tc.name+" is refused with 403 and creates nothing", func(t *testing.T) {
				form := url.Values{"name": {"csrfproject"}}
				if tc.token != "" {
					form.Set("csrf", tc.token)
				}
				r := c.PostRaw("/projects", form)
				if r.Status != http.StatusForbidden {
					t.Fatalf("got %d, want 403", r.Status)
				}
				if _, err := e.st.ProjectByName(context.Background(), "csrfproject"); err == nil {
					t.Fatal("the project was created")
				}
			})
		}
		t.Run("A sign-up without any cookie is refused and creates no user", func(t *testing.T) {
			fresh := uitest.New(t, e.url)
			r := fresh.PostRaw("/account/signup", url.Values{"username": {"eve"}, "email": {"eve@example.org"}, "password": {testPassword}, "password2": {testPassword}, "csrf": {c.CSRF}})
			if r.Status != http.StatusForbidden {
				t.Fatalf("got %d, want 403", r.Status)
			}
			if _, err := e.st.UserByName(context.Background(), "eve"); err == nil {
				t.Fatal("the user was created")
			}
		})
		t.Run("The right token works", func(t *testing.T) {
			if r := c.Post("/projects", url.Values{"name": {"csrfproject"}}); r.Status != http.StatusSeeOther {
				t.Fatalf("got %d %.300s", r.Status, r.Body)
			}
		})
	})
}

// TestUITOTP: codes are single use, ±1 step, and five wrong ones in five minutes lock
// the sixth out with 429.
func TestUITOTP(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newUIEnv(t, b, "127.0.0.1")
		secret := e.user("alice", true)
		secondStep := func(t *testing.T) *uitest.Client {
			c := uitest.New(t, e.url)
			c.Get("/account/login")
			r := c.Post("/account/login", url.Values{"username": {"alice"}, "password": {testPassword}})
			if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/account/login/verify") {
				t.Fatalf("password step: %d %s", r.Status, r.Location)
			}
			c.Follow(r)
			return c
		}
		t.Run("A code used to log in is refused at the next login", func(t *testing.T) {
			c := secondStep(t)
			code := e.code(secret, 0)
			if r := c.Post("/account/login/totp", url.Values{"code": {code}}); r.Status != http.StatusSeeOther {
				t.Fatalf("first use: %d", r.Status)
			}
			again := secondStep(t)
			if r := again.Post("/account/login/totp", url.Values{"code": {code}}); r.Status != http.StatusUnauthorized || !strings.Contains(r.Body, "already used") {
				t.Fatalf("reuse: %d %.300s", r.Status, r.Body)
			}
		})
		t.Run("The next step's code is accepted", func(t *testing.T) {
			e.advance(time.Minute)
			c := secondStep(t)
			if r := c.Post("/account/login/totp", url.Values{"code": {e.code(secret, 30*time.Second)}}); r.Status != http.StatusSeeOther {
				t.Fatalf("got %d", r.Status)
			}
		})
		for _, off := range []time.Duration{-60 * time.Second, 60 * time.Second} {
			t.Run(fmt.Sprintf("A code %v away is refused", off), func(t *testing.T) {
				e.advance(5 * time.Minute)
				c := secondStep(t)
				if r := c.Post("/account/login/totp", url.Values{"code": {e.code(secret, off)}}); r.Status != http.StatusUnauthorized {
					t.Fatalf("got %d", r.Status)
				}
			})
		}
		t.Run("The sixth wrong code in five minutes is answered 429 with Retry-After, even a right one", func(t *testing.T) {
			e.advance(10 * time.Minute)
			c := secondStep(t)
			wrong := "000000"
			if wrong == e.code(secret, 0) {
				wrong = "111111"
			}
			for i := range 5 {
				if r := c.Post("/account/login/totp", url.Values{"code": {wrong}}); r.Status != http.StatusUnauthorized {
					t.Fatalf("wrong code %d: %d", i+1, r.Status)
				}
			}
			r := c.Post("/account/login/totp", url.Values{"code": {wrong}})
			if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
				t.Fatalf("sixth: %d Retry-After %q", r.Status, r.Header.Get("Retry-After"))
			}
			if r := c.Post("/account/login/totp", url.Values{"code": {e.code(secret, 0)}}); r.Status != http.StatusTooManyRequests {
				t.Fatalf("right code while limited: %d", r.Status)
			}
			e.advance(5 * time.Minute)
			c = secondStep(t)
			if r := c.Post("/account/login/totp", url.Values{"code": {e.code(secret, 0)}}); r.Status != http.StatusSeeOther {
				t.Fatalf("after the window: %d", r.Status)
			}
		})
	})
}

var (
	secretText = regexp.MustCompile(`<code id="totp-secret">([A-Z2-7]+)</code>`)
	codeItem   = regexp.MustCompile(`<li><code>([a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4}-[a-z2-7]{4})</code></li>`)
)

// signUpWithTOTP signs a user up through the pages and enrols TOTP; it returns the client,
// the TOTP secret and the recovery codes shown.
func (e *uiEnv) signUpWithTOTP(t *testing.T, name string) (*uitest.Client, string, []string) {
	c := uitest.New(t, e.url)
	c.Get("/account/signup")
	r := c.Post("/account/signup", url.Values{"username": {name}, "email": {name + "@example.org"}, "password": {testPassword}, "password2": {testPassword}})
	if r.Status != http.StatusSeeOther || r.Location != "/account/two-factor" {
		t.Fatalf("sign up: %d %s %.300s", r.Status, r.Location, r.Body)
	}
	c.Follow(r)
	page := c.Follow(c.Post("/account/totp", nil))
	m := secretText.FindStringSubmatch(page.Body)
	if m == nil || !strings.Contains(page.Body, `src="data:image/png;base64,`) {
		t.Fatalf("no secret or QR code on the enrolment page: %.500s", page.Body)
	}
	r = c.Post("/account/totp/confirm", url.Values{"code": {e.code(m[1], 0)}})
	var codes []string
	for _, cm := range codeItem.FindAllStringSubmatch(r.Body, -1) {
		codes = append(codes, cm[1])
	}
	if r.Status != http.StatusOK || len(codes) != account.RecoveryCodeCount {
		t.Fatalf("confirming: %d, %d codes", r.Status, len(codes))
	}
	e.advance(30 * time.Second)
	return c, m[1], codes
}

// TestUIRecoveryCodes: the codes shown at enrolment log in once each.
func TestUIRecoveryCodes(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newUIEnv(t, b, "127.0.0.1")
		_, _, codes := e.signUpWithTOTP(t, "alice")
		useCode := func(code string) uitest.Response {
			c := uitest.New(t, e.url)
			c.Get("/account/login")
			c.Follow(c.Post("/account/login", url.Values{"username": {"alice"}, "password": {testPassword}}))
			return c.Post("/account/login/recovery", url.Values{"code": {code}})
		}
		t.Run("A recovery code logs in and says how many are left", func(t *testing.T) {
			r := useCode(strings.ToUpper(codes[0]))
			if r.Status != http.StatusOK || !strings.Contains(r.Body, "7 unused codes are left") {
				t.Fatalf("got %d %.500s", r.Status, r.Body)
			}
		})
		t.Run("A used recovery code is refused", func(t *testing.T) {
			if r := useCode(codes[0]); r.Status != http.StatusUnauthorized {
				t.Fatalf("got %d", r.Status)
			}
		})
		t.Run("Making new codes voids the old ones", func(t *testing.T) {
			c := uitest.New(t, e.url)
			c.Get("/account/login")
			c.Follow(c.Post("/account/login", url.Values{"username": {"alice"}, "password": {testPassword}}))
			c.Post("/account/login/recovery", url.Values{"code": {codes[1]}})
			c.Get("/account/two-factor")
			r := c.Post("/account/recovery-codes", confirmed)
			if n := len(codeItem.FindAllStringSubmatch(r.Body, -1)); r.Status != http.StatusOK || n != account.RecoveryCodeCount {
				t.Fatalf("regenerate: %d, %d codes", r.Status, n)
			}
			if r := useCode(codes[2]); r.Status != http.StatusUnauthorized {
				t.Fatalf("an old code: %d", r.Status)
			}
		})
	})
}

// TestUIWebAuthn registers a software security key and logs in with it; challenges are
// single use, bound to the origin, and the signature counter must go up.
func TestUIWebAuthn(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newUIEnv(t, b, "localhost")
		key, err := uitest.NewAuthenticator(e.url)
		if err != nil {
			t.Fatal(err)
		}
		c := uitest.New(t, e.url)
		c.Get("/account/signup")
		c.Post("/account/signup", url.Values{"username": {"alice"}, "email": {"alice@example.org"}, "password": {testPassword}, "password2": {testPassword}})
		page := c.Get("/account/webauthn/new")
		resp, err := key.Create([]byte(uitest.DataAttribute(page.Body, "data-options")))
		if err != nil {
			t.Fatal(err)
		}
		t.Run("A key registers and recovery codes are shown", func(t *testing.T) {
			r := c.Post("/account/webauthn", url.Values{"name": {"blue key"}, "response": {string(resp)}})
			if r.Status != http.StatusOK || len(codeItem.FindAllStringSubmatch(r.Body, -1)) != account.RecoveryCodeCount {
				t.Fatalf("register: %d %.500s", r.Status, r.Body)
			}
		})
		t.Run("The registration answer cannot be sent again", func(t *testing.T) {
			if r := c.Post("/account/webauthn", url.Values{"name": {"again"}, "response": {string(resp)}}); r.Status != http.StatusUnauthorized {
				t.Fatalf("got %d", r.Status)
			}
		})
		secondStep := func(t *testing.T) (*uitest.Client, string) {
			c := uitest.New(t, e.url)
			c.Get("/account/login")
			page := c.Follow(c.Post("/account/login", url.Values{"username": {"alice"}, "password": {testPassword}}))
			return c, uitest.DataAttribute(page.Body, "data-options")
		}
		var replay []byte
		t.Run("The key logs in", func(t *testing.T) {
			c, opts := secondStep(t)
			if replay, err = key.Get([]byte(opts)); err != nil {
				t.Fatal(err)
			}
			if r := c.Post("/account/login/webauthn", url.Values{"response": {string(replay)}}); r.Status != http.StatusSeeOther || r.Location != "/projects" {
				t.Fatalf("got %d %s %.300s", r.Status, r.Location, r.Body)
			}
		})
		t.Run("A replayed answer to a used challenge is refused", func(t *testing.T) {
			c, _ := secondStep(t)
			if r := c.Post("/account/login/webauthn", url.Values{"response": {string(replay)}}); r.Status != http.StatusUnauthorized {
				t.Fatalf("got %d", r.Status)
			}
		})
		t.Run("An answer signed for another origin is refused", func(t *testing.T) {
			c, opts := secondStep(t)
			evilResp, err := key.WithOrigin("http://evil.example").Get([]byte(opts))
			if err != nil {
				t.Fatal(err)
			}
			if r := c.Post("/account/login/webauthn", url.Values{"response": {string(evilResp)}}); r.Status != http.StatusUnauthorized {
				t.Fatalf("got %d", r.Status)
			}
		})
		t.Run("A user with a key must have logged in recently to add another", func(t *testing.T) {
			e.advance(account.RecentAuthentication + time.Minute)
			r := c.Get("/account/webauthn/new")
			if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/account/reauthenticate") {
				t.Fatalf("got %d %s", r.Status, r.Location)
			}
		})
		t.Run("A key whose counter did not go up is refused", func(t *testing.T) {
			c, opts := secondStep(t)
			key.Counter -= 2
			resp, err := key.Get([]byte(opts))
			if err != nil {
				t.Fatal(err)
			}
			if r := c.Post("/account/login/webauthn", url.Values{"response": {string(resp)}}); r.Status != http.StatusUnauthorized {
				t.Fatalf("got %d", r.Status)
			}
		})
	})
}

// TestUISession: cookie flags, renewed ids, and headers.
func TestUISession(t *testing.T) {
	for _, tc := range []struct {
		name, public, cookie string
		secure               bool
	}{
		{"An https public URL gets a Secure __Host- cookie", "https://tpx.example.org", "__Host-tpx_session", true},
		{"An http://127.0.0.1 public URL gets a cookie without Secure", "http://127.0.0.1:8080", "tpx_session", false},
		{"Any other http public URL still gets a Secure cookie", "http://tpx.internal:8080", "__Host-tpx_session", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := uitest.Backends()[0]
			st := b.Open(t)
			box, _ := secretbox.New(strings.Repeat("k", 32))
			acc := account.New(account.Config{Store: st, Box: box, PublicURL: tc.public})
			h := New(Config{Store: st, Logger: slog.New(slog.DiscardHandler), UI: &UIConfig{Accounts: acc, Store: st, PublicURL: tc.public}})
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/account/login", nil))
			cookies := rec.Result().Cookies()
			if len(cookies) != 1 {
				t.Fatalf("%d cookies", len(cookies))
			}
			ck := cookies[0]
			if ck.Name != tc.cookie || !ck.HttpOnly || ck.Secure != tc.secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" {
				t.Fatalf("cookie %+v", ck)
			}
			csp := rec.Header().Get("Content-Security-Policy")
			if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "script-src 'nonce-") || strings.Contains(csp, "unsafe-inline") {
				t.Fatalf("CSP %q", csp)
			}
		})
	}
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newUIEnv(t, b, "127.0.0.1")
		secret := e.user("alice", true)
		c := uitest.New(t, e.url)
		c.Get("/account/login")
		anonymous := c.Cookie("tpx_session")
		r := c.Post("/account/login", url.Values{"username": {"alice"}, "password": {testPassword}})
		half := c.Cookie("tpx_session")
		c.Follow(r)
		c.Post("/account/login/totp", url.Values{"code": {e.code(secret, 0)}})
		full := c.Cookie("tpx_session")
		t.Run("The session id changes at login and again at the second factor", func(t *testing.T) {
			if anonymous == "" || half == anonymous || full == half || full == anonymous {
				t.Fatalf("ids: %q %q %q", anonymous, half, full)
			}
		})
		t.Run("An id planted before the login is worth nothing after it", func(t *testing.T) {
			planted := uitest.New(t, e.url)
			planted.SetCookie("tpx_session", anonymous)
			if r := planted.Get("/projects"); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/account/login") {
				t.Fatalf("got %d %s", r.Status, r.Location)
			}
			planted.SetCookie("tpx_session", half)
			if r := planted.Get("/projects"); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/account/login") {
				t.Fatalf("the half-way id: %d %s", r.Status, r.Location)
			}
		})
		t.Run("After logging out the old cookie opens nothing", func(t *testing.T) {
			c.Get("/projects")
			c.Post("/account/logout", nil)
			old := uitest.New(t, e.url)
			old.SetCookie("tpx_session", full)
			if r := old.Get("/projects"); r.Status != http.StatusSeeOther {
				t.Fatalf("got %d", r.Status)
			}
		})
		t.Run("No password, code, secret or cookie reaches the log", func(t *testing.T) {
			log := e.log.String()
			for _, s := range []string{testPassword, secret, anonymous, half, full} {
				if strings.Contains(log, s) {
					t.Fatalf("the log contains a secret %q", s)
				}
			}
		})
	})
}
