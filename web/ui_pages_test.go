package web

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/internal/uitest"
	"github.com/tpx-dev/tpx/protocol"
)

// TestUIPages: the project page shows one platform's form at a time; adding a publisher
// leads to the CI configuration for exactly that publisher; recovery codes come with a
// download and a step that confirms they were saved.
func TestUIPages(t *testing.T) {
	b := uitest.Backends()[0]
	e := newUIEnv(t, b, "127.0.0.1")
	ctx := context.Background()
	secret := e.user("alice", true)
	if _, err := e.acc.CreateProject(ctx, account.ViaOperator, "proj", "alice"); err != nil {
		t.Fatal(err)
	}
	c := e.login("alice", secret)
	t.Run("One platform's add form at a time, chosen by its tab", func(t *testing.T) {
		page := c.Get("/projects/proj").Body
		if strings.Count(page, `action="/projects/proj/publishers"`) != 1 || !strings.Contains(page, `id="add-github"`) || strings.Contains(page, `id="add-gitlab"`) {
			t.Fatalf("%.3000s", page)
		}
		page = c.Get("/projects/proj?platform=gitlab").Body
		if !strings.Contains(page, `id="add-gitlab"`) || strings.Contains(page, `id="add-github"`) || !strings.Contains(page, `id="tab-gitlab" aria-current="page"`) {
			t.Fatalf("%.3000s", page)
		}
	})
	t.Run("The ids and the issuer are under Advanced, with a link on finding the ids", func(t *testing.T) {
		page := c.Get("/projects/proj").Body
		adv := page[strings.Index(page, "<details"):]
		if !strings.Contains(adv, `name="owner_id"`) || !strings.Contains(adv, `name="issuer"`) || !strings.Contains(adv, "How to find the ids") ||
			strings.Contains(page[:strings.Index(page, "<details")], `name="owner_id"`) {
			t.Fatalf("%.3000s", page)
		}
	})
	for _, tc := range []struct {
		name string
		form url.Values
		want []string
	}{
		{"GitHub with an environment", url.Values{"kind": {"github"}, "repository": {"octo-org/octo-repo"}, "workflow": {"release.yml"}, "environment": {"pypi"}},
			[]string{".github/workflows/release.yml", "environment: pypi", "id-token: write", "pypa/gh-action-pypi-publish"}},
		{"GitLab", url.Values{"kind": {"gitlab"}, "repository": {"my-group/my-project"}, "workflow": {".gitlab-ci.yml"}, "environment": {"release"}},
			[]string{".gitlab-ci.yml", "environment: release", "aud: ", "/_/oidc/mint-token"}},
	} {
		t.Run("Adding a publisher shows the CI configuration for it: "+tc.name, func(t *testing.T) {
			_, snippets := addPublisher(t, c, tc.form, 1)
			sn := snippets[0]
			for _, w := range tc.want {
				if !sn.has(w) {
					t.Fatalf("the snippet lacks %q:\n%s\n%s", w, sn.intro, sn.text)
				}
			}
		})
	}
	t.Run("Recovery codes come with a download and a saved-them step", func(t *testing.T) {
		c.Get("/account/two-factor")
		r := c.Post("/account/recovery-codes", confirmed)
		codes := codeItem.FindAllStringSubmatch(r.Body, -1)
		if r.Status != http.StatusOK || len(codes) != account.RecoveryCodeCount {
			t.Fatalf("%d %.500s", r.Status, r.Body)
		}
		if !strings.Contains(r.Body, `download="tpx-recovery-codes.txt"`) || !strings.Contains(r.Body, `id="codes-kept" name="saved" value="yes" required`) {
			t.Fatalf("%.2000s", r.Body)
		}
		i := strings.Index(r.Body, `href="data:text/plain`)
		data, err := url.PathUnescape(html.UnescapeString(r.Body[i+len(`href="data:text/plain;charset=utf-8,`) : i+strings.Index(r.Body[i+6:], `"`)+6]))
		if err != nil {
			t.Fatal(err)
		}
		for _, cm := range codes {
			if !strings.Contains(data, cm[1]) {
				t.Fatalf("the download lacks %s: %q", cm[1], data)
			}
		}
	})
}

