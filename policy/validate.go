package policy

import (
	"net/netip"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Field names of a publisher as forms, JSON bodies and FieldError use them. FieldName is the
// repository (GitHub) or project (GitLab) name; the owner sees it labelled as such.
const (
	FieldKind         = "kind"
	FieldIssuer       = "issuer"
	FieldOwner        = "owner"
	FieldName         = "name"
	FieldWorkflow     = "workflow"
	FieldEnvironment  = "environment"
	FieldOwnerID      = "owner_id"
	FieldRepositoryID = "repository_id"
	// FieldCalledWorkflow is the reusable workflow a GitHub publisher pins.
	FieldCalledWorkflow = "called_workflow"
)

// FieldError is one problem with one field, worded for the owner who typed it.
type FieldError struct {
	Field   string
	Message string
}

// ValidationError lists every problem with a publisher at once, so that an owner fixes a
// form in one round instead of one field per submission.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	msgs := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		msgs[i] = f.Message
	}
	return strings.Join(msgs, "; ")
}

// Limits an owner can run into. Values beyond them are not names the platforms issue, and
// every accepted byte ends up in an index, a log line and a token.
const (
	maxIssuer      = 255
	maxWorkflow    = 255 // a file name on common file systems; GitLab's ci_config_path column
	maxEnvironment = 255 // GitHub's and GitLab's limit
	maxID          = 20  // digits of the largest unsigned 64-bit number
)

// Validate checks a publisher as an owner entered it. The caller fills Issuer with the
// platform's default when the owner gave none. It returns nil or a *ValidationError.
//
// Validation is what makes Match exact: a workflow with '@', a namespace with an empty
// segment or an id with a leading zero could never equal what a platform puts in a token,
// so such a publisher would silently never match, or match something the owner did not mean.
func Validate(p Publisher) error {
	var errs []FieldError
	add := func(field, msg string) { errs = append(errs, FieldError{Field: field, Message: msg}) }

	pl, known := Lookup(p.Kind)
	if !known {
		add(FieldKind, "kind must be "+KindNames())
	}
	if msg := issuerProblem(p.Issuer); msg != "" {
		add(FieldIssuer, msg)
	}
	// The other fields' rules depend on the platform; judging them against either would
	// produce messages about a platform the owner did not choose.
	if known {
		// A value for a field the platform does not have would be stored and shown, yet
		// never compared: refuse it rather than let it look like a rule.
		for _, f := range []struct{ field, v string }{{FieldOwner, p.Owner}, {FieldWorkflow, p.Workflow}, {FieldEnvironment, p.Environment}} {
			if _, ok := pl.FieldFor(f.field); !ok && f.v != "" {
				add(f.field, pl.Label+" publishers have no "+f.field+"; leave it empty")
			}
		}
		pl.validate(p, add)
		if msg := environmentProblem(p.Environment); msg != "" {
			add(FieldEnvironment, "environment "+msg)
		}
		pl.validateID(FieldOwnerID, pl.OwnerIDLabel, p.OwnerID, add)
		pl.validateID(FieldRepositoryID, pl.RepositoryIDLabel, p.RepositoryID, add)
		pl.validateRefs(p.Refs, add)
		if p.CalledWorkflow != "" && !pl.CalledWorkflows {
			add(FieldCalledWorkflow, pl.Label+" has no reusable workflows to pin; leave the called workflow empty")
		}
	}
	if len(errs) > 0 {
		return &ValidationError{Fields: errs}
	}
	return nil
}

// validateID checks an optional pinned id, named label in the platform's own words so that
// a message points at the number the owner can look up. A platform without such an id
// takes none.
func (pl *Platform) validateID(field, label, v string, add func(field, msg string)) {
	switch {
	case v == "":
	case label == "":
		add(field, pl.Label+" publishers pin no such id; leave it empty")
	case !pl.idValid(v):
		msg := pl.idProblem
		if msg == "" {
			msg = "must be a decimal number without leading zeros, at most 20 digits"
		}
		add(field, label+" "+msg+" (or empty to pin it on first use)")
	}
}

// idValid reports whether s is an id of the platform's form; decimal numbers unless the
// platform says otherwise.
func (pl *Platform) idValid(s string) bool {
	if pl.validID != nil {
		return pl.validID(s)
	}
	return validID(s)
}

// issuerProblem returns what is wrong with an issuer URL, or "". Tokens are matched to
// publishers by comparing `iss` with Issuer as exact strings, so anything a platform never
// puts in `iss` (a trailing '/', a query) is refused here rather than never matching later.
func issuerProblem(s string) string {
	const form = "issuer must be an https:// URL without user name, query, fragment or trailing '/', e.g. https://gitlab.com"
	if s == "" {
		return "issuer is required"
	}
	if len(s) > maxIssuer {
		return "issuer must be at most 255 characters"
	}
	if strings.ContainsAny(s, "?#@\\") || strings.HasSuffix(s, "/") || !visibleASCII(s) {
		return form
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return form
	}
	switch u.Scheme {
	case "https":
	case "http":
		// Plain http only for an issuer on this machine (development, tests): anywhere else
		// the keys that vouch for every token would travel unprotected.
		if !loopback(u.Hostname()) {
			return "issuer must use https:// (http:// is accepted only for localhost)"
		}
	default:
		return form
	}
	return ""
}

func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// environmentProblem applies the rules both platforms share for environment names: an
// environment is optional, and when given it must be a name the platform can put in a token.
func environmentProblem(s string) string {
	switch {
	case s == "":
		return ""
	case !utf8.ValidString(s):
		return "must be valid UTF-8 text"
	case utf8.RuneCountInString(s) > maxEnvironment:
		return "must be at most 255 characters"
	case strings.TrimSpace(s) == "":
		return "must not be only spaces; leave it empty to accept any environment"
	case strings.TrimSpace(s) != s:
		return "must not start or end with spaces"
	case !printable(s):
		return "must not contain control or other invisible characters"
	}
	return ""
}

// validID checks a numeric platform id. Ids are compared as strings, so "074" or "+74"
// would never equal the "74" a platform sends.
func validID(s string) bool {
	if s == "" || len(s) > maxID || s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// yamlFile reports whether name ends in .yml or .yaml after at least one other character.
func yamlFile(name string) bool {
	for _, ext := range []string{".yml", ".yaml"} {
		if len(name) > len(ext) && strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// visibleASCII reports whether s has only printable ASCII characters other than space.
func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// printable reports whether s is valid UTF-8 without control or invisible characters. The
// ASCII space counts as printable (unicode.IsPrint); other spaces do not, since they look
// like a space on screen but never equal the one the platform sends.
func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) })
}
