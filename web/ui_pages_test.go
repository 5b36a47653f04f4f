package web

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/uitest"
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
			c.Get("/projects/proj")
			r := c.Post("/projects/proj/publishers", tc.form)
			if r.Status != http.StatusSeeOther || !strings.Contains(r.Location, "added=") {
				t.Fatalf("%d %s %.500s", r.Status, r.Location, r.Body)
			}
			page := c.Follow(r).Body
			i := strings.Index(page, `id="snippet-text"`)
			if i < 0 {
				t.Fatalf("no snippet: %.3000s", page)
			}
			snippet := html.UnescapeString(page[i : strings.Index(page[i:], "</pre>")+i])
			for _, w := range tc.want {
				if !strings.Contains(snippet+page, w) {
					t.Fatalf("the snippet lacks %q:\n%s", w, snippet)
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
