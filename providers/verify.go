package providers

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejson "github.com/go-jose/go-jose/v4/json"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/verify/keycache"
)

// platformIdentity decodes platform pl's typed claims from a verified payload with d, pl's
// decoder, requires what its matching depends on, and fills the platform's fields of id.
func platformIdentity(pl *policy.Platform, d *claimDecoder, payload object, id *policy.Identity) error {
	c := pl.NewClaims()
	if err := d.decode(payload, c); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return &CheckError{Public: fmt.Sprintf("the token lacks what a %s token carries: %v", pl.Kind, err), Err: err}
	}
	fill(id, c.Identity())
	return nil
}

// Longest kid and jti accepted: real ones are 40–64 characters; the bound keeps junk out
// of lookups, logs and the exchange records.
const (
	maxKidBytes = 256
	maxJTIBytes = 256
)

// Verify checks raw, an ID token from a CI job, and returns who it says ran the job.
// Errors wrap ErrMalformed, ErrUnknownIssuer, ErrNotEnabled, ErrInvalidToken or
// ErrKeysUnavailable. On an error after iss named a configured issuer, the identity
// returned holds that issuer alone, so the failure can be counted against it.
//
// The order is the defence: nothing is parsed before the size and shape are known to be
// sane; iss is read unverified only to choose among configured issuers, so an unknown one
// never causes a request; the algorithm and kid are settled before a key is looked up;
// claims are believed only after the signature verifies. Headers that point at or carry
// keys (jku, x5u, jwk, x5c) are never fetched or used; a token whose jwk or x5c is
// malformed is refused.
func (s *Set) Verify(ctx context.Context, raw string) (policy.Identity, error) {
	return s.VerifyAudience(ctx, raw, s.cfg.Audience)
}

// VerifyAudience is Verify for a token that must carry audience instead of the Set's own:
// each client protocol tpx speaks derives its audience from the index's URL in its own
// way (npm:HOST, HOST/PATH), and a token requested for one protocol is accepted only on
// that protocol's route. The issuers, keys and every other check are the same.
func (s *Set) VerifyAudience(ctx context.Context, raw, audience string) (policy.Identity, error) {
	_, pseg, err := splitCompact(raw, s.cfg.MaxTokenBytes)
	if err != nil {
		return policy.Identity{}, err
	}
	payload, err := decodeSegment("payload", pseg)
	if err != nil {
		return policy.Identity{}, err
	}
	// The payload, unverified, is read here only for iss. parseObject refuses a payload
	// naming iss twice in any case, so every reader would pick the same issuer; the claims
	// it parsed are believed once the signature over these bytes verifies.
	claims, err := parseObject("payload", payload)
	if err != nil {
		return policy.Identity{}, err
	}
	iss, err := claims.str("iss")
	if err != nil {
		return policy.Identity{}, fmt.Errorf("%w: iss: %v", ErrMalformed, err)
	}
	is, ok := s.byIss[iss]
	if !ok {
		return policy.Identity{}, &IssuerError{Issuer: clip(iss)}
	}
	if is.Disabled {
		return policy.Identity{Issuer: is.Issuer}, fmt.Errorf("%w: %s", ErrNotEnabled, is.Issuer)
	}
	id, err := s.verify(ctx, is, raw, payload, claims, audience)
	if err != nil {
		return policy.Identity{Issuer: is.Issuer}, err
	}
	return id, nil
}