// TestUISnippetsFollowTheProtocols: the CI configuration shown for a new publisher is the
// one for the clients the deployment serves: npm's CLI, cargo's auth action, or a PyPI
// uploader, each with its audience and the deployment's own address, and one for each
// protocol when it serves several.
func TestUISnippetsFollowTheProtocols(t *testing.T) {
	b := uitest.Backends()[0]
	github := url.Values{"kind": {"github"}, "repository": {"octo-org/octo-repo"}, "workflow": {"release.yml"}, "environment": {"release"}}
	gitlab := url.Values{"kind": {"gitlab"}, "repository": {"my-group/my-project"}, "workflow": {".gitlab-ci.yml"}, "environment": {"release"}}
	cases := []struct {
		name      string
		protocols []protocol.Protocol
		form      url.Values
		// want and never are each snippet's, in order; {{url}} and {{host}} are the
		// deployment's.
		want, never [][]string
	}{
		{"npm from GitHub", []protocol.Protocol{protocol.NPM}, github,
			[][]string{{".github/workflows/release.yml", "environment: release", "id-token: write", "actions/setup-node", "registry-url: '{{url}}/'", "npm publish"}},
			[][]string{{"pypa/", "twine", "python", "upload.example.org", "cargo"}}},
		{"npm from GitLab", []protocol.Protocol{protocol.NPM}, gitlab,
			[][]string{{".gitlab-ci.yml", "environment: release", "NPM_ID_TOKEN:", "aud: \"npm:{{host}}\"\n", "npm publish --registry {{url}}/"}},
			[][]string{{"twine", "python", "TPX_ID_TOKEN", "mint-token", "upload.example.org"}}},
		{"cargo from GitHub", []protocol.Protocol{protocol.Cargo}, github,
			[][]string{{"rust-lang/crates-io-auth-action@v1", "url: '{{url}}'", "cargo publish --registry my-index", "CARGO_REGISTRIES_MY_INDEX_TOKEN: ${{ steps.auth.outputs.token }}"}},
			[][]string{{"pypa/", "twine", "npm", "upload.example.org"}}},
		{"cargo from GitLab", []protocol.Protocol{protocol.Cargo}, gitlab,
			[][]string{{"CARGO_ID_TOKEN:", "aud: \"{{aud}}\"\n", "{{url}}/api/v1/trusted_publishing/tokens", "export CARGO_REGISTRIES_MY_INDEX_TOKEN=", "cargo publish --registry my-index"}},
			[][]string{{"twine", "npm", "TPX_ID_TOKEN", "mint-token", "upload.example.org"}}},
		{"PyPI and npm together, each its own", []protocol.Protocol{protocol.PyPI, protocol.NPM}, github,
			[][]string{{"pypa/gh-action-pypi-publish", "upload.example.org"}, {"npm publish", "registry-url: '{{url}}/'"}},
			[][]string{{"npm"}, {"pypa/", "twine"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newUIEnvFull(t, b, "127.0.0.1", nil, nil, func(e *uiEnv, uc *UIConfig, _ *secretbox.Box) {
				public, err := url.Parse(e.url)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range c.protocols {
					e.protocols = append(e.protocols, Protocol{Protocol: p, Audience: p.Audience(public, "tpx-test")})
				}
			})
			secret := e.user("alice", true)
			if _, err := e.acc.CreateProject(context.Background(), account.ViaOperator, "proj", "alice"); err != nil {
				t.Fatal(err)
			}
			page, snippets := addPublisher(t, e.login("alice", secret), c.form, len(c.want))
			public, _ := url.Parse(e.url)
			fill := strings.NewReplacer("{{url}}", e.url, "{{host}}", public.Hostname(), "{{aud}}", protocol.CargoAudience(public))
			for i, sn := range snippets {
				for _, w := range c.want[i] {
					if w = fill.Replace(w); !sn.has(w) {
						t.Errorf("snippet %d lacks %q:\n%s\n%s", i, w, sn.intro, sn.text)
					}
				}
				for _, n := range c.never[i] {
					if strings.Contains(sn.text, n) {
						t.Errorf("snippet %d has %q:\n%s", i, n, sn.text)
					}
				}
			}
			if len(snippets) > 1 && (!strings.Contains(page, `id="snippet-pypi"`) || !strings.Contains(page, `id="snippet-npm"`)) {
				t.Errorf("several snippets without a heading each: %.3000s", page)
			}
			for i, sn := range snippets {
				var doc map[string]any
				if err := yaml.Unmarshal([]byte(sn.text), &doc); err != nil {
					t.Errorf("snippet %d is not YAML: %v\n%s", i, err, sn.text)
				}
				if slices.Equal(c.protocols, []protocol.Protocol{protocol.Cargo}) && c.form.Get("kind") == "gitlab" {
					cargoTokenStep(t, doc)
				}
			}
		})
	}
}

// cargoTokenStep runs, in bash, the GitLab cargo job's script up to cargo, against a
// server that answers the exchange as tpx's cargo route does: granted, it leaves the
// upload token in cargo's variable; refused, it fails and prints the reason.
func cargoTokenStep(t *testing.T, job map[string]any) {
	t.Helper()
	const token = "tpx_eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_"
	script, _ := job["publish"].(map[string]any)["script"].([]any)
	if len(script) < 3 {
		t.Fatalf("script: %v", script)
	}
	for _, refused := range []bool{false, true} {
		var got struct{ JWT string }
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != protocol.CargoTokensPath || json.NewDecoder(r.Body).Decode(&got) != nil {
				http.Error(w, "not the exchange", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			if refused {
				w.WriteHeader(http.StatusForbidden)
				json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"detail": "no publisher matches", "code": "invalid-publisher"}}})
				return
			}
			json.NewEncoder(w).Encode(map[string]string{"token": token})
		}))
		steps := regexp.MustCompile(`http://127\.0\.0\.1:\d+`).ReplaceAllString(script[0].(string)+"\n"+script[1].(string), srv.URL)
		cmd := exec.Command("bash", "-e", "-c", "CARGO_ID_TOKEN=ci-token\n"+steps+`
printf %s "$CARGO_REGISTRIES_MY_INDEX_TOKEN"`)
		cmd.Dir = t.TempDir()
		out, err := cmd.CombinedOutput()
		srv.Close()
		switch {
		case got.JWT != "ci-token":
			t.Fatalf("%q: the exchange got %q", steps, got.JWT)
		case !refused && (err != nil || string(out) != token):
			t.Fatalf("%q: %v: %q", steps, err, out)
		case refused && (err == nil || !strings.Contains(string(out), "no publisher matches") || strings.Contains(string(out), "tpx_")):
			t.Fatalf("refused, %q: %v: %q, want a failure that prints the reason", steps, err, out)
		}
	}
}

