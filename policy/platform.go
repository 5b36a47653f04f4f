package policy

import "strings"

// platforms lists every CI platform tpx knows, in the order that help, forms and messages
// show them. A platform is one value with everything about it (issuers, claims, publisher
// fields, validation, matching, pins); adding one is its own file here, its claims in the
// test issuer, and one line in this list.
var platforms = []*Platform{&githubPlatform, &gitlabPlatform, &googlePlatform, &circleciPlatform, &buildkitePlatform, &forgejoPlatform}

// Platforms returns every platform tpx knows, in listing order.
func Platforms() []*Platform { return append([]*Platform(nil), platforms...) }

// Lookup returns the platform of kind k, compared exactly.
func Lookup(k Kind) (*Platform, bool) {
	for _, p := range platforms {
		if p.Kind == k {
			return p, true
		}
	}
	return nil, false
}

// KindNames lists the known kinds as an owner would read them: "github or gitlab".
func KindNames() string {
	names := make([]string, len(platforms))
	for i, p := range platforms {
		names[i] = string(p.Kind)
	}
	return joinList(names, "or")
}

// andList joins words as a sentence does: "a", "a and b", "a, b and c".
func andList(words []string) string { return joinList(words, "and") }

func joinList(words []string, conj string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " " + conj + " " + words[len(words)-1]
}

// Platform is one CI platform: its issuers, its token's claims, the fields of its
// publishers as forms and flags show them, and the rules that validate and match them.
// The web UI, the command line, the providers and the exchange read everything about a
// platform from here, so that no platform is special-cased anywhere else.
type Platform struct {
	Kind Kind
	// Label is the platform's name as people write it: "GitHub".
	Label string
	// DefaultIssuer is the public issuer trusted when the operator configures none; empty
	// when every issuer is the operator's choice (per instance or per organisation).
	DefaultIssuer string
	// IssuerHint says which issuers the platform uses, for help and configuration errors.
	IssuerHint string
	// Algs is the allowlist of signing algorithms of the platform's issuers.
	Algs []string
	// Fields are the publisher's fields an owner fills in, in form order. The issuer is
	// not among them: it is chosen from the configured issuers of the platform.
	Fields []Field
	// OwnerIDLabel and RepositoryIDLabel name the ids pinned in OwnerID and RepositoryID
	// in the platform's own words; empty when the platform has no such id.
	OwnerIDLabel, RepositoryIDLabel string
	// Refs says whether the platform's tokens name the git ref the job ran for, so that
	// ref rules can be checked.
	Refs bool
	// ProtectedRefs names the claim that says a ref is protected; empty when the
	// platform's tokens do not say, and the protected-refs rule cannot be used.
	ProtectedRefs string
	// CalledWorkflows says whether publishers may pin the reusable workflow a job runs.
	CalledWorkflows bool
	// NewClaims returns an empty value of the platform's typed claims, for the providers
	// to decode a verified payload into.
	NewClaims func() Claims

	validate func(p Publisher, add func(field, msg string))
	match    func(pl *Platform, p Publisher, id Identity) *Mismatch
	// validID checks the form of an id the platform pins; nil means decimal numbers.
	validID func(s string) bool
	// idProblem is the message for an id validID refuses.
	idProblem string
}

// Claims are a platform's typed token claims, decoded from a verified payload.
type Claims interface {
	// Validate requires what matching depends on; its error says which claim is missing
	// or malformed.
	Validate() error
	// Identity is the normalized form of the claims; the caller adds the issuer, jti and
	// times.
	Identity() Identity
}

// Field is one input of a publisher form or one flag of `tpx publisher add`.
type Field struct {
	// Name is the form input's name; Flag the command-line flag, without dashes.
	Name, Flag string
	Label      string
	// Hint says what to enter, with an example; Usage is the flag's value in help.
	Hint, Usage string
	Required    bool
	// Check makes the field a yes/no choice (a checkbox, a flag without value): its value
	// is "true" or "". Suggested is the value a new, empty form starts with.
	Check     bool
	Suggested string
	// Disabled fields are shown, with their hint saying why, but cannot be set.
	Disabled bool
	// Covers lists the policy fields (FieldOwner…) whose validation messages belong
	// next to this input; Set stores the typed value into a publisher, Get reads it back.
	Covers []string
	Set    func(p *Publisher, v string)
	Get    func(p Publisher) string
}

// FieldFor returns the platform's input that shows messages about policy field f, and
// false when the platform has none (a message then belongs to the whole form).
func (pl *Platform) FieldFor(f string) (Field, bool) {
	for _, fd := range pl.Fields {
		for _, c := range fd.Covers {
			if c == f {
				return fd, true
			}
		}
	}
	return Field{}, false
}

// Publisher builds a publisher of this platform from input values by field name; values
// are taken as given, for Validate to judge.
func (pl *Platform) Publisher(issuer string, values func(name string) string) Publisher {
	p := Publisher{Kind: pl.Kind, Issuer: issuer}
	for _, f := range pl.Fields {
		f.Set(&p, values(f.Name))
	}
	return p
}

// The fields that most platforms share, built by helpers so that each platform states
// only its own words.

