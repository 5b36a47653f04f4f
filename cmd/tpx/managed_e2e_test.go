package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/internal/uitest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/signin"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/web"
)

// indexEnv is tpx in front of a package index: managed projects, closed sign-up, owners
// signing in through the index's OpenID provider (over HTTPS), a GitHub issuer for CI,
// the admin API with a key, and a command line on the same store.
type indexEnv struct {
	t        *testing.T
	url      string
	st       store.Store
	idp, gh  *oidctest.Issuer
	key      string
	cli      map[string]string
	browser  *http.Client // talks to the provider as a browser: trusts its certificate, follows no redirect
	accounts *account.Service
}

const indexIntrospectSecret = "introspection secret of the index's upload service"

func newIndexEnv(t *testing.T, b backend) *indexEnv {
	t.Helper()
	e := &indexEnv{t: t, idp: oidctest.New(t, oidctest.WithTLS()), gh: oidctest.New(t), cli: cliEnv(t, b)}
	e.cli["TPX_PROJECTS"], e.cli["TPX_SIGNUP"] = "managed", "closed"
	e.cli["TPX_CONFIG"] = writeTestFile(t, "tpx.yaml", fmt.Sprintf("providers:\n  - {kind: github, issuer: %q}\n", e.gh.URL()))
	cfg, err := loadConfig(t, e.cli)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if e.st, err = openStore(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.st.Close() })
	srv := httptest.NewUnstartedServer(nil)
	e.url = "http://" + srv.Listener.Addr().String()
	cfg.Addr, cfg.PublicURL, cfg.Audience, cfg.IntrospectSecret = srv.Listener.Addr().String(), e.url, "tpx", indexIntrospectSecret
	cfg.Providers = []providers.IssuerConfig{{Kind: policy.GitHub, Issuer: e.gh.URL()}}
	cfg.OIDC = signin.Config{Issuer: e.idp.URL(), ClientID: "tpx", ClientSecret: "the client secret", Name: "Example Index"}
	e.idp.RegisterClient(oidctest.Client{ID: "tpx", Secret: "the client secret", RedirectURI: e.url + web.SignInCallbackPath})
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &bytes.Buffer{}}, nil))
	svc, err := build(ctx, cfg, wiring{store: e.st, log: log, client: providers.HardenedClient(oidctest.RootCAs())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.set.Close)
	srv.Config.Handler = svc.handler
	srv.Start()
	t.Cleanup(srv.Close)
	e.accounts = account.New(account.Config{Store: e.st, Box: svc.box, Projects: account.ProjectsManaged})
	if e.key, _, err = e.accounts.CreateAPIKey(ctx, "index", store.ScopeAdmin); err != nil {
		t.Fatal(err)
	}
	e.browser = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: oidctest.RootCAs()}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return e
}

// admin sends a request of the index to the admin API and fails unless it answers want.
func (e *indexEnv) admin(want int, method, path, body string) map[string]any {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+"/v1/admin"+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s %s: %d, want %d: %s", method, path, body, resp.StatusCode, want, raw)
	}
	return out
}

// signIn signs subject in through the provider, then with the TOTP code of secret that
// is steps 30-second steps ahead: a code is accepted once, so a user's second sign-in
// uses the next one, as their phone would show it.
func (e *indexEnv) signIn(name, subject, secret string, steps int) *uitest.Client {
	e.t.Helper()
	e.idp.SetLogin(oidctest.Login{Subject: subject, Email: name + "@example.org", EmailVerified: true})
	c := uitest.New(e.t, e.url)
	c.Get("/account/login")
	r := c.Get("/account/login/index")
	resp, err := e.browser.Get(r.Location)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	r = c.Get(strings.TrimPrefix(resp.Header.Get("Location"), e.url))
	if r.Location != "/account/login/verify" {
		e.t.Fatalf("%s's sign-in went to %q: %.300s", name, r.Location, r.Body)
	}
	c.Follow(r)
	code, err := totp.GenerateCode(secret, time.Now().Add(time.Duration(steps)*30*time.Second))
	if err != nil {
		e.t.Fatal(err)
	}
	if r := c.Post("/account/login/totp", url.Values{"code": {code}}); r.Status != http.StatusSeeOther || r.Location != "/projects" {
		e.t.Fatalf("%s's second factor: %d %s", name, r.Status, r.Location)
	}
	return c
}

// enrol has the operator enrol TOTP for name on the command line, and returns the secret.
func (e *indexEnv) enrol(name string) string {
	e.t.Helper()
	r := runTPX(e.t, e.cli, "", "user", "enroll-totp", name).ok(e.t, "enroll-totp")
	u, err := url.Parse(strings.TrimSpace(r.stdout))
	if err != nil {
		e.t.Fatal(err)
	}
	return u.Query().Get("secret")
}

