package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// keyPool hands out RSA keys so that a test binary generates only as many as it ever needs
// at once. It is the one piece of process-wide state here, and it exists only because
// RSA-2048 generation costs tens of milliseconds (more under -race) and a test suite
// starts dozens of issuers.
type keyPool struct {
	mu     sync.Mutex
	keys   []*rsa.PrivateKey
	leased []bool
}

var pool keyPool

// lease returns a key no live issuer holds.
func (p *keyPool) lease() *rsa.PrivateKey {
	p.mu.Lock()
	for i, used := range p.leased {
		if !used {
			p.leased[i] = true
			k := p.keys[i]
			p.mu.Unlock()
			return k
		}
	}
	p.mu.Unlock()
	// Generate outside the lock so that parallel tests do not queue behind each other.
	k := mustRSAKey()
	p.mu.Lock()
	p.keys = append(p.keys, k)
	p.leased = append(p.leased, true)
	p.mu.Unlock()
	return k
}

func (p *keyPool) release(k *rsa.PrivateKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, have := range p.keys {
		if have == k {
			p.leased[i] = false
			return
		}
	}
}

func mustRSAKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(fmt.Sprintf("oidctest: generating an RSA key: %v", err))
	}
	return k
}

var (
	attackerKey = sync.OnceValue(mustRSAKey)
	ecKey       = sync.OnceValue(func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(fmt.Sprintf("oidctest: generating an EC key: %v", err))
		}
		return k
	})
)

// AttackerKey returns an RSA-2048 key that no Issuer ever publishes: sign with it (and a
// real kid) to forge a token.
func AttackerKey() *rsa.PrivateKey { return attackerKey() }

// ECKey returns a P-256 key that no Issuer ever publishes, for ES256 tokens.
func ECKey() *ecdsa.PrivateKey { return ecKey() }

// KeyID is the kid an Issuer gives a key: its RFC 7638 SHA-256 thumbprint, so that distinct
// keys never share a kid by accident.
func KeyID(pub crypto.PublicKey) string {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		panic(fmt.Sprintf("oidctest: thumbprint of %T: %v", pub, err))
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

// PublicJWK is pub as a JWK object with the given kid, ready to embed in a token header
// ("jwk") or in a hand-made key set.
func PublicJWK(pub crypto.PublicKey, kid string) map[string]any {
	k := jose.JSONWebKey{Key: pub, KeyID: kid, Use: "sig"}
	if _, ok := pub.(*rsa.PublicKey); ok {
		k.Algorithm = "RS256"
	}
	b, err := k.MarshalJSON()
	if err != nil {
		panic(fmt.Sprintf("oidctest: marshal JWK: %v", err))
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(fmt.Sprintf("oidctest: unmarshal JWK: %v", err))
	}
	return m
}

// publicKeyPEM is the PKIX PEM encoding of pub: the bytes a classic alg-confusion attack
// uses as an HMAC secret.
func publicKeyPEM(pub crypto.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(fmt.Sprintf("oidctest: marshal public key: %v", err))
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

type tlsMaterial struct {
	cert  tls.Certificate
	roots *x509.CertPool
}

// testTLS is a CA and a server certificate for 127.0.0.1 and ::1 only: no DNS name, so
// that reaching the same server as "localhost" fails host name verification.
var testTLS = sync.OnceValue(func() tlsMaterial {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "oidctest CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		panic(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		panic(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "oidctest issuer"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		panic(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return tlsMaterial{
		cert:  tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey},
		roots: roots,
	}
})

// RootCAs is the pool that trusts every TLS issuer of this package (see WithTLS).
func RootCAs() *x509.CertPool { return testTLS().roots.Clone() }
