package policy

import "strings"

// RefRules restrict which git refs of a repository may publish. The zero value accepts any
// ref, as publishers did before rules existed. Every rule that is set must hold.
type RefRules struct {
	// TagsOnly accepts only refs under refs/tags/.
	TagsOnly bool
	// Pattern, when set, is a whole ref the job's ref must equal, where each '*' stands for
	// any run of characters other than '/': refs/tags/v* accepts refs/tags/v1.2 but not
	// refs/tags/v1/x. Owners give no regular expressions: a pattern reads the same to
	// everyone who looks at it.
	Pattern string
	// Protected accepts only refs the platform reports as protected (GitHub and GitLab
	// ref_protected).
	Protected bool
}

// Any reports whether r accepts every ref.
func (r RefRules) Any() bool { return r == RefRules{} }

// String describes r for owners: "any ref", or the rules joined by "and".
func (r RefRules) String() string {
	var parts []string
	if r.TagsOnly {
		parts = append(parts, "tags only")
	}
	if r.Pattern != "" {
		parts = append(parts, "refs matching "+r.Pattern)
	}
	if r.Protected {
		parts = append(parts, "protected refs only")
	}
	if len(parts) == 0 {
		return "any ref"
	}
	return andList(parts)
}

// Field names of the ref rules as forms, flags and FieldError use them.
const (
	FieldRefTagsOnly  = "ref_tags_only"
	FieldRefPattern   = "ref_pattern"
	FieldRefProtected = "ref_protected"
)

const maxRefPattern = 255

// refPatternProblem checks a ref pattern: a full ref name as git allows it, with '*' as
// the only special character.
func refPatternProblem(s string) string {
	const form = "ref pattern must be a whole ref such as refs/tags/v1.0, or one with '*' such as refs/tags/v*; regular expressions are not supported"
	switch {
	case s == "":
		return ""
	case len(s) > maxRefPattern:
		return "ref pattern must be at most 255 characters"
	case !strings.HasPrefix(s, "refs/") || len(s) == len("refs/"):
		return form
	case !visibleASCII(s) || strings.ContainsAny(s, "~^:?[\\"):
		return form
	case strings.Contains(s, "..") || strings.Contains(s, "//") || strings.Contains(s, "@{") ||
		strings.HasSuffix(s, "/") || strings.HasSuffix(s, ".") || strings.HasSuffix(s, ".lock"):
		return form
	case strings.Contains(s, "**"):
		return "ref pattern must not contain '**': '*' already stands for any run of characters within one part of the ref"
	}
	return ""
}

// globMatch reports whether ref equals pattern, each '*' in pattern standing for any run
// of characters other than '/'.
func globMatch(pattern, ref string) bool {
	star := strings.IndexByte(pattern, '*')
	if star < 0 {
		return pattern == ref
	}
	prefix, rest := pattern[:star], pattern[star+1:]
	if !strings.HasPrefix(ref, prefix) {
		return false
	}
	ref = ref[len(prefix):]
	// '*' takes 0..n characters up to the next '/'; try each, shortest first.
	for i := 0; i <= len(ref); i++ {
		if globMatch(rest, ref[i:]) {
			return true
		}
		if i < len(ref) && ref[i] == '/' {
			break
		}
	}
	return false
}

// validateRefs checks p's ref rules against what platform pl's tokens can tell.
func (pl *Platform) validateRefs(r RefRules, add func(field, msg string)) {
	if !pl.Refs && !r.Any() {
		add(FieldRefPattern, pl.Label+" tokens name no git ref, so no ref rule can be checked; leave the ref rules empty")
		return
	}
	if msg := refPatternProblem(r.Pattern); msg != "" {
		add(FieldRefPattern, msg)
	}
	if r.TagsOnly && r.Pattern != "" && !strings.HasPrefix(r.Pattern, "refs/tags/") {
		add(FieldRefPattern, "ref pattern "+show(r.Pattern)+" names no tag, so with tags only no ref could ever match")
	}
	if r.Protected && pl.ProtectedRefs == "" {
		add(FieldRefProtected, pl.Label+" tokens do not say whether a ref is protected, so this rule cannot be checked")
	}
}

// matchRefs applies p's ref rules to the job's ref; the reason quotes the ref and the rule
// it broke.
func matchRefs(pl *Platform, r RefRules, id Identity) *Mismatch {
	if r.Any() {
		return nil
	}
	if id.Ref == "" {
		return mismatch("token names no ref, publisher accepts %s", r).in("ref")
	}
	if r.TagsOnly && !strings.HasPrefix(id.Ref, "refs/tags/") {
		return mismatch("ref %s is not a tag, publisher accepts tags only", show(id.Ref)).in("ref")
	}
	if r.Pattern != "" && !globMatch(r.Pattern, id.Ref) {
		return mismatch("ref %s does not match %s", show(id.Ref), show(r.Pattern)).in("ref")
	}
	if r.Protected && !id.RefProtected {
		return mismatch("ref %s is not protected (%s), publisher accepts protected refs only", show(id.Ref), pl.ProtectedRefs).in("ref")
	}
	return nil
}
