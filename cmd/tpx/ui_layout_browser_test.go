package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/protocol"
	"github.com/tpx-dev/tpx/signin"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/verify"
	"github.com/tpx-dev/tpx/web"
)

// axeSource finds axe-core's browser bundle: TPX_AXE_JS, or the npm package axe-core
// installed globally (.ci/run installs it). Without it the accessibility checks skip,
// except in CI, where a skip would hide a gap.
func axeSource(t *testing.T) string {
	t.Helper()
	var paths []string
	if p := os.Getenv("TPX_AXE_JS"); p != "" {
		paths = append(paths, p)
	}
	if out, err := exec.Command("npm", "root", "-g").Output(); err == nil {
		paths = append(paths, filepath.Join(strings.TrimSpace(string(out)), "axe-core", "axe.min.js"))
	}
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			return string(b)
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("axe-core not found, and CI=true: .ci/run must install the npm package axe-core")
	}
	t.Skip("axe-core not found: npm install -g axe-core, or set TPX_AXE_JS to axe.min.js")
	return ""
}

// view sets the viewport width and the color scheme the page is drawn for.
func (b *browser) view(width int64, scheme string) {
	b.t.Helper()
	b.do(fmt.Sprintf("view %d px %s", width, scheme), chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: width, Height: 900, DeviceScaleFactor: 1, Mobile: width < 600}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		return err
	}))
}

// layoutProblems lists what is wrong with the page's layout: a table header that wraps
// inside a word ("I d", "gith ub"), a page wider than the window, a table taller than
// tall a page should let one grow for a few rows. The window is the width the page is
// laid out in, the root's clientWidth: a phone zooms a page wider than that out to fit,
// and window.innerWidth grows with the page.
const layoutProblems = `(() => {
  const out = [];
  for (const th of document.querySelectorAll('th')) {
    // A header hidden from sight (a narrow screen's stacked rows label each cell) is
    // not drawn, so not wrapped.
    if (th.offsetWidth <= 2 || getComputedStyle(th).visibility === 'hidden') continue;
    const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
    let n;
    while ((n = walker.nextNode())) {
      const re = /\S+/g; let m;
      while ((m = re.exec(n.textContent))) {
        const r = document.createRange();
        r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length);
        const lines = new Set([...r.getClientRects()].map(x => Math.round(x.top)));
        if (lines.size > 1) out.push('header word "' + m[0] + '" wraps over ' + lines.size + ' lines');
      }
    }
  }
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1)
    out.push('the page is ' + doc.scrollWidth + ' px wide in a ' + doc.clientWidth + ' px window');
  for (const t of document.querySelectorAll('table')) {
    const h = t.getBoundingClientRect().height;
    if (h > 60 + 400 * t.querySelectorAll('tbody tr').length) out.push('table ' + (t.id || '') + ' is ' + Math.round(h) + ' px tall');
  }
  return out;
})()`

// axeRun runs axe-core on the page and returns its serious and critical violations.
const axeRun = `axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(
  r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
   .map(v => v.impact + ' ' + v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', '))))`

// accessible checks the current page with axe-core.
func (b *browser) accessible(axe, what string) []string {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[any](axe+";0")); err != nil {
		b.t.Fatalf("injecting axe-core: %v", err)
	}
	raw, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](axeRun, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("axe on %s: %v", what, err)
	}
	var found []string
	if err := json.Unmarshal([]byte(raw), &found); err != nil {
		b.t.Fatal(err)
	}
	return found
}

// layoutBrowser starts the browser of the layout tests, which may run the tests' scripts
// on the pages, and finds axe-core.
func layoutBrowser(t *testing.T) (*browser, string) {
	t.Helper()
	axe := axeSource(t)
	b := newBrowser(t)
	b.do("scripts of the tests may run on the pages", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.SetBypassCSP, page.SetBypassCSPParams{Enabled: true})
		return err
	}))
	return b, axe
}

