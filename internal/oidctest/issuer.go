package oidctest

import (
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Issuer is a running test OIDC issuer. Its methods are safe for concurrent use.
type Issuer struct {
	t      TB // nil when started by Serve
	path   string
	useTLS bool
	now    func() time.Time
	aud    string
	addr   string // host:port, kept so that Start reopens the same address
	base   string // scheme://host:port

	mu          sync.Mutex
	srv         *http.Server
	served      chan struct{} // closed when the current srv.Serve returns
	current     *rsa.PrivateKey
	published   []*rsa.PrivateKey
	leased      []*rsa.PrivateKey
	jwksHandler http.Handler
	discHandler http.Handler
	// The OpenID provider for people (provider.go).
	clients map[string]Client
	login   *Login
	codes   map[string]*code
	// The token endpoint of a GitHub Actions job (actions.go).
	actions *Actions

	requests, jwksFetches, discoveryFetches, tokenRequests atomic.Int64
}

// TB is the part of testing.TB an Issuer uses. Naming it here keeps package testing out
// of binaries that start an issuer with Serve (tpx demo).
type TB interface {
	Helper()
	Fatal(args ...any)
	Cleanup(func())
}

// Option configures an Issuer.
type Option func(*Issuer)

// WithPath makes the issuer identifier the server's URL plus path, as GHES
// ("/_services/token") and GitHub enterprise slugs ("/my-enterprise") do. Discovery and
// JWKS are served below that path.
func WithPath(path string) Option { return func(i *Issuer) { i.path = path } }

// WithTLS serves HTTPS with a certificate for 127.0.0.1 and ::1 issued by RootCAs.
func WithTLS() Option { return func(i *Issuer) { i.useTLS = true } }

// WithClock sets the clock that GitHubClaims and GitLabClaims use for iat, nbf and exp.
func WithClock(now func() time.Time) Option { return func(i *Issuer) { i.now = now } }

// WithAudience sets the aud of GitHubClaims and GitLabClaims; the default is "tpx".
func WithAudience(aud string) Option { return func(i *Issuer) { i.aud = aud } }

// New starts an issuer on a fresh loopback port and stops it when the test ends.
func New(t TB, opts ...Option) *Issuer {
	t.Helper()
	i, err := Serve(opts...)
	if err != nil {
		t.Fatal(err)
	}
	i.t = t
	t.Cleanup(i.Close)
	return i
}

// Serve starts an issuer on a fresh loopback port outside a test (tpx demo uses it); the
// caller must Close it.
func Serve(opts ...Option) (*Issuer, error) {
	i := &Issuer{now: time.Now, aud: "tpx"}
	for _, o := range opts {
		o(i)
	}
	if i.path != "" && (!strings.HasPrefix(i.path, "/") || strings.HasSuffix(i.path, "/")) {
		return nil, fmt.Errorf("oidctest: path %q must start and must not end with '/'", i.path)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("oidctest: listen: %w", err)
	}
	k := pool.lease()
	i.current, i.published, i.leased = k, []*rsa.PrivateKey{k}, []*rsa.PrivateKey{k}
	i.addr = ln.Addr().String()
	scheme := "http"
	if i.useTLS {
		scheme = "https"
	}
	i.base = scheme + "://" + i.addr
	i.mu.Lock()
	i.serveLocked(ln)
	i.mu.Unlock()
	return i, nil
}

// Close stops the issuer for good and returns its keys to the pool.
func (i *Issuer) Close() {
	i.Stop()
	i.mu.Lock()
	defer i.mu.Unlock()
	for _, k := range i.leased {
		pool.release(k)
	}
	i.leased = nil
}

func (i *Issuer) serveLocked(ln net.Listener) {
	if i.useTLS {
		ln = tls.NewListener(ln, &tls.Config{
			Certificates: []tls.Certificate{testTLS().cert},
			MinVersion:   tls.VersionTLS12,
		})
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(i.serveHTTP),
		ReadHeaderTimeout: 5 * time.Second,
		// Clients that refuse the certificate or hang up on a 10 MB body are the point
		// of some tests; their noise is not.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	i.srv, i.served = srv, done
}

// Stop closes the listener and every open connection, as an outage would: new
// connections are refused until Start.
func (i *Issuer) Stop() {
	i.mu.Lock()
	srv, done := i.srv, i.served
	i.srv, i.served = nil, nil
	i.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
		<-done
	}
}

// Start reopens the issuer on the address it had before Stop.
func (i *Issuer) Start() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.srv != nil {
		return
	}
	var ln net.Listener
	var err error
	// The port was ours a moment ago; on a busy machine the kernel may take a few
	// milliseconds to let go of it.
	for try := 0; try < 50; try++ {
		if ln, err = net.Listen("tcp", i.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		msg := fmt.Sprintf("oidctest: relisten on %s: %v", i.addr, err)
		if i.t == nil {
			panic(msg)
		}
		i.t.Fatal(msg)
	}
	i.serveLocked(ln)
}

// URL is the issuer identifier: the value of iss in its tokens and of issuer in its
// discovery document.
func (i *Issuer) URL() string { return i.base + i.path }

// JWKSURL is where the issuer publishes its key set.
func (i *Issuer) JWKSURL() string { return i.base + i.path + "/.well-known/jwks" }

// DiscoveryURL is where the issuer publishes its discovery document.
func (i *Issuer) DiscoveryURL() string {
	return i.base + i.path + "/.well-known/openid-configuration"
}

// Requests counts every request the server received, whatever its path.
func (i *Issuer) Requests() int64 { return i.requests.Load() }

// JWKSFetches counts requests for the key set.
func (i *Issuer) JWKSFetches() int64 { return i.jwksFetches.Load() }

// DiscoveryFetches counts requests for the discovery document.
func (i *Issuer) DiscoveryFetches() int64 { return i.discoveryFetches.Load() }

// Kid is the key id of the current signing key.
func (i *Issuer) Kid() string { return KeyID(&i.currentKey().PublicKey) }

// PublicKey is the current signing key's public half.
func (i *Issuer) PublicKey() *rsa.PublicKey { return &i.currentKey().PublicKey }

// PublicKeyPEM is the current public key in PEM: what an alg-confusion attacker would use
// as an HMAC secret.
func (i *Issuer) PublicKeyPEM() []byte { return publicKeyPEM(&i.currentKey().PublicKey) }

func (i *Issuer) currentKey() *rsa.PrivateKey {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.current
}

// RotateOption configures Rotate.
type RotateOption func(*rotateConfig)

type rotateConfig struct{ keepPrevious bool }

// KeepPrevious keeps the old keys in the JWKS after a rotation, as real issuers do for a
// while so that tokens signed just before it still verify.
func KeepPrevious() RotateOption { return func(c *rotateConfig) { c.keepPrevious = true } }

// Rotate signs from now on with a new key, published in the JWKS; the old keys are
// withdrawn unless KeepPrevious is given.
func (i *Issuer) Rotate(opts ...RotateOption) {
	var c rotateConfig
	for _, o := range opts {
		o(&c)
	}
	k := pool.lease()
	i.mu.Lock()
	defer i.mu.Unlock()
	i.leased = append(i.leased, k)
	i.current = k
	if c.keepPrevious {
		i.published = append(i.published, k)
	} else {
		i.published = []*rsa.PrivateKey{k}
	}
}

// JWKS is the key set the issuer serves unless told otherwise.
func (i *Issuer) JWKS() []byte {
	i.mu.Lock()
	keys := make([]any, 0, len(i.published))
	for _, k := range i.published {
		keys = append(keys, PublicJWK(&k.PublicKey, KeyID(&k.PublicKey)))
	}
	i.mu.Unlock()
	return mustJSON(map[string]any{"keys": keys})
}

// DiscoveryDocument is the discovery document the issuer serves unless told otherwise;
// the map is fresh, so a test may change it and serve it with SetDiscoveryBody.
func (i *Issuer) DiscoveryDocument() map[string]any {
	return map[string]any{
		"issuer":                                i.URL(),
		"jwks_uri":                              i.JWKSURL(),
		"subject_types_supported":               []string{"public", "pairwise"},
		"response_types_supported":              []string{"code", "id_token"},
		"authorization_endpoint":                i.AuthorizationURL(),
		"token_endpoint":                        i.TokenURL(),
		"grant_types_supported":                 []string{"authorization_code"},
		"code_challenge_methods_supported":      []string{"S256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"scopes_supported":                      []string{"openid"},
		"claims_supported":                      []string{"sub", "aud", "exp", "iat", "iss", "jti", "nbf", "nonce", "email", "email_verified", "amr", "ref", "sha", "repository", "environment"},
	}
}

// SetJWKSBody serves body with the given Content-Type at the JWKS URL instead of the key set.
func (i *Issuer) SetJWKSBody(body []byte, contentType string) {
	i.SetJWKSHandler(staticHandler(body, contentType))
}

// SetJWKSHandler lets h answer JWKS requests (which are still counted); nil restores the
// real key set.
func (i *Issuer) SetJWKSHandler(h http.Handler) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.jwksHandler = h
}

// SetDiscoveryBody serves body with the given Content-Type as the discovery document.
func (i *Issuer) SetDiscoveryBody(body []byte, contentType string) {
	i.SetDiscoveryHandler(staticHandler(body, contentType))
}

// SetDiscoveryHandler lets h answer discovery requests (which are still counted); nil
// restores the real document.
func (i *Issuer) SetDiscoveryHandler(h http.Handler) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.discHandler = h
}

