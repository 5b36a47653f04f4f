package account

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
)

func TestPublishersMayNameOnlyTrustedIssuers(t *testing.T) {
	const ghes = "https://ghes.example.org/_services/token"
	cases := []struct {
		name    string
		issuers []providers.IssuerConfig // the service's; nil for the defaults
		kind    policy.Kind
		issuer  string
		ok      bool
	}{
		{"github.com is trusted by default", nil, policy.GitHub, providers.GitHubIssuer, true},
		{"an issuer no one configured is refused", nil, policy.GitHub, "https://token.actions.evil.example", false},
		{"a trusted issuer under another kind is refused", nil, policy.GitHub, providers.GitLabIssuer, false},
		{"a configured GHES is trusted", []providers.IssuerConfig{{Kind: policy.GitHub, Issuer: ghes}}, policy.GitHub, ghes, true},
		{"a configured list replaces the defaults", []providers.IssuerConfig{{Kind: policy.GitHub, Issuer: ghes}}, policy.GitHub, providers.GitHubIssuer, false},
		{"a switched-off issuer may still be named, so switching it on needs no owner",
			[]providers.IssuerConfig{{Kind: policy.GitHub, Issuer: ghes, Disabled: true}, {Kind: policy.GitLab, Issuer: providers.GitLabIssuer}}, policy.GitHub, ghes, true},
		{"an issuer differing by a trailing slash is refused", nil, policy.GitHub, providers.GitHubIssuer + "/", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			cfg := f.s.cfg
			cfg.Issuers = c.issuers
			f.s = New(cfg)
			ctx := context.Background()
			f.user(t, "alice", true)
			if _, err := f.s.CreateProject(ctx, ViaOperator, "proj", "alice"); err != nil {
				t.Fatal(err)
			}
			p := publisher()
			p.Kind, p.Issuer = c.kind, c.issuer
			if c.kind == policy.GitLab {
				p.Workflow = ".gitlab-ci.yml"
			}
			actor := Actor{UserName: "alice", Via: ViaOperator}
			_, addErr := f.s.AddPublisher(ctx, actor, "proj", p)
			_, pendErr := f.s.AddPending(ctx, actor, "newproj", p)
			for what, err := range map[string]error{"AddPublisher": addErr, "AddPending": pendErr} {
				if c.ok && err != nil {
					t.Errorf("%s: %v", what, err)
				}
				var ve *policy.ValidationError
				if !c.ok && (!errors.Is(err, ErrInvalidInput) || !errors.As(err, &ve) || ve.Fields[len(ve.Fields)-1].Field != policy.FieldIssuer ||
					!strings.Contains(err.Error(), "TPX_CONFIG")) {
					t.Errorf("%s: %v; want an invalid-input error on the issuer field naming TPX_CONFIG", what, err)
				}
			}
			pubs, err := f.store.ListPublishers(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if !c.ok && len(pubs) != 0 {
				t.Errorf("a refused publisher was stored: %+v", pubs)
			}
		})
	}
	t.Run("an untrusted issuer is reported with the policy's own complaints", func(t *testing.T) {
		f := newFixture(t)
		p := publisher()
		p.Issuer, p.Workflow = "https://evil.example", ".github/workflows/release.yml"
		var ve *policy.ValidationError
		if err := f.s.validatePublisher(p); !errors.As(err, &ve) || len(ve.Fields) < 2 {
			t.Fatalf("%v: want the workflow's and the issuer's problems together", err)
		}
	})
}