// addPublisher adds the publisher form describes to project "proj" as c, and returns the
// page it is sent to and that page's snippets, of which there must be n.
func addPublisher(t *testing.T, c *uitest.Client, form url.Values, n int) (string, []snippetOnPage) {
	t.Helper()
	c.Get("/projects/proj")
	r := c.Post("/projects/proj/publishers", form)
	if r.Status != http.StatusSeeOther || !strings.Contains(r.Location, "added=") {
		t.Fatalf("%d %s %.500s", r.Status, r.Location, r.Body)
	}
	page := c.Follow(r).Body
	snippets := snippetsOf(page)
	if len(snippets) != n {
		t.Fatalf("%d snippets, want %d: %.3000s", len(snippets), n, page)
	}
	return page, snippets
}

// snippetOnPage is one snippet shown on a page: the sentence that says which file it
// goes in, and its text.
type snippetOnPage struct{ intro, text string }

// has is whether w is in the snippet or in the sentence before it.
func (sn snippetOnPage) has(w string) bool {
	return strings.Contains(sn.text, w) || strings.Contains(sn.intro, w)
}

// snippetsOf is each snippet on page, in order.
func snippetsOf(page string) []snippetOnPage {
	var out []snippetOnPage
	for rest := page; ; {
		i := strings.Index(rest, `<pre class="snippet"`)
		if i < 0 {
			return out
		}
		// The sentence that names the file is the paragraph right before the snippet.
		intro := rest[:i]
		if j := strings.LastIndex(intro, "<p>"); j >= 0 {
			intro = intro[j+len("<p>"):]
		} else {
			intro = ""
		}
		rest = rest[i:]
		start, end := strings.Index(rest, ">")+1, strings.Index(rest, "</pre>")
		out = append(out, snippetOnPage{html.UnescapeString(intro), html.UnescapeString(rest[start:end])})
		rest = rest[end:]
	}
}