// verify is Verify for a token whose iss named is, a configured issuer switched on. go-jose
// parses the token under the provider's algorithm allowlist, so a token signed with any
// other algorithm is refused before a key is looked up; no key is taken from the token
// itself: go-jose checks the signature with the one our cache holds for the kid. The
// claims are believed only once go-jose has verified the payload they were read from.
func (s *Set) verify(ctx context.Context, is *issuer, raw string, peeked []byte, claims object, audience string) (policy.Identity, error) {
	jws, err := jose.ParseSignedCompact(raw, is.algs)
	if err != nil {
		return policy.Identity{}, is.headerError(raw[:strings.IndexByte(raw, '.')], err)
	}
	kid, err := is.checkHeader(jws.Signatures[0].Protected)
	if err != nil {
		return policy.Identity{}, err
	}
	key, err := is.keys.Key(ctx, kid)
	switch {
	case errors.Is(err, keycache.ErrUnknownKey):
		// Even when the refetch it caused failed: the exchange refuses a token whose key
		// it does not hold, and the CI job retries with a new token.
		return policy.Identity{}, &CheckError{
			Public: fmt.Sprintf("the token is signed with key %s, which is not among the keys its issuer publishes; request a fresh token", clip(kid)),
			Err:    fmt.Errorf("%s: %w", is.Issuer, err)}
	case err != nil:
		return policy.Identity{}, fmt.Errorf("%w: %s: %w", ErrKeysUnavailable, is.Issuer, err)
	}
	now := s.cfg.Now()
	payload, err := jws.Verify(key)
	if err != nil {
		return policy.Identity{}, invalid(fmt.Sprintf("the token's signature does not verify with its issuer's key %s: it was altered, or not signed by %s", clip(kid), is.Issuer),
			"%s: signature does not verify", is.Issuer)
	}
	// The claims were parsed from peeked, the payload segment decoded strictly; they are
	// the verified claims because go-jose verified those very bytes. Parsing its copy
	// again would cost a tenth of a verification and find the same members.
	if !bytes.Equal(payload, peeked) {
		return policy.Identity{}, fmt.Errorf("%w: the payload go-jose verified is not the one read", ErrMalformed)
	}
	id, err := s.checkClaims(claims, now, audience)
	if err != nil {
		return policy.Identity{}, fmt.Errorf("%s: %w", is.Issuer, err)
	}
	id.Kind, id.Issuer = is.Kind, is.Issuer
	if err := platformIdentity(is.p, is.claims, claims, &id); err != nil {
		return policy.Identity{}, fmt.Errorf("%s token from %s: %w", is.Kind, is.Issuer, err)
	}
	return id, nil
}

// headerError says why go-jose refused the header hseg. An algorithm outside the allowlist,
// or a member of the wrong kind (kid, jwk, x5c, nonce) in an otherwise sound header, makes
// an invalid token; a header that is not one JSON object, each member named once, is
// malformed, like any other broken JSON. go-jose's own text quotes header values whole,
// so it is clipped.
func (is *issuer) headerError(hseg string, err error) error {
	var alg *jose.ErrUnexpectedSignatureAlgorithm
	if errors.As(err, &alg) {
		return invalid(fmt.Sprintf("the token is signed with algorithm %s; %s tokens must use %s", clip(string(alg.Got)), is.Kind, algNames(is.algs)),
			"alg %s is not allowed for %s tokens", clip(string(alg.Got)), is.Kind)
	}
	hb, _ := base64.RawURLEncoding.DecodeString(hseg)
	var members map[string]josejson.RawMessage
	if josejson.Unmarshal(hb, &members) != nil || members == nil {
		return fmt.Errorf("%w: header is not a JSON object, each member once", ErrMalformed)
	}
	return fmt.Errorf("%w: header: %s", ErrInvalidToken, clip(err.Error()))
}

// checkHeader requires a kid and refuses the extensions a verifier must understand or
// refuse (RFC 7515 §4.1.11), of which we understand none, before any key is looked up or
// fetched.
func (is *issuer) checkHeader(h jose.Header) (kid string, err error) {
	for _, name := range []jose.HeaderKey{"crit", "b64"} {
		if _, ok := h.ExtraHeaders[name]; ok {
			return "", invalid(fmt.Sprintf("the token's header has %s, which this service does not support", name), "header %s is not supported", name)
		}
	}
	if kid = h.KeyID; kid == "" || len(kid) > maxKidBytes {
		return "", invalid("the token's header has no usable kid (key id)", "kid is required, of at most %d bytes; got %d", maxKidBytes, len(kid))
	}
	return kid, nil
}

