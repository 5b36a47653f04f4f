package providers

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"sync"

	jose "github.com/go-jose/go-jose/v4"
)

// rsaHash is the hash of an RSASSA-PKCS1-v1_5 algorithm (RFC 7518 §3.3): the only kind of
// signature the issuers' RSA keys make that a platform allows.
func rsaHash(alg jose.SignatureAlgorithm) (crypto.Hash, error) {
	switch alg {
	case jose.RS256:
		return crypto.SHA256, nil
	case jose.RS384:
		return crypto.SHA384, nil
	case jose.RS512:
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("algorithm %s cannot be verified with an RSA key", clip(string(alg)))
}

// verifyRSA checks sig, a base64url segment, as the signature of input under key.
func verifyRSA(key *rsa.PublicKey, hash crypto.Hash, input, sig string) error {
	b, err := base64.RawURLEncoding.Strict().DecodeString(sig)
	if err != nil {
		return err
	}
	h := hash.New()
	h.Write([]byte(input))
	return rsa.VerifyPKCS1v15(key, hash, h.Sum(nil), b)
}

// header is what verification needs of a protected header that go-jose accepted.
type header struct {
	kid  string
	hash crypto.Hash
}

// maxHeaders bounds a headerCache: an issuer keeps a few keys at a time, and a header is
// added only after a signature by one of them verified. When full it starts afresh, so
// that key rotations over months cannot fill it for good.
const maxHeaders = 64

// headerCache maps a protected header segment, byte for byte, to what it says. Parsing is
// a function of those bytes and of the issuer's allowlist, which never changes, so a hit
// is exactly as good as parsing again.
type headerCache struct {
	mu sync.RWMutex
	m  map[string]header
}

func (c *headerCache) get(seg string) (header, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	h, ok := c.m[seg]
	return h, ok
}

func (c *headerCache) put(seg string, h header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxHeaders {
		c.m = make(map[string]header)
	}
	c.m[seg] = h
}