// checkLayout draws each of paths of the site at base, once ready is visible, at 390 px
// and 1280 px, light and dark, and reports its layout problems and axe-core's violations.
func (b *browser) checkLayout(base, axe string, paths []string, ready string) {
	b.t.Helper()
	for _, p := range paths {
		for _, width := range []int64{390, 1280} {
			for _, scheme := range []string{"light", "dark"} {
				b.view(width, scheme)
				b.do("open "+p, chromedp.Navigate(base+p), chromedp.WaitVisible(css(ready)))
				b.shot(fmt.Sprintf("%s-%d-%s", strings.Trim(strings.ReplaceAll(p, "/", "_"), "_"), width, scheme))
				problems, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](layoutProblems))
				if err != nil {
					b.t.Fatal(err)
				}
				for _, pr := range problems {
					b.t.Errorf("%s at %d px, %s: %s", p, width, scheme, pr)
				}
				for _, v := range b.accessible(axe, p) {
					b.t.Errorf("%s at %d px, %s: axe: %s", p, width, scheme, v)
				}
			}
		}
	}
}

// TestBrowserLayoutAndAccessibility draws the owner's pages at 390 px (a phone) and
// 1280 px, light and dark: no table header wraps inside a word, no page is wider than
// its window, and axe-core finds no serious or critical violation on any page.
func TestBrowserLayoutAndAccessibility(t *testing.T) {
	t.Parallel()
	be := backends()[0]
	base, st := browserServer(t, be, "127.0.0.1")
	b, axe := layoutBrowser(t)
	ctx := context.Background()

	anonymous := []string{"/", "/account/login", "/account/signup", "/nosuchpage"}
	check := func(paths []string, ready string) { b.checkLayout(base, axe, paths, ready) }
	check(anonymous, "main")

	b.view(1280, "light")
	b.signUp(base, "layout-owner", browserPassword)
	check([]string{"/account/two-factor"}, "main")
	b.do("start TOTP enrolment", chromedp.Click(css("#enrol-totp")), chromedp.WaitVisible(css("#totp-secret")))
	check([]string{"/account/totp"}, "#totp-secret")
	secret := b.text("#totp-secret")
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.do("confirm TOTP", chromedp.SendKeys(css("#code"), code), chromedp.Submit(css("#code")), chromedp.WaitVisible(css("#recovery-codes")))
	for _, width := range []int64{390, 1280} {
		for _, scheme := range []string{"light", "dark"} {
			b.view(width, scheme)
			b.shot(fmt.Sprintf("recovery-codes-%d-%s", width, scheme))
			for _, v := range b.accessible(axe, "recovery codes") {
				t.Errorf("recovery codes at %d px, %s: axe: %s", width, scheme, v)
			}
		}
	}
	b.view(1280, "light")
	b.do("create a project", chromedp.Click(css("#codes-kept")), chromedp.Click(css("#codes-saved")), chromedp.WaitVisible(css("#name")),
		chromedp.SendKeys(css("#name"), "layout-project"), chromedp.Submit(css("#name")), chromedp.WaitVisible(css("#publishers")))

	owner, err := st.UserByName(ctx, "layout-owner")
	if err != nil {
		t.Fatal(err)
	}
	proj, err := st.ProjectByName(ctx, "layout-project")
	if err != nil {
		t.Fatal(err)
	}
	issuer := "https://token.actions.githubusercontent.com"
	for i, pub := range []policy.Publisher{
		{Kind: policy.GitHub, Owner: "octo-org", Name: "octo-repo", Workflow: "release.yml", Environment: "pypi"},
		{Kind: policy.GitHub, Owner: "a-rather-long-organisation-name", Name: "an-even-longer-repository-name-for-tests", Workflow: "publish-to-the-package-index.yml", OwnerID: "1234567", RepositoryID: "987654321"},
		{Kind: policy.GitHub, Owner: "octo-org", Name: "other", Workflow: "release.yml"},
	} {
		pub.Issuer = issuer
		if _, err := st.AddPublisher(ctx, store.Publisher{Publisher: pub, ProjectID: proj.ID, ProjectName: proj.Name, CreatedBy: owner.ID, CreatedAt: time.Now()}); err != nil {
			t.Fatalf("publisher %d: %v", i, err)
		}
	}
	if err := st.RecordFailedExchanges(ctx, []store.FailedExchange{{ProjectID: proj.ID, PublisherID: 1, At: time.Now(), Issuer: issuer,
		Repository: "octo-org/octo-repo", WorkflowRef: "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/feature/a-long-branch-name",
		Ref: "refs/heads/feature/a-long-branch-name", SHA: "0123456789abcdef0123456789abcdef01234567", RunID: "1234567890", Environment: "staging", Event: "push",
		Reason: "the job ran in the environment staging; the publisher accepts only pypi"}}); err != nil {
		t.Fatal(err)
	}
	projectPages := []string{"/projects", "/projects/layout-project", "/projects/layout-project?added=1", "/projects/layout-project?platform=github", "/account", "/account/pending", "/account/two-factor", "/account/password", "/account/reauthenticate",
		"/projects/layout-project/publishers/1/remove"}
	check(projectPages, "main")
}

