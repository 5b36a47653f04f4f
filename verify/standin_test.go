package verify_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tpx-dev/tpx/verify"
)

// standInTPX publishes one key the way tpx does and mints tokens with it, for the
// example to run without a whole tpx.
type standInTPX struct {
	*httptest.Server
	signer jose.Signer
}

func startStandInTPX() *standInTPX {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	jwk := jose.JSONWebKey{Key: key, KeyID: "k1", Algorithm: verify.Algorithm, Use: "sig"}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jwk}, (&jose.SignerOptions{}).WithType(verify.Type))
	if err != nil {
		panic(err)
	}
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk.Public()}})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+verify.JWKSPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Write(set)
	})
	return &standInTPX{Server: httptest.NewServer(mux), signer: signer}
}

// Mint returns an upload token for projects, as tpx's exchange would.
func (s *standInTPX) Mint(projects ...string) string {
	now := time.Now().Truncate(time.Second)
	payload, err := json.Marshal(verify.Claims{
		Issuer: s.URL, Audience: verify.Audience, Subject: "github:octo-org/octo-repo",
		Projects:  projects,
		Publisher: verify.Publisher{ID: 7, Kind: "github", Repository: "octo-org/octo-repo", Workflow: "release.yml"},
		Ref:       "refs/heads/main", SHA: "8f0b7a1c3e5d2f4a6b8c0d1e3f5a7b9c1d3e5f7a",
		IssuedAt: now, NotBefore: now.Add(-verify.NotBeforeSkew), ExpiresAt: now.Add(15 * time.Minute), ID: "jti-1",
	})
	if err != nil {
		panic(err)
	}
	jws, err := s.signer.Sign(payload)
	if err != nil {
		panic(err)
	}
	compact, err := jws.CompactSerialize()
	if err != nil {
		panic(err)
	}
	return verify.Prefix + compact
}
