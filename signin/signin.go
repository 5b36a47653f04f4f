package signin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tpx-dev/tpx/fault"
	"github.com/tpx-dev/tpx/internal/secretbox"
)

// FlowLifetime is how long a sign-in may take between leaving for the identity provider
// and coming back: long enough to type a password and a code there, short enough that a
// forgotten tab's state is worth nothing.
const FlowLifetime = 10 * time.Minute

// requestTimeout bounds each request to the provider: discovery, the code's exchange,
// its keys.
const requestTimeout = 10 * time.Second

// SecondFactorAMR are the amr values (RFC 8176) that name a factor beyond the password:
// possession of a key, a device or a one-time code, a biometric, or several factors.
// The operator may count a sign-in whose amr names one of those it chose as tpx's second
// factor; pwd, pin and kba (something known), and sms and tel (a phone number, which can
// be taken over), are never such a factor.
var SecondFactorAMR = []string{"mfa", "otp", "hwk", "swk", "sc", "pop", "fpt", "face", "iris", "retina", "vbm"}

// Errors of a sign-in, each wrapped with what to do.
var (
	// ErrFlow: the answer does not belong to a sign-in this browser started (no flow
	// cookie, another state, too late).
	ErrFlow = fault.New(fault.Unauthorized, "sign-in not started in this browser")
	// ErrDenied: the provider answered with an error instead of a code.
	ErrDenied = fault.New(fault.Unauthorized, "the identity provider did not sign you in")
	// ErrCode: the provider refused to trade the code (used already, expired, wrong
	// verifier or client).
	ErrCode = fault.New(fault.Unauthorized, "the identity provider refused the sign-in's code")
	// ErrIDToken: the ID token failed a check (signature, issuer, audience, time, nonce).
	ErrIDToken = fault.New(fault.Unauthorized, "the identity provider's ID token was not accepted")
	// ErrUnavailable: the provider cannot be reached or answers nonsense.
	ErrUnavailable = fault.New(fault.Unavailable, "the identity provider cannot be reached")
)

// Config wires a relying party.
type Config struct {
	// Issuer is the provider's issuer identifier (TPX_OIDC_ISSUER).
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is tpx's callback, registered with the provider as the client's
	// redirect URI.
	RedirectURL string
	// Name is how the login page names the provider ("Sign in with Name").
	Name string
	// AMR are the amr values that count as tpx's second factor, each one of
	// SecondFactorAMR; empty counts none.
	AMR []string
	// Box seals the flow cookie, so that the browser carries state, nonce and PKCE
	// verifier without reading or changing them.
	Box *secretbox.Box
	// HTTPClient talks to the provider; nil is http.DefaultClient.
	HTTPClient *http.Client
	Now        func() time.Time
}

// Validate says what is wrong with cfg's settings, naming them as the operator writes
// them.
func (cfg Config) Validate() error {
	var errs []error
	if u, err := url.Parse(cfg.Issuer); err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" ||
		!(u.Scheme == "https" || u.Scheme == "http" && loopback(u.Hostname())) {
		errs = append(errs, fmt.Errorf("TPX_OIDC_ISSUER %q must be an https URL (plain http only on loopback), without query or fragment", cfg.Issuer))
	}
	if cfg.ClientID == "" {
		errs = append(errs, errors.New("TPX_OIDC_CLIENT_ID is needed with TPX_OIDC_ISSUER: the client id tpx was registered under at the identity provider"))
	}
	if cfg.ClientSecret == "" {
		errs = append(errs, errors.New("TPX_OIDC_CLIENT_SECRET (or TPX_OIDC_CLIENT_SECRET_FILE) is needed with TPX_OIDC_ISSUER"))
	}
	for _, a := range cfg.AMR {
		if !slices.Contains(SecondFactorAMR, a) {
			errs = append(errs, fmt.Errorf("TPX_OIDC_AMR_COUNTS: %q is not a second factor; only %s may count (RFC 8176)", a, strings.Join(SecondFactorAMR, ", ")))
		}
	}
	return errors.Join(errs...)
}

func loopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// RP is tpx's relying party at the index's identity provider. It discovers the provider
// on the first sign-in, not at start, so that tpx starts while the provider is down; a
// failed discovery is tried again by the next sign-in.
type RP struct {
	cfg Config

	mu       sync.Mutex
	provider *oidc.Provider
	// failedAt is when discovery last failed: sign-ins in the following RetryAfter are
	// refused without a request, so that a provider that is down is not asked again by
	// every visitor who presses the button.
	failedAt time.Time
}

// RetryAfter is how long after a failed discovery the provider is not asked again.
const RetryAfter = 10 * time.Second

// New returns a relying party for cfg, which must be valid.
func New(cfg Config) (*RP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Name == "" {
		cfg.Name = "the package index"
	}
	return &RP{cfg: cfg}, nil
}

// Name is how pages name the provider.
func (rp *RP) Name() string { return rp.cfg.Name }

// Issuer is the provider's issuer identifier: with the subject, what a user is linked by.
func (rp *RP) Issuer() string { return rp.cfg.Issuer }

// Flow is one sign-in in progress, kept sealed in a cookie of the browser that started
// it.
type Flow struct {
	State    string    `json:"s"`
	Nonce    string    `json:"n"`
	Verifier string    `json:"v"`
	Next     string    `json:"x,omitempty"`
	Invite   string    `json:"i,omitempty"`
	Expires  time.Time `json:"e"`
}

// Identity is a person as the provider vouched for them at one sign-in.
type Identity struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	// Username is the provider's preferred_username: a suggestion for a new account's
	// name, never used to find one.
	Username string
	// SecondFactor says the token's amr named a factor the operator counts.
	SecondFactor bool
}

func (rp *RP) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	return oidc.ClientContext(ctx, rp.cfg.HTTPClient), cancel
}

// discover returns the provider, fetching its discovery document if no earlier sign-in
// did.
func (rp *RP) discover(ctx context.Context) (*oidc.Provider, error) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.provider != nil {
		return rp.provider, nil
	}
	if now := rp.cfg.Now(); !rp.failedAt.IsZero() && now.Sub(rp.failedAt) < RetryAfter {
		return nil, fmt.Errorf("%w: its discovery document at %s could not be read a moment ago; try again in a few seconds", ErrUnavailable, rp.cfg.Issuer)
	}
	ctx, cancel := rp.ctx(ctx)
	defer cancel()
	p, err := oidc.NewProvider(ctx, rp.cfg.Issuer)
	if err != nil {
		rp.failedAt = rp.cfg.Now()
		return nil, fmt.Errorf("%w: its discovery document at %s could not be read; try again later: %w", ErrUnavailable, rp.cfg.Issuer, err)
	}
	rp.provider = p
	return p, nil
}

func (rp *RP) oauth(p *oidc.Provider) *oauth2.Config {
	// client_secret_basic, the method OpenID Connect defaults to, and only it: the
	// library's detection would send a refused code a second time, in the body.
	ep := p.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInHeader
	return &oauth2.Config{ClientID: rp.cfg.ClientID, ClientSecret: rp.cfg.ClientSecret, Endpoint: ep,
		RedirectURL: rp.cfg.RedirectURL, Scopes: []string{oidc.ScopeOpenID, "email", "profile"}}
}