// TestBrowserLayoutOfAnIndex checks as TestBrowserLayoutAndAccessibility does the pages
// of an index that signs its owners in through its own OpenID provider and names
// projects by npm's rule, serving npm's and PyPI's clients: the login page with its
// "Sign in with" button, and the pages of a project whose scoped name is as long as real
// ones are, one with a CI configuration for each client.
func TestBrowserLayoutOfAnIndex(t *testing.T) {
	t.Parallel()
	be := backends()[0]
	idp := oidctest.New(t, oidctest.WithTLS())
	var secretKey string
	base, st := browserServerWith(t, be, "127.0.0.1", func(c *Config, base string) {
		secretKey = c.SecretKey
		c.Protocols, c.Names = []protocol.Protocol{protocol.NPM, protocol.PyPI}, verify.NPMNames
		c.OIDC = signin.Config{Issuer: idp.URL(), ClientID: "tpx", ClientSecret: "the client secret", Name: "the Example Package Registry"}
		idp.RegisterClient(oidctest.Client{ID: "tpx", Secret: "the client secret", RedirectURI: base + web.SignInCallbackPath})
	})
	box, err := secretbox.New(secretKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	accounts := account.New(account.Config{Store: st, Box: box, Names: verify.NPMNames})
	if _, err := accounts.CreateUser(ctx, "scoped-owner", "scoped-owner@example.org", browserPassword); err != nil {
		t.Fatal(err)
	}
	uri, err := accounts.EnrollTOTP(ctx, account.ViaOperator, "scoped-owner")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	// One word of 32 letters after the scope, as in @azure/arm-recoveryservicessiterecovery.
	const name = "@azure-layout-tests/arm-recoveryservicessiterecovery"
	if _, err := accounts.CreateProject(ctx, account.ViaOperator, name, "scoped-owner"); err != nil {
		t.Fatal(err)
	}
	if _, err := accounts.AddPublisher(ctx, account.Actor{Via: account.ViaOperator, UserName: "scoped-owner"}, name, policy.Publisher{
		Kind: policy.GitHub, Issuer: "https://token.actions.githubusercontent.com", Owner: "azure-layout-tests", Name: "arm-recoveryservicessiterecovery", Workflow: "publish.yml"}); err != nil {
		t.Fatal(err)
	}

	b, axe := layoutBrowser(t)
	b.checkLayout(base, axe, []string{"/account/login"}, "#signin-index")
	b.view(1280, "light")
	b.logIn(base, "scoped-owner", browserPassword)
	code, err := totp.GenerateCode(u.Query().Get("secret"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b.do("second factor", chromedp.SendKeys(css("#code"), code), chromedp.Submit(css("#code")), chromedp.WaitVisible(css("#projects")))
	seg := "/projects/" + url.PathEscape(name)
	b.checkLayout(base, axe, []string{"/projects"}, "#projects")
	b.checkLayout(base, axe, []string{seg}, "#publisher-table")
	b.checkLayout(base, axe, []string{seg + "?added=1"}, "#snippet-text-pypi")
	b.checkLayout(base, axe, []string{seg + "/publishers/1/remove"}, "#confirm-remove")
}
