package token

import (
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Prefix starts every upload token, so that secret scanners recognise a leaked one.
const Prefix = "tpx_"

// Audience is the "aud" of every upload token: upload services in general. It is a fixed
// value, deliberately different from TPX_AUDIENCE (the audience CI tokens must name to be
// accepted by tpx), so that an upload token presented to tpx's exchange, or a CI token
// presented to an upload service, fails the audience check whatever else it says.
const Audience = "tpx-upload"

// Type is the "typ" header of every upload token (explicit typing, RFC 8725 §3.11): a JWT
// that some other part of a system signs for another purpose cannot pass as an upload
// token even if it were signed with the same key.
const Type = "tpx-upload+jwt"

// Algorithm is the only signature algorithm upload tokens use or verifiers accept.
const Algorithm = string(jose.ES256)

// maxTokenLen bounds what is decoded at all. A token naming a hundred projects is still
// well under it; anything longer is not one of ours and is refused before any parsing.
const maxTokenLen = 16 << 10

// Errors Verify and Parse return, wrapped with the detail; test them with errors.Is.
// Every one except ErrKeysUnavailable means the token must be refused. ErrKeysUnavailable
// means tpx's keys could not be fetched: the token may be fine, and the upload service
// should answer with a temporary failure rather than call the token invalid.
var (
	ErrMalformed       = errors.New("not a well-formed upload token")
	ErrUnknownKey      = errors.New("upload token is signed with an unknown key")
	ErrSignature       = errors.New("upload token signature does not verify")
	ErrIssuer          = errors.New("upload token is from another issuer")
	ErrAudience        = errors.New("upload token is for another audience")
	ErrExpired         = errors.New("upload token has expired")
	ErrNotYetValid     = errors.New("upload token is not valid yet")
	ErrKeysUnavailable = errors.New("tpx signing keys are unavailable")
)

// Claims is the payload of an upload token. The JSON names are the wire contract that
// upload services rely on (DESIGN §3); times travel as NumericDate (seconds since the
// epoch), as in every JWT.
type Claims struct {
	// Issuer is tpx's public URL (TPX_PUBLIC_URL); Mint sets it.
	Issuer string `json:"iss"`
	// Audience is always the constant Audience; Mint sets it.
	Audience string `json:"aud"`
	// Subject names the publisher's source, built by the caller as
	// "<kind>:<repository>", e.g. "github:octo-org/octo-repo" or
	// "gitlab:my-group/my-project". It is for logs and audit trails; decisions use
	// Projects.
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

	// IssuedAt, NotBefore, ExpiresAt and ID are set by Mint.
	IssuedAt  time.Time `json:"iat"`
	NotBefore time.Time `json:"nbf"`
	ExpiresAt time.Time `json:"exp"`
	ID        string    `json:"jti"` // 128 random bits, base64url
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

// parseHeader checks everything that can be checked before a key is chosen, so that a
// token with a foreign algorithm, type or shape never causes a key lookup, let alone a
// JWKS fetch. It returns the parsed JWS and its key id.
func parseHeader(raw string) (*jose.JSONWebSignature, string, error) {
	if len(raw) > maxTokenLen {
		return nil, "", fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxTokenLen)
	}
	compact, ok := strings.CutPrefix(raw, Prefix)
	if !ok {
		return nil, "", fmt.Errorf("%w: does not start with %q", ErrMalformed, Prefix)
	}
	// Only ES256 gets past this call: "none", HS256 (the public key used as an HMAC
	// secret) and every other algorithm fail here.
	jws, err := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	h := jws.Signatures[0].Protected
	// Media types compare without case (RFC 7515 §4.1.9).
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, Type) {
		return nil, "", fmt.Errorf("%w: typ is %q, not %q", ErrMalformed, typ, Type)
	}
	if h.KeyID == "" {
		return nil, "", fmt.Errorf("%w: no kid in the header", ErrMalformed)
	}
	return jws, h.KeyID, nil
}

// checkToken verifies jws with key, then the claims against the expected issuer and
// audience and the time now, allowing leeway for clock skew between tpx and the verifier.
func checkToken(jws *jose.JSONWebSignature, key *ecdsa.PublicKey, issuer, audience string, now time.Time, leeway time.Duration) (Claims, error) {
	payload, err := jws.Verify(key)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	switch {
	case c.Issuer != issuer:
		return Claims{}, fmt.Errorf("%w: iss is %q, want %q", ErrIssuer, c.Issuer, issuer)
	case c.Audience != audience:
		return Claims{}, fmt.Errorf("%w: aud is %q, want %q", ErrAudience, c.Audience, audience)
	case c.ID == "":
		return Claims{}, fmt.Errorf("%w: no jti", ErrMalformed)
	case c.IssuedAt.IsZero() || c.NotBefore.IsZero() || c.ExpiresAt.IsZero():
		return Claims{}, fmt.Errorf("%w: iat, nbf and exp are required", ErrMalformed)
	case !now.Before(c.ExpiresAt.Add(leeway)):
		return Claims{}, fmt.Errorf("%w: at %s", ErrExpired, c.ExpiresAt.UTC().Format(time.RFC3339))
	case now.Add(leeway).Before(c.NotBefore):
		return Claims{}, fmt.Errorf("%w: not before %s", ErrNotYetValid, c.NotBefore.UTC().Format(time.RFC3339))
	case now.Add(leeway).Before(c.IssuedAt):
		return Claims{}, fmt.Errorf("%w: issued in the future, at %s", ErrNotYetValid, c.IssuedAt.UTC().Format(time.RFC3339))
	}
	return c, nil
}
