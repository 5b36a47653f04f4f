package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/uitest"
	"github.com/tpx-dev/tpx/providers"
)

// TestUIRefusesPublishersForIssuersNotConfigured: the web form, like the command line,
// cannot register a publisher for an issuer the operator did not configure, whatever the
// form's issuer field is made to say.
func TestUIRefusesPublishersForIssuersNotConfigured(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newUIEnv(t, b, "127.0.0.1")
		ctx := context.Background()
		alice := e.user("alice", true)
		if _, err := e.acc.CreateProject(ctx, account.ViaOperator, "proj", "alice"); err != nil {
			t.Fatal(err)
		}
		c := e.login("alice", alice)
		form := func(issuer string) url.Values {
			return url.Values{"kind": {"github"}, "issuer": {issuer}, "repository": {"octo-org/octo-repo"}, "workflow": {"release.yml"}}
		}
		for _, issuer := range []string{"https://token.actions.evil.example", providers.GitLabIssuer, providers.GitHubIssuer + "/x"} {
			t.Run("issuer "+issuer+" is refused and nothing is stored", func(t *testing.T) {
				c.Get("/projects/proj")
				r := c.Post("/projects/proj/publishers", form(issuer))
				if r.Status != http.StatusUnprocessableEntity || !strings.Contains(r.Body, "not one this service trusts") {
					t.Fatalf("got %d:\n%.2000s", r.Status, r.Body)
				}
				if pubs, err := e.st.ListPublishers(ctx, 0); err != nil || len(pubs) != 0 {
					t.Fatalf("publishers %+v, %v", pubs, err)
				}
			})
		}
		t.Run("the configured issuer is accepted", func(t *testing.T) {
			c.Get("/projects/proj")
			if r := c.Post("/projects/proj/publishers", form(providers.GitHubIssuer)); r.Status != http.StatusSeeOther {
				t.Fatalf("got %d:\n%.2000s", r.Status, r.Body)
			}
		})
	})
}
