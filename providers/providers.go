package providers

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/verify/keycache"
)

// The classes of failure Verify reports; the exchange maps each to one reply.
var (
	// ErrMalformed: the token is not a well-formed JWT (size, shape, encoding, JSON, claim
	// types), so nothing about it can be trusted or even routed.
	ErrMalformed = errors.New("malformed token")
	// ErrUnknownIssuer: iss is not, byte for byte, an issuer the operator configured.
	ErrUnknownIssuer = errors.New("unknown issuer")
	// ErrInvalidToken: a well-formed token from a configured issuer that does not verify:
	// algorithm, kid, signature, times, audience, or a required claim missing.
	ErrInvalidToken = errors.New("invalid token")
	// ErrNotEnabled: iss names an issuer the operator switched off (IssuerConfig.Disabled).
	ErrNotEnabled = errors.New("issuer switched off")
	// ErrKeysUnavailable: the issuer's keys were never fetched or are older than
	// Config.MaxStale and cannot be fetched now; the token may well be valid.
	ErrKeysUnavailable = errors.New("issuer keys unavailable")
)

// CheckError is an ErrInvalidToken that says which check the token failed, in words for
// the CI job that sent it (Public): only values the token itself carries and this
// service's public settings (its audience, its clock), never anything about another
// token, issuer or configuration. Error is the full reason, for the log.
type CheckError struct {
	Public string
	Err    error
}

func (e *CheckError) Error() string { return e.Err.Error() }

// Unwrap makes a CheckError match ErrInvalidToken and the reason's own errors.
func (e *CheckError) Unwrap() []error { return []error{ErrInvalidToken, e.Err} }

// invalid returns a CheckError whose reason for the log is Public's facts, formatted.
func invalid(public string, format string, args ...any) error {
	return &CheckError{Public: public, Err: fmt.Errorf(format, args...)}
}

// IssuerError is an ErrUnknownIssuer naming the token's iss, quoted and clipped.
type IssuerError struct{ Issuer string }

func (e *IssuerError) Error() string { return ErrUnknownIssuer.Error() + ": " + e.Issuer }

// Unwrap makes an IssuerError match ErrUnknownIssuer.
func (e *IssuerError) Unwrap() error { return ErrUnknownIssuer }

// Defaults of Config.
const (
	DefaultLeeway         = 60 * time.Second
	DefaultRefresh        = time.Hour
	DefaultCooldown       = 60 * time.Second
	DefaultMaxStale       = 24 * time.Hour
	DefaultFetchTimeout   = 5 * time.Second
	DefaultMaxKeySetBytes = 256 << 10 // GitHub's JWKS is about 4 KiB; 64 big keys still fit
	DefaultMaxTokenBytes  = 16 << 10  // real tokens are 1–2 KiB
)

// IssuerConfig allows tokens from one issuer, read as one platform's tokens.
type IssuerConfig struct {
	Kind policy.Kind
	// Issuer is compared with a token's iss as an exact string: https (http only on
	// loopback), no trailing slash, query or fragment; each platform's IssuerHint says
	// which issuers it uses.
	Issuer string
	// Disabled is the operator's kill switch for this issuer: its tokens fail with
	// ErrNotEnabled before anything else is read, and nothing is ever fetched from it.
	// Its publishers stay registered, to work again when it is switched back on.
	Disabled bool
}

// Config configures a Set. Zero durations and sizes take the defaults above.
type Config struct {
	// Audience is the only aud accepted; required.
	Audience string
	// Issuers is the allowlist; empty means DefaultIssuers.
	Issuers []IssuerConfig
	// HTTPClient fetches discovery documents and key sets; nil means HardenedClient(nil).
	// Whatever client is given, redirects to another host are refused.
	HTTPClient *http.Client
	Now        func() time.Time
	Logger     *slog.Logger
	// Leeway is the clock skew forgiven on exp, nbf and iat.
	Leeway time.Duration
	// Refresh is the interval of background key refreshes; at least Cooldown.
	Refresh time.Duration
	// Cooldown is the least time between two fetches an unknown kid may cause.
	Cooldown time.Duration
	// MaxStale is how long after the last successful fetch keys are still used while
	// the issuer cannot be reached.
	MaxStale time.Duration
	// FetchTimeout bounds one refresh: discovery document and key set together.
	// (HardenedClient also gives up on a server silent for 5 s, and on any request
	// after 10 s.)
	FetchTimeout   time.Duration
	MaxKeySetBytes int64
	MaxTokenBytes  int
	// OnFetch, if set, is told the outcome of every fetch of an issuer's keys (err is nil
	// on success), for metrics. It must not block.
	OnFetch func(issuer string, err error)
}