func (e *indexEnv) mint() string {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"token": e.gh.Sign(e.gh.GitHubClaims(nil))})
	resp, err := http.Post(e.url+"/_/oidc/mint-token", "application/json", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &out) != nil || out.Token == "" {
		e.t.Fatalf("mint: %d %s", resp.StatusCode, raw)
	}
	return out.Token
}

// active asks introspection whether tok is active.
func (e *indexEnv) active(tok string) bool {
	e.t.Helper()
	status, out := postIntrospect(e.t, e.url, "Bearer "+indexIntrospectSecret, tok)
	if status != http.StatusOK {
		e.t.Fatalf("introspection: %d %v", status, out)
	}
	return out["active"] == true
}

func (e *indexEnv) projectNames() []string {
	e.t.Helper()
	ps, err := e.st.ListProjects(context.Background(), 0, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

// TestManagedIndexEndToEnd is the index's whole story in managed mode, over HTTP, the
// command line and the provider's sign-in.
func TestManagedIndexEndToEnd(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newIndexEnv(t, b)
		ctx := context.Background()
		// The index creates its owners, bound to their subjects, and a project with alice.
		e.admin(http.StatusCreated, "POST", "/users", fmt.Sprintf(`{"name": "alice", "email": "alice@example.org", "issuer": %q, "subject": "idx-1"}`, e.idp.URL()))
		e.admin(http.StatusCreated, "POST", "/users", fmt.Sprintf(`{"name": "bob", "email": "bob@example.org", "issuer": %q, "subject": "idx-2"}`, e.idp.URL()))
		e.admin(http.StatusCreated, "POST", "/projects", `{"name": "sampleproject", "owners": ["alice"]}`)
		aliceTOTP, bobTOTP := e.enrol("alice"), e.enrol("bob")

		t.Run("A second user creates neither that project nor any other, in the UI or on the command line", func(t *testing.T) {
			bob := e.signIn("bob", "idx-2", bobTOTP, 0)
			for _, name := range []string{"sampleproject", "SampleProject", "otherproject"} {
				bob.Get("/projects")
				if r := bob.Post("/projects", url.Values{"name": {name}}); r.Status != http.StatusForbidden || !strings.Contains(r.Body, "managed by the index") {
					t.Fatalf("bob creating %s in the UI: %d %.500s", name, r.Status, r.Body)
				}
				bob.Get("/account/pending")
				r := bob.Post("/account/pending", url.Values{"kind": {"github"}, "project": {name}, "repository": {"bob/repo"}, "workflow": {"release.yml"}, "issuer": {e.gh.URL()}})
				if r.Status == http.StatusSeeOther || r.Status == http.StatusForbidden && strings.Contains(r.Body, "security token") {
					t.Fatalf("bob's pending publisher for %s in the UI was accepted", name)
				}
				cli := runTPX(t, e.cli, "", "publisher", "add", "github", "--project", name, "--repository", "bob/repo", "--workflow", "release.yml", "--issuer", e.gh.URL(), "--pending", "--by", "bob")
				if cli.code != 1 {
					t.Fatalf("bob's pending publisher for %s on the command line: exit %d %s", name, cli.code, cli.stdout)
				}
			}
			if got := strings.Join(e.projectNames(), ","); got != "sampleproject" {
				t.Fatalf("projects: %s", got)
			}
			bobUser, _ := e.st.UserByName(ctx, "bob")
			if pending, _ := e.st.ListPending(ctx, bobUser.ID); len(pending) != 0 {
				t.Fatalf("bob's pending publishers: %v", pending)
			}
		})

		alice := e.signIn("alice", "idx-1", aliceTOTP, 0)
		var tok string
		t.Run("alice, signed in through the index with TOTP, adds a publisher; CI mints; the index reads it", func(t *testing.T) {
			alice.Get("/projects/sampleproject")
			r := alice.Post("/projects/sampleproject/publishers", url.Values{"kind": {"github"}, "repository": {"octo-org/octo-repo"}, "workflow": {"release.yml"}, "issuer": {e.gh.URL()}})
			if r.Status != http.StatusSeeOther {
				t.Fatalf("alice adding a publisher: %d %.500s", r.Status, r.Body)
			}
			tok = e.mint()
			events := e.admin(http.StatusOK, "GET", "/events?after=0&limit=1000", "")["events"].([]any)
			var minted, added bool
			for _, ev := range events {
				m := ev.(map[string]any)
				minted = minted || m["action"] == "token.mint" && m["project"] == "sampleproject"
				added = added || m["action"] == "publisher.add" && m["project"] == "sampleproject" && m["user"] == "alice"
			}
			if !minted || !added {
				t.Fatalf("the feed, read at once after the exchange, has token.mint %v, publisher.add %v: %v", minted, added, events)
			}
		})

		t.Run("The index removes alice as owner; her live session manages the project no more", func(t *testing.T) {
			e.admin(http.StatusOK, "PUT", "/projects/sampleproject/owners", `{"owners": []}`)
			if r := alice.Get("/projects/sampleproject"); r.Status != http.StatusNotFound {
				t.Fatalf("alice's project page after her removal: %d", r.Status)
			}
			r := alice.Post("/projects/sampleproject/publishers", url.Values{"kind": {"github"}, "repository": {"octo-org/other"}, "workflow": {"release.yml"}, "issuer": {e.gh.URL()}})
			if r.Status != http.StatusNotFound {
				t.Fatalf("alice adding a publisher after her removal: %d", r.Status)
			}
			if pubs, _ := e.st.ListPublishers(ctx, 0); len(pubs) != 1 {
				t.Fatalf("publishers: %v", pubs)
			}
		})

		t.Run("A pending grant lets bob register a pending publisher for that one name and no other", func(t *testing.T) {
			e.admin(http.StatusOK, "PUT", "/users/bob/grants/newproject", "")
			bob := e.signIn("bob", "idx-2", bobTOTP, 1)
			if page := bob.Get("/account"); !strings.Contains(page.Body, `<ul id="grants"><li>newproject`) {
				t.Fatalf("bob's account page does not show his grant: %.2000s", page.Body)
			}
			pending := func(name string) int {
				bob.Get("/account/pending")
				return bob.Post("/account/pending", url.Values{"kind": {"github"}, "project": {name}, "repository": {"bob/repo"}, "workflow": {"release.yml"}, "issuer": {e.gh.URL()}}).Status
			}
			if s := pending("otherproject"); s == http.StatusSeeOther {
				t.Fatal("bob's pending publisher for a name nobody granted was accepted")
			}
			if s := pending("NewProject"); s != http.StatusSeeOther {
				t.Fatalf("bob's pending publisher for his granted name: %d", s)
			}
			cli := runTPX(t, e.cli, "", "publisher", "add", "github", "--project", "another", "--repository", "bob/other", "--workflow", "release.yml", "--issuer", e.gh.URL(), "--pending", "--by", "bob")
			if cli.code != 1 || !strings.Contains(cli.stderr, "has not granted") {
				t.Fatalf("bob's pending publisher for another name on the command line: exit %d %s", cli.code, cli.stderr)
			}
			bobUser, _ := e.st.UserByName(ctx, "bob")
			if ps, _ := e.st.ListPending(ctx, bobUser.ID); len(ps) != 1 || ps[0].ProjectName != "NewProject" {
				t.Fatalf("bob's pending publishers: %v", ps)
			}
		})

		t.Run("Deleting the project through the admin API revokes its live upload token", func(t *testing.T) {
			if !e.active(tok) {
				t.Fatal("the token is not active before the delete")
			}
			e.admin(http.StatusNoContent, "DELETE", "/projects/sampleproject", "")
			if e.active(tok) {
				t.Fatal("introspection calls the token of a deleted project active")
			}
		})
	})
}

func TestProjectDeleteOnTheCommandLineRevokesItsTokens(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		e := newIndexEnv(t, b)
		runTPX(t, e.cli, "correct horse battery staple\n", "user", "add", "carol", "--email", "carol@example.org").ok(t, "user add")
		e.enrol("carol")
		runTPX(t, e.cli, "", "project", "add", "Carols.Project", "--owner", "carol").ok(t, "project add")
		runTPX(t, e.cli, "", "publisher", "add", "github", "--project", "carols-project", "--repository", "octo-org/octo-repo", "--workflow", "release.yml", "--issuer", e.gh.URL(), "--by", "carol").ok(t, "publisher add")
		tok := e.mint()
		if !e.active(tok) {
			t.Fatal("the token is not active before the delete")
		}
		if r := runTPX(t, e.cli, "", "project", "delete", "nope"); r.code != 1 {
			t.Fatalf("deleting an unknown project: exit %d", r.code)
		}
		runTPX(t, e.cli, "", "project", "delete", "carols_project").ok(t, "project delete")
		if e.active(tok) {
			t.Fatal("introspection calls the token of a deleted project active")
		}
		if names := e.projectNames(); len(names) != 0 {
			t.Fatalf("projects left: %v", names)
		}
	})
}
