package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/uitest"
	"github.com/tpx-dev/tpx/store"
)

// enrolTOTP enrols TOTP through the pages for the logged-in client c (a user without a
// second factor) and returns the secret.
func (e *uiEnv) enrolTOTP(t *testing.T, c *uitest.Client) string {
	t.Helper()
	c.Get("/account/two-factor")
	page := c.Follow(c.Post("/account/totp", nil))
	m := secretText.FindStringSubmatch(page.Body)
	if m == nil {
		t.Fatalf("no secret on the enrolment page: %d %.300s", page.Status, page.Body)
	}
	if r := c.Post("/account/totp/confirm", url.Values{"code": {e.code(m[1], 0)}}); r.Status != http.StatusOK {
		t.Fatalf("confirming TOTP: %d %.300s", r.Status, r.Body)
	}
	e.advance(30 * time.Second)
	return m[1]
}

// sessionsOf counts the user's live sessions in the store.
func (e *uiEnv) sessionsOf(t *testing.T, name string) int {
	t.Helper()
	u, err := e.st.UserByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := e.st.UserSessions(context.Background(), u.ID, e.Now())
	if err != nil {
		t.Fatal(err)
	}
	return len(ss)
}

// loggedOut reports whether c's session opens nothing: a page behind the gate sends it
// to the login page, and a management form is refused.
func loggedOut(t *testing.T, c *uitest.Client) bool {
	t.Helper()
	r := c.Get("/projects")
	return r.Status == http.StatusSeeOther && strings.HasPrefix(r.Location, "/account/login")
}

