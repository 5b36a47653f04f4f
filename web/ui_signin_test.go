package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/internal/uitest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/signin"
	"github.com/tpx-dev/tpx/store"
)

// idpEnv is the web UI with sign-in through a test OpenID provider over HTTPS.
type idpEnv struct {
	*uiEnv
	idp *oidctest.Issuer
	// browser talks to the provider as a browser would: it trusts its certificate and
	// does not follow redirects.
	browser *http.Client
}

const (
	idpClientID     = "tpx-client"
	idpClientSecret = "a client secret of the test provider"
)

// newIdPEnv serves the UI with sign-in through a fresh test provider; edit changes the
// account service's configuration, amr the values that count as a second factor.
func newIdPEnv(t *testing.T, b uitest.Backend, edit func(*account.Config), amr []string) *idpEnv {
	t.Helper()
	var idp *oidctest.Issuer
	e := newUIEnvFull(t, b, "127.0.0.1", edit, nil, func(e *uiEnv, cfg *UIConfig, box *secretbox.Box) {
		idp = oidctest.New(t, oidctest.WithTLS(), oidctest.WithClock(e.Now))
		idp.RegisterClient(oidctest.Client{ID: idpClientID, Secret: idpClientSecret, RedirectURI: e.url + SignInCallbackPath})
		rp, err := signin.New(signin.Config{Issuer: idp.URL(), ClientID: idpClientID, ClientSecret: idpClientSecret,
			RedirectURL: e.url + SignInCallbackPath, Name: "Test Index", AMR: amr, Box: box, Now: e.Now,
			HTTPClient: providers.HardenedClient(oidctest.RootCAs())})
		if err != nil {
			t.Fatal(err)
		}
		cfg.SignIn = rp
	})
	return &idpEnv{uiEnv: e, idp: idp, browser: &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: oidctest.RootCAs()}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// toProvider starts a sign-in in c and lets the provider sign in login: it returns the
// path and query the provider sends the browser back to.
func (e *idpEnv) toProvider(c *uitest.Client, login oidctest.Login, start string) string {
	e.t.Helper()
	e.idp.SetLogin(login)
	r := c.Get(start)
	if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, e.idp.AuthorizationURL()+"?") {
		e.t.Fatalf("start: %d %s %.300s", r.Status, r.Location, r.Body)
	}
	resp, err := e.browser.Get(r.Location)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	back := resp.Header.Get("Location")
	if !strings.HasPrefix(back, e.url+SignInCallbackPath+"?") {
		e.t.Fatalf("the provider answered %d, to %q", resp.StatusCode, back)
	}
	return strings.TrimPrefix(back, e.url)
}

// signIn runs a whole sign-in of login in a new browser and returns it with the
// callback's answer.
func (e *idpEnv) signIn(login oidctest.Login) (*uitest.Client, uitest.Response) {
	e.t.Helper()
	c := uitest.New(e.t, e.url)
	c.Get("/account/login")
	return c, c.Get(e.toProvider(c, login, "/account/login/index"))
}

// adminUser is a user the index created bound to subject, with TOTP when withTOTP; it
// returns the TOTP secret.
func (e *idpEnv) adminUser(name, subject string, withTOTP bool) string {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.acc.IndexCreateUser(ctx, account.IndexUser{Name: name, Email: name + "@example.org", Issuer: e.idp.URL(), Subject: subject}); err != nil {
		e.t.Fatal(err)
	}
	if !withTOTP {
		return ""
	}
	uri, err := e.acc.EnrollTOTP(ctx, account.ViaOperator, name)
	if err != nil {
		e.t.Fatal(err)
	}
	u, _ := url.Parse(uri)
	return u.Query().Get("secret")
}

