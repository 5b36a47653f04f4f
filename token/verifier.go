package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// JWKSPath and DiscoveryPath are where tpx serves its keys and its discovery document,
// relative to its public URL.
const (
	JWKSPath      = "/.well-known/jwks.json"
	DiscoveryPath = "/.well-known/openid-configuration"
)

const (
	defaultLeeway   = 30 * time.Second
	defaultCooldown = 60 * time.Second
	// jwksTimeout bounds one fetch, so that a slow tpx stalls uploads for seconds, not
	// for as long as the upload service's own request timeout.
	jwksTimeout = 5 * time.Second
	// maxJWKSBytes bounds the body read: tpx publishes two or three small EC keys.
	maxJWKSBytes = 256 << 10
	// keysRefreshAfter is the age after which the next Verify refetches the JWKS in the
	// background while still using the cached keys, so that a key tpx withdrew stops
	// being trusted within about this long.
	keysRefreshAfter = time.Hour
	// keysMaxStale is how long cached keys keep being trusted while tpx cannot be
	// reached; after that Verify fails closed with ErrKeysUnavailable.
	keysMaxStale = 24 * time.Hour
)

// VerifierConfig configures a Verifier; only Issuer is required.
type VerifierConfig struct {
	// Issuer is tpx's public URL (TPX_PUBLIC_URL), compared exactly with "iss". Keys are
	// fetched from Issuer + JWKSPath and from nowhere else: nothing in a token chooses
	// where keys come from. It must be an https URL; plain http is accepted only for a
	// loopback host (localhost, 127.0.0.0/8, ::1), where no network lies between the
	// upload service and tpx.
	Issuer string
	// Audience is the "aud" required; default Audience.
	Audience string
	// HTTPClient fetches the JWKS; default a client with a 5 s timeout. Redirects to
	// another host or scheme are refused whatever the client says.
	HTTPClient *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Leeway is the clock skew allowed on exp, nbf and iat; default 30 s.
	Leeway time.Duration
	// Cooldown is the least time between two JWKS fetches, so that tokens with made-up
	// key ids cannot make the upload service hammer tpx; default 60 s.
	Cooldown time.Duration
}

// Verifier checks upload tokens for an upload service. It is safe for concurrent use.
//
// It fetches tpx's JWKS on first use and caches it. A token whose kid is not cached
// causes a refetch, at most one per Cooldown, shared by all requests waiting for it; a
// cache older than an hour is refreshed in the background; a cache that could not be
// refreshed for 24 hours is no longer trusted. A fetched set that is empty, too big or
// unparseable never replaces a good one.
type Verifier struct {
	issuer, audience, jwksURL string
	client                    *http.Client
	now                       func() time.Time
	leeway, cooldown          time.Duration

	keys atomic.Pointer[keySet] // nil until the first successful fetch

	mu          sync.Mutex
	fetching    chan struct{} // closed when the fetch in flight ends; nil when none is
	lastAttempt time.Time
	lastErr     error
}

type keySet struct {
	keys      map[string]*ecdsa.PublicKey // by kid
	fetchedAt time.Time
}

// NewVerifier returns a Verifier for cfg, or an error when cfg.Issuer is not a URL keys
// may be fetched from. It does no I/O: keys are fetched on first use.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if err := checkIssuerURL(cfg.Issuer); err != nil {
		return nil, err
	}
	v := &Verifier{
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		jwksURL:  strings.TrimSuffix(cfg.Issuer, "/") + JWKSPath,
		now:      cfg.Now,
		leeway:   cfg.Leeway,
		cooldown: cfg.Cooldown,
	}
	if v.audience == "" {
		v.audience = Audience
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.leeway == 0 {
		v.leeway = defaultLeeway
	}
	if v.cooldown == 0 {
		v.cooldown = defaultCooldown
	}
	client := http.Client{Timeout: jwksTimeout}
	if cfg.HTTPClient != nil {
		client = *cfg.HTTPClient
	}
	client.CheckRedirect = sameOrigin
	v.client = &client
	return v, nil
}

