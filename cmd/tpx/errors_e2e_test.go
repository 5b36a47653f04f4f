package main

import (
	"strings"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/policy"
)

// A CI job sees only the reply: each refusal's description must say which check failed,
// with the token's own values and this service's public settings, and never another
// owner's configuration.
func TestEachRefusalSaysWhichCheckFailed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backend{"SQLite", openSQLite})
	// The project's only publisher wants another workflow and an environment: neither may
	// appear in what the job is told.
	h.github("sampleproject", func(p *policy.Publisher) { p.Workflow = "nightly-secret.yml"; p.Environment = "vault-prod" })
	stranger := oidctest.New(t)
	now := time.Now()
	used := h.gh.Sign(h.gh.GitHubClaims(map[string]any{"workflow_ref": "octo-org/octo-repo/.github/workflows/nightly-secret.yml@refs/heads/main", "environment": "vault-prod"}))
	h.accepted(t, func() reply { return h.exchange(t, used) })

	tests := []struct {
		name       string
		send       func() reply
		code       string
		says       []string
		mustNotSay []string
	}{
		{"a body that is not a JSON object names the shape wanted",
			func() reply { return h.post(t, []byte("token=abc")) }, "invalid-payload", []string{`{"token": "<the CI platform's OIDC token>"}`}, nil},
		{"a string that is not a JWT says so",
			func() reply { return h.exchange(t, "not-a-jwt") }, "invalid-payload", []string{"not a well-formed JWT"}, nil},
		{"a token from an issuer nobody configured names that issuer",
			func() reply { return h.exchange(t, stranger.Sign(stranger.GitHubClaims(nil))) }, "invalid-payload",
			[]string{`issuer "` + stranger.URL() + `" is not one this service trusts`}, nil},
		{"a token for another audience says which audience it has and which one is wanted",
			func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(map[string]any{"aud": "pypi"}))) }, "invalid-token",
			[]string{`audience is "pypi"`, `accepts only "tpx"`, "/_/oidc/audience"}, nil},
		{"a token for several audiences says so",
			func() reply {
				return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(map[string]any{"aud": []string{"tpx", "pypi"}})))
			}, "invalid-token",
			[]string{"names 2 audiences"}, nil},
		{"an expired token says when it expired",
			func() reply {
				return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(map[string]any{
					"iat": now.Add(-2 * time.Hour).Unix(), "nbf": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()})))
			}, "invalid-token", []string{"expired at " + now.Add(-time.Hour).UTC().Format(time.RFC3339), "this service's clock says"}, nil},
		{"a token not valid yet says from when",
			func() reply {
				return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(map[string]any{"nbf": now.Add(time.Hour).Unix(), "exp": now.Add(2 * time.Hour).Unix()})))
			}, "invalid-token", []string{"not valid before " + now.Add(time.Hour).UTC().Format(time.RFC3339)}, nil},
		{"a token under a key the issuer does not publish names the key",
			func() reply {
				return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil), oidctest.WithKid("rotated-away"), oidctest.WithSignature(make([]byte, 256))))
			}, "invalid-token", []string{`key "rotated-away"`, "not among the keys its issuer publishes"}, nil},
		{"a token whose signature does not verify says so",
			func() reply {
				return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil), oidctest.WithSignature(make([]byte, 256))))
			}, "invalid-token",
			[]string{"signature does not verify"}, nil},
		{"a token signed with another algorithm names it and the one wanted",
			func() reply {
				return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil), oidctest.WithAlg("HS256"), oidctest.WithHMACSecret([]byte("0123456789abcdef0123456789abcdef"))))
			},
			"invalid-token", []string{`algorithm "HS256"`, "RS256"}, nil},
		{"a token that matches no publisher lists the job's own facts, not the publisher's",
			func() reply {
				return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(map[string]any{"environment": "staging", "event_name": "push"})))
			}, "invalid-publisher",
			[]string{`repository "octo-org/octo-repo"`, `workflow "release.yml"`, `ref "refs/heads/main"`, `environment "staging"`, `event "push"`},
			[]string{"nightly-secret", "vault-prod"}},
		{"a job without an environment says none",
			func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(map[string]any{"environment": nil}))) }, "invalid-publisher",
			[]string{"environment none"}, []string{"nightly-secret", "vault-prod"}},
		{"a token exchanged twice says it was already exchanged",
			func() reply { return h.exchange(t, used) }, "invalid-reuse-token", []string{"already exchanged", "fresh one"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.refused(t, 422, tt.code, tt.send)
			d := r.Errors[0].Description
			for _, s := range tt.says {
				if !strings.Contains(d, s) {
					t.Errorf("description %q does not say %q", d, s)
				}
			}
			for _, s := range tt.mustNotSay {
				if strings.Contains(d, s) {
					t.Errorf("description %q tells the caller %q, from a publisher's configuration", d, s)
				}
			}
		})
	}
}