// stored is what a refused sign-in must not change: users, their links, sessions.
func (e *idpEnv) stored(subjects ...string) string {
	e.t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, s := range subjects {
		u, err := e.st.UserByIdentity(ctx, e.idp.URL(), s)
		b.WriteString(s + ": " + u.Name + " " + errString(err) + "\n")
	}
	for id := int64(1); id <= 10; id++ {
		u, err := e.st.UserByID(ctx, id)
		if err != nil {
			continue
		}
		ss, _ := e.st.UserSessions(ctx, u.ID, e.Now())
		verified, _ := e.st.EmailVerified(ctx, u.ID)
		fmt.Fprintf(&b, "%s %s verified=%v sessions=%d\n", u.Name, u.Email, verified, len(ss))
	}
	return b.String()
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// loggedInAs says whom c's session belongs to, fully logged in, or "".
func (e *idpEnv) loggedInAs(c *uitest.Client) string {
	e.t.Helper()
	r := c.Get("/account/two-factor")
	if r.Status != http.StatusOK {
		return ""
	}
	m := strings.Index(r.Body, `id="logout">Log out `)
	if m < 0 {
		return ""
	}
	rest := r.Body[m+len(`id="logout">Log out `):]
	return rest[:strings.Index(rest, "<")]
}

func TestSignInThroughTheIndex(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		t.Run("A subject the index linked signs in, and tpx's own second factor is still asked before anything else", func(t *testing.T) {
			e := newIdPEnv(t, b, nil, nil)
			secret := e.adminUser("alice", "sub-alice", true)
			c, r := e.signIn(oidctest.Login{Subject: "sub-alice", Email: "alice@example.org", EmailVerified: true, AMR: []string{"pwd", "otp"}})
			if r.Status != http.StatusSeeOther || r.Location != "/account/login/verify" {
				t.Fatalf("callback: %d %s %.300s", r.Status, r.Location, r.Body)
			}
			if got := c.Get("/projects"); got.Status != http.StatusSeeOther || !strings.HasPrefix(got.Location, "/account/login") {
				t.Fatalf("before the second factor the projects page answered %d %s", got.Status, got.Location)
			}
			c.Follow(r)
			r = c.Post("/account/login/totp", url.Values{"code": {e.code(secret, 0)}})
			if r.Status != http.StatusSeeOther || r.Location != "/projects" {
				t.Fatalf("second factor: %d %s %.300s", r.Status, r.Location, r.Body)
			}
			if got := e.loggedInAs(c); got != "alice" {
				t.Fatalf("logged in as %q", got)
			}
			alice, err := e.st.UserByName(context.Background(), "alice")
			if err != nil {
				t.Fatal(err)
			}
			if log, _ := e.acc.AuditLog(context.Background(), alice); !strings.Contains(auditText(log), "a sign-in through the package index and TOTP") {
				t.Fatalf("audit log: %s", auditText(log))
			}
		})

		t.Run("Accounts are linked by subject: an address another account has is refused, never taken over", func(t *testing.T) {
			e := newIdPEnv(t, b, nil, nil)
			e.user("bob", true) // a password account with bob@example.org
			before := e.stored("sub-mallory")
			_, r := e.signIn(oidctest.Login{Subject: "sub-mallory", Email: "bob@example.org", EmailVerified: true})
			if r.Status != http.StatusForbidden || !strings.Contains(r.Body, "not linked to this sign-in") {
				t.Fatalf("a sign-in with another account's address: %d %.500s", r.Status, r.Body)
			}
			if after := e.stored("sub-mallory"); after != before {
				t.Fatalf("a refused sign-in changed the store:\n%s\nwas\n%s", after, before)
			}
			// A linked subject is found by its subject, whatever address the provider
			// now reports.
			e.adminUser("carol", "sub-carol", false)
			c, r := e.signIn(oidctest.Login{Subject: "sub-carol", Email: "bob@example.org", EmailVerified: true})
			if r.Status != http.StatusSeeOther || e.loggedInAs(c) != "carol" {
				t.Fatalf("carol with a new address: %d %s", r.Status, r.Location)
			}
		})

		t.Run("Every sign-up mode decides who a first sign-in may create", func(t *testing.T) {
			for _, c := range []struct {
				name    string
				mode    account.SignupMode
				login   oidctest.Login
				invite  string // the invitation's address, if the sign-in starts from one
				created bool
				status  int
			}{
				{"open: a verified address creates an account", account.SignupOpen, oidctest.Login{Subject: "s1", Email: "dan@example.org", EmailVerified: true, Claims: map[string]any{"preferred_username": "dan"}}, "", true, http.StatusSeeOther},
				{"open: an unverified address creates nothing", account.SignupOpen, oidctest.Login{Subject: "s1", Email: "dan@example.org", EmailVerified: false}, "", false, http.StatusForbidden},
				{"open: no address creates nothing", account.SignupOpen, oidctest.Login{Subject: "s1", EmailVerified: true}, "", false, http.StatusForbidden},
				{"invite: without an invitation nothing is created", account.SignupInvite, oidctest.Login{Subject: "s1", Email: "dan@example.org", EmailVerified: true}, "", false, http.StatusForbidden},
				{"invite: the invitation to the verified address creates the account", account.SignupInvite, oidctest.Login{Subject: "s1", Email: "dan@example.org", EmailVerified: true}, "dan@example.org", true, http.StatusSeeOther},
				{"invite: an invitation to another address creates nothing", account.SignupInvite, oidctest.Login{Subject: "s1", Email: "dan@example.org", EmailVerified: true}, "eve@example.org", false, http.StatusForbidden},
				{"invite: the invited address unverified creates nothing", account.SignupInvite, oidctest.Login{Subject: "s1", Email: "dan@example.org", EmailVerified: false}, "dan@example.org", false, http.StatusForbidden},
				{"closed: nothing is created", account.SignupClosed, oidctest.Login{Subject: "s1", Email: "dan@example.org", EmailVerified: true}, "", false, http.StatusForbidden},
			} {
				t.Run(c.name, func(t *testing.T) {
					e := newIdPEnv(t, b, func(cfg *account.Config) { cfg.Signup = c.mode }, nil)
					start := "/account/login/index"
					if c.invite != "" {
						link, _, err := e.acc.InviteSignup(context.Background(), account.Actor{Via: account.ViaOperator}, c.invite)
						if err != nil {
							t.Fatal(err)
						}
						u, _ := url.Parse(link)
						start += "?invitation=" + u.Query().Get("invitation")
					}
					before := e.stored("s1")
					v := uitest.New(t, e.url)
					v.Get("/account/login")
					r := v.Get(e.toProvider(v, c.login, start))
					if r.Status != c.status {
						t.Fatalf("callback: %d, want %d: %.500s", r.Status, c.status, r.Body)
					}
					u, err := e.st.UserByIdentity(context.Background(), e.idp.URL(), "s1")
					if (err == nil) != c.created {
						t.Fatalf("user linked to s1: %v, want created %v", err, c.created)
					}
					if !c.created {
						if after := e.stored("s1"); after != before {
							t.Fatalf("a refused sign-in changed the store:\n%s\nwas\n%s", after, before)
						}
						return
					}
					if r.Location != "/account/two-factor" || e.loggedInAs(v) != u.Name {
						t.Fatalf("a new account goes to enrolment: %s, logged in as %q", r.Location, e.loggedInAs(v))
					}
					if ok, _ := e.st.EmailVerified(context.Background(), u.ID); !ok || u.Email != "dan@example.org" || u.PasswordHash != "" {
						t.Fatalf("new account %+v verified=%v", u, ok)
					}
					if got := v.Get("/projects"); got.Status != http.StatusSeeOther || got.Location != "/account/two-factor" {
						t.Fatalf("a new account manages nothing before enrolling: %d %s", got.Status, got.Location)
					}
				})
			}
		})

		t.Run("With TPX_SIGNUP=closed the index's user bound to the subject signs in", func(t *testing.T) {
			e := newIdPEnv(t, b, func(cfg *account.Config) { cfg.Signup = account.SignupClosed }, nil)
			e.adminUser("alice", "sub-alice", false)
			c, r := e.signIn(oidctest.Login{Subject: "sub-alice", Email: "alice@example.org", EmailVerified: true})
			if r.Status != http.StatusSeeOther || e.loggedInAs(c) != "alice" {
				t.Fatalf("callback: %d %s", r.Status, r.Location)
			}
		})

		t.Run("Forged, replayed and foreign answers are refused with a reason and store nothing", func(t *testing.T) {
			e := newIdPEnv(t, b, func(cfg *account.Config) { cfg.Signup = account.SignupOpen }, nil)
			e.adminUser("alice", "sub-alice", false)
			login := oidctest.Login{Subject: "sub-new", Email: "new@example.org", EmailVerified: true}
			for _, c := range []struct {
				name   string
				tamper func(c *uitest.Client, back string) string // returns the callback to send
				login  oidctest.Login
				status int
				says   string
			}{
				{"a wrong state", func(c *uitest.Client, back string) string {
					u, _ := url.Parse(back)
					q := u.Query()
					q.Set("state", "not-the-state")
					return u.Path + "?" + q.Encode()
				}, login, http.StatusUnauthorized, "state is not this browser"},
				{"no flow cookie (another browser)", func(c *uitest.Client, back string) string {
					c.SetCookie("tpx_signin", "")
					return back
				}, login, http.StatusUnauthorized, "no sign-in in progress"},
				{"a forged flow cookie", func(c *uitest.Client, back string) string {
					c.SetCookie("tpx_signin", "AAAA"+c.Cookie("tpx_signin")[4:])
					return back
				}, login, http.StatusUnauthorized, "not one tpx started"},
				{"a flow older than its lifetime", func(c *uitest.Client, back string) string {
					e.advance(signin.FlowLifetime + time.Second)
					return back
				}, login, http.StatusUnauthorized, "took longer than"},
				{"the provider's error", func(c *uitest.Client, back string) string {
					u, _ := url.Parse(back)
					return u.Path + "?" + url.Values{"state": {u.Query().Get("state")}, "error": {"access_denied"}, "error_description": {"the user said no"}}.Encode()
				}, login, http.StatusUnauthorized, "access_denied the user said no"},
				{"a wrong nonce", nil, withClaims(login, map[string]any{"nonce": "another-nonce"}), http.StatusUnauthorized, "nonce is not this sign-in"},
				{"no nonce", nil, withClaims(login, map[string]any{"nonce": oidctest.Omit}), http.StatusUnauthorized, "nonce is not this sign-in"},
				{"a wrong audience", nil, withClaims(login, map[string]any{"aud": "another-client"}), http.StatusUnauthorized, "audience"},
				{"an expired ID token", nil, withClaims(login, map[string]any{"exp": time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC).Unix()}), http.StatusUnauthorized, "expired"},
				{"another issuer", nil, withClaims(login, map[string]any{"iss": "https://evil.example.org"}), http.StatusUnauthorized, "issued by a different provider"},
				{"the provider down when the code is traded", func(c *uitest.Client, back string) string {
					e.idp.Stop()
					e.t.Cleanup(e.idp.Start)
					return back
				}, login, http.StatusServiceUnavailable, "cannot be reached"},
			} {
				t.Run(c.name, func(t *testing.T) {
					e.idp.Start()
					before := e.stored("sub-new", "sub-alice")
					v := uitest.New(t, e.url)
					v.Get("/account/login")
					back := e.toProvider(v, c.login, "/account/login/index")
					if c.tamper != nil {
						back = c.tamper(v, back)
					}
					r := v.Get(back)
					if r.Status != c.status || !strings.Contains(r.Body, c.says) {
						t.Fatalf("callback: %d, want %d saying %q: %.800s", r.Status, c.status, c.says, r.Body)
					}
					if after := e.stored("sub-new", "sub-alice"); after != before {
						t.Fatalf("a refused sign-in changed the store:\n%s\nwas\n%s", after, before)
					}
					if who := e.loggedInAs(v); who != "" {
						t.Fatalf("logged in as %s", who)
					}
				})
			}
		})

		t.Run("A code is traded once: its replay is refused by the provider and logs nobody in", func(t *testing.T) {
			e := newIdPEnv(t, b, nil, nil)
			e.adminUser("alice", "sub-alice", false)
			c := uitest.New(t, e.url)
			c.Get("/account/login")
			back := e.toProvider(c, oidctest.Login{Subject: "sub-alice", Email: "alice@example.org", EmailVerified: true}, "/account/login/index")
			flow := c.Cookie("tpx_signin")
			if r := c.Get(back); r.Status != http.StatusSeeOther {
				t.Fatalf("first use: %d %.300s", r.Status, r.Body)
			}
			if c.Cookie("tpx_signin") != "" {
				t.Fatal("the flow cookie outlived its sign-in")
			}
			// Whoever kept the cookie and the answer (a shared computer, a log) replays both.
			attacker := uitest.New(t, e.url)
			attacker.Get("/account/login")
			attacker.SetCookie("tpx_signin", flow)
			tokens := e.idp.TokenRequests()
			r := attacker.Get(back)
			if r.Status != http.StatusUnauthorized || !strings.Contains(r.Body, "invalid_grant") {
				t.Fatalf("replay: %d %.500s", r.Status, r.Body)
			}
			if e.idp.TokenRequests() != tokens+1 || e.loggedInAs(attacker) != "" {
				t.Fatalf("replay logged in as %q", e.loggedInAs(attacker))
			}
		})

		t.Run("The provider down at the start of a sign-in is a clear refusal, asked again only after a pause", func(t *testing.T) {
			e := newIdPEnv(t, b, func(cfg *account.Config) { cfg.Signup = account.SignupOpen }, nil)
			e.idp.SetDiscoveryHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			}))
			c := uitest.New(t, e.url)
			c.Get("/account/login")
			for i := 0; i < 3; i++ {
				r := c.Get("/account/login/index")
				if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, "cannot be reached") || c.Cookie("tpx_signin") != "" {
					t.Fatalf("start %d with the provider down: %d %.500s", i, r.Status, r.Body)
				}
			}
			if n := e.idp.DiscoveryFetches(); n != 1 {
				t.Fatalf("the provider was asked %d times within %v of a failure", n, signin.RetryAfter)
			}
			e.idp.SetDiscoveryHandler(nil)
			e.advance(signin.RetryAfter)
			if _, r := e.signIn(oidctest.Login{Subject: "s", Email: "back@example.org", EmailVerified: true}); r.Status != http.StatusSeeOther {
				t.Fatalf("sign-in once the provider is back: %d %.300s", r.Status, r.Body)
			}
		})

		t.Run("The redirect after sign-in is a local path only", func(t *testing.T) {
			e := newIdPEnv(t, b, func(cfg *account.Config) { cfg.Signup = account.SignupOpen }, []string{"otp"})
			e.adminUser("alice", "sub-alice", true)
			for _, next := range []string{"//evil.example.org/x", "https://evil.example.org/", "/\\evil.example.org", "/projects/../../x"} {
				c := uitest.New(t, e.url)
				c.Get("/account/login")
				r := c.Get(e.toProvider(c, oidctest.Login{Subject: "sub-alice", Email: "alice@example.org", EmailVerified: true, AMR: []string{"otp"}},
					"/account/login/index?next="+url.QueryEscape(next)))
				if r.Status != http.StatusSeeOther || r.Location != "/projects" {
					t.Fatalf("next %q: %d %s", next, r.Status, r.Location)
				}
			}
			c := uitest.New(t, e.url)
			c.Get("/account/login")
			r := c.Get(e.toProvider(c, oidctest.Login{Subject: "sub-alice", Email: "alice@example.org", EmailVerified: true, AMR: []string{"otp"}},
				"/account/login/index?next="+url.QueryEscape("/account")))
			if r.Location != "/account" {
				t.Fatalf("a local next: %s", r.Location)
			}
		})
	})
}

