package verify

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Names is a package index's rule for which spellings name one package. One deployment
// of tpx serves one index and so one rule: PyPI's folds what npm keeps apart ("foo.bar"
// and "foo-bar" are two npm packages, one PyPI project), so an npm index that folded
// names by PEP 503 would let a token for one package publish the other.
type Names string

// The rules of the indexes whose clients tpx speaks to.
const (
	// PyPINames is PEP 503: without case, every run of '-', '_' and '.' one '-'
	// (ProjectKey).
	PyPINames Names = "pypi"
	// NPMNames is npm's: without case (npm refuses new names with capitals; its older
	// ones resolve without case), '-', '_' and '.' distinct, the scope ("@scope/") part
	// of the name.
	NPMNames Names = "npm"
	// CargoNames is crates.io's: without case, '-' and '_' the same character.
	CargoNames Names = "cargo"
)

// ParseNames returns the rule called s: pypi, npm or cargo.
func ParseNames(s string) (Names, error) {
	switch n := Names(s); n {
	case PyPINames, NPMNames, CargoNames:
		return n, nil
	}
	return "", fmt.Errorf("naming rule %q: use pypi, npm or cargo", s)
}

// Key is the canonical form of name under the rule: names with the same key are one
// package. The empty rule is PyPI's, the rule tpx always had.
func (n Names) Key(name string) string {
	switch n {
	case NPMNames:
		return asciiLower(name)
	case CargoNames:
		return strings.ReplaceAll(asciiLower(name), "_", "-")
	}
	return ProjectKey(name)
}

// asciiLower lowers ASCII capitals only, as ProjectKey does: strings.ToLower would also
// fold characters such as the Kelvin sign into "k", making a name no index accepts the
// same package as an ASCII one.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

var (
	pypiName = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$`)
	// npm's validate-npm-package-name for new packages: at most 214 characters, URL-safe,
	// not starting with '.' or '_'; a scope is "@" and the same kind of name.
	npmName   = regexp.MustCompile(`^(?:@[a-z0-9-~][a-z0-9-._~]*/)?[a-z0-9-~][a-z0-9-._~]*$`)
	cargoName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)
)

// Valid reports whether name is a name the rule's index accepts for a new package, and
// if not, says what one looks like.
func (n Names) Valid(name string) error {
	switch n {
	case NPMNames:
		if len(name) > 214 || !npmName.MatchString(name) {
			return fmt.Errorf("package name %q: use lower-case letters, digits, '-', '.', '_' and '~', at most 214 characters, not starting with '.' or '_', optionally scoped as @scope/name", name)
		}
	case CargoNames:
		if !cargoName.MatchString(name) {
			return fmt.Errorf("crate name %q: use 1 to 64 letters, digits, '-' or '_', starting with a letter", name)
		}
	default:
		if !pypiName.MatchString(name) {
			return fmt.Errorf("project name %q: use 1 to 100 letters, digits, '.', '_' or '-', starting and ending with a letter or digit", name)
		}
	}
	return nil
}

// CoversIn is Covers under the index's own rule: an npm or cargo registry asks whether
// the token may publish a package in the way that index compares names, so a token for
// the npm package "foo-bar" does not cover "foo.bar", as Covers (PEP 503) would say.
func (c Claims) CoversIn(n Names, project string) bool {
	key := n.Key(project)
	return slices.ContainsFunc(c.Projects, func(p string) bool { return n.Key(p) == key })
}
