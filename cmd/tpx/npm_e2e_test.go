package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/protocol"
	"github.com/tpx-dev/tpx/verify"
)

// npmNginxConf is docs/deploy.md's nginx configuration for an npm registry, with the
// test's addresses: npm's exchange and tpx's keys go to tpx, everything else to the
// registry. proxy_pass without a path passes the request's path as it came, so a scoped
// name stays "@scope%2fname". TestDeployDocShowsTheTestedNPMConfiguration holds
// docs/deploy.md to it.
const npmNginxConf = `    location /-/npm/v1/oidc/ {
        proxy_pass http://TPX;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
    location = /.well-known/jwks.json {
        proxy_pass http://TPX;
    }
    location = /.well-known/openid-configuration {
        proxy_pass http://TPX;
    }
    location / {
        proxy_pass http://REGISTRY;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-Proto $scheme;
        client_max_body_size 100m;
    }
`

// repoRoot is the repository's top directory (this file is in cmd/tpx).
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// startVerdaccio runs the Verdaccio that integrations/verdaccio-tpx installs (npm ci
// there; .ci/run does it), with the tpx plugin trusting issuer, on listen, until the test
// ends.
func startVerdaccio(t *testing.T, listen, issuer string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		needed(t, "node (Debian: nodejs)")
	}
	plugins := filepath.Join(repoRoot(t), "integrations")
	bin := filepath.Join(plugins, "verdaccio-tpx", "node_modules", "verdaccio", "bin", "verdaccio")
	if _, err := os.Stat(bin); err != nil {
		needed(t, "Verdaccio (npm ci --prefix integrations/verdaccio-tpx)")
	}
	dir := t.TempDir()
	conf := fmt.Sprintf(`storage: %[1]s/storage
plugins: %[2]s
auth:
  tpx:
    issuer: %[3]s
  htpasswd:
    file: %[1]s/htpasswd
    max_users: -1
uplinks: {}
packages:
  '@*/*':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
  '**':
    access: $all
    publish: $authenticated
    unpublish: $authenticated
web:
  enable: false
log: {type: file, path: %[1]s/verdaccio.log, level: info}
`, dir, plugins, issuer)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	// One of Verdaccio's own users, ci (password "correct horse"), to show that requests
	// without a tpx token still reach Verdaccio's own authentication.
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte("ci:{SHA}L55TUjtiq8FBorTWAZ0jy6g129A=:autocreated 2026-01-01T00:00:00.000Z\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, bin, "--config", path, "--listen", "http://"+listen+"/")
	out, err := os.Create(filepath.Join(dir, "out.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			for _, f := range []string{"out.log", "verdaccio.log"} {
				b, _ := os.ReadFile(filepath.Join(dir, f))
				t.Logf("verdaccio %s:\n%s", f, b)
			}
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + listen + "/-/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "out.log"))
			t.Fatalf("Verdaccio did not start: %v\n%s", err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// npmJob is an unmodified npm CLI in a simulated GitHub Actions job: the environment a
// runner gives a job with `permissions: id-token: write`, its token endpoint served by
// the test issuer.
type npmJob struct {
	t        *testing.T
	npm      string
	registry string
	home     string
	actions  *oidctest.Actions
	// extra is added to the job's environment (NPM_ID_TOKEN).
	extra []string
}

// run runs npm args in dir and returns its combined output and whether it succeeded.
func (j *npmJob) run(dir string, args ...string) (string, bool) {
	j.t.Helper()
	cmd := exec.Command(j.npm, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + j.home,
		"npm_config_cache=" + filepath.Join(j.home, "cache"),
		"npm_config_userconfig=" + filepath.Join(j.home, ".npmrc"),
		"npm_config_registry=" + j.registry + "/",
		"npm_config_update_notifier=false",
		"npm_config_fund=false",
		"npm_config_audit=false",
		"CI=true",
		"GITHUB_ACTIONS=true",
		"ACTIONS_ID_TOKEN_REQUEST_URL=" + j.actions.URL(),
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + j.actions.RequestToken,
	}, j.extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
	c.Dir, c.Env = cmd.Dir, cmd.Env
	out, err := c.CombinedOutput()
	return string(out), err == nil
}

// pkg writes a package directory for name at version.
func (j *npmJob) pkg(name, version string) string {
	j.t.Helper()
	dir := j.t.TempDir()
	b, _ := json.Marshal(map[string]any{"name": name, "version": version, "main": "index.js", "license": "MIT",
		"publishConfig": map[string]string{"access": "public"}})
	if err := os.WriteFile(filepath.Join(dir, "package.json"), b, 0o644); err != nil {
		j.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.js"), []byte("module.exports = "+fmt.Sprintf("%q", version)+";\n"), 0o644); err != nil {
		j.t.Fatal(err)
	}
	return dir
}

// versions lists the versions of name the registry serves.
func (j *npmJob) versions(name string) []string {
	j.t.Helper()
	out, ok := j.run(j.t.TempDir(), "view", name, "versions", "--json")
	if !ok {
		if strings.Contains(out, "E404") {
			return nil
		}
		j.t.Fatalf("npm view %s: %s", name, out)
	}
	var vs []string
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &vs); err != nil {
		var one string
		if json.Unmarshal([]byte(strings.TrimSpace(out)), &one) != nil {
			j.t.Fatalf("npm view %s versions: %q", name, out)
		}
		vs = []string{one}
	}
	return vs
}

// TestNPMPublishesThroughNginxToVerdaccio runs the npm CLI, unmodified, as a GitHub
// Actions job publishing to a real Verdaccio behind nginx, routed as docs/deploy.md says:
// npm finds the exchange on the registry's host, gets a token from tpx for the package it
// publishes, and Verdaccio (with integrations/verdaccio-tpx) accepts it for that package.
func TestNPMPublishesThroughNginxToVerdaccio(t *testing.T) {
	t.Parallel()
	npm, err := exec.LookPath("npm")
	if err != nil {
		needed(t, "npm (Debian: npm)")
	}
	front, registryAddr := freeAddr(t), freeAddr(t)
	registry := "http://" + front // the registry's URL, and tpx's (TPX_PUBLIC_URL)
	h := serviceHarness(t, backend{"SQLite", openSQLite}, []*oidctest.Issuer{oidctest.New(t)}, func(c *Config) {
		c.PublicURL = registry
		c.Protocols = []protocol.Protocol{protocol.NPM}
		c.Names = verify.NPMNames
	}, nil, nil)
	npmNames := account.New(account.Config{Store: h.store, Box: h.svc.box, Names: verify.NPMNames})
	for _, name := range []string{"@acme/left-pad", "@acme/other"} {
		if _, err := npmNames.CreateProject(context.Background(), account.ViaOperator, name, "alice"); err != nil {
			t.Fatal(err)
		}
	}
	// octo-org/octo-repo's release.yml publishes @acme/left-pad; @acme/other has a
	// publisher for another repository.
	pub := h.github("@acme/left-pad", nil)
	h.github("@acme/other", func(p *policy.Publisher) { p.Name = "other-repo" })

	startVerdaccio(t, registryAddr, registry)
	startNginx(t, front, strings.NewReplacer("TPX", strings.TrimPrefix(h.url, "http://"), "REGISTRY", registryAddr).Replace(npmNginxConf))

	version, _ := exec.Command(npm, "--version").Output()
	var major, minor, patch int
	if _, err := fmt.Sscanf(string(version), "%d.%d.%d", &major, &minor, &patch); err != nil || major < 11 || (major == 11 && (minor < 5 || (minor == 5 && patch < 1))) {
		needed(t, fmt.Sprintf("npm 11.5.1 or later, which exchanges OIDC tokens (this is %s; npm install -g npm@11)", strings.TrimSpace(string(version))))
	}
	t.Logf("npm %s; node %s", strings.TrimSpace(string(version)), nodeVersion(t))

	// A public repository: npm asks the registry whether the package is public, to
	// attach provenance (which needs Sigstore); the registry's 404 makes it skip that.
	actions := h.gh.Actions(map[string]any{"repository_visibility": "public"})
	job := &npmJob{t: t, npm: npm, registry: registry, home: t.TempDir(), actions: actions}

	if resp, err := http.Get(registry + "/-/package/@acme%2fleft-pad/visibility"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /-/package/NAME/visibility through nginx: %v %v, want 404 so that npm skips provenance", resp, err)
	}

	t.Run("Verdaccio's own users still sign in: requests without a tpx token go to Verdaccio's authentication", func(t *testing.T) {
		for _, c := range []struct {
			password string
			signedIn bool
		}{{"correct horse", true}, {"wrong horse", false}} {
			req, _ := http.NewRequest(http.MethodGet, registry+"/-/whoami", nil)
			req.SetBasicAuth("ci", c.password)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if got := strings.Contains(strings.ReplaceAll(string(b), " ", ""), `"username":"ci"`); got != c.signedIn {
				t.Errorf("whoami as ci with %q: %d %s; signed in %v, want %v", c.password, resp.StatusCode, b, got, c.signedIn)
			}
		}
	})

	t.Run("npm in a GitHub Actions job publishes with a token from tpx, and the package installs", func(t *testing.T) {
		out, ok := job.run(job.pkg("@acme/left-pad", "1.0.0"), "publish", "--loglevel", "verbose")
		if !ok {
			t.Fatalf("npm publish failed:\n%s", out)
		}
		if !strings.Contains(out, "Successfully retrieved and set token") {
			t.Fatalf("npm did not use the exchange:\n%s", out)
		}
		if len(actions.Served()) != 1 {
			t.Fatalf("the job's token endpoint served %d tokens, want 1", len(actions.Served()))
		}
		consumer := t.TempDir()
		os.WriteFile(filepath.Join(consumer, "package.json"), []byte(`{"name": "consumer", "version": "1.0.0", "private": true}`), 0o644)
		if out, ok := job.run(consumer, "install", "@acme/left-pad@1.0.0"); !ok {
			t.Fatalf("npm install from the registry failed:\n%s", out)
		}
		b, err := os.ReadFile(filepath.Join(consumer, "node_modules", "@acme", "left-pad", "index.js"))
		if err != nil || !strings.Contains(string(b), `"1.0.0"`) {
			t.Fatalf("the installed package: %q, %v", b, err)
		}
	})

	refused := func(t *testing.T, name, version, why string, edit func(*npmJob)) {
		t.Helper()
		j := *job
		if edit != nil {
			edit(&j)
		}
		before := job.versions(name)
		out, ok := j.run(j.pkg(name, version), "publish", "--loglevel", "verbose")
		if ok {
			t.Fatalf("npm publish of %s@%s succeeded:\n%s", name, version, out)
		}
		if !regexp.MustCompile(why).MatchString(out) {
			t.Fatalf("npm's log does not say %q:\n%s", why, out)
		}
		if after := job.versions(name); strings.Join(after, ",") != strings.Join(before, ",") {
			t.Fatalf("a refused publish changed %s's versions from %v to %v", name, before, after)
		}
	}
	t.Run("a job of another repository is refused", func(t *testing.T) {
		actions.SetOverrides(map[string]any{"repository_visibility": "public", "repository": "evil/octo-repo", "repository_owner": "evil",
			"workflow_ref": "evil/octo-repo/.github/workflows/release.yml@refs/heads/main", "job_workflow_ref": "evil/octo-repo/.github/workflows/release.yml@refs/heads/main"})
		defer actions.SetOverrides(map[string]any{"repository_visibility": "public"})
		refused(t, "@acme/left-pad", "1.0.1", `Failed token exchange request with body message: valid token, but no trusted publisher`, nil)
	})
	t.Run("a replayed CI token is refused", func(t *testing.T) {
		first := actions.Served()[0]
		refused(t, "@acme/left-pad", "1.0.1", `Failed token exchange request with body message: this token was already exchanged`, func(j *npmJob) {
			j.extra = []string{"NPM_ID_TOKEN=" + first}
		})
	})
	t.Run("a package none of whose publishers match the job is refused", func(t *testing.T) {
		refused(t, "@acme/other", "1.0.0", `Failed token exchange request with body message: valid token, but no trusted publisher`, nil)
	})
	t.Run("a token for one package does not publish another", func(t *testing.T) {
		tok := npmExchangeThrough(t, registry, "@acme%2fleft-pad", h.gh.Sign(h.gh.GitHubClaims(map[string]any{"aud": protocol.NPMAudience(mustURL(t, registry))})))
		refused(t, "@acme/other", "1.0.0", `tpx: this upload token does not cover @acme/other`, func(j *npmJob) {
			// Not a CI job: npm sends the configured token as it is.
			j.extra = []string{"GITHUB_ACTIONS="}
			rc := filepath.Join(j.home, ".npmrc")
			os.WriteFile(rc, []byte("//"+front+"/:_authToken="+tok+"\n"), 0o600)
			t.Cleanup(func() { os.Remove(rc) })
		})
	})
	t.Run("after the publisher is removed, the job is refused", func(t *testing.T) {
		if err := h.accounts.RemovePublisher(context.Background(), account.Actor{UserName: "alice", Via: account.ViaOperator}, pub.ID); err != nil {
			t.Fatal(err)
		}
		refused(t, "@acme/left-pad", "1.0.1", `Failed token exchange request with body message: valid token, but no trusted publisher`, nil)
	})
	if got := job.versions("@acme/left-pad"); strings.Join(got, ",") != "1.0.0" {
		t.Fatalf("@acme/left-pad's versions: %v, want only 1.0.0", got)
	}
}

// npmExchangeThrough exchanges ciToken for an upload token for the package escapedName
// as the npm CLI does, at registry.
func npmExchangeThrough(t *testing.T, registry, escapedName, ciToken string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, registry+protocol.NPMExchangePrefix+escapedName, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+ciToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r struct{ Token, Message string }
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || resp.StatusCode != http.StatusOK || r.Token == "" {
		t.Fatalf("exchange for %s: %d %+v %v", escapedName, resp.StatusCode, r, err)
	}
	return r.Token
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func nodeVersion(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func TestDeployDocShowsTheTestedNPMConfiguration(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer("http://TPX", "http://tpx", "http://REGISTRY", "http://registry").Replace(npmNginxConf)
	if !strings.Contains(string(doc), want) {
		t.Fatalf("docs/deploy.md does not show the locations the npm test runs:\n%s", want)
	}
}
