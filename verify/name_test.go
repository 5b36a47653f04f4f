package verify

import "testing"

func TestProjectKey(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"lower-case letters and digits stay as they are", "sampleproject2", "sampleproject2"},
		{"capitals are lowered", "SampleProject", "sampleproject"},
		{"'_' and '.' become '-'", "foo_bar.baz", "foo-bar-baz"},
		{"a run of separators is one '-'", "foo-_.-bar", "foo-bar"},
		{"separators at the ends are kept as one '-'", "._foo__", "-foo-"},
		{"PEP 503's own example folds", "Friendly-Bard", "friendly-bard"},
		{"non-ASCII letters are left alone", "Kelvin\u212a", "kelvin\u212a"},
		{"the empty name stays empty", "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := ProjectKey(c.in); got != c.want {
				t.Fatalf("ProjectKey(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
	t.Run("names an index treats as one have one key", func(t *testing.T) {
		for _, n := range []string{"foo-bar", "foo_bar", "Foo.Bar", "FOO--BAR", "foo._bar"} {
			if got := ProjectKey(n); got != "foo-bar" {
				t.Errorf("ProjectKey(%q) = %q, want foo-bar", n, got)
			}
		}
	})
	t.Run("the key is its own key", func(t *testing.T) {
		for _, n := range []string{"A__b..C", "x", "-_-", "Ab.Cd-Ef_Gh"} {
			if k := ProjectKey(n); ProjectKey(k) != k {
				t.Errorf("ProjectKey(%q) = %q is not stable", n, k)
			}
		}
	})
}

func TestCoversFoldsNames(t *testing.T) {
	c := Claims{Projects: []string{"foo-bar", "baz"}}
	for _, n := range []string{"foo-bar", "foo_bar", "Foo.Bar", "BAZ"} {
		if !c.Covers(n) {
			t.Errorf("a token for %v does not cover %q", c.Projects, n)
		}
	}
	for _, n := range []string{"foobar", "foo-bar-x", "ba", ""} {
		if c.Covers(n) {
			t.Errorf("a token for %v covers %q", c.Projects, n)
		}
	}
}
