package providers_test

import (
	"log/slog"
	"testing"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
)

// BenchmarkVerify measures the verification of GitHub Actions tokens with the issuer's
// keys cached: the path of every exchange. The tokens differ, as real traffic's do: one
// token verified over and over lets the processor learn its bytes, which hides what
// reading a token's characters costs.
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
	raws := make([]string, 256)
	for i := range raws {
		raws[i] = iss.Sign(iss.GitHubClaims(nil))
	}
	if _, err := set.Verify(b.Context(), raws[0]); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := set.Verify(b.Context(), raws[i%len(raws)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