// TestUIFactorChangesEndSessions is the attack of a session from before enrolment: Mallory
// logged in with Alice's password while Alice had no second factor; Alice then enrols
// TOTP in her own browser. Mallory's session must be worth nothing from then on, and each
// change of factors, password or use of a recovery code ends every other session.
func TestUIFactorChangesEndSessions(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newUIEnv(t, b, "127.0.0.1")
		ctx := context.Background()
		e.user("alice", false)
		mallory := e.login("alice", "")
		alice := e.login("alice", "")
		secret := e.enrolTOTP(t, alice)

		t.Run("The password-only session opened before enrolment is ended", func(t *testing.T) {
			if !loggedOut(t, mallory) {
				t.Fatal("the session from before enrolment still opens /projects")
			}
			for _, p := range []string{"/account/two-factor", "/account/webauthn/new", "/account/totp"} {
				if r := mallory.Get(p); r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/account/login") {
					t.Fatalf("GET %s: %d %s", p, r.Status, r.Location)
				}
			}
			if r := mallory.Post("/account/recovery-codes", confirmed); r.Status != http.StatusForbidden && r.Status != http.StatusUnauthorized {
				t.Fatalf("regenerating the codes: %d", r.Status)
			}
			if n := e.sessionsOf(t, "alice"); n != 1 {
				t.Fatalf("%d sessions of alice, want 1 (her own)", n)
			}
		})
		t.Run("A password-only session that escaped the ending is still never a full session", func(t *testing.T) {
			// As if it had been opened in the instant between the enrolment and the ending.
			u, _ := e.st.UserByName(ctx, "alice")
			raw := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
			now := e.Now()
			if err := e.st.CreateSession(ctx, store.Session{ID: account.HashToken(raw), UserID: u.ID, Stage: store.StageFull, Factor: store.FactorPassword,
				CreatedAt: now, AuthenticatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			late := uitest.New(t, e.url)
			late.SetCookie("tpx_session", raw)
			if !loggedOut(t, late) {
				t.Fatal("a password-only session of a user with TOTP opens /projects")
			}
			if _, err := e.st.Session(ctx, account.HashToken(raw), e.Now()); err == nil {
				t.Fatal("the password-only session was kept")
			}
		})
		t.Run("The enrolling session goes on, and a login now asks for the code", func(t *testing.T) {
			if r := alice.Get("/projects"); r.Status != http.StatusOK {
				t.Fatalf("alice's own session: %d %s", r.Status, r.Location)
			}
			c := uitest.New(t, e.url)
			c.Get("/account/login")
			r := c.Post("/account/login", url.Values{"username": {"alice"}, "password": {testPassword}})
			if !strings.HasPrefix(r.Location, "/account/login/verify") {
				t.Fatalf("login: %d %s", r.Status, r.Location)
			}
			if !loggedOut(t, c) {
				t.Fatal("the password alone opened /projects")
			}
		})

		others := func(t *testing.T, n int) []*uitest.Client {
			t.Helper()
			var cs []*uitest.Client
			for range n {
				cs = append(cs, e.login("alice", secret))
			}
			return cs
		}
		allOut := func(t *testing.T, what string, cs []*uitest.Client) {
			t.Helper()
			for i, c := range cs {
				if !loggedOut(t, c) {
					t.Fatalf("after %s, other session %d still opens /projects", what, i+1)
				}
			}
		}
		t.Run("Changing the password ends every other session", func(t *testing.T) {
			cs := others(t, 2)
			alice.Get("/account/password")
			r := alice.Post("/account/password", url.Values{"password": {testPassword}, "new_password": {testPassword + " two"}, "new_password2": {testPassword + " two"}})
			if r.Status != http.StatusOK {
				t.Fatalf("change: %d %.300s", r.Status, r.Body)
			}
			allOut(t, "a password change", cs)
			if loggedOut(t, alice) {
				t.Fatal("the session that changed the password was ended")
			}
			// Back to the password the helpers use.
			alice.Get("/account/password")
			alice.Post("/account/password", url.Values{"password": {testPassword + " two"}, "new_password": {testPassword}, "new_password2": {testPassword}})
		})
		var codes []string
		t.Run("Using a recovery code to log in ends every other session", func(t *testing.T) {
			// Fresh codes for alice, through a confirmation with the code.
			alice.Get("/account/two-factor")
			r := alice.Post("/account/recovery-codes", confirmed)
			if r.Status == http.StatusUnauthorized {
				kept := hiddenFields(r.Body, "/account/reauthenticate/totp")
				kept.Set("code", e.code(secret, 0))
				e.advance(30 * time.Second)
				r = alice.Post("/account/reauthenticate/totp", kept)
				r = alice.Post("/account/recovery-codes", hiddenFields(r.Body, "/account/recovery-codes"))
			}
			for _, m := range codeItem.FindAllStringSubmatch(r.Body, -1) {
				codes = append(codes, m[1])
			}
			if len(codes) != account.RecoveryCodeCount {
				t.Fatalf("regenerate: %d %.300s", r.Status, r.Body)
			}
			cs := append(others(t, 1), alice)
			c := uitest.New(t, e.url)
			c.Get("/account/login")
			c.Follow(c.Post("/account/login", url.Values{"username": {"alice"}, "password": {testPassword}}))
			if r := c.Post("/account/login/recovery", url.Values{"code": {codes[0]}}); r.Status != http.StatusOK {
				t.Fatalf("recovery login: %d", r.Status)
			}
			allOut(t, "a recovery code's use", cs)
			alice = c
		})
		t.Run("Removing a factor ends every other session", func(t *testing.T) {
			u, _ := e.st.UserByName(ctx, "alice")
			// A second factor to remove: a key, straight in the store.
			if _, err := e.st.AddWebAuthnCredential(ctx, store.WebAuthnCredential{UserID: u.ID, CredentialID: []byte("k1"), PublicKey: []byte("p"), Name: "spare", CreatedAt: e.Now()}); err != nil {
				t.Fatal(err)
			}
			cs := others(t, 2)
			// The recovery login left a proof that one change of factors may spend.
			alice.Get("/account/two-factor")
			keys, _ := e.st.WebAuthnCredentials(ctx, u.ID)
			r := alice.Post("/account/webauthn/"+strconv.FormatInt(keys[0].ID, 10)+"/remove", confirmed)
			if r.Status != http.StatusSeeOther {
				t.Fatalf("remove: %d %.300s", r.Status, r.Body)
			}
			allOut(t, "a factor's removal", cs)
		})
	})
}

