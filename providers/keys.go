package providers

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tpx-dev/tpx/verify/keycache"
)

// minRSABits is the smallest modulus accepted from a key set.
const minRSABits = 2048

// maxDiscoveryBytes caps the discovery document: GitLab's, the largest in use, is about
// 4 KiB.
const maxDiscoveryBytes = 64 << 10

// newKeyCache returns the key cache of one issuer: its Fetch reads the discovery
// document and the key set it names, and every fetch is logged and reported to OnFetch.
func newKeyCache(s *Set, ic IssuerConfig, u *url.URL, algs []jose.SignatureAlgorithm) (*keycache.Cache[*rsa.PublicKey], error) {
	f := &keyFetcher{set: s, issuer: ic.Issuer, host: u, algs: algs}
	log := s.cfg.Logger.With("issuer", ic.Issuer)
	return keycache.New(keycache.Config[*rsa.PublicKey]{
		Fetch:        f.fetch,
		Now:          s.cfg.Now,
		Refresh:      s.cfg.Refresh,
		Cooldown:     s.cfg.Cooldown,
		MaxStale:     s.cfg.MaxStale,
		FetchTimeout: s.cfg.FetchTimeout,
		OnFetch: func(old, cur map[string]*rsa.PublicKey, err error) {
			if s.cfg.OnFetch != nil {
				s.cfg.OnFetch(ic.Issuer, err)
			}
			if err != nil {
				log.Warn("issuer keys could not be fetched; any cached keys stay in use up to the staleness bound",
					"error", err, "cached_keys", len(cur))
				return
			}
			added, removed := diffKids(old, cur)
			log.Info("issuer keys fetched", "keys", len(cur), "added", added, "removed", removed, "skipped", f.skipped.Load())
		},
	})
}

// keyFetcher reads one issuer's keys for its key cache.
type keyFetcher struct {
	set     *Set
	issuer  string
	host    *url.URL // the issuer's URL: the only scheme and host keys may come from
	algs    []jose.SignatureAlgorithm
	skipped atomic.Int64 // keys the last fetch skipped, for the log
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

// fetch reads the discovery document, checks that it speaks for this issuer and points at
// a key set on the issuer's own host, and reads that key set. It returns an error rather
// than an empty set, so that nothing bad can replace good keys.
func (c *keyFetcher) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	client := c.set.cfg.HTTPClient
	body, err := keycache.Get(ctx, client, c.issuer+"/.well-known/openid-configuration", maxDiscoveryBytes)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("discovery: not a JSON document: %v", err)
	}
	if doc.Issuer != c.issuer {
		return nil, fmt.Errorf("discovery: issuer is %s, not the configured one", clip(doc.Issuer))
	}
	jwksURL, err := c.checkJWKSURI(doc.JWKSURI)
	if err != nil {
		return nil, fmt.Errorf("discovery: jwks_uri %s: %w", clip(doc.JWKSURI), err)
	}
	body, err = keycache.Get(ctx, client, jwksURL, c.set.cfg.MaxKeySetBytes)
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	// Keys fit to verify tokens: RSA of 2048 bits or more, with an alg (if stated) this
	// platform signs with.
	keys, skipped, err := keycache.ParseJWKS(body, func(k jose.JSONWebKey) (*rsa.PublicKey, bool) {
		pub, ok := k.Key.(*rsa.PublicKey)
		return pub, ok && pub.N.BitLen() >= minRSABits && (k.Algorithm == "" || slices.Contains(c.algs, jose.SignatureAlgorithm(k.Algorithm)))
	})
	if err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	c.skipped.Store(int64(skipped))
	return keys, nil
}

// checkJWKSURI holds the discovery document to the rule that keys come from the issuer's
// own host: a compromised or spoofed document must not send us to fetch keys elsewhere.
func (c *keyFetcher) checkJWKSURI(s string) (string, error) {
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