// checkIssuerURL refuses an issuer whose keys could be replaced in transit: keys fetched
// over plain http from another machine let anyone on the path mint upload tokens.
func checkIssuerURL(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil {
		return fmt.Errorf("token: issuer %q is not a URL: %w", issuer, err)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("token: issuer %q must be an absolute URL without user, query or fragment", issuer)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("token: issuer %q uses plain http on a host that is not loopback; use https", issuer)
	default:
		return fmt.Errorf("token: issuer %q must use https", issuer)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// sameOrigin refuses redirects that leave the scheme and host the JWKS was asked from.
func sameOrigin(req *http.Request, via []*http.Request) error {
	if req.URL.Scheme != via[0].URL.Scheme || req.URL.Host != via[0].URL.Host {
		return fmt.Errorf("refusing redirect from %s to %s", via[0].URL.Host, req.URL.Redacted())
	}
	if len(via) >= 5 {
		return errors.New("too many redirects")
	}
	return nil
}

// Verify checks raw (the whole "tpx_…" string) and returns its claims. Before anything
// else it checks the prefix, the algorithm (ES256 only), the type and the presence of a
// kid; then the signature with the published key of that kid, "iss" and "aud" exactly,
// exp, nbf and iat with the configured leeway, and that a jti is present. The caller
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
	return checkToken(jws, key, v.issuer, v.audience, v.now(), v.leeway)
}

// key returns the public key for kid, fetching the JWKS when it is not cached or the
// cache is too old to trust.
func (v *Verifier) key(ctx context.Context, kid string) (*ecdsa.PublicKey, error) {
	now := v.now()
	if ks := v.keys.Load(); ks != nil && now.Sub(ks.fetchedAt) < keysMaxStale {
		if k, ok := ks.keys[kid]; ok {
			if now.Sub(ks.fetchedAt) >= keysRefreshAfter {
				v.refetch(now) // in the background: the cached key still serves
			}
			return k, nil
		}
	}
	select {
	case <-v.refetch(now):
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %v", ErrKeysUnavailable, ctx.Err())
	}
	v.mu.Lock()
	fetchErr := v.lastErr
	v.mu.Unlock()
	ks := v.keys.Load()
	if ks == nil || v.now().Sub(ks.fetchedAt) >= keysMaxStale {
		return nil, fmt.Errorf("%w: %v", ErrKeysUnavailable, fetchErr)
	}
	if k, ok := ks.keys[kid]; ok {
		return k, nil
	}
	if fetchErr != nil {
		// tpx may have published the key in the set that could not be fetched: this is
		// a temporary failure, not proof that the token is forged.
		return nil, fmt.Errorf("%w: kid %q is not cached and the key set could not be refreshed: %v", ErrKeysUnavailable, kid, fetchErr)
	}
	return nil, fmt.Errorf("%w: kid %q is not in %s", ErrUnknownKey, kid, v.jwksURL)
}

// refetch starts a JWKS fetch unless one is in flight or the last one started less than
// a cooldown ago. The channel it returns is closed when the fetch in flight ends (at
// once when none was started), so concurrent callers share one fetch.
func (v *Verifier) refetch(now time.Time) <-chan struct{} {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.fetching != nil {
		return v.fetching
	}
	if !v.lastAttempt.IsZero() && now.Sub(v.lastAttempt) < v.cooldown {
		done := make(chan struct{})
		close(done)
		return done
	}
	v.lastAttempt = now
	done := make(chan struct{})
	v.fetching = done
	// The fetch runs on its own goroutine with its own deadline: it serves every waiter,
	// so the first caller's cancellation must not cut it short for the others.
	go func() {
		ks, err := v.fetch()
		v.mu.Lock()
		if err == nil {
			v.keys.Store(ks)
		}
		v.lastErr = err
		v.fetching = nil
		v.mu.Unlock()
		close(done)
	}()
	return done
}

func (v *Verifier) fetch() (*keySet, error) {
	ctx, cancel := context.WithTimeout(context.Background(), jwksTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.jwksURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", v.jwksURL, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", v.jwksURL, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("GET %s: key set larger than %d bytes", v.jwksURL, maxJWKSBytes)
	}
	keys, err := parseKeySet(body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", v.jwksURL, err)
	}
	return &keySet{keys: keys, fetchedAt: v.now()}, nil
}

// parseKeySet returns the ES256 signing keys of a JWKS by kid. Keys of other kinds are
// skipped rather than failing the set, so that a newer tpx can publish a key type this
// verifier does not know without breaking it.
func parseKeySet(body []byte) (map[string]*ecdsa.PublicKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	keys := make(map[string]*ecdsa.PublicKey, len(set.Keys))
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			continue
		}
		pub, ok := k.Key.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() || k.KeyID == "" ||
			(k.Algorithm != "" && k.Algorithm != Algorithm) || (k.Use != "" && k.Use != "sig") {
			continue
		}
		keys[k.KeyID] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("key set has no ES256 signing keys")
	}
	return keys, nil
}