// TestUIFactorPagesAskEachTime: a change of second factors or recovery codes spends a
// second-factor proof of the last five minutes; a login's counts once, then each change
// asks again, and the password never counts.
func TestUIFactorPagesAskEachTime(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newUIEnv(t, b, "localhost")
		secret := e.user("alice", true)
		c := e.login("alice", secret)
		c.Get("/account/two-factor")
		t.Run("The login's proof makes one set of recovery codes", func(t *testing.T) {
			r := c.Post("/account/recovery-codes", confirmed)
			if r.Status != http.StatusOK || len(codeItem.FindAllStringSubmatch(r.Body, -1)) != account.RecoveryCodeCount {
				t.Fatalf("got %d %.300s", r.Status, r.Body)
			}
		})
		t.Run("The next set asks for the second factor again, keeping the form", func(t *testing.T) {
			c.Get("/account/two-factor")
			r := c.Post("/account/recovery-codes", confirmed)
			if r.Status != http.StatusUnauthorized || !strings.Contains(r.Body, `name="for" value="factor"`) || !strings.Contains(r.Body, `id="code"`) {
				t.Fatalf("got %d %.300s", r.Status, r.Body)
			}
			if strings.Contains(r.Body, `type="password"`) {
				t.Fatal("the confirmation asks for the password")
			}
		})
		t.Run("The security key page asks for the second factor once the proof is five minutes old", func(t *testing.T) {
			e.advance(account.FactorAuthentication)
			r := c.Get("/account/webauthn/new")
			if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/account/reauthenticate?") || !strings.Contains(r.Location, "for=factor") {
				t.Fatalf("got %d %s", r.Status, r.Location)
			}
			page := c.Follow(r)
			form := hiddenFields(page.Body, "/account/reauthenticate/totp")
			form.Set("code", e.code(secret, 0))
			r = c.Post("/account/reauthenticate/totp", form)
			if r.Status != http.StatusSeeOther || r.Location != "/account/webauthn/new" {
				t.Fatalf("confirm: %d %s %.300s", r.Status, r.Location, r.Body)
			}
			if r := c.Get("/account/webauthn/new"); r.Status != http.StatusOK || uitest.DataAttribute(r.Body, "data-options") == "" {
				t.Fatalf("after confirming: %d %s", r.Status, r.Location)
			}
		})
		t.Run("The confirmation takes no password", func(t *testing.T) {
			r := c.Post("/account/reauthenticate", url.Values{"password": {testPassword}, "next": {"/projects"}})
			if r.Status == http.StatusSeeOther || r.Status == http.StatusOK {
				t.Fatalf("a password confirmation was accepted: %d %s", r.Status, r.Location)
			}
		})
	})
}

