package verify

import "strings"

// ProjectKey is the canonical form of a project name, the one in which names are unique,
// looked up and written into upload tokens: lower-case, with every run of '-', '_' and
// '.' replaced by a single '-' (PEP 503; it also equates the names crates.io treats as one,
// which differ only in '-' and '_'). Package indexes resolve all spellings of a name to one
// project, so tpx must too: otherwise "foo_bar" and "Foo.Bar" could be two projects with
// different owners for what an index uploads as one.
func ProjectKey(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	sep := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '-' || c == '_' || c == '.':
			sep = true
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if sep {
			b.WriteByte('-')
			sep = false
		}
		b.WriteByte(c)
	}
	if sep {
		b.WriteByte('-')
	}
	return b.String()
}
