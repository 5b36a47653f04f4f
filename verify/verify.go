package verify

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tpx-dev/tpx/verify/keycache"
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

// JWKSPath and DiscoveryPath are where tpx serves its keys and its discovery document,
// relative to its public URL.
const (
	JWKSPath      = "/.well-known/jwks.json"
	DiscoveryPath = "/.well-known/openid-configuration"
)

// NotBeforeSkew is how long before its "iat" an upload token's "nbf" lies. A verifier
// whose clock runs up to this much behind tpx's accepts a fresh token even with no leeway
// of its own (PyJWT and jose allow none by default).
const NotBeforeSkew = 30 * time.Second

// DefaultLeeway is the clock skew a Verifier forgives on "exp" and "iat" (and on "nbf",
// which NotBeforeSkew already puts in the past) unless Config.Leeway says otherwise.
const DefaultLeeway = 30 * time.Second

// MaxTokenBytes bounds what is decoded at all. A token naming a hundred projects is still
// well under it; anything longer is not an upload token and is refused before parsing.
const MaxTokenBytes = 16 << 10

// maxJWKSBytes bounds the key set read: tpx publishes two or three small EC keys.
const maxJWKSBytes = 256 << 10

// Errors Verify returns, wrapped with the detail; test them with errors.Is. Every one
// except ErrKeysUnavailable means the token must be refused. ErrKeysUnavailable means
// tpx's keys could not be fetched: the token may be fine, and the upload service should
// answer with a temporary failure (503) rather than call the token invalid.
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

// Config configures a Verifier; only Issuer is required.
type Config struct {
	// Issuer is tpx's public URL (TPX_PUBLIC_URL), compared exactly with "iss". Keys are
	// fetched from Issuer + JWKSPath and from nowhere else: nothing in a token chooses
	// where keys come from. It must be https; plain http is accepted on loopback only.
	Issuer string
	// Audience is the "aud" required; default Audience.
	Audience string
	// HTTPClient fetches the key set; default a client with a 10 s timeout. Redirects to
	// another scheme or host are refused whatever the client says.
	HTTPClient *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Leeway is the clock skew allowed on exp, nbf and iat; default DefaultLeeway.
	Leeway time.Duration
	// Cooldown is the least time between two key set fetches, so that tokens with
	// made-up key ids cannot make the upload service hammer tpx; default 60 s.
	Cooldown time.Duration
	// Keys, if set, supplies the keys instead of tpx's published key set, and nothing is
	// fetched: tpx checks its own tokens this way, against the keys it holds.
	Keys func(kid string) (*ecdsa.PublicKey, bool)
}

// Verifier checks upload tokens for an upload service. It is safe for concurrent use.
//
// It fetches tpx's key set on first use and caches it. A token whose kid is not cached
// causes a refetch, at most one per Cooldown, shared by all requests waiting for it; keys
// older than an hour are refetched by the next Verify; keys that could not be refreshed
// for 24 hours are no longer trusted. A fetched set that is empty, too big or unparseable
// never replaces a good one.
type Verifier struct {
	issuer, audience string
	now              func() time.Time
	leeway           time.Duration
	key              func(ctx context.Context, kid string) (*ecdsa.PublicKey, error)
}