// repositoryField is "OWNER/NAME" split at its last '/', since GitLab namespaces have
// several parts.
func repositoryField(label, hint, usage string) Field {
	return Field{Name: "repository", Flag: "repository", Label: label, Hint: hint, Usage: usage, Required: true,
		Covers: []string{FieldOwner, FieldName},
		Set: func(p *Publisher, v string) {
			if i := strings.LastIndex(v, "/"); i >= 0 {
				p.Owner, p.Name = v[:i], v[i+1:]
			} else {
				p.Owner, p.Name = v, ""
			}
		},
		Get: func(p Publisher) string { return p.Repository() },
	}
}

func workflowField(label, hint, usage string, required bool) Field {
	return Field{Name: "workflow", Flag: "workflow", Label: label, Hint: hint, Usage: usage, Required: required,
		Covers: []string{FieldWorkflow},
		Set:    func(p *Publisher, v string) { p.Workflow = v },
		Get:    func(p Publisher) string { return p.Workflow },
	}
}

func environmentField(label, hint string) Field {
	return Field{Name: "environment", Flag: "environment", Label: label, Hint: hint, Usage: "E",
		Covers: []string{FieldEnvironment},
		Set:    func(p *Publisher, v string) { p.Environment = v },
		Get:    func(p Publisher) string { return p.Environment },
	}
}

func ownerIDField(label, hint string) Field {
	return Field{Name: "owner_id", Flag: "owner-id", Label: label, Hint: hint, Usage: "ID",
		Covers: []string{FieldOwnerID},
		Set:    func(p *Publisher, v string) { p.OwnerID = v },
		Get:    func(p Publisher) string { return p.OwnerID },
	}
}

func repositoryIDField(label, hint string) Field {
	return Field{Name: "repository_id", Flag: "repository-id", Label: label, Hint: hint, Usage: "ID",
		Covers: []string{FieldRepositoryID},
		Set:    func(p *Publisher, v string) { p.RepositoryID = v },
		Get:    func(p Publisher) string { return p.RepositoryID },
	}
}

func calledWorkflowField(label, hint string) Field {
	return Field{Name: FieldCalledWorkflow, Flag: "called-workflow", Label: label, Hint: hint, Usage: "OWNER/REPO/PATH[@REF]",
		Covers: []string{FieldCalledWorkflow},
		Set:    func(p *Publisher, v string) { p.CalledWorkflow = v },
		Get:    func(p Publisher) string { return p.CalledWorkflow },
	}
}

// refFields are the ref rules as inputs, for a platform whose tokens name the ref.
// protected is the claim that says a ref is protected, "" when the platform has none: the
// input is then shown disabled, saying so.
func refFields(label, protected string) []Field {
	prot := Field{Name: FieldRefProtected, Flag: "protected-only", Label: "Protected refs only", Check: true,
		Hint:   "Only jobs for a branch or tag " + label + " reports as protected (" + protected + ") get tokens.",
		Covers: []string{FieldRefProtected},
		Set:    func(p *Publisher, v string) { p.Refs.Protected = v == "true" },
		Get:    func(p Publisher) string { return boolValue(p.Refs.Protected) },
	}
	if protected == "" {
		prot.Disabled = true
		prot.Hint = label + " tokens do not say whether a ref is protected, so this rule is not available."
	}
	return []Field{
		{Name: FieldRefTagsOnly, Flag: "tags-only", Label: "Tags only", Check: true, Suggested: "true",
			Hint:   "Only jobs for a tag (refs/tags/…) get tokens: a pushed branch, however named, cannot publish.",
			Covers: []string{FieldRefTagsOnly},
			Set:    func(p *Publisher, v string) { p.Refs.TagsOnly = v == "true" },
			Get:    func(p Publisher) string { return boolValue(p.Refs.TagsOnly) }},
		{Name: FieldRefPattern, Flag: "ref", Label: "Ref pattern (optional)", Usage: "PATTERN",
			Hint:   "A whole ref such as refs/heads/main, or with * for any characters but '/', such as refs/tags/v*.",
			Covers: []string{FieldRefPattern},
			Set:    func(p *Publisher, v string) { p.Refs.Pattern = v },
			Get:    func(p Publisher) string { return p.Refs.Pattern }},
		prot,
	}
}

// boolValue is a yes/no field's value.
func boolValue(b bool) string {
	if b {
		return "true"
	}
	return ""
}

// PinnedIDs describes p's pins for its owner: the ids it is bound to, or that they are
// pinned on first use.
func (pl *Platform) PinnedIDs(p Publisher) string {
	var parts []string
	if pl.OwnerIDLabel != "" {
		parts = append(parts, pl.OwnerIDLabel+" "+dash(p.OwnerID))
	}
	if pl.RepositoryIDLabel != "" {
		parts = append(parts, pl.RepositoryIDLabel+" "+dash(p.RepositoryID))
	}
	switch {
	case len(parts) == 0:
		return "none (the platform's ids are never reused)"
	case p.OwnerID == "" && p.RepositoryID == "":
		return "pinned on first use"
	}
	return strings.Join(parts, ", ")
}

func dash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}