func (i *Issuer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	i.requests.Add(1)
	i.mu.Lock()
	jwksH, discH, actions := i.jwksHandler, i.discHandler, i.actions
	i.mu.Unlock()
	switch r.URL.Path {
	case i.path + actionsPath:
		if actions == nil {
			http.NotFound(w, r)
			return
		}
		actions.ServeHTTP(w, r)
	case i.path + "/.well-known/openid-configuration":
		i.discoveryFetches.Add(1)
		if discH != nil {
			discH.ServeHTTP(w, r)
			return
		}
		staticHandler(mustJSON(i.DiscoveryDocument()), "application/json").ServeHTTP(w, r)
	case i.path + "/.well-known/jwks":
		i.jwksFetches.Add(1)
		if jwksH != nil {
			jwksH.ServeHTTP(w, r)
			return
		}
		staticHandler(i.JWKS(), "application/json").ServeHTTP(w, r)
	case i.path + "/authorize":
		i.authorize(w, r)
	case i.path + "/token":
		i.token(w, r)
	default:
		http.NotFound(w, r)
	}
}

func staticHandler(body []byte, contentType string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		// A client that hangs up on a huge body is what some tests want; the write error
		// that follows says nothing.
		_, _ = w.Write(body)
	})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("oidctest: " + err.Error())
	}
	return b
}
