package providers

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"

	"github.com/tpx-dev/tpx/policy"
)

// minRSABits is the smallest modulus accepted from a key set.
const minRSABits = 2048

// maxDiscoveryBytes caps the discovery document: GitLab's, the largest in use, is about
// 4 KiB.
const maxDiscoveryBytes = 64 << 10

var (
	errCooldown = errors.New("a fetch was attempted less than a cooldown ago")
	errClosed   = errors.New("closed")
)

// keyCache holds one issuer's signing keys. Every fetch goes through one singleflight
// key, so concurrent callers share one request; fetches that a request causes are spaced
// by at least the cooldown; a failed fetch leaves the keys as they were.
type keyCache struct {
	set    *Set
	issuer string
	kind   policy.Kind
	host   *url.URL // the issuer's URL: the only scheme and host keys may come from
	algs   []jose.SignatureAlgorithm
	log    *slog.Logger
	group  singleflight.Group

	mu          sync.RWMutex
	keys        map[string]*rsa.PublicKey
	fetchedAt   time.Time // of the last success
	lastAttempt time.Time
	lastErr     string
	fetches     int
}

func newKeyCache(s *Set, ic IssuerConfig, u *url.URL, algs []jose.SignatureAlgorithm) *keyCache {
	return &keyCache{
		set:    s,
		issuer: ic.Issuer,
		kind:   ic.Kind,
		host:   u,
		algs:   algs,
		log:    s.cfg.Logger.With("issuer", ic.Issuer),
	}
}

// key returns the key for kid. A kid the cache does not know, keys that are missing, or
// keys older than Refresh, cause a refetch unless one was attempted less than a cooldown
// ago; the caller waits for it (merged with everyone else's).
func (c *keyCache) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	cfg := &c.set.cfg
	c.mu.RLock()
	k, found := c.keys[kid]
	age := cfg.Now().Sub(c.fetchedAt)
	c.mu.RUnlock()
	if found && age < cfg.Refresh {
		return k, nil
	}

	ferr := c.refreshMerged(ctx, false)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%w: %s: waiting for keys: %w", ErrKeysUnavailable, c.issuer, ctx.Err())
	}

	c.mu.RLock()
	k, found = c.keys[kid]
	age = cfg.Now().Sub(c.fetchedAt)
	have := len(c.keys) > 0
	lastErr := c.lastErr
	c.mu.RUnlock()
	switch {
	case !have:
		return nil, fmt.Errorf("%w: %s: no keys fetched yet: %s", ErrKeysUnavailable, c.issuer, describe(ferr, lastErr))
	case age > cfg.MaxStale:
		return nil, fmt.Errorf("%w: %s: keys are %v old, the limit is %v: %s", ErrKeysUnavailable, c.issuer, age.Round(time.Second), cfg.MaxStale, describe(ferr, lastErr))
	case !found:
		return nil, fmt.Errorf("%w: kid %s is not in the key set of %s", ErrInvalidToken, clip(kid), c.issuer)
	}
	return k, nil
}

// describe explains why a refresh did not help: the fetch error itself, or, when the
// cooldown kept us from trying, the error of the last attempt.
func describe(err error, lastErr string) string {
	switch {
	case err == nil:
		return "fetched"
	case errors.Is(err, errCooldown) && lastErr != "":
		return "last fetch failed: " + lastErr
	}
	return err.Error()
}

