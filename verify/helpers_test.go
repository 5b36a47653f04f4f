package verify_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tpx-dev/tpx/verify"
)

// fakeTPX publishes a key set over real HTTP and signs upload tokens the way tpx does,
// so that the verifier is tested against the wire format rather than against itself.
type fakeTPX struct {
	srv     *httptest.Server
	key     *ecdsa.PrivateKey
	kid     string
	fetches atomic.Int64
	// down makes the key set endpoint answer 503.
	down atomic.Bool
}

func newFakeTPX(t testing.TB) *fakeTPX {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeTPX{key: key, kid: "key-1"}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &key.PublicKey, KeyID: f.kid, Algorithm: verify.Algorithm, Use: "sig"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != verify.JWKSPath {
			http.NotFound(w, r)
			return
		}
		f.fetches.Add(1)
		if f.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(jwks)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// claims are what tpx would mint at iat.
func (f *fakeTPX) claims(iat time.Time) verify.Claims {
	iat = iat.Truncate(time.Second)
	return verify.Claims{
		Issuer:    f.srv.URL,
		Audience:  verify.Audience,
		Subject:   "github:octo-org/octo-repo",
		Projects:  []string{"sampleproject"},
		Publisher: verify.Publisher{ID: 7, Kind: "github", Repository: "octo-org/octo-repo", Workflow: "release.yml"},
		Ref:       "refs/heads/main",
		SHA:       "8f0b7a1c3e5d2f4a6b8c0d1e3f5a7b9c1d3e5f7a",
		IssuedAt:  iat,
		NotBefore: iat.Add(-verify.NotBeforeSkew),
		ExpiresAt: iat.Add(15 * time.Minute),
		ID:        "jti-1",
	}
}

// sign signs any payload under any header, as tpx would or an attacker could.
func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid, typ string, payload any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return verify.Prefix + compact
}

func (f *fakeTPX) sign(t testing.TB, c any) string {
	return sign(t, jose.ES256, f.key, f.kid, verify.Type, c)
}

func (f *fakeTPX) verifier(t testing.TB, now func() time.Time) *verify.Verifier {
	t.Helper()
	v, err := verify.New(verify.Config{Issuer: f.srv.URL, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