func withClaims(l oidctest.Login, claims map[string]any) oidctest.Login {
	l.Claims = claims
	return l
}

func auditText(evs []store.AuditEvent) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(e.Action + ": " + e.Detail + "\n")
	}
	return b.String()
}

// TestSignInSecondFactorFromTheProvider: the provider's amr counts as tpx's second factor
// only when the operator chose its values, and a tpx factor must still be enrolled.
func TestSignInSecondFactorFromTheProvider(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		for _, c := range []struct {
			name    string
			counts  []string
			amr     []string
			skipped bool // the TOTP step is skipped
		}{
			{"Without the setting, amr mfa counts for nothing", nil, []string{"mfa"}, false},
			{"With otp counted, amr pwd+otp passes the second factor", []string{"otp", "hwk"}, []string{"pwd", "otp"}, true},
			{"With otp counted, amr pwd alone does not", []string{"otp"}, []string{"pwd"}, false},
			{"With hwk counted, amr otp does not", []string{"hwk"}, []string{"otp"}, false},
		} {
			t.Run(c.name, func(t *testing.T) {
				e := newIdPEnv(t, b, nil, c.counts)
				e.adminUser("alice", "sub-alice", true)
				ctx := context.Background()
				if _, err := e.acc.IndexCreateProject(ctx, "sample", []string{"alice"}); err != nil {
					t.Fatal(err)
				}
				v, r := e.signIn(oidctest.Login{Subject: "sub-alice", Email: "alice@example.org", EmailVerified: true, AMR: c.amr})
				if skipped := r.Location == "/projects"; skipped != c.skipped {
					t.Fatalf("callback went to %s; TOTP step skipped %v, want %v", r.Location, skipped, c.skipped)
				}
				if !c.skipped {
					return
				}
				v.Get("/projects/sample")
				r = v.Post("/projects/sample/publishers", url.Values{"kind": {"github"}, "repository": {"octo-org/sample"}, "workflow": {"release.yml"}, "issuer": {providers.GitHubIssuer}})
				if r.Status != http.StatusSeeOther {
					t.Fatalf("adding a publisher after a sign-in with the provider's second factor: %d %.500s", r.Status, r.Body)
				}
				pubs, err := e.st.ListPublishers(ctx, 0)
				if err != nil || len(pubs) != 1 || pubs[0].Kind != policy.GitHub {
					t.Fatalf("publishers %v %v", pubs, err)
				}
			})
		}
		t.Run("A user without a tpx factor still enrols one, whatever the provider's amr", func(t *testing.T) {
			e := newIdPEnv(t, b, nil, []string{"mfa"})
			e.adminUser("alice", "sub-alice", false)
			v, r := e.signIn(oidctest.Login{Subject: "sub-alice", Email: "alice@example.org", EmailVerified: true, AMR: []string{"mfa"}})
			if r.Location != "/account/two-factor" {
				t.Fatalf("callback went to %s", r.Location)
			}
			if got := v.Get("/projects"); got.Location != "/account/two-factor" {
				t.Fatalf("projects page: %d %s", got.Status, got.Location)
			}
		})
	})
}