func random() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Start begins a sign-in that comes back to next (a local path) and may spend the sign-up
// invitation invite: it returns where to send the browser, and the sealed flow for its
// cookie.
func (rp *RP) Start(ctx context.Context, next, invite string) (redirect, cookie string, err error) {
	p, err := rp.discover(ctx)
	if err != nil {
		return "", "", err
	}
	f := Flow{State: random(), Nonce: random(), Verifier: oauth2.GenerateVerifier(), Next: next, Invite: invite, Expires: rp.cfg.Now().Add(FlowLifetime)}
	b, err := json.Marshal(f)
	if err != nil {
		return "", "", err
	}
	sealed, err := rp.cfg.Box.Seal("signin flow", b)
	if err != nil {
		return "", "", err
	}
	u := rp.oauth(p).AuthCodeURL(f.State, oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
	return u, base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Open reads a flow cookie; ErrFlow if it is not one Start sealed, or it expired.
func (rp *RP) Open(cookie string) (Flow, error) {
	again := "start the sign-in again from the login page"
	sealed, err := base64.RawURLEncoding.DecodeString(cookie)
	if cookie == "" || err != nil {
		return Flow{}, fmt.Errorf("%w: this browser has no sign-in in progress; %s", ErrFlow, again)
	}
	b, err := rp.cfg.Box.Open("signin flow", sealed)
	var f Flow
	if err != nil || json.Unmarshal(b, &f) != nil || f.State == "" || f.Nonce == "" || f.Verifier == "" {
		return Flow{}, fmt.Errorf("%w: this browser's sign-in is not one tpx started; %s", ErrFlow, again)
	}
	if !rp.cfg.Now().Before(f.Expires) {
		return Flow{}, fmt.Errorf("%w: the sign-in took longer than %v; %s", ErrFlow, FlowLifetime, again)
	}
	return f, nil
}

// Finish checks the provider's answer q (the callback's query) against f, trades the
// code for an ID token and verifies it: the provider's signature, issuer, audience (this
// client), expiry, and the flow's nonce.
func (rp *RP) Finish(ctx context.Context, f Flow, q url.Values) (Identity, error) {
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(f.State)) != 1 {
		return Identity{}, fmt.Errorf("%w: the answer's state is not this browser's sign-in; start the sign-in again from the login page", ErrFlow)
	}
	if e := q.Get("error"); e != "" {
		return Identity{}, fmt.Errorf("%w: it answered %s", ErrDenied, printable(e+" "+q.Get("error_description")))
	}
	code := q.Get("code")
	if code == "" {
		return Identity{}, fmt.Errorf("%w: the answer has no code", ErrDenied)
	}
	p, err := rp.discover(ctx)
	if err != nil {
		return Identity{}, err
	}
	ctx, cancel := rp.ctx(ctx)
	defer cancel()
	tok, err := rp.oauth(p).Exchange(ctx, code, oauth2.VerifierOption(f.Verifier))
	var re *oauth2.RetrieveError
	switch {
	case errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500:
		return Identity{}, fmt.Errorf("%w (%s); it may have been used already or have expired: start the sign-in again", ErrCode, printable(re.ErrorCode+" "+re.ErrorDescription))
	case err != nil:
		return Identity{}, fmt.Errorf("%w: trading the code failed; try again later: %w", ErrUnavailable, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return Identity{}, fmt.Errorf("%w: the provider's answer has no ID token", ErrIDToken)
	}
	// The provider's shared key set: cached across sign-ins, fetched again for a key id
	// it does not know, which only a token the provider just handed over can carry.
	idt, err := p.Verifier(&oidc.Config{ClientID: rp.cfg.ClientID, Now: rp.cfg.Now}).Verify(ctx, raw)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %s", ErrIDToken, printable(err.Error()))
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return Identity{}, fmt.Errorf("%w: its nonce is not this sign-in's", ErrIDToken)
	}
	var c struct {
		Email         string          `json:"email"`
		EmailVerified json.RawMessage `json:"email_verified"`
		Username      string          `json:"preferred_username"`
		AMR           []string        `json:"amr"`
	}
	if err := idt.Claims(&c); err != nil {
		return Identity{}, fmt.Errorf("%w: its claims are malformed: %s", ErrIDToken, printable(err.Error()))
	}
	if idt.Subject == "" || len(idt.Subject) > 255 {
		return Identity{}, fmt.Errorf("%w: its subject is empty or longer than 255 characters", ErrIDToken)
	}
	id := Identity{Issuer: rp.cfg.Issuer, Subject: idt.Subject, Email: c.Email, Username: c.Username,
		// Some providers send the string "true"; anything else is not a verification.
		EmailVerified: string(c.EmailVerified) == "true" || string(c.EmailVerified) == `"true"`}
	for _, a := range c.AMR {
		if slices.Contains(rp.cfg.AMR, a) {
			id.SecondFactor = true
		}
	}
	return id, nil
}

// printable keeps what a provider says to a bounded line of printable ASCII: it reaches
// a page and a log.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r > '~' {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
