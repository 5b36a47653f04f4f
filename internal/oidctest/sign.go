package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"fmt"
	"hash"
)

// SignOption changes how Sign builds a token; most of them exist to forge one.
type SignOption func(*signConfig)

type signConfig struct {
	alg       string
	kid       *string
	key       crypto.Signer
	secret    []byte
	header    map[string]any
	rawHeader []byte
	payload   []byte
	sig       []byte
	setSig    bool
}

// WithAlg sets the alg header and the algorithm used to sign: none, HS256/384/512,
// RS256/384/512, PS256/384/512, ES256/384/512. Any other name is signed as RS256 would
// be, to test that the name alone is refused.
func WithAlg(alg string) SignOption { return func(c *signConfig) { c.alg = alg } }

// WithKid sets the kid header instead of the current key's.
func WithKid(kid string) SignOption { return func(c *signConfig) { c.kid = &kid } }

// WithoutKid leaves the kid header out.
func WithoutKid() SignOption { return WithHeader("kid", Omit) }

// WithKey signs with key (an *rsa.PrivateKey or *ecdsa.PrivateKey) instead of the
// issuer's current key; the kid header stays the current key's unless WithKid says
// otherwise, which is how a forgery looks.
func WithKey(key crypto.Signer) SignOption { return func(c *signConfig) { c.key = key } }

// WithHMACSecret sets the secret for HS* algorithms; the default is PublicKeyPEM, the
// classic alg-confusion attack.
func WithHMACSecret(secret []byte) SignOption {
	return func(c *signConfig) { c.secret = secret }
}

// WithHeader sets a header field (jku, x5u, jwk, typ, crit, or alg and kid themselves);
// the value Omit removes the field.
func WithHeader(name string, value any) SignOption {
	return func(c *signConfig) {
		if c.header == nil {
			c.header = map[string]any{}
		}
		c.header[name] = value
	}
}

// WithRawHeader uses b, verbatim, as the JOSE header (before base64url), for headers
// json.Marshal cannot produce, such as duplicate names. The signature is still computed
// with the algorithm from WithAlg.
func WithRawHeader(b []byte) SignOption { return func(c *signConfig) { c.rawHeader = b } }

// WithPayload signs b, verbatim, instead of the JSON encoding of the claims.
func WithPayload(b []byte) SignOption { return func(c *signConfig) { c.payload = b } }

// WithSignature replaces the signature bytes (before base64url) with sig.
func WithSignature(sig []byte) SignOption {
	return func(c *signConfig) { c.sig, c.setSig = sig, true }
}

// Sign returns a compact JWS of claims: RS256 with the current key and its kid, typ JWT,
// unless options say otherwise. It panics on options that cannot work together (ES256
// with an RSA key), and on a claim whose value is Omit, since those are bugs in the test.
func (i *Issuer) Sign(claims map[string]any, opts ...SignOption) string {
	c := signConfig{alg: "RS256"}
	for _, o := range opts {
		o(&c)
	}
	current := i.currentKey()
	header := map[string]any{"alg": c.alg, "typ": "JWT", "kid": KeyID(&current.PublicKey)}
	if c.kid != nil {
		header["kid"] = *c.kid
	}
	for k, v := range c.header {
		if v == Omit {
			delete(header, k)
		} else {
			header[k] = v
		}
	}
	hdr := c.rawHeader
	if hdr == nil {
		hdr = mustJSON(header)
	}
	payload := c.payload
	if payload == nil {
		for k, v := range claims {
			if v == Omit {
				panic("oidctest: Omit as the value of claim " + k + ": it removes a claim only among the overrides")
			}
		}
		payload = mustJSON(claims)
	}
	input := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(payload)
	sig := c.sig
	if !c.setSig {
		key := c.key
		if key == nil {
			key = current
		}
		secret := c.secret
		if secret == nil {
			secret = publicKeyPEM(&current.PublicKey)
		}
		sig = signature(c.alg, []byte(input), key, secret)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func signature(alg string, input []byte, key crypto.Signer, secret []byte) []byte {
	if alg == "none" {
		return nil
	}
	hashes := map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}
	family, size := "RS", "256"
	if len(alg) == 5 {
		if _, ok := hashes[alg[2:]]; ok {
			family, size = alg[:2], alg[2:]
		}
	}
	h := hashes[size]
	switch family {
	case "HS":
		return mac(h.New, secret, input)
	case "PS":
		rk := mustRSA(alg, key)
		s, err := rsa.SignPSS(rand.Reader, rk, h, digest(h, input), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		if err != nil {
			panic(err)
		}
		return s
	case "ES":
		ek, ok := key.(*ecdsa.PrivateKey)
		if !ok {
			panic(fmt.Sprintf("oidctest: %s needs an *ecdsa.PrivateKey (ECKey), not %T", alg, key))
		}
		r, s, err := ecdsa.Sign(rand.Reader, ek, digest(h, input))
		if err != nil {
			panic(err)
		}
		// JWS wants the fixed-width concatenation r||s, not ASN.1.
		n := (ek.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*n)
		r.FillBytes(out[:n])
		s.FillBytes(out[n:])
		return out
	default: // RS, and names this package does not know
		s, err := rsa.SignPKCS1v15(rand.Reader, mustRSA(alg, key), h, digest(h, input))
		if err != nil {
			panic(err)
		}
		return s
	}
}

func mustRSA(alg string, key crypto.Signer) *rsa.PrivateKey {
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		panic(fmt.Sprintf("oidctest: %s needs an *rsa.PrivateKey, not %T", alg, key))
	}
	return rk
}

func digest(h crypto.Hash, b []byte) []byte {
	d := h.New()
	d.Write(b)
	return d.Sum(nil)
}

func mac(h func() hash.Hash, secret, b []byte) []byte {
	m := hmac.New(h, secret)
	m.Write(b)
	return m.Sum(nil)
}
