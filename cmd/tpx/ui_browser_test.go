package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/store"
)

// chromium finds a Chromium or Chrome binary. Without one the browser tests skip, except
// in CI (CI=true), where .ci/run installs Debian's chromium and a skip would hide a gap.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium binary found, and CI=true: .ci/run must install Debian's chromium")
	}
	t.Skip("no chromium binary found (chromium, chromium-browser, google-chrome): install Debian's chromium to run the browser tests")
	return ""
}

// browserServer runs tpx as serve wires it, reached at http://host:port, with one GitHub
// test issuer.
func browserServer(t *testing.T, b backend, host string) (string, store.Store) {
	t.Helper()
	return browserServerWith(t, b, host, nil)
}

// browserServerWith is browserServer with the configuration changed by edit, which is
// given the server's base URL; the server trusts the test issuers' HTTPS certificates.
func browserServerWith(t *testing.T, b backend, host string, edit func(c *Config, base string)) (string, store.Store) {
	t.Helper()
	gh := oidctest.New(t)
	st, _ := b.open(t)
	srv := httptest.NewUnstartedServer(nil)
	base := fmt.Sprintf("http://%s:%d", host, srv.Listener.Addr().(*net.TCPAddr).Port)
	cfg := Config{Addr: srv.Listener.Addr().String(), PublicURL: base, Audience: "tpx", TokenTTL: 15 * time.Minute,
		SecretKey: strings.Repeat("k", 32), Providers: []providers.IssuerConfig{{Kind: policy.GitHub, Issuer: gh.URL()}}}
	if edit != nil {
		edit(&cfg, base)
	}
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &bytes.Buffer{}}, nil))
	svc, err := build(context.Background(), cfg, wiring{store: st, log: log, client: providers.HardenedClient(oidctest.RootCAs())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.set.Close)
	srv.Config.Handler = svc.handler
	srv.Start()
	t.Cleanup(srv.Close)
	return base, st
}

// browser is a headless Chromium tab; the screenshots of the main pages it took are
// written to the test's temporary directory (or TPX_SCREENSHOT_DIR) if the test fails, or
// always when TPX_SCREENSHOT_DIR is set.
type browser struct {
	t     *testing.T
	ctx   context.Context
	shots map[string][]byte
	order []string
	// prefix starts the names of this browser's screenshot files, when a test has two.
	prefix string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	return newBrowserWith(t)
}

// newBrowserWith is newBrowser with more Chromium options.
func newBrowserWith(t *testing.T, more ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	bin := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1024),
	}
	opts = append(opts, more...)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(alloc)
	if err := chromedp.Do(ctx); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("starting %s: %v", bin, err)
	}
	b := &browser{t: t, shots: map[string][]byte{}}
	// Every step together gets five minutes, enough for the longest test on a busy machine
	// with other tests beside it; a hung page fails the test instead of CI.
	var cancelRun context.CancelFunc
	b.ctx, cancelRun = context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() {
		b.saveShots()
		cancelRun()
		cancelTab()
		cancelAlloc()
	})
	return b
}

// other returns a second browser in the same Chromium that shares nothing with b (its own
// browser context: cookies, storage): another person at another computer.
func (b *browser) other(prefix string) *browser {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		b.t.Fatalf("a second browser context: %v", err)
	}
	o := &browser{t: b.t, ctx: ctx, shots: map[string][]byte{}, prefix: prefix}
	b.t.Cleanup(func() {
		o.saveShots()
		cancel()
	})
	return o
}

// do runs steps, failing the test with the step's name.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.shot("failed-" + what)
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.shot("failed-text")
		b.t.Fatalf("reading %s: %v", sel, err)
	}
	return s
}

func (b *browser) location() string {
	b.t.Helper()
	l, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return l
}

// shot keeps a screenshot of the current page under name.
func (b *browser) shot(name string) {
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.shots[name] = png
	b.order = append(b.order, name)
}