// Set verifies tokens from a fixed allowlist of issuers. It is safe for concurrent use.
type Set struct {
	cfg     Config
	issuers []*issuer
	byIss   map[string]*issuer

	mu      sync.Mutex
	wg      sync.WaitGroup
	started bool
	closed  bool
}

// The public issuers of github.com and gitlab.com, among DefaultIssuers.
const (
	GitHubIssuer = policy.GitHubIssuer
	GitLabIssuer = policy.GitLabIssuer
)

type issuer struct {
	IssuerConfig
	p      *policy.Platform
	claims *claimDecoder
	algs   []jose.SignatureAlgorithm
	keys   *keycache.Cache[*rsa.PublicKey]
}

// DefaultIssuers are the public issuers of the platforms that have one, trusted when the
// operator configures no issuer at all.
func DefaultIssuers() []IssuerConfig {
	var out []IssuerConfig
	for _, pl := range policy.Platforms() {
		if pl.DefaultIssuer != "" {
			out = append(out, IssuerConfig{Kind: pl.Kind, Issuer: pl.DefaultIssuer})
		}
	}
	return out
}

// New validates cfg, fills in defaults and returns a Set. No request is made until the
// first Verify or Start.
func New(cfg Config) (*Set, error) {
	if cfg.Audience == "" {
		return nil, errors.New("providers: audience is required")
	}
	if len(cfg.Issuers) == 0 {
		cfg.Issuers = DefaultIssuers()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"leeway", &cfg.Leeway, DefaultLeeway},
		{"refresh", &cfg.Refresh, DefaultRefresh},
		{"cooldown", &cfg.Cooldown, DefaultCooldown},
		{"max stale", &cfg.MaxStale, DefaultMaxStale},
		{"fetch timeout", &cfg.FetchTimeout, DefaultFetchTimeout},
	} {
		if *d.v < 0 {
			return nil, fmt.Errorf("providers: negative %s %v", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.Refresh < cfg.Cooldown {
		return nil, fmt.Errorf("providers: refresh %v is shorter than cooldown %v", cfg.Refresh, cfg.Cooldown)
	}
	if cfg.MaxKeySetBytes < 0 || cfg.MaxTokenBytes < 0 {
		return nil, errors.New("providers: negative size limit")
	}
	if cfg.MaxKeySetBytes == 0 {
		cfg.MaxKeySetBytes = DefaultMaxKeySetBytes
	}
	if cfg.MaxTokenBytes == 0 {
		cfg.MaxTokenBytes = DefaultMaxTokenBytes
	}
	client := cfg.HTTPClient
	if client == nil {
		client = HardenedClient(nil)
	}
	// A copy, so that the caller's client keeps its own policy while ours refuses to
	// follow an issuer anywhere else.
	c := *client
	c.CheckRedirect = keycache.SameHostRedirects
	cfg.HTTPClient = &c
	cfg.Issuers = append([]IssuerConfig(nil), cfg.Issuers...)

	s := &Set{cfg: cfg, byIss: make(map[string]*issuer, len(cfg.Issuers))}
	for _, ic := range cfg.Issuers {
		p, ok := policy.Lookup(ic.Kind)
		if !ok {
			return nil, fmt.Errorf("providers: issuer %q: unknown kind %q (want %s)", ic.Issuer, ic.Kind, policy.KindNames())
		}
		u, err := checkIssuer(ic.Issuer)
		if err != nil {
			return nil, fmt.Errorf("providers: issuer %q: %w", ic.Issuer, err)
		}
		if _, dup := s.byIss[ic.Issuer]; dup {
			return nil, fmt.Errorf("providers: issuer %q configured twice", ic.Issuer)
		}
		algs := make([]jose.SignatureAlgorithm, len(p.Algs))
		for i, a := range p.Algs {
			algs[i] = jose.SignatureAlgorithm(a)
			if !rsaAlgorithm(algs[i]) {
				return nil, fmt.Errorf("providers: issuer %q: algorithm %s cannot be verified with an RSA key", ic.Issuer, a)
			}
		}
		keys, err := newKeyCache(s, ic, u, algs)
		if err != nil {
			return nil, fmt.Errorf("providers: issuer %q: %w", ic.Issuer, err)
		}
		claims, err := newClaimDecoder(p)
		if err != nil {
			return nil, fmt.Errorf("providers: issuer %q: %w", ic.Issuer, err)
		}
		is := &issuer{IssuerConfig: ic, p: p, claims: claims, algs: algs, keys: keys}
		s.issuers = append(s.issuers, is)
		s.byIss[ic.Issuer] = is
	}
	return s, nil
}

// rsaAlgorithm reports whether alg is an RSASSA-PKCS1-v1_5 algorithm (RFC 7518 §3.3): the
// only kind of signature the issuers' RSA keys make that a platform allows.
func rsaAlgorithm(alg jose.SignatureAlgorithm) bool {
	return alg == jose.RS256 || alg == jose.RS384 || alg == jose.RS512
}

// checkIssuer accepts only issuers in the one spelling a platform puts in iss, so that the
// exact-string comparison with tokens can succeed, and only over https (plain http on
// loopback, for tests and the demo).
func checkIssuer(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, errors.New("scheme must be https")
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return nil, errors.New("plain http is allowed only on loopback")
	case u.Opaque != "" || u.Host == "":
		return nil, errors.New("not an absolute URL with a host")
	case u.User != nil:
		return nil, errors.New("user info is not allowed")
	case strings.ContainsAny(s, "?#"):
		return nil, errors.New("query and fragment are not allowed")
	case strings.HasSuffix(s, "/"):
		return nil, errors.New("trailing slash is not allowed")
	case u.RawPath != "" || (u.Path != "" && path.Clean(u.Path) != u.Path):
		return nil, errors.New("path must be clean and unescaped")
	case u.Host != strings.ToLower(u.Host) || u.String() != s:
		return nil, errors.New("not in canonical form (lower-case scheme and host)")
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Issuers returns the allowlist in configuration order.
func (s *Set) Issuers() []IssuerConfig {
	return append([]IssuerConfig(nil), s.cfg.Issuers...)
}

// Lookup finds an issuer by its exact identifier.
func (s *Set) Lookup(iss string) (IssuerConfig, bool) {
	is, ok := s.byIss[iss]
	if !ok {
		return IssuerConfig{}, false
	}
	return is.IssuerConfig, true
}

// Start fetches every issuer's keys now and then every Config.Refresh in the background
// (every Cooldown after a failure), until ctx is done or Close. Without Start, keys are
// fetched on first use and refreshed when a request finds them older than Refresh.
// Calls after the first, or after Close, do nothing.
func (s *Set) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return
	}
	s.started = true
	for _, is := range s.issuers {
		if is.Disabled {
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			is.keys.Run(ctx)
		}()
	}
}

// Close stops background refreshes, cancels fetches in flight and waits for them. Cached
// keys stay usable; no new fetch starts.
func (s *Set) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	for _, is := range s.issuers {
		is.keys.Close()
	}
	s.wg.Wait()
	s.cfg.HTTPClient.CloseIdleConnections()
}

// KeyStatus is the state of one issuer's key cache, for metrics and readiness.
type KeyStatus struct {
	Issuer    string
	Kind      policy.Kind
	Keys      int       // keys held, usable while FetchedAt is within Config.MaxStale
	FetchedAt time.Time // last successful fetch; zero if none
	LastError string    // of the last fetch attempt; empty after a success
	Fetches   int       // fetch attempts so far
}

// KeyStatus reports every issuer's key cache, in configuration order.
func (s *Set) KeyStatus() []KeyStatus {
	out := make([]KeyStatus, 0, len(s.issuers))
	for _, is := range s.issuers {
		if !is.Disabled {
			st := is.keys.Status()
			out = append(out, KeyStatus{Issuer: is.Issuer, Kind: is.Kind, Keys: st.Keys, FetchedAt: st.FetchedAt, LastError: st.LastError, Fetches: st.Fetches})
		}
	}
	return out
}
