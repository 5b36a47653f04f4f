package token

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/internal/sqlitetest"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/store/sqlite"
	"github.com/tpx-dev/tpx/verify"
)

const (
	testSecret  = "correct horse battery staple, and then some more"
	otherSecret = "an entirely different secret key of sufficient length"
)

// newClock is the injected clock tests move by hand; the Verifier reads it from its
// refresh goroutine too, and oidctest.Clock is safe for that.
func newClock() *oidctest.Clock {
	return oidctest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
}

// openStore opens a migrated SQLite store in a fresh directory.
func openStore(t testing.TB) store.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), sqlitetest.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

func newBox(t testing.TB, secret string) *secretbox.Box {
	t.Helper()
	b, err := secretbox.New(secret)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newMinter(t testing.TB, keys KeyStore, box *secretbox.Box, issuer string, clk *oidctest.Clock) *Minter {
	t.Helper()
	m, err := NewMinter(t.Context(), MinterConfig{
		Issuer: issuer,
		Keys:   keys,
		Box:    box,
		Now:    clk.Now,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fixture is tpx as an upload service sees it: a Minter over a real store, its JWKS
// served over real HTTP (counting fetches), and a Verifier pointed at it.
type fixture struct {
	clock    *oidctest.Clock
	store    store.Store
	box      *secretbox.Box
	minter   *Minter
	srv      *httptest.Server
	verifier *verify.Verifier
	fetches  atomic.Int64
	// broken makes the JWKS endpoint answer with a body that is not a key set.
	broken atomic.Bool
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{clock: newClock(), store: openStore(t), box: newBox(t, testSecret)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+JWKSPath, func(w http.ResponseWriter, r *http.Request) {
		f.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if f.broken.Load() {
			w.Write([]byte(`{"keys": []}`))
			return
		}
		w.Write(f.minter.JWKS())
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.minter = newMinter(t, f.store, f.box, f.srv.URL, f.clock)
	f.verifier = newVerifier(t, verify.Config{Issuer: f.srv.URL, HTTPClient: f.srv.Client(), Now: f.clock.Now})
	return f
}

func newVerifier(t testing.TB, cfg verify.Config) *verify.Verifier {
	t.Helper()
	v, err := verify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// privateKey returns the stored private key kid, opened the way the Minter opens it, so
// that tests can sign tokens tpx would never mint.
func (f *fixture) privateKey(t testing.TB, kid string) *ecdsa.PrivateKey {
	t.Helper()
	keys, err := f.store.SigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.ID != kid {
			continue
		}
		der, err := f.box.Open("signing-key", k.Private)
		if err != nil {
			t.Fatal(err)
		}
		priv, err := x509.ParsePKCS8PrivateKey(der)
		if err != nil {
			t.Fatal(err)
		}
		return priv.(*ecdsa.PrivateKey)
	}
	t.Fatalf("no stored key %s", kid)
	return nil
}

// activeKID is the kid Mint uses now.
func (f *fixture) activeKID(t testing.TB) string {
	t.Helper()
	raw, _, err := mint(f.minter, sampleClaims())
	if err != nil {
		t.Fatal(err)
	}
	return headerOf(t, raw).KeyID
}

// newestKID is the key that signs last: the latest to activate.
func (f *fixture) newestKID(t testing.TB) string {
	t.Helper()
	keys := storedKeys(t, f.store)
	newest := keys[0]
	for _, k := range keys[1:] {
		if k.ActivateAt.After(newest.ActivateAt) {
			newest = k
		}
	}
	return newest.ID
}

// validClaims are claims that pass every check at now, for tests to spoil one by one.
func (f *fixture) validClaims() Claims {
	c := sampleClaims()
	now := f.clock.Now()
	c.Issuer, c.Audience, c.ID = f.srv.URL, Audience, "test-jti"
	c.IssuedAt, c.NotBefore, c.ExpiresAt = now, now.Add(-verify.NotBeforeSkew), now.Add(15*time.Minute)
	return c
}

func sampleClaims() Claims {
	return Claims{
		Subject:  "github:octo-org/octo-repo",
		Projects: []string{"octo", "octo-extras"},
		Publisher: Publisher{
			ID: 7, Kind: "github", Repository: "octo-org/octo-repo",
			Workflow: "release.yml", Environment: "pypi",
		},
		Ref:         "refs/heads/main",
		SHA:         "8f0b7a1c3e5d2f4a6b8c0d1e3f5a7b9c1d3e5f7a",
		RunID:       "9876543210",
		RunAttempt:  "1",
		Event:       "push",
		Environment: "pypi",
	}
}

// sign makes a token from any payload with any key and header, as an attacker could. The
// verify module's tests have the same helper: that module builds without any of tpx's
// packages, and its test helpers cannot be imported from here (nor would a forging helper
// belong in the API upload services import).
func sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid, typ string, payload any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType(jose.ContentType(typ))
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
	return Prefix + compact
}

func headerOf(t testing.TB, raw string) jose.Header {
	t.Helper()
	jws, err := jose.ParseSignedCompact(raw[len(Prefix):], []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Protected
}

// kids lists the key ids in a JWKS document.
func kids(t testing.TB, jwks []byte) []string {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(jwks, &set); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("JWKS publishes private key material for %s", k.KeyID)
		}
		ids = append(ids, k.KeyID)
	}
	return ids
}

func storedKeys(t testing.TB, s KeyStore) []store.SigningKey {
	t.Helper()
	keys, err := s.SigningKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// mint fixes and signs an upload token carrying c, as the exchange does in two steps.
func mint(m *Minter, c Claims) (string, Claims, error) {
	u, err := m.Claim(c)
	if err != nil {
		return "", Claims{}, err
	}
	raw, err := u.Sign()
	if err != nil {
		return "", Claims{}, err
	}
	return raw, u.Claims, nil
}