func (b *browser) saveShots() {
	dir := os.Getenv("TPX_SCREENSHOT_DIR")
	if dir == "" {
		if !b.t.Failed() {
			return
		}
		dir = b.t.TempDir()
	} else {
		dir = filepath.Join(dir, strings.ReplaceAll(b.t.Name(), "/", "_"))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Log(err)
		return
	}
	for i, name := range b.order {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s%02d-%s.png", b.prefix, i+1, name)), b.shots[name], 0o644); err != nil {
			b.t.Log(err)
		}
	}
	b.t.Logf("screenshots of the main pages: %s", dir)
}

func css(s string) chromedp.CSS { return chromedp.CSS(s) }

// signUp fills the sign-up form and waits for the enrolment page.
func (b *browser) signUp(base, name, password string) {
	b.t.Helper()
	b.do("sign up",
		chromedp.Navigate(base+"/account/signup"),
		chromedp.SendKeys(css("#username"), name),
		chromedp.SendKeys(css("#email"), name+"@example.org"),
		chromedp.SendKeys(css("#password"), password),
		chromedp.SendKeys(css("#password2"), password),
		chromedp.Submit(css("#password2")),
		chromedp.WaitVisible(css("#enrol-first")),
	)
	b.shot("enrol")
}

// logIn fills the login form and waits for the second step.
func (b *browser) logIn(base, name, password string) {
	b.t.Helper()
	b.do("log in",
		chromedp.Navigate(base+"/account/login"),
		chromedp.SendKeys(css("#username"), name),
		chromedp.SendKeys(css("#password"), password),
		chromedp.Submit(css("#password")),
		chromedp.WaitVisible(css("#recovery")),
	)
	b.shot("second-factor")
}

const browserPassword = "plum ferry lantern october"

// TestBrowserTOTP walks a new owner through the pages in Chromium: sign up, forced TOTP
// enrolment (codes computed from the secret the page shows), recovery codes, a project, a
// GitHub publisher, logging out and in again with a code, and removing the publisher.
func TestBrowserTOTP(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be backend) {
		base, st := browserServer(t, be, "127.0.0.1")
		b := newBrowser(t)
		b.signUp(base, "ada", browserPassword)
		b.do("a page other than enrolment sends back to enrolment",
			chromedp.Navigate(base+"/projects"), chromedp.WaitVisible(css("#enrol-first")))
		b.do("start TOTP enrolment", chromedp.Click(css("#enrol-totp")), chromedp.WaitVisible(css("#totp-secret")))
		b.shot("totp")
		secret := b.text("#totp-secret")
		enrolledAt := time.Now()
		code, err := totp.GenerateCode(secret, enrolledAt)
		if err != nil {
			t.Fatal(err)
		}
		b.do("confirm TOTP", chromedp.SendKeys(css("#code"), code), chromedp.Submit(css("#code")), chromedp.WaitVisible(css("#recovery-codes")))
		b.shot("recovery-codes")
		if n := strings.Count(b.text("#recovery-codes"), "-") / 3; n != 8 {
			t.Fatalf("%d recovery codes shown, want 8", n)
		}
		b.do("create a project",
			chromedp.Click(css("#codes-kept")), chromedp.Click(css("#codes-saved")), chromedp.WaitVisible(css("#name")),
			chromedp.SendKeys(css("#name"), "browserproject"), chromedp.Submit(css("#name")),
			chromedp.WaitVisible(css("#no-publishers")))
		b.do("a wrong workflow gets its message next to the field",
			chromedp.SendKeys(css("#github-repository"), "octo-org/octo-repo"),
			chromedp.SendKeys(css("#github-workflow"), ".github/workflows/release.yml"),
			chromedp.Submit(css("#github-workflow")),
			chromedp.WaitVisible(css("#github-workflow-error")))
		b.shot("publisher-error")
		b.do("add a GitHub publisher",
			chromedp.Clear(css("#github-workflow")), chromedp.SendKeys(css("#github-workflow"), "release.yml"),
			chromedp.Submit(css("#github-workflow")),
			chromedp.WaitVisible(css("#publisher-table")))
		b.shot("project")
		if row := b.text("#publisher-table tbody"); !strings.Contains(row, "octo-org/octo-repo") || !strings.Contains(row, "pinned on first use") || !strings.Contains(row, "ada") {
			t.Fatalf("publisher row: %q", row)
		}
		b.do("log out", chromedp.Click(css("#logout")), chromedp.WaitVisible(css(`a[href="/account/signup"]`)))
		b.logIn(base, "ada", browserPassword)
		// The enrolment's code is spent: the next step's is the one a phone would show next.
		next, err := totp.GenerateCode(secret, enrolledAt.Add(30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		b.do("second factor", chromedp.SendKeys(css("#code"), next), chromedp.Submit(css("#code")), chromedp.WaitVisible(css("#projects")))
		b.shot("projects")
		b.do("remove the publisher",
			chromedp.Navigate(base+"/projects/browserproject"),
			chromedp.Click(css(`#publisher-table a[href$="/remove"]`)),
			chromedp.WaitVisible(css("#confirm-remove")))
		b.shot("remove-confirmation")
		b.do("confirm the removal", chromedp.Click(css("#confirm-remove")), chromedp.WaitVisible(css("#no-publishers")))
		p, err := st.ProjectByName(context.Background(), "browserproject")
		if err != nil {
			t.Fatal(err)
		}
		if pubs, err := st.ListPublishers(context.Background(), p.ID); err != nil || len(pubs) != 0 {
			t.Fatalf("publishers left: %v %v", pubs, err)
		}
		b.do("account page", chromedp.Navigate(base+"/account"), chromedp.WaitVisible(css("#pending")))
		b.shot("account")
	})
}