// New returns a Verifier for cfg. It makes no request: keys are fetched on first use.
func New(cfg Config) (*Verifier, error) {
	v := &Verifier{issuer: cfg.Issuer, audience: cfg.Audience, now: cfg.Now, leeway: cfg.Leeway}
	if v.audience == "" {
		v.audience = Audience
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.leeway == 0 {
		v.leeway = DefaultLeeway
	}
	if v.leeway < 0 {
		return nil, fmt.Errorf("verify: negative leeway %v", v.leeway)
	}
	if cfg.Keys != nil {
		v.key = func(_ context.Context, kid string) (*ecdsa.PublicKey, error) {
			if k, ok := cfg.Keys(kid); ok {
				return k, nil
			}
			return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, clip(kid))
		}
		return v, nil
	}
	if err := checkIssuer(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("verify: issuer %q: %w", cfg.Issuer, err)
	}
	client := http.Client{Timeout: 10 * time.Second}
	if cfg.HTTPClient != nil {
		client = *cfg.HTTPClient
	}
	client.CheckRedirect = keycache.SameHostRedirects
	jwksURL := strings.TrimSuffix(cfg.Issuer, "/") + JWKSPath
	cache, err := keycache.New(keycache.Config[*ecdsa.PublicKey]{
		Now:      v.now,
		Cooldown: cfg.Cooldown,
		Fetch: func(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
			body, err := keycache.Get(ctx, &client, jwksURL, maxJWKSBytes)
			if err != nil {
				return nil, err
			}
			keys, _, err := keycache.ParseJWKS(body, es256Key)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", jwksURL, err)
			}
			return keys, nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	v.key = func(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
		k, err := cache.Key(ctx, kid)
		switch {
		case err == nil:
			return k, nil
		case errors.Is(err, keycache.ErrUnavailable):
			// Also when the kid is unknown but the key set could not be refreshed: tpx
			// may have published the key in the set that could not be read, so this is
			// a temporary failure, not proof that the token is forged.
			return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
		case errors.Is(err, keycache.ErrUnknownKey):
			return nil, fmt.Errorf("%w: %w", ErrUnknownKey, err)
		}
		return nil, err
	}
	return v, nil
}

// checkIssuer admits https URLs, and plain http on loopback (tests, a local demo): keys
// fetched over plain http from anywhere else could be replaced on the way.
func checkIssuer(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return err
	case u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return errors.New("not an absolute URL with a host and nothing else")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	case u.Scheme == "http":
		return errors.New("plain http is accepted on loopback only")
	}
	return errors.New("scheme must be https")
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// es256Key keeps P-256 public keys published for ES256 (or for no stated algorithm).
// Keys of other kinds are skipped rather than failing the set, so that a newer tpx can
// publish a key type this verifier does not know without breaking it.
func es256Key(k jose.JSONWebKey) (*ecdsa.PublicKey, bool) {
	pub, ok := k.Key.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() || (k.Algorithm != "" && k.Algorithm != Algorithm) {
		return nil, false
	}
	return pub, true
}

// Verify checks raw (the whole "tpx_…" string) and returns its claims. Before anything
// else it checks the length, the prefix, the algorithm (ES256 only), the type and the
// presence of a kid; then the signature with the published key of that kid, "iss" and
// "aud" exactly, exp, nbf and iat with the leeway, and that a jti is present. The caller
// then decides with Claims.Covers whether the token reaches the project being uploaded.
func (v *Verifier) Verify(ctx context.Context, raw string) (Claims, error) {
	jws, kid, err := parseHeader(raw)
	if err != nil {
		return Claims{}, err
	}
	key, err := v.key(ctx, kid)
	if err != nil {
		return Claims{}, err
	}
	return v.check(jws, key)
}

// parseHeader checks everything that can be checked before a key is chosen, so that a
// token with a foreign algorithm, type or shape never causes a key lookup, let alone a
// key set fetch. It returns the parsed JWS and its key id.
func parseHeader(raw string) (*jose.JSONWebSignature, string, error) {
	if len(raw) > MaxTokenBytes {
		return nil, "", fmt.Errorf("%w: longer than %d bytes", ErrMalformed, MaxTokenBytes)
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
		return nil, "", fmt.Errorf("%w: typ is %q, not %q", ErrMalformed, clip(typ), Type)
	}
	if h.KeyID == "" {
		return nil, "", fmt.Errorf("%w: no kid in the header", ErrMalformed)
	}
	return jws, h.KeyID, nil
}

// check verifies jws with key, then the claims against the expected issuer and audience
// and the time now, allowing the leeway for clock skew between tpx and the verifier.
func (v *Verifier) check(jws *jose.JSONWebSignature, key *ecdsa.PublicKey) (Claims, error) {
	payload, err := jws.Verify(key)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: claims: %v", ErrMalformed, err)
	}
	now, leeway := v.now(), v.leeway
	switch {
	case c.Issuer != v.issuer:
		return Claims{}, fmt.Errorf("%w: iss is %q, want %q", ErrIssuer, clip(c.Issuer), v.issuer)
	case c.Audience != v.audience:
		return Claims{}, fmt.Errorf("%w: aud is %q, want %q", ErrAudience, clip(c.Audience), v.audience)
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

// clip bounds a string taken from a token before it reaches an error message.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