func TestPasswordLoginOff(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newIdPEnv(t, b, func(cfg *account.Config) { cfg.NoPasswordLogin = true }, nil)
		e.user("alice", false)
		c := uitest.New(t, e.url)
		page := c.Get("/account/login")
		if strings.Contains(page.Body, `name="password"`) || !strings.Contains(page.Body, "Sign in with Test Index") {
			t.Fatalf("login page with password login off: %.1000s", page.Body)
		}
		// The page has no form to take a CSRF token from; a forger would compute none, but
		// the test derives it as the server does, so that the password itself is refused.
		r := c.Post("/account/login", url.Values{"username": {"alice"}, "password": {testPassword}, "csrf": {csrfToken(c.Cookie("tpx_session"))}})
		if r.Status != http.StatusForbidden || e.loggedInAs(c) != "" {
			t.Fatalf("password login: %d %s", r.Status, r.Location)
		}
		if !strings.Contains(r.Body, "Password login is off") {
			t.Fatalf("password login refused without a reason: %.500s", r.Body)
		}
		r = c.Post("/account/signup", url.Values{"username": {"walkin"}, "email": {"walkin@example.org"}, "password": {testPassword}, "password2": {testPassword}, "csrf": {csrfToken(c.Cookie("tpx_session"))}})
		if r.Status != http.StatusForbidden || exists(e.uiEnv, "walkin") {
			t.Fatalf("password sign-up with password login off: %d", r.Status)
		}
		if _, err := e.acc.Login(context.Background(), "alice", testPassword); !errors.Is(err, account.ErrPasswordLoginOff) {
			t.Fatalf("account.Login with password login off: %v", err)
		}

		on := newIdPEnv(t, b, nil, nil)
		if page := uitest.New(t, on.url).Get("/account/login"); !strings.Contains(page.Body, `name="password"`) || !strings.Contains(page.Body, "Sign in with Test Index") {
			t.Fatalf("login page with both: %.1000s", page.Body)
		}
		if page := uitest.New(t, newUIEnv(t, b, "127.0.0.1").url).Get("/account/login"); strings.Contains(page.Body, "Sign in with") {
			t.Fatal("the login page offers a provider none is configured")
		}
	})
}
