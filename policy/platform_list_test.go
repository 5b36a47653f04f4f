package policy

import (
	"os"
	"strings"
	"testing"
)

// TestEveryPlatformValidates: each listed platform judges its own publishers, naming every
// required field of an empty one in the platform's words, and accepts its kind. With
// TPX_EXPECT_PLATFORM set (by the test that adds a platform in one line), that kind must be
// among them.
func TestEveryPlatformValidates(t *testing.T) {
	expectListed(t)
	for _, pl := range Platforms() {
		t.Run(string(pl.Kind), func(t *testing.T) {
			err := Validate(Publisher{Kind: pl.Kind, Issuer: "https://ci.example.org"})
			fields := map[string]bool{}
			for _, fe := range fieldErrors(t, err) {
				fields[fe.Field] = true
				if fe.Field == FieldKind {
					t.Fatalf("kind %s refused: %s", pl.Kind, fe.Message)
				}
			}
			for _, f := range pl.Fields {
				if !f.Required {
					continue
				}
				for _, c := range f.Covers {
					if fields[c] {
						return
					}
				}
				t.Errorf("an empty %s publisher has no message for its required field %s: %v", pl.Kind, f.Name, err)
			}
			if !strings.Contains(KindNames(), string(pl.Kind)) {
				t.Errorf("KindNames() %q lacks %s", KindNames(), pl.Kind)
			}
		})
	}
}

// expectListed fails t unless the kind TPX_EXPECT_PLATFORM names, if any, is listed.
func expectListed(t *testing.T) {
	t.Helper()
	if k := os.Getenv("TPX_EXPECT_PLATFORM"); k != "" {
		if _, ok := Lookup(Kind(k)); !ok {
			t.Fatalf("platform %s is not listed", k)
		}
	}
}
