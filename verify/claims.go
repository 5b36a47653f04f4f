package verify

import (
	"encoding/json"
	"slices"
	"time"
)

// Claims is the payload of an upload token. The JSON names are the wire contract that
// upload services rely on; times travel as NumericDate (seconds since the epoch), as in
// every JWT.
type Claims struct {
	// Issuer is tpx's public URL (TPX_PUBLIC_URL).
	Issuer string `json:"iss"`
	// Audience is always the constant Audience.
	Audience string `json:"aud"`
	// Subject names the publisher's source, "<kind>:<repository>", e.g.
	// "github:octo-org/octo-repo" or "gitlab:my-group/my-project". It is for logs and
	// audit trails; decisions use Projects.
	Subject string `json:"sub"`
	// Projects are the project names the token may upload to, in ProjectKey form.
	Projects  []string  `json:"projects"`
	Publisher Publisher `json:"publisher"`

	// Source facts of the CI run that asked for the token, copied from the verified CI
	// token so that an upload service can record provenance. Empty when the platform did
	// not say.
	Ref         string `json:"ref,omitempty"`         // GitHub ref, GitLab ref_path
	SHA         string `json:"sha,omitempty"`         // commit
	RunID       string `json:"run_id,omitempty"`      // GitHub run_id, GitLab pipeline_id
	RunAttempt  string `json:"run_attempt,omitempty"` // GitHub run_attempt, GitLab job_id
	Event       string `json:"event,omitempty"`       // GitHub event_name, GitLab pipeline_source
	Environment string `json:"environment,omitempty"` // deployment environment the job ran in

	// IssuedAt is when tpx minted the token; NotBefore is NotBeforeSkew earlier, so that
	// a verifier whose clock runs behind tpx's accepts a fresh token; ExpiresAt is the
	// token's lifetime (15 minutes by default) after IssuedAt. ID is 128 random bits,
	// base64url, unique per token.
	IssuedAt  time.Time `json:"iat"`
	NotBefore time.Time `json:"nbf"`
	ExpiresAt time.Time `json:"exp"`
	ID        string    `json:"jti"`
}

// Publisher identifies the trusted-publisher configuration that matched.
type Publisher struct {
	ID         int64  `json:"id"`
	Kind       string `json:"kind"`       // "github", "gitlab"
	Repository string `json:"repository"` // "owner/repo", "namespace/project"
	Workflow   string `json:"workflow"`   // workflow file or CI configuration path
	// Environment is the publisher's required environment; empty when it allows any.
	Environment string `json:"environment,omitempty"`
}

// Covers reports whether the token may upload to project, however the uploader spells it:
// both sides are compared in ProjectKey form, so "Foo.Bar" is covered by a token for
// "foo-bar", as an index that treats them as one project expects.
func (c Claims) Covers(project string) bool {
	key := ProjectKey(project)
	return slices.ContainsFunc(c.Projects, func(p string) bool { return ProjectKey(p) == key })
}

// claimsJSON is Claims with the NumericDate fields as integers. The outer fields are
// shallower than the embedded ones of the same name, so encoding/json uses them.
type claimsJSON struct {
	*claimsFields
	IssuedAt  int64 `json:"iat"`
	NotBefore int64 `json:"nbf"`
	ExpiresAt int64 `json:"exp"`
}

// claimsFields is Claims without its methods, so embedding it does not recurse.
type claimsFields Claims

// MarshalJSON writes the times as NumericDate, so that Claims can be signed as they are
// and returned as they are (RFC 7662 introspection uses the same names).
func (c Claims) MarshalJSON() ([]byte, error) {
	return json.Marshal(claimsJSON{
		claimsFields: (*claimsFields)(&c),
		IssuedAt:     numericDate(c.IssuedAt),
		NotBefore:    numericDate(c.NotBefore),
		ExpiresAt:    numericDate(c.ExpiresAt),
	})
}

// UnmarshalJSON reads NumericDate times; a missing or zero one gives the zero time.
func (c *Claims) UnmarshalJSON(b []byte) error {
	w := claimsJSON{claimsFields: (*claimsFields)(c)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	c.IssuedAt, c.NotBefore, c.ExpiresAt = fromNumericDate(w.IssuedAt), fromNumericDate(w.NotBefore), fromNumericDate(w.ExpiresAt)
	return nil
}

func numericDate(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func fromNumericDate(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0)
}
