package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/uitest"
)

// signUp posts the sign-up form as a visitor, with an invitation token if given.
func signUp(e *uiEnv, name, email, invitation string) uitest.Response {
	c := uitest.New(e.t, e.url)
	c.Get("/account/login")
	form := url.Values{"username": {name}, "email": {email}, "password": {testPassword}, "password2": {testPassword}}
	if invitation != "" {
		form.Set("invitation", invitation)
	}
	return c.Post("/account/signup", form)
}

func exists(e *uiEnv, name string) bool {
	_, err := e.st.UserByName(context.Background(), name)
	return err == nil
}

func TestUISignupModes(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		for _, c := range []struct {
			name      string
			mode      account.SignupMode
			page      int // GET /account/signup without an invitation
			signup    bool
			linkShown bool
		}{
			{"With TPX_SIGNUP=open anyone signs up and pages offer it", account.SignupOpen, http.StatusOK, true, true},
			{"With TPX_SIGNUP=invite nobody signs up without an invitation and pages do not offer it", account.SignupInvite, http.StatusForbidden, false, false},
			{"With TPX_SIGNUP=closed nobody signs up on the web", account.SignupClosed, http.StatusForbidden, false, false},
		} {
			t.Run(c.name, func(t *testing.T) {
				e := newUIEnvWith(t, b, "127.0.0.1", func(cfg *account.Config) { cfg.Signup = c.mode })
				v := uitest.New(t, e.url)
				if r := v.Get("/account/signup"); r.Status != c.page {
					t.Fatalf("sign-up page: %d, want %d", r.Status, c.page)
				}
				login := v.Get("/account/login")
				if shown := strings.Contains(login.Body, `href="/account/signup"`); shown != c.linkShown {
					t.Fatalf("login page offers sign-up: %v, want %v", shown, c.linkShown)
				}
				r := signUp(e, "walkin", "walkin@example.org", "")
				if exists(e, "walkin") != c.signup {
					t.Fatalf("sign-up without an invitation: %d, user created %v, want %v", r.Status, !c.signup, c.signup)
				}
				if !c.signup && r.Status != http.StatusForbidden {
					t.Fatalf("refused sign-up answered %d", r.Status)
				}
			})
		}

		t.Run("An invitation signs up one account with its address, once", func(t *testing.T) {
			e := newUIEnvWith(t, b, "127.0.0.1", func(cfg *account.Config) { cfg.Signup = account.SignupInvite })
			link, _, err := e.acc.InviteSignup(context.Background(), account.Actor{Via: account.ViaOperator}, "carol@example.org")
			if err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(link)
			token := u.Query().Get("invitation")
			page := uitest.New(t, e.url).Get("/account/signup?invitation=" + url.QueryEscape(token))
			if page.Status != http.StatusOK || !strings.Contains(page.Body, `value="carol@example.org"`) {
				t.Fatalf("invited sign-up page: %d", page.Status)
			}
			if r := uitest.New(t, e.url).Get("/account/signup?invitation=wrong"); r.Status != http.StatusForbidden {
				t.Fatalf("a wrong token: %d", r.Status)
			}
			if r := signUp(e, "mallory", "mallory@example.org", token); r.Status != http.StatusUnprocessableEntity || exists(e, "mallory") {
				t.Fatalf("an invitation used for another address: %d", r.Status)
			}
			if r := signUp(e, "carol", "carol@example.org", token); r.Status != http.StatusSeeOther || !exists(e, "carol") {
				t.Fatalf("the invited sign-up: %d %.300s", r.Status, r.Body)
			}
			if r := signUp(e, "carol2", "carol@example.org", token); r.Status != http.StatusForbidden || exists(e, "carol2") {
				t.Fatalf("the invitation used twice: %d", r.Status)
			}
		})
	})
}

func TestUIManagedProjects(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		for _, c := range []struct {
			name   string
			mode   account.ProjectsMode
			create bool
		}{
			{"With TPX_PROJECTS=open an owner creates a project from the projects page", account.ProjectsOpen, true},
			{"With TPX_PROJECTS=managed the projects page offers no creation, and a forged form is refused", account.ProjectsManaged, false},
		} {
			t.Run(c.name, func(t *testing.T) {
				e := newUIEnvWith(t, b, "127.0.0.1", func(cfg *account.Config) { cfg.Projects = c.mode })
				secret := e.user("alice", true)
				cl := e.login("alice", secret)
				page := cl.Get("/projects")
				if offered := strings.Contains(page.Body, `action="/projects"`); offered != c.create {
					t.Fatalf("projects page offers creation: %v, want %v", offered, c.create)
				}
				r := cl.Post("/projects", url.Values{"name": {"requests"}})
				_, err := e.st.ProjectByName(context.Background(), "requests")
				if (err == nil) != c.create {
					t.Fatalf("POST /projects: %d; project created: %v", r.Status, err == nil)
				}
				if !c.create && (r.Status != http.StatusForbidden || !strings.Contains(r.Body, "package index")) {
					t.Fatalf("refusal: %d %.300s", r.Status, r.Body)
				}
			})
		}
	})
}
