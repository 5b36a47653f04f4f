package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/uitest"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/verify"
)

// TestUIScopedNames: under npm's naming rule a project's name holds a "/" ("@acme/left-pad");
// its pages' links carry it as one escaped path segment, and every route that takes a
// project from the path finds it, and only it.
func TestUIScopedNames(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newUIEnvWith(t, b, "127.0.0.1", func(c *account.Config) { c.Names = verify.NPMNames })
		ctx := context.Background()
		if err := e.st.UseNames(ctx, verify.NPMNames, false); err != nil {
			t.Fatal(err)
		}
		alice := e.user("alice", true)
		const name, seg = "@acme/left-pad", "@acme%2Fleft-pad"
		for _, p := range []string{name, "@acme/other"} {
			if _, err := e.acc.CreateProject(ctx, account.ViaOperator, p, "alice"); err != nil {
				t.Fatal(err)
			}
		}
		c := e.login("alice", alice)

		if r := c.Get("/projects"); !strings.Contains(r.Body, `href="/projects/`+seg+`"`) {
			t.Fatalf("the project list does not link %s as one segment:\n%.3000s", name, r.Body)
		}
		for _, path := range []string{"/projects/" + seg, "/projects/@acme%2fleft-pad"} {
			if r := c.Get(path); r.Status != http.StatusOK || !strings.Contains(r.Body, name) || strings.Contains(r.Body, "@acme/other") {
				t.Fatalf("GET %s: %d\n%.3000s", path, r.Status, r.Body)
			}
		}

		r := c.Post("/projects/"+seg+"/publishers", url.Values{"kind": {"github"}, "issuer": {providers.GitHubIssuer}, "repository": {"acme/left-pad"}, "workflow": {"release.yml"}})
		if r.Status != http.StatusSeeOther || !strings.HasPrefix(r.Location, "/projects/"+seg+"?") {
			t.Fatalf("adding a publisher: %d %s\n%.2000s", r.Status, r.Location, r.Body)
		}
		pubs, err := e.st.ListPublishers(ctx, 0)
		if err != nil || len(pubs) != 1 || pubs[0].ProjectName != name {
			t.Fatalf("publishers %+v, %v", pubs, err)
		}
		remove := "/projects/" + seg + "/publishers/" + strconv.FormatInt(pubs[0].ID, 10) + "/remove"
		if r := c.Follow(r); !strings.Contains(r.Body, remove) {
			t.Fatalf("the project page does not link %s:\n%.3000s", remove, r.Body)
		}
		if r := c.Get(remove); r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d\n%.2000s", remove, r.Status, r.Body)
		}
		if r := c.Post(remove, confirmed); r.Status != http.StatusSeeOther {
			t.Fatalf("POST %s: %d\n%.2000s", remove, r.Status, r.Body)
		}
		if pubs, err := e.st.ListPublishers(ctx, 0); err != nil || len(pubs) != 0 {
			t.Fatalf("after removal: %+v, %v", pubs, err)
		}

		// A segment is unescaped once: "%2540" is the three characters "%40", no name.
		if r := c.Get("/projects/%2540acme%252Fleft-pad"); r.Status == http.StatusOK {
			t.Fatalf("a twice-escaped name found a project:\n%.2000s", r.Body)
		}
	})
}
