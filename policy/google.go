package policy

import (
	"errors"
	"strings"
)

// GoogleIssuer is the issuer of Google's ID tokens, service accounts' included.
const GoogleIssuer = "https://accounts.google.com"

// googlePlatform is a Google Cloud service account: a job on Cloud Build, Cloud Run or any
// machine holding the account asks for an ID token with our audience. The account's email
// names it; its numeric unique id (sub) survives the account being deleted and another
// created with the same email, so it is pinned.
var googlePlatform = Platform{
	Kind:          Google,
	Label:         "Google Cloud",
	DefaultIssuer: GoogleIssuer,
	IssuerHint:    "https://accounts.google.com",
	Algs:          []string{"RS256"},
	Fields: []Field{
		{Name: "email", Flag: "email", Label: "Service account email", Usage: "EMAIL", Required: true,
			Hint:   "For example publisher@my-project.iam.gserviceaccount.com.",
			Covers: []string{FieldName},
			Set:    func(p *Publisher, v string) { p.Name = v },
			Get:    func(p Publisher) string { return p.Name }},
		repositoryIDField("Unique id (optional)", "The account's numeric unique id (IAM, Service accounts, Unique ID); left empty, it is pinned on first use."),
	},
	RepositoryIDLabel: "unique id",
	NewClaims:         func() Claims { return new(GoogleClaims) },
	validate:          validateGoogle,
	match:             matchGoogle,
	// Google's unique ids are 21 decimal digits, longer than the ids of the other
	// platforms.
	validID:   func(s string) bool { return decimal(s, 32) },
	idProblem: "must be the account's decimal unique id without leading zeros",
}

// decimal reports whether s is a decimal number without leading zeros of at most max digits.
func decimal(s string, max int) bool {
	return s != "" && len(s) <= max && s[0] != '0' && strings.Trim(s, "0123456789") == ""
}

const maxEmail = 254

// validateGoogle checks the email as Google writes it in tokens: one address, lower case
// (Google lower-cases service account emails, and the comparison is exact).
func validateGoogle(p Publisher, add func(field, msg string)) {
	e := p.Name
	local, domain, ok := strings.Cut(e, "@")
	switch {
	case e == "":
		add(FieldName, "service account email is required")
	case len(e) > maxEmail || !visibleASCII(e) || !ok || local == "" || !strings.Contains(domain, ".") ||
		strings.Contains(domain, "@") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, "."):
		add(FieldName, "service account email must be one address such as publisher@my-project.iam.gserviceaccount.com")
	case strings.ToLower(e) != e:
		add(FieldName, "service account email must be in lower case, as Google writes it in tokens")
	}
}

// matchGoogle compares the email exactly and the pinned unique id.
func matchGoogle(pl *Platform, p Publisher, id Identity) *Mismatch {
	if id.Repository != p.Name {
		return mismatch("service account %s, publisher has %s", show(id.Repository), show(p.Name)).in("repository")
	}
	return matchPins(pl, p, id)
}

// GoogleClaims are the claims of a Google ID token for a service account that tpx reads.
// email_verified is a JSON boolean; a token whose email Google has not verified names no
// account tpx can trust.
type GoogleClaims struct {
	Subject         string `json:"sub"`
	Email           string `json:"email"`
	EmailVerified   bool   `json:"email_verified"`
	AuthorizedParty string `json:"azp"`
}

// Validate requires a verified email and the numeric unique id.
func (c *GoogleClaims) Validate() error {
	switch {
	case c.Email == "":
		return errors.New("email is missing (the token must be requested with the email included)")
	case !c.EmailVerified:
		return errors.New("email_verified is not true")
	case !decimal(c.Subject, 32):
		return errors.New("sub is not a service account's numeric unique id")
	}
	return nil
}

// Identity is the normalized form of the claims.
func (c *GoogleClaims) Identity() Identity {
	return Identity{Kind: Google, Repository: c.Email, RepositoryID: c.Subject, Actor: c.Email}
}
