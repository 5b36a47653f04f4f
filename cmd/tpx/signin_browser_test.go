package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/signin"
	"github.com/tpx-dev/tpx/web"
)

// TestBrowserSignInThroughTheIndex: in Chromium, an owner the index created signs in
// through the index's OpenID provider (over HTTPS), is made to enrol TOTP, and then adds
// a publisher to the project the index gave them. Password login is off. One backend:
// the web tests run the same sign-in on both.
func TestBrowserSignInThroughTheIndex(t *testing.T) {
	t.Parallel()
	be := backends()[0] // SQLite
	idp := oidctest.New(t, oidctest.WithTLS())
	base, st := browserServerWith(t, be, "127.0.0.1", func(c *Config, base string) {
		c.Projects, c.Signup, c.PasswordLoginOff = account.ProjectsManaged, account.SignupClosed, true
		c.OIDC = signin.Config{Issuer: idp.URL(), ClientID: "tpx", ClientSecret: "the client secret", Name: "Example Index"}
		idp.RegisterClient(oidctest.Client{ID: "tpx", Secret: "the client secret", RedirectURI: base + web.SignInCallbackPath})
	})
	ctx := context.Background()
	accounts := account.New(account.Config{Store: st, Projects: account.ProjectsManaged})
	if _, err := accounts.IndexCreateUser(ctx, account.IndexUser{Name: "alice", Email: "alice@example.org", Issuer: idp.URL(), Subject: "index-user-17"}); err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.IndexCreateProject(ctx, "browserproject", []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	idp.SetLogin(oidctest.Login{Subject: "index-user-17", Email: "alice@example.org", EmailVerified: true})

	b := newBrowserWith(t, chromedp.Flag("ignore-certificate-errors", true))
	b.do("the login page offers the index, and no password",
		chromedp.Navigate(base+"/account/login"), chromedp.WaitVisible(css("#signin-index")))
	b.shot("login")
	if n, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll('input[type=password]').length`)); err != nil || n != 0 {
		t.Fatalf("password fields on the login page: %d %v", n, err)
	}
	b.do("sign in through the index", chromedp.Click(css("#signin-index")), chromedp.WaitVisible(css("#enrol-first")))
	b.shot("enrol")
	b.do("a management page sends back to enrolment",
		chromedp.Navigate(base+"/projects/browserproject"), chromedp.WaitVisible(css("#enrol-first")))
	b.do("start TOTP enrolment", chromedp.Click(css("#enrol-totp")), chromedp.WaitVisible(css("#totp-secret")))
	secret := b.text("#totp-secret")
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.do("confirm TOTP", chromedp.SendKeys(css("#code"), code), chromedp.Submit(css("#code")), chromedp.WaitVisible(css("#recovery-codes")))
	b.do("the projects page lists the index's project",
		chromedp.Click(css("#codes-kept")), chromedp.Click(css("#codes-saved")), chromedp.WaitVisible(css("#projects")))
	if got := b.text("#projects"); !strings.Contains(got, "browserproject") {
		t.Fatalf("projects: %q", got)
	}
	b.do("add a GitHub publisher",
		chromedp.Navigate(base+"/projects/browserproject"),
		chromedp.SendKeys(css("#github-repository"), "octo-org/octo-repo"),
		chromedp.SendKeys(css("#github-workflow"), "release.yml"),
		chromedp.Submit(css("#github-workflow")),
		chromedp.WaitVisible(css("#publisher-table")))
	b.shot("project")
	p, err := st.ProjectByName(ctx, "browserproject")
	if err != nil {
		t.Fatal(err)
	}
	if pubs, err := st.ListPublishers(ctx, p.ID); err != nil || len(pubs) != 1 || pubs[0].Repository() != "octo-org/octo-repo" {
		t.Fatalf("publishers: %v %v", pubs, err)
	}
}
