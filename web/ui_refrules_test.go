package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/uitest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
)

// TestUIPublisherRules: new publisher forms suggest "tags only", the project page shows
// each publisher's ref rules, and its owner changes them through a form that shows the
// policy's messages and changes nothing on a refusal.
func TestUIPublisherRules(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newUIEnv(t, b, "127.0.0.1")
		ctx := context.Background()
		alice := e.user("alice", true)
		if _, err := e.acc.CreateProject(ctx, account.ViaOperator, "proj", "alice"); err != nil {
			t.Fatal(err)
		}
		pub, err := e.acc.AddPublisher(ctx, account.Actor{UserName: "alice", Via: account.ViaOperator}, "proj",
			policy.Publisher{Kind: policy.GitHub, Issuer: providers.GitHubIssuer, Owner: "octo-org", Name: "octo-repo", Workflow: "release.yml"})
		if err != nil {
			t.Fatal(err)
		}
		c := e.login("alice", alice)
		rules := fmt.Sprintf("/projects/proj/publishers/%d/rules", pub.ID)
		stored := func() policy.Publisher {
			p, err := e.st.PublisherByID(ctx, pub.ID)
			if err != nil {
				t.Fatal(err)
			}
			return p.Publisher
		}

		t.Run("The new publisher forms start with tags only checked", func(t *testing.T) {
			for _, kind := range []string{"github", "gitlab"} {
				// One platform's form at a time: the tab of each.
				page := c.Get("/projects/proj?platform=" + kind).Body
				re := regexp.MustCompile(`<input id="` + kind + `-ref_tags_only" name="ref_tags_only" type="checkbox" value="true" checked`)
				if !re.MatchString(page) {
					t.Fatalf("the %s form does not suggest tags only:\n%s", kind, page)
				}
			}
		})
		t.Run("The page shows that the publisher accepts any ref", func(t *testing.T) {
			if page := c.Get("/projects/proj").Body; !strings.Contains(page, `<td data-label="Refs">any ref</td>`) {
				t.Fatalf("no ref rules in the table:\n%s", page)
			}
		})
		t.Run("A regular expression is refused next to its field and nothing changes", func(t *testing.T) {
			c.Get("/projects/proj")
			r := c.Post(rules, url.Values{"ref_pattern": {"^refs/tags/v.*$"}})
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "regular expressions are not supported") {
				t.Fatalf("got %d:\n%.2000s", r.Status, r.Body)
			}
			if !stored().Refs.Any() {
				t.Fatalf("rules changed to %+v", stored().Refs)
			}
		})
		t.Run("The owner restricts the publisher to v* tags and the page says so", func(t *testing.T) {
			c.Get("/projects/proj")
			r := c.Post(rules, url.Values{"ref_tags_only": {"true"}, "ref_pattern": {"refs/tags/v*"}, "called_workflow": {"octo-org/octo-repo/.github/workflows/release.yml"}})
			if r.Status != http.StatusSeeOther {
				t.Fatalf("got %d:\n%.2000s", r.Status, r.Body)
			}
			if got := stored(); got.Refs != (policy.RefRules{TagsOnly: true, Pattern: "refs/tags/v*"}) || got.CalledWorkflow != "octo-org/octo-repo/.github/workflows/release.yml" {
				t.Fatalf("stored %+v", got)
			}
			page := c.Follow(r).Body
			if !strings.Contains(page, "tags only and refs matching refs/tags/v*, called workflow octo-org/octo-repo/.github/workflows/release.yml") {
				t.Fatalf("page does not show the rules:\n%s", page)
			}
		})
		t.Run("Another user cannot change them", func(t *testing.T) {
			mallory := e.user("mallory", true)
			m := e.login("mallory", mallory)
			m.Get("/projects")
			if r := m.Post(rules, url.Values{}); r.Status == http.StatusSeeOther {
				t.Fatalf("mallory changed the rules: %d", r.Status)
			}
			if stored().Refs.Any() {
				t.Fatal("mallory cleared the rules")
			}
		})
	})
}
