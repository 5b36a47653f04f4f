package verify

import "testing"

func TestNamesFoldAsTheirIndexes(t *testing.T) {
	for _, c := range []struct {
		name     string
		rule     Names
		a, b     string
		sameName bool
	}{
		{"npm: case does not tell names apart", NPMNames, "Foo", "foo", true},
		{"npm: '.' and '-' are different names", NPMNames, "foo.bar", "foo-bar", false},
		{"npm: '_' and '-' are different names", NPMNames, "foo_bar", "foo-bar", false},
		{"npm: a scope is part of the name", NPMNames, "@a/foo", "foo", false},
		{"npm: two scopes are two names", NPMNames, "@a/foo", "@b/foo", false},
		{"npm: a scope without case", NPMNames, "@Acme/Foo", "@acme/foo", true},
		{"npm: the Kelvin sign is not a k", NPMNames, "\u212aoo", "koo", false},
		{"cargo: the Kelvin sign is not a k", CargoNames, "\u212aoo", "koo", false},
		{"cargo: '-' and '_' are one name", CargoNames, "foo_bar", "foo-bar", true},
		{"cargo: without case", CargoNames, "Foo_Bar", "foo-bar", true},
		{"cargo: runs of separators are not folded", CargoNames, "foo--bar", "foo-bar", false},
		{"pypi: PEP 503", PyPINames, "Foo.Bar", "foo_bar", true},
		{"the empty rule is PyPI's", "", "Foo.Bar", "foo_bar", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.rule.Key(c.a) == c.rule.Key(c.b); got != c.sameName {
				t.Fatalf("%s: Key(%q) = %q, Key(%q) = %q; same name %v, want %v", c.rule, c.a, c.rule.Key(c.a), c.b, c.rule.Key(c.b), got, c.sameName)
			}
			claims := Claims{Projects: []string{c.rule.Key(c.a)}}
			if got := claims.CoversIn(c.rule, c.b); got != c.sameName {
				t.Fatalf("a token for %q covers %q: %v, want %v", c.a, c.b, got, c.sameName)
			}
		})
	}
}

func TestNamesValid(t *testing.T) {
	for _, c := range []struct {
		name  string
		rule  Names
		in    string
		valid bool
	}{
		{"npm: a plain name", NPMNames, "left-pad", true},
		{"npm: a scoped name", NPMNames, "@acme/left.pad_2", true},
		{"npm: capitals are refused for new names", NPMNames, "LeftPad", false},
		{"npm: a leading dot", NPMNames, ".hidden", false},
		{"npm: a leading underscore", NPMNames, "_private", false},
		{"npm: two slashes", NPMNames, "@a/b/c", false},
		{"npm: a slash without a scope", NPMNames, "a/b", false},
		{"npm: an empty scope", NPMNames, "@/b", false},
		{"npm: a space", NPMNames, "left pad", false},
		{"cargo: a crate", CargoNames, "serde_json", true},
		{"cargo: a leading digit", CargoNames, "2d", false},
		{"cargo: a dot", CargoNames, "a.b", false},
		{"pypi: a project", PyPINames, "Friendly.Bard", true},
		{"pypi: a scope", PyPINames, "@a/b", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := c.rule.Valid(c.in); (err == nil) != c.valid {
				t.Fatalf("%s.Valid(%q) = %v, want valid %v", c.rule, c.in, err, c.valid)
			}
		})
	}
}

func TestParseNames(t *testing.T) {
	for _, s := range []string{"pypi", "npm", "cargo"} {
		if n, err := ParseNames(s); err != nil || string(n) != s {
			t.Errorf("ParseNames(%q) = %q, %v", s, n, err)
		}
	}
	for _, s := range []string{"", "NPM", "maven"} {
		if _, err := ParseNames(s); err == nil {
			t.Errorf("ParseNames(%q) accepted", s)
		}
	}
}

// FuzzNamesKey: a key is its own key, and a name a rule accepts keeps its key's validity
// under npm, whose keys are the lower-case names it accepts.
func FuzzNamesKey(f *testing.F) {
	for _, s := range []string{"@Acme/Foo", "foo_bar", "Foo.Bar", "", "@/x", "a--b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		for _, n := range []Names{PyPINames, NPMNames, CargoNames} {
			k := n.Key(name)
			if n.Key(k) != k {
				t.Fatalf("%s: Key(%q) = %q is not its own key", n, name, k)
			}
			if !(Claims{Projects: []string{k}}).CoversIn(n, name) {
				t.Fatalf("%s: a token for Key(%q) does not cover %q", n, name, name)
			}
		}
	})
}
