package token

import "testing"

func BenchmarkMint(b *testing.B) {
	f := newFixture(b)
	c := sampleClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := mint(f.minter, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify measures an upload service checking a token with its keys cached, the
// path every upload takes.
func BenchmarkVerify(b *testing.B) {
	f := newFixture(b)
	raw, _, err := mint(f.minter, sampleClaims())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.verifier.Verify(b.Context(), raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.verifier.Verify(b.Context(), raw); err != nil {
			b.Fatal(err)
		}
	}
}