// checkClaims checks the claims every token must have: a single audience, iat required
// and not in the future, nbf not in the future, exp after iat and not past, jti present.
// Each failure is a CheckError whose public sentence names the check, the token's value
// and what this service expected.
func (s *Set) checkClaims(c object, now time.Time, audience string) (policy.Identity, error) {
	hint := fmt.Sprintf("request the token with the audience %q", audience)
	if audience == s.cfg.Audience {
		hint += ", which GET /_/oidc/audience returns"
	}
	if err := checkAudience(c, audience, hint); err != nil {
		return policy.Identity{}, err
	}
	late := now.Add(s.cfg.Leeway)
	clock := fmt.Sprintf("this service's clock says %s, with %v of leeway", stamp(now), s.cfg.Leeway)
	iat, err := c.date("iat")
	if err != nil {
		return policy.Identity{}, invalid("the token's iat (issued at) is missing or not a number", "iat: %w", err)
	}
	if iat.After(late) {
		return policy.Identity{}, invalid(fmt.Sprintf("the token was issued in the future, at %s (%s); check the CI runner's clock", stamp(iat), clock),
			"iat %v is in the future (now %v)", iat, now)
	}
	nbf, err := c.date("nbf")
	switch {
	case errors.Is(err, errAbsent):
	case err != nil:
		return policy.Identity{}, invalid("the token's nbf (not before) is not a number", "nbf: %w", err)
	case nbf.After(late):
		return policy.Identity{}, invalid(fmt.Sprintf("the token is not valid before %s (%s)", stamp(nbf), clock),
			"nbf %v is in the future (now %v)", nbf, now)
	}
	exp, err := c.date("exp")
	if err != nil {
		return policy.Identity{}, invalid("the token's exp (expiry) is missing or not a number", "exp: %w", err)
	}
	if !exp.After(iat) {
		return policy.Identity{}, invalid(fmt.Sprintf("the token expires (%s) no later than it was issued (%s)", stamp(exp), stamp(iat)),
			"exp %v is not after iat %v", exp, iat)
	}
	if exp.Before(now.Add(-s.cfg.Leeway)) {
		return policy.Identity{}, invalid(fmt.Sprintf("the token expired at %s (%s); request a fresh token just before the exchange", stamp(exp), clock),
			"token expired at %v (now %v)", exp, now)
	}
	jti, err := c.str("jti")
	switch {
	case err != nil:
		return policy.Identity{}, invalid("the token has no jti (token id)", "jti: %w", err)
	case jti == "" || len(jti) > maxJTIBytes:
		return policy.Identity{}, invalid(fmt.Sprintf("the token's jti (token id) must be 1 to %d bytes long", maxJTIBytes), "jti of %d bytes", len(jti))
	}
	return policy.Identity{JTI: jti, IssuedAt: iat, Expiry: exp}, nil
}

// stamp writes a time for a CI job's log: UTC, to the second.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// algNames lists algorithms for a sentence.
func algNames(algs []jose.SignatureAlgorithm) string {
	names := make([]string, len(algs))
	for i, a := range algs {
		names[i] = string(a)
	}
	return strings.Join(names, " or ")
}

// checkAudience accepts aud only when it names our audience and nothing else: a token
// minted for several relying parties could be replayed by any of them.
func checkAudience(c object, want, hint string) error {
	v, ok := c.get("aud")
	if !ok {
		return invalid("the token has no audience (aud); "+hint, "aud: absent")
	}
	if v[0] == '"' {
		one, err := unquote(v)
		if err != nil {
			return invalid("the token's audience (aud) is not a string; "+hint, "aud is not a string")
		}
		if one != want {
			return invalid(fmt.Sprintf("the token's audience is %s, but this service accepts only %q; %s", clip(one), want, hint), "aud %s is not ours", clip(one))
		}
		return nil
	}
	var list []string
	if err := json.Unmarshal([]byte(v), &list); err != nil {
		return invalid("the token's audience (aud) is neither a string nor a list of strings; "+hint, "aud is neither a string nor a list of strings")
	}
	if len(list) != 1 {
		return invalid(fmt.Sprintf("the token names %d audiences; this service accepts a token for %q alone: %s", len(list), want, hint),
			"aud lists %d audiences; only ours alone is accepted", len(list))
	}
	if list[0] != want {
		return invalid(fmt.Sprintf("the token's audience is %s, but this service accepts only %q; %s", clip(list[0]), want, hint), "aud %s is not ours", clip(list[0]))
	}
	return nil
}
