package policy

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Mismatch says why an identity does not satisfy a publisher. Reason is a sentence for the
// publisher's owner (their own view, the log): it quotes their configuration, so it must
// not be sent to whoever presented the token. It also quotes the job's claims, so where
// those must stay private, Rule alone says which rule failed.
type Mismatch struct {
	Reason string
	// Rule names the rule that failed in words that quote nothing: "platform", "issuer",
	// "publisher", "repository", "repository ids", "event", "ref", "workflow",
	// "environment".
	Rule string
}

func (m *Mismatch) Error() string { return m.Reason }

func mismatch(format string, args ...any) *Mismatch {
	return &Mismatch{Reason: fmt.Sprintf(format, args...)}
}

// in sets the rule m is about, keeping nil nil.
func (m *Mismatch) in(rule string) *Mismatch {
	if m != nil {
		m.Rule = rule
	}
	return m
}

// Match reports whether id, a verified CI identity, satisfies publisher p: nil if it does,
// else a *Mismatch. Every rule must hold; the first that fails is the reason.
//
// A publisher is bound to one issuer, compared exactly, so a self-managed GitLab or a GHES
// token never matches a gitlab.com or github.com publisher even when every name is equal.
func Match(p Publisher, id Identity) error {
	if m := match(p, id); m != nil {
		return m
	}
	return nil
}

func match(p Publisher, id Identity) *Mismatch {
	if id.Kind != p.Kind {
		return mismatch("token is from %s, publisher is for %s", show(string(id.Kind)), show(string(p.Kind))).in("platform")
	}
	if p.Issuer == "" {
		return mismatch("publisher has no issuer").in("publisher")
	}
	if id.Issuer != p.Issuer {
		return mismatch("issuer %s differs from the publisher's %s", show(id.Issuer), show(p.Issuer)).in("issuer")
	}
	pl, ok := Lookup(p.Kind)
	if !ok {
		return mismatch("publisher kind %s is not supported", show(string(p.Kind))).in("publisher")
	}
	// A stored publisher that skipped Validate must fail closed, not match by accident of
	// an empty string on both sides.
	var required []string
	incomplete := false
	for _, f := range pl.Fields {
		if f.Required {
			required = append(required, strings.ReplaceAll(f.Name, "_", " "))
			incomplete = incomplete || f.Get(p) == ""
		}
	}
	if incomplete {
		verb := " is"
		if len(required) > 1 {
			verb = " are"
		}
		return mismatch("publisher is incomplete: %s%s required", andList(required), verb).in("publisher")
	}
	if m := pl.match(pl, p, id); m != nil {
		return m
	}
	return matchRefs(pl, p.Refs, id)
}

// Pins returns the ids publisher p should be pinned to after id used it: p's own ids where
// it has them, else the identity's. needed reports whether that adds an id to p, i.e.
// whether the caller must store them. Names can be deleted and registered again by someone
// else; ids cannot, so pinning on first use keeps a publisher bound to the repository that
// first used it.
//
// Pins pins nothing for an identity that does not match p, nor an id that is not a
// well-formed number: such an id could never be compared sensibly again.
func Pins(p Publisher, id Identity) (ownerID, repositoryID string, needed bool) {
	ownerID, repositoryID = p.OwnerID, p.RepositoryID
	if match(p, id) != nil {
		return ownerID, repositoryID, false
	}
	pl, _ := Lookup(p.Kind)
	if ownerID == "" && pl.OwnerIDLabel != "" && pl.idValid(id.OwnerID) {
		ownerID, needed = id.OwnerID, true
	}
	if repositoryID == "" && pl.RepositoryIDLabel != "" && pl.idValid(id.RepositoryID) {
		repositoryID, needed = id.RepositoryID, true
	}
	return ownerID, repositoryID, needed
}

// matchPin checks one pinned id. A token without the id cannot prove it belongs to the
// pinned repository, so it is refused like a different id.
func matchPin(label, pinned, got string) *Mismatch {
	switch {
	case pinned == "":
		return nil
	case got == "":
		return mismatch("token carries no %s, publisher is pinned to %s", label, show(pinned))
	case got != pinned:
		return mismatch("%s %s differs from pinned %s", label, show(got), show(pinned))
	}
	return nil
}

func matchPins(pl *Platform, p Publisher, id Identity) *Mismatch {
	if m := matchPin(pl.OwnerIDLabel, p.OwnerID, id.OwnerID); m != nil {
		return m.in("repository ids")
	}
	return matchPin(pl.RepositoryIDLabel, p.RepositoryID, id.RepositoryID).in("repository ids")
}

// matchEnvironment applies an environment rule: a publisher without one accepts any job;
// with one, the job must have run in an equal environment, equal meaning what the platform
// means by it.
func matchEnvironment(p Publisher, id Identity, equal func(a, b string) bool, hint string) *Mismatch {
	switch {
	case p.Environment == "":
		return nil
	case id.Environment == "":
		return mismatch("job has no environment, publisher requires '%s'", show(p.Environment)).in("environment")
	case !equal(id.Environment, p.Environment):
		return mismatch("environment was '%s', publisher requires '%s'%s", show(id.Environment), show(p.Environment), hint).in("environment")
	}
	return nil
}

// equalFoldASCII compares names as the platforms do: ASCII letters without case, every
// other byte exactly. strings.EqualFold would also fold non-ASCII look-alikes such as the
// Kelvin sign onto 'k', which no platform allows in a name.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// maxShown bounds how much of a claim a reason quotes: claims are attacker-influenced in
// length (branch names, environment names) and reasons end up in logs.
const maxShown = 200

// show renders a value for a reason: as it is when printable, else Go-quoted so that a
// control character cannot forge a log line, or an empty value vanish from the sentence;
// cut at maxShown bytes.
func show(s string) string {
	cut := false
	if len(s) > maxShown {
		i := maxShown
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s, cut = s[:i], true
	}
	if s == "" || !printable(s) {
		s = strconv.Quote(s)
	}
	if cut {
		s += "…"
	}
	return s
}
