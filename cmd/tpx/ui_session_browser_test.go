package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// TestBrowserSessionFromBeforeEnrolment is the attack of the first UI review, in two
// browsers that share nothing: Mallory logs in with Alice's password while Alice has no
// second factor yet; Alice then enrols TOTP in her own browser. Mallory's session must be
// over: no projects, no recovery codes, no security key of her own.
func TestBrowserSessionFromBeforeEnrolment(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be backend) {
		base, st := browserServer(t, be, "127.0.0.1")
		alice := newBrowser(t)
		alice.prefix = "alice-"
		mallory := alice.other("mallory-")

		alice.signUp(base, "alice", browserPassword)
		mallory.do("Mallory logs in with the password alone",
			chromedp.Navigate(base+"/account/login"),
			chromedp.SendKeys(css("#username"), "alice"),
			chromedp.SendKeys(css("#password"), browserPassword),
			chromedp.Submit(css("#password")),
			chromedp.WaitVisible(css("#enrol-first")))
		mallory.shot("before-enrolment")

		alice.do("Alice enrols TOTP", chromedp.Click(css("#enrol-totp")), chromedp.WaitVisible(css("#totp-secret")))
		code, err := totp.GenerateCode(alice.text("#totp-secret"), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		alice.do("Alice confirms the code", chromedp.SendKeys(css("#code"), code), chromedp.Submit(css("#code")), chromedp.WaitVisible(css("#recovery-codes")))
		alice.shot("recovery-codes")

		for _, page := range []string{"/projects", "/account", "/account/two-factor", "/account/webauthn/new", "/account/totp"} {
			mallory.do("Mallory opens "+page, chromedp.Navigate(base+page), chromedp.WaitVisible(css("#password")))
			if l := mallory.location(); !strings.Contains(l, "/account/login") {
				t.Fatalf("Mallory's %s ended at %s, want the login page", page, l)
			}
		}
		mallory.shot("after-enrolment")
		mallory.do("Mallory's password alone now leads to the second step only",
			chromedp.SendKeys(css("#username"), "alice"),
			chromedp.SendKeys(css("#password"), browserPassword),
			chromedp.Submit(css("#password")),
			chromedp.WaitVisible(css("#recovery")))
		mallory.do("and the second step's page opens nothing else", chromedp.Navigate(base+"/projects"), chromedp.WaitVisible(css("#password")))

		alice.do("Alice's own session goes on", chromedp.Click(css("#codes-kept")), chromedp.Click(css("#codes-saved")), chromedp.WaitVisible(css("#name")))
		u, err := st.UserByName(context.Background(), "alice")
		if err != nil {
			t.Fatal(err)
		}
		sessions, err := st.UserSessions(context.Background(), u.ID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		full := 0
		for _, s := range sessions {
			if s.Stage == "full" {
				full++
				if !s.Factor.SecondFactor() {
					t.Fatalf("a full session passed %s only", s.Factor)
				}
			}
		}
		if full != 1 {
			t.Fatalf("%d full sessions of alice, want her own", full)
		}
		if left, _ := st.RecoveryCodesLeft(context.Background(), u.ID); left != 8 {
			t.Fatalf("%d recovery codes left: Mallory changed them", left)
		}
	})
}