// refreshMerged runs or joins the issuer's one fetch in flight. The fetch itself does not
// belong to the caller: it runs under the Set's context, so that a caller who gives up
// does not fail the others waiting on it. force skips the cooldown (background refresh).
func (c *keyCache) refreshMerged(ctx context.Context, force bool) error {
	ch := c.group.DoChan("keys", func() (any, error) { return nil, c.refresh(force) })
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *keyCache) refresh(force bool) error {
	cfg := &c.set.cfg
	c.mu.Lock()
	now := cfg.Now()
	if !force && !c.lastAttempt.IsZero() && now.Sub(c.lastAttempt) < cfg.Cooldown {
		c.mu.Unlock()
		return errCooldown
	}
	c.lastAttempt = now
	c.fetches++
	c.mu.Unlock()

	done, ok := c.set.track()
	if !ok {
		return errClosed
	}
	defer done()
	ctx, cancel := context.WithTimeout(c.set.base, cfg.FetchTimeout)
	defer cancel()
	keys, skipped, err := c.fetch(ctx)
	if cfg.OnFetch != nil {
		cfg.OnFetch(c.issuer, err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.lastErr = err.Error()
		c.log.Warn("issuer keys could not be fetched; any cached keys stay in use up to the staleness bound",
			"error", err, "cached_keys", len(c.keys), "fetched_at", c.fetchedAt)
		return err
	}
	added, removed := diffKids(c.keys, keys)
	c.keys, c.fetchedAt, c.lastErr = keys, cfg.Now(), ""
	c.log.Info("issuer keys fetched", "keys", len(keys), "added", added, "removed", removed, "skipped", skipped)
	return nil
}

func diffKids(old, cur map[string]*rsa.PublicKey) (added, removed []string) {
	for kid := range cur {
		if _, ok := old[kid]; !ok {
			added = append(added, kid)
		}
	}
	for kid := range old {
		if _, ok := cur[kid]; !ok {
			removed = append(removed, kid)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	return added, removed
}

// run refreshes in the background: at once, then every Refresh, or every Cooldown while
// the last attempt failed, until ctx is done or the Set is closed.
func (c *keyCache) run(ctx context.Context) {
	cfg := &c.set.cfg
	for {
		_ = c.refreshMerged(ctx, true)
		wait := cfg.Refresh
		c.mu.RLock()
		if c.lastErr != "" {
			wait = cfg.Cooldown
		}
		c.mu.RUnlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-c.set.base.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (c *keyCache) status() KeyStatus {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return KeyStatus{
		Issuer:    c.issuer,
		Kind:      c.kind,
		Keys:      len(c.keys),
		FetchedAt: c.fetchedAt,
		LastError: c.lastErr,
		Fetches:   c.fetches,
	}
}

// fetch reads the discovery document, checks that it speaks for this issuer and points at
// a key set on the issuer's own host, and reads that key set. It returns an error rather
// than an empty set, so that nothing bad can replace good keys.
func (c *keyCache) fetch(ctx context.Context) (map[string]*rsa.PublicKey, int, error) {
	body, err := c.get(ctx, c.issuer+"/.well-known/openid-configuration", maxDiscoveryBytes)
	if err != nil {
		return nil, 0, fmt.Errorf("discovery: %w", err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, 0, fmt.Errorf("discovery: not a JSON document: %v", err)
	}
	if doc.Issuer != c.issuer {
		return nil, 0, fmt.Errorf("discovery: issuer is %s, not the configured one", clip(doc.Issuer))
	}
	jwksURL, err := c.checkJWKSURI(doc.JWKSURI)
	if err != nil {
		return nil, 0, fmt.Errorf("discovery: jwks_uri %s: %w", clip(doc.JWKSURI), err)
	}
	body, err = c.get(ctx, jwksURL, c.set.cfg.MaxKeySetBytes)
	if err != nil {
		return nil, 0, fmt.Errorf("jwks: %w", err)
	}
	keys, skipped, err := parseKeySet(body, c.algs)
	if err != nil {
		return nil, 0, fmt.Errorf("jwks: %w", err)
	}
	return keys, skipped, nil
}

// checkJWKSURI holds the discovery document to the rule that keys come from the issuer's
// own host: a compromised or spoofed document must not send us to fetch keys elsewhere.
func (c *keyCache) checkJWKSURI(s string) (string, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", err
	case u.Scheme != "https" && !(u.Scheme == "http" && c.host.Scheme == "http"):
		return "", errors.New("must be https")
	case u.User != nil || u.Fragment != "" || u.Opaque != "":
		return "", errors.New("must be a plain URL")
	case !strings.EqualFold(u.Hostname(), c.host.Hostname()) || port(u) != port(c.host):
		return "", errors.New("is not on the issuer's host")
	}
	return u.String(), nil
}

func port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "http" {
		return "80"
	}
	return "443"
}

// get fetches url and returns at most max bytes of a 200 response; a longer body is an
// error, never a truncated document.
func (c *keyCache) get(ctx context.Context, url string, max int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.set.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	if resp.ContentLength > max {
		return nil, fmt.Errorf("%s: %d bytes, the limit is %d", url, resp.ContentLength, max)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	if int64(len(body)) > max {
		return nil, fmt.Errorf("%s: more than %d bytes", url, max)
	}
	return body, nil
}

// parseKeySet keeps the keys fit to verify tokens: RSA public keys of 2048 bits or more,
// for signatures, with a kid, and an alg (if stated) we accept. A key that fails to parse
// is skipped rather than failing the set, so that an issuer adding a key type we do not
// know does not cut us off. Two keys sharing a kid are both dropped: which one was meant
// cannot be known. No usable key at all is an error.
func parseKeySet(body []byte, algs []jose.SignatureAlgorithm) (map[string]*rsa.PublicKey, int, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, 0, fmt.Errorf("not a JSON key set: %v", err)
	}
	keys := map[string]*rsa.PublicKey{}
	dup := map[string]bool{}
	skipped := 0
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			skipped++
			continue
		}
		pub, ok := k.Key.(*rsa.PublicKey)
		if !ok || k.KeyID == "" || (k.Use != "" && k.Use != "sig") ||
			(k.Algorithm != "" && !slices.Contains(algs, jose.SignatureAlgorithm(k.Algorithm))) || pub.N.BitLen() < minRSABits {
			skipped++
			continue
		}
		if _, seen := keys[k.KeyID]; seen {
			dup[k.KeyID] = true
		}
		keys[k.KeyID] = pub
	}
	for kid := range dup {
		delete(keys, kid)
		skipped++
	}
	if len(keys) == 0 {
		return nil, skipped, fmt.Errorf("no usable keys among %d", len(set.Keys))
	}
	return keys, skipped, nil
}