// TestBrowserSecurityKey enrols a security key through Chrome's virtual authenticator
// and logs in with it. Security keys need a domain name, so tpx is reached at localhost.
func TestBrowserSecurityKey(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, be backend) {
		base, st := browserServer(t, be, "localhost")
		b := newBrowser(t)
		b.do("virtual authenticator", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
				return err
			}
			_, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportUsb,
				HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
			}})
			return err
		}))
		b.signUp(base, "grace", browserPassword)
		b.do("open the key page", chromedp.Click(css("#add-key")), chromedp.WaitVisible(css("#register-key")))
		b.shot("add-key")
		b.do("register the key",
			chromedp.Clear(css("#name")), chromedp.SendKeys(css("#name"), "virtual key"),
			chromedp.Click(css("#register-key")), chromedp.WaitVisible(css("#recovery-codes")))
		b.do("log out", chromedp.Click(css("#codes-kept")), chromedp.Click(css("#codes-saved")), chromedp.WaitVisible(css("#name")),
			chromedp.Click(css("#logout")), chromedp.WaitVisible(css(`a[href="/account/signup"]`)))
		b.logIn(base, "grace", browserPassword)
		b.do("log in with the key", chromedp.Click(css("#use-key")), chromedp.WaitVisible(css("#name")))
		if l := b.location(); !strings.HasSuffix(l, "/projects") {
			t.Fatalf("after the key: %s", l)
		}
		b.do("second factors page", chromedp.Navigate(base+"/account/two-factor"), chromedp.WaitVisible(css("#keys")))
		b.shot("two-factor")
		u, err := st.UserByName(context.Background(), "grace")
		if err != nil {
			t.Fatal(err)
		}
		keys, err := st.WebAuthnCredentials(context.Background(), u.ID)
		if err != nil || len(keys) != 1 || keys[0].Name != "virtual key" || keys[0].LastUsedAt == nil {
			t.Fatalf("keys: %+v %v", keys, err)
		}
	})
}