// TestUISessionsPage: the account page lists the user's sessions with their address and
// browser, and logs out one of them or all others.
func TestUISessionsPage(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newUIEnv(t, b, "127.0.0.1")
		secret := e.user("alice", true)
		e.user("bob", false)
		c := e.login("alice", secret)
		other := e.login("alice", secret)
		third := e.login("alice", secret)
		bob := e.login("bob", "")
		page := c.Get("/account")
		handles := regexp.MustCompile(`action="/account/sessions/([0-9a-f]+)/logout"`).FindAllStringSubmatch(page.Body, -1)
		t.Run("The account page lists every session, with the address and the browser", func(t *testing.T) {
			if page.Status != http.StatusOK || len(handles) != 2 || !strings.Contains(page.Body, "This session") ||
				strings.Count(page.Body, "127.0.0.1") < 3 || !strings.Contains(page.Body, "Go-http-client") {
				t.Fatalf("%d, %d log-out buttons: %.2000s", page.Status, len(handles), page.Body)
			}
			for _, h := range handles {
				u, _ := e.st.UserByName(context.Background(), "alice")
				ss, _ := e.st.UserSessions(context.Background(), u.ID, e.Now())
				for _, s := range ss {
					if strings.Contains(page.Body, s.ID) || strings.Contains(s.ID, h[1]) {
						t.Fatal("the page shows a session's id")
					}
				}
			}
		})
		t.Run("Log out one session", func(t *testing.T) {
			r := c.Post("/account/sessions/"+handles[0][1]+"/logout", nil)
			if r.Status != http.StatusSeeOther {
				t.Fatalf("got %d %.300s", r.Status, r.Body)
			}
			if n := e.sessionsOf(t, "alice"); n != 2 {
				t.Fatalf("%d sessions left, want 2", n)
			}
		})
		t.Run("Another user's session, or an unknown one, is not logged out", func(t *testing.T) {
			u, _ := e.st.UserByName(context.Background(), "bob")
			ss, _ := e.st.UserSessions(context.Background(), u.ID, e.Now())
			c.Get("/account")
			for _, h := range []string{sessionHandle(ss[0].ID), "0123456789abcdef01234567"} {
				if r := c.Post("/account/sessions/"+h+"/logout", nil); r.Status == http.StatusSeeOther {
					t.Fatalf("handle %s: %d", h, r.Status)
				}
			}
			if n := e.sessionsOf(t, "bob"); n != 1 {
				t.Fatalf("bob has %d sessions", n)
			}
		})
		t.Run("Log out all others", func(t *testing.T) {
			if loggedOut(t, bob) {
				t.Fatal("bob's session ended")
			}
			c.Get("/account")
			if r := c.Post("/account/sessions/logout-others", nil); r.Status != http.StatusSeeOther {
				t.Fatalf("got %d", r.Status)
			}
			if !loggedOut(t, other) || !loggedOut(t, third) || loggedOut(t, c) {
				t.Fatal("wrong sessions ended")
			}
			if n := e.sessionsOf(t, "bob"); n != 1 {
				t.Fatalf("bob has %d sessions, want his 1", n)
			}
		})
		t.Run("The audit log names the user and the address, not the channel", func(t *testing.T) {
			u, _ := e.st.UserByName(context.Background(), "alice")
			events, err := e.st.AuditLog(context.Background(), 0, u.ID, 0)
			if err != nil || len(events) == 0 {
				t.Fatal(err)
			}
			for _, ev := range events {
				if ev.Actor == "web" || (ev.Actor != "operator" && ev.Actor != "alice from 127.0.0.1") {
					t.Fatalf("event %s by %q", ev.Action, ev.Actor)
				}
			}
		})
	})
}

