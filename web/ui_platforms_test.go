package web

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/uitest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
)

// TestUIFormsOfEveryPlatform: with an issuer of every platform configured, the project page
// has an add form per platform with each of its fields, a disabled field saying why. With
// TPX_EXPECT_PLATFORM set (by the test that adds a platform in one line), that kind's form
// must be among them.
func TestUIFormsOfEveryPlatform(t *testing.T) {
	var issuers []providers.IssuerConfig
	for _, pl := range policy.Platforms() {
		issuers = append(issuers, providers.IssuerConfig{Kind: pl.Kind, Issuer: "https://" + string(pl.Kind) + ".ci.example.org"})
	}
	e := newUIEnvIssuers(t, uitest.Backends()[0], "127.0.0.1", nil, issuers)
	secret := e.user("alice", true)
	if _, err := e.acc.CreateProject(context.Background(), account.ViaOperator, "proj", "alice"); err != nil {
		t.Fatal(err)
	}
	c := e.login("alice", secret)
	if k := os.Getenv("TPX_EXPECT_PLATFORM"); k != "" && !strings.Contains(c.Get("/projects/proj?platform="+k).Body, `id="add-`+k+`"`) {
		t.Fatalf("no form for %s", k)
	}
	for _, pl := range policy.Platforms() {
		t.Run(string(pl.Kind), func(t *testing.T) {
			page := c.Get("/projects/proj?platform=" + string(pl.Kind)).Body
			if !strings.Contains(page, `id="add-`+string(pl.Kind)+`"`) || !strings.Contains(page, "Add the "+pl.Label+" publisher") {
				t.Fatalf("no %s form:\n%s", pl.Kind, page)
			}
			for _, f := range pl.Fields {
				id := `id="` + string(pl.Kind) + "-" + f.Name + `" name="` + f.Name + `"`
				if !strings.Contains(page, id) {
					t.Errorf("the %s form lacks %s", pl.Kind, f.Name)
				}
				if f.Disabled && !strings.Contains(page, id+` type="checkbox" value="true" disabled`) {
					t.Errorf("the %s form's %s is not disabled", pl.Kind, f.Name)
				}
			}
		})
	}
}
