package providers_test

import (
	"log/slog"
	"testing"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
)

// BenchmarkVerify measures the verification of a GitHub Actions token with the issuer's
// keys cached: the path of every exchange.
func BenchmarkVerify(b *testing.B) {
	iss := oidctest.New(b)
	set, err := providers.New(providers.Config{
		Audience: "tpx",
		Issuers:  []providers.IssuerConfig{{Kind: policy.GitHub, Issuer: iss.URL()}},
		Logger:   slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(set.Close)
	raw := iss.Sign(iss.GitHubClaims(nil))
	if _, err := set.Verify(b.Context(), raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := set.Verify(b.Context(), raw); err != nil {
			b.Fatal(err)
		}
	}
}