// TestUINextIsLocal: the next parameter of the login and confirmation pages sends a
// browser only to a path of this site, whatever spelling an attacker tries.
func TestUINextIsLocal(t *testing.T) {
	hostile := []string{
		"//evil.example/",
		"///evil.example/",
		"/\\evil.example",
		"\\\\evil.example",
		"/\t/evil.example/",
		"/%09/evil.example/",
		"/\n/evil.example",
		"/\r\n/evil.example",
		" /evil.example",
		"https://evil.example/",
		"https:evil.example",
		"http:/evil.example",
		"HTTPS://evil.example",
		"javascript:alert(1)",
		"data:text/html,x",
		"evil.example",
		"/%2F%2Fevil.example",
		"/%2f/evil.example",
		"/%5Cevil.example",
		"/%5C%5Cevil.example",
		"/./%2F/evil.example",
		"/.//evil.example",
		"/projects/../..//evil.example",
		"/%E2%80%AE/evil.example",
		"/\u3000/evil.example",
		"//evil.example@127.0.0.1/",
		"/@evil.example",
	}
	b := uitest.Backends()[0]
	e := newUIEnv(t, b, "127.0.0.1")
	e.user("alice", true)
	for _, next := range hostile {
		t.Run("The login page drops next="+strconv.Quote(next), func(t *testing.T) {
			got := localPath(next, "/projects")
			if got != "/projects" && !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") || strings.ContainsAny(got, "\\\t\r\n") {
				t.Fatalf("localPath(%q) = %q", next, got)
			}
			c := uitest.New(t, e.url)
			page := c.Get("/account/login?next=" + url.QueryEscape(next))
			if v := uitest.DataAttribute(page.Body, `name="next" value`); v != "" && v != localPath(next, "") {
				t.Fatalf("the form carries next=%q", v)
			}
			r := c.Post("/account/login", url.Values{"username": {"alice"}, "password": {testPassword}, "next": {next}})
			loc, err := url.Parse(r.Location)
			if r.Status != http.StatusSeeOther || err != nil || loc.Host != "" || loc.Scheme != "" || loc.Path != "/account/login/verify" {
				t.Fatalf("redirect to %q", r.Location)
			}
			if n := loc.Query().Get("next"); n != "" && n != localPath(next, "") {
				t.Fatalf("the second step carries next=%q", n)
			}
			step := c.Follow(r)
			if v := uitest.DataAttribute(step.Body, `name="next" value`); strings.Contains(v, "evil") && localPath(v, "") != v {
				t.Fatalf("the second step's form carries next=%q", v)
			}
		})
	}
	t.Run("Same-site paths are kept, with their query", func(t *testing.T) {
		for in, want := range map[string]string{
			"/projects/proj":            "/projects/proj",
			"/projects/proj?tab=owners": "/projects/proj?tab=owners",
			"/account/":                 "/account/",
			"/projects/a%2Eb":           "/projects/a%2Eb",
		} {
			if got := localPath(in, "/"); got != want {
				t.Fatalf("localPath(%q) = %q, want %q", in, got, want)
			}
		}
	})
	t.Run("No hostile value survives localPath as a path browsers resolve elsewhere", func(t *testing.T) {
		base, _ := url.Parse(e.url + "/account/login")
		for _, next := range hostile {
			got := localPath(next, "/projects")
			u, err := base.Parse(got)
			if err != nil || u.Host != base.Host {
				t.Fatalf("localPath(%q) = %q resolves to %v", next, got, u)
			}
		}
	})
}

// TestUIRefusedPostKeepsTheCookie: a cross-site form reaches tpx without the SameSite=Lax
// session cookie; refusing it must not answer with a new cookie, which would log the
// owner out.
func TestUIRefusedPostKeepsTheCookie(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newUIEnv(t, b, "127.0.0.1")
		secret := e.user("alice", true)
		c := e.login("alice", secret)
		for _, tc := range []struct {
			name   string
			cookie bool
			origin string
		}{
			{"A cross-site POST without the cookie", false, "http://evil.example"},
			{"A POST without the cookie and without Origin", false, ""},
			{"A POST with the cookie from another origin", true, "http://evil.example"},
		} {
			t.Run(tc.name+" is refused and sets no cookie", func(t *testing.T) {
				req, _ := http.NewRequest(http.MethodPost, e.url+"/account/logout", strings.NewReader(url.Values{"csrf": {c.CSRF}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if tc.origin != "" {
					req.Header.Set("Origin", tc.origin)
				}
				if tc.cookie {
					req.AddCookie(&http.Cookie{Name: "tpx_session", Value: c.Cookie("tpx_session")})
				}
				resp, err := http.DefaultTransport.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
					t.Fatalf("got %d with cookies %v", resp.StatusCode, resp.Cookies())
				}
				if loggedOut(t, c) {
					t.Fatal("the owner was logged out")
				}
			})
		}
		t.Run("A CSRF token in the URL instead of the form body is refused", func(t *testing.T) {
			c.Get("/projects")
			r := c.PostRaw("/projects?csrf="+url.QueryEscape(c.CSRF), url.Values{"name": {"viaquery"}})
			if r.Status != http.StatusForbidden {
				t.Fatalf("got %d", r.Status)
			}
			if _, err := e.st.ProjectByName(context.Background(), "viaquery"); err == nil {
				t.Fatal("the project was created")
			}
		})
	})
}
