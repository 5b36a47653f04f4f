package providers_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
)

func TestNewAcceptsOnlyIssuersInTheSpellingTokensUse(t *testing.T) {
	t.Parallel()
	gh := func(iss string) []providers.IssuerConfig {
		return []providers.IssuerConfig{{Kind: policy.GitHub, Issuer: iss}}
	}
	for _, tc := range []struct {
		name    string
		issuers []providers.IssuerConfig
		wantErr string
	}{
		{"github.com is accepted", gh("https://token.actions.githubusercontent.com"), ""},
		{"a GHE.com subdomain is accepted", gh("https://token.actions.octo.ghe.com"), ""},
		{"an enterprise slug is accepted", gh("https://token.actions.githubusercontent.com/octo-enterprise"), ""},
		{"a GHES host with its path is accepted", gh("https://ghes.example.com/_services/token"), ""},
		{"a self-managed GitLab is accepted", []providers.IssuerConfig{{Kind: policy.GitLab, Issuer: "https://gitlab.example.com"}}, ""},
		{"plain http on loopback is accepted for tests", gh("http://127.0.0.1:8080"), ""},
		{"plain http on IPv6 loopback is accepted for tests", gh("http://[::1]:8080"), ""},
		{"plain http on localhost is accepted for the demo", gh("http://localhost:8080"), ""},
		{"plain http elsewhere is refused", gh("http://gitlab.example.com"), "only on loopback"},
		{"another scheme is refused", gh("ftp://gitlab.example.com"), "scheme"},
		{"a trailing slash is refused", gh("https://gitlab.example.com/"), "trailing slash"},
		{"a query is refused", gh("https://gitlab.example.com?x=1"), "query"},
		{"an empty query is refused", gh("https://gitlab.example.com?"), "query"},
		{"a fragment is refused", gh("https://gitlab.example.com#x"), "fragment"},
		{"user info is refused", gh("https://user@gitlab.example.com"), "user info"},
		{"an upper-case host is refused", gh("https://GitLab.example.com"), "canonical"},
		{"an upper-case scheme is refused", gh("HTTPS://gitlab.example.com"), "canonical"},
		{"a dot segment is refused", gh("https://ghes.example.com/_services/../token"), "clean"},
		{"a double slash is refused", gh("https://ghes.example.com//token"), "clean"},
		{"an escaped path is refused", gh("https://ghes.example.com/a%2Fb"), "unescaped"},
		{"a relative URL is refused", gh("gitlab.example.com"), "scheme"},
		{"no host is refused", gh("https://"), "host"},
		{"an unknown kind is refused", []providers.IssuerConfig{{Kind: "bitbucket", Issuer: "https://bitbucket.org"}}, "unknown kind"},
		{"a duplicate is refused", append(gh("https://gitlab.example.com"), providers.IssuerConfig{Kind: policy.GitLab, Issuer: "https://gitlab.example.com"}), "twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, err := providers.New(providers.Config{Audience: "tpx", Issuers: tc.issuers})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				s.Close()
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New: got %v, want an error about %q", err, tc.wantErr)
			}
		})
	}
}

func TestNewRefusesNonsenseSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  providers.Config
	}{
		{"no audience", providers.Config{}},
		{"a negative leeway", providers.Config{Audience: "tpx", Leeway: -time.Second}},
		{"a negative max stale", providers.Config{Audience: "tpx", MaxStale: -time.Second}},
		{"a refresh shorter than the cooldown", providers.Config{Audience: "tpx", Refresh: time.Second, Cooldown: time.Minute}},
		{"a negative token size", providers.Config{Audience: "tpx", MaxTokenBytes: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := providers.New(tc.cfg); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

func TestWithoutIssuersTheDefaultsAreThePublicIssuers(t *testing.T) {
	t.Parallel()
	s, err := providers.New(providers.Config{Audience: "tpx"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := []providers.IssuerConfig{
		{Kind: policy.GitHub, Issuer: "https://token.actions.githubusercontent.com"},
		{Kind: policy.GitLab, Issuer: "https://gitlab.com"},
		{Kind: policy.Google, Issuer: "https://accounts.google.com"},
		{Kind: policy.Buildkite, Issuer: "https://agent.buildkite.com"},
	}
	got := s.Issuers()
	if !slices.Equal(got, want) {
		t.Fatalf("Issuers() = %v, want %v", got, want)
	}
	if ic, ok := s.Lookup("https://gitlab.com"); !ok || ic.Kind != policy.GitLab {
		t.Fatalf("Lookup(gitlab.com) = %v, %v", ic, ok)
	}
	for _, near := range []string{"https://gitlab.com/", "https://GITLAB.com", "https://gitlab.com.evil.example", "gitlab.com"} {
		if _, ok := s.Lookup(near); ok {
			t.Errorf("Lookup(%q) found an issuer", near)
		}
	}
	ks := s.KeyStatus()
	if len(ks) != len(want) || ks[0].Issuer != want[0].Issuer || ks[1].Kind != policy.GitLab || ks[0].Fetches != 0 || ks[0].Keys != 0 {
		t.Fatalf("KeyStatus() before any use = %+v", ks)
	}
}
