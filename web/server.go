package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tpx-dev/tpx/exchange"
	"github.com/tpx-dev/tpx/fault"
	"github.com/tpx-dev/tpx/internal/b64url"
	"github.com/tpx-dev/tpx/protocol"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/token"
)

// MaxBodyBytes caps the body of an exchange request; a CI token is a few kilobytes.
const MaxBodyBytes = 64 << 10

// Store is the part of store.Store the HTTP layer reads directly.
type Store interface {
	Ping(ctx context.Context) error
	UploadToken(ctx context.Context, id string) (store.UploadToken, error)
	RevokeUploadToken(ctx context.Context, id string, at time.Time) error
}

// Minter is the part of token.Minter the HTTP layer serves.
type Minter interface {
	JWKS() []byte
	Discovery() []byte
	Parse(raw string) (token.Claims, error)
}

// Config wires the HTTP server.
type Config struct {
	Exchange *exchange.Service
	Minter   Minter
	Store    Store
	Audience string
	// IntrospectSecret authorises RFC 7662 introspection; empty disables the route.
	IntrospectSecret string
	Logger           *slog.Logger
	Now              func() time.Time
	// Metrics, if set, counts requests and exchanges and is served on /metrics.
	Metrics *Metrics
	// RateLimit limits the exchange routes per client address; the zero value does not.
	RateLimit RateLimit
	// Refused paces the exchange requests of connections whose last one was refused.
	Refused RefusedConnections
	// UI, if set, serves the owner web UI (ui.go).
	UI *UIConfig
	// Admin, if set, serves the admin API under /v1/admin/ (admin.go).
	Admin *AdminConfig
	// SecretScanning, if set, takes GitHub's secret-scanning reports of leaked upload
	// tokens (leaks.go).
	SecretScanning *SecretScanningConfig
	// Protocols are the client protocols served, each with the audience its CI tokens
	// must carry (registry.go); empty serves PyPI's alone, with Audience.
	Protocols []Protocol
}

type server struct {
	cfg Config
	// uiError, set when the owner web UI is served, answers a routing error (404, 405) of
	// a browser's page with an HTML page instead of the API's JSON.
	uiError func(c echo.Context, code int)
	// clientIP is the client address of a request (client.go).
	clientIP func(*http.Request) string
	// introspectSecret is TPX_INTROSPECT_SECRET's digest; failures counts failed
	// introspection requests per client address.
	introspectSecret secretDigest
	failures         *attemptLimiter
	// refusals bounds the log lines of refused exchanges (logRefusal).
	refusals lineBudget
	// discoveryDoc is the Minter's discovery document with the introspection endpoint
	// added when introspection is served.
	discoveryDoc []byte
}

// New returns the HTTP handler for cfg.
func New(cfg Config) *echo.Echo {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Logger = slog.New(LogHandler(cfg.Logger.Handler()))
	s := &server{cfg: cfg, clientIP: clientAddresses(cfg.RateLimit.TrustedProxies),
		introspectSecret: newSecretDigest(cfg.IntrospectSecret), failures: newAttemptLimiter(cfg.Now, maxAttemptWindows)}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.httpError
	e.Use(s.requestLog)

	// One lane and one limiter for every exchange route, whichever protocol: a
	// connection's and a client's requests count together.
	mintMiddleware := []echo.MiddlewareFunc{s.refusedConnections(newRefusedLane(cfg.Refused))}
	if cfg.RateLimit.Requests > 0 {
		mintMiddleware = append(mintMiddleware, s.limit(newLimiter(cfg.RateLimit, cfg.Now)))
	}
	registerProtocols(e, s, mintMiddleware)
	if cfg.Minter != nil {
		s.discoveryDoc = s.discoveryDocument()
	}
	for _, m := range []string{http.MethodGet, http.MethodHead} {
		e.Add(m, "/.well-known/openid-configuration", s.discovery)
		e.Add(m, "/.well-known/jwks.json", s.jwks)
	}
	e.POST("/v1/tokens/introspect", s.introspect)
	e.POST("/v1/tokens/revoke", s.revoke)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	if cfg.Metrics != nil {
		e.GET("/metrics", echo.WrapHandler(cfg.Metrics.Handler()))
	}
	if cfg.Admin != nil {
		registerAdmin(e, s, *cfg.Admin)
	}
	if cfg.SecretScanning != nil {
		if err := registerSecretScanning(e, s, *cfg.SecretScanning); err != nil {
			s.cfg.Logger.Error("secret-scanning reports not taken", "error", err)
		}
	}
	if cfg.UI != nil {
		// Its only errors are a public URL that config validation refuses first and
		// templates that the tests parse: the API is served regardless.
		if err := registerUI(e, s, *cfg.UI); err != nil {
			s.cfg.Logger.Error("owner web UI not served", "error", err)
		}
	}
	return e
}

// requestLog gives each request an id (never taken from the client, so log lines cannot
// be forged) and logs one line per request: no bodies, no headers, so no secrets. The id
// rides in the request's context, where LogHandler finds it for every line logged with
// that context, whichever package logs it. A panic becomes a logged 500 with the id,
// like any other unexpected error. Lines about refused exchanges are bounded (refusals).
func (s *server) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		var b [8]byte
		rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		c.Set("request_id", id)
		c.Response().Header()[echo.HeaderXRequestID] = []string{id}
		req := c.Request()
		ctx := context.WithValue(req.Context(), requestIDKey{}, id)
		c.SetRequest(req.WithContext(ctx))
		start := time.Now()
		err := recovered(next, c)
		if err != nil {
			c.Error(err)
		}
		took := time.Since(start)
		if s.cfg.Metrics != nil {
			s.cfg.Metrics.request(routeLabel(c), req.Method, c.Response().Status, took)
		}
		if quiet, _ := c.Get(quietKey).(bool); quiet {
			return nil
		}
		s.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("method", methodLabel(req.Method)), slog.String("route", routeLabel(c)),
			slog.Int("status", c.Response().Status), slog.Duration("duration", took.Round(time.Microsecond)))
		return nil
	}
}

func requestID(c echo.Context) string {
	id, _ := c.Get("request_id").(string)
	return id
}

// requestLogger logs with a request's context, so that each line carries its id.
type requestLogger struct {
	l   *slog.Logger
	ctx context.Context
}

func (r requestLogger) Info(msg string, args ...any)  { r.l.InfoContext(r.ctx, msg, args...) }
func (r requestLogger) Warn(msg string, args ...any)  { r.l.WarnContext(r.ctx, msg, args...) }
func (r requestLogger) Error(msg string, args ...any) { r.l.ErrorContext(r.ctx, msg, args...) }

// log returns the request's logger, whose lines carry its request id.
func (s *server) log(c echo.Context) requestLogger {
	return requestLogger{l: s.cfg.Logger, ctx: c.Request().Context()}
}

// httpError answers routing errors (404, 405) and echo's own errors in the JSON shape.
func (s *server) httpError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		if s.uiError != nil && (he.Code == http.StatusNotFound || he.Code == http.StatusMethodNotAllowed) && !apiPath(c.Request().URL.Path) {
			s.uiError(c, he.Code)
			return
		}
		msg := http.StatusText(he.Code)
		_ = s.reply(c, he.Code, strings.ReplaceAll(strings.ToLower(msg), " ", "-"), msg)
		return
	}
	_ = s.replyError(c, err)
}

// apiPath reports whether p belongs to the API (the exchange, token and operations
// routes), whose clients read JSON; every other path is the owner web UI's.
func apiPath(p string) bool {
	for _, prefix := range []string{"/_/", "/v1/", "/.well-known/", "/-/", "/api/"} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return p == "/healthz" || p == "/readyz" || p == "/metrics"
}

func (s *server) audience(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"audience": s.cfg.Audience})
}

type mintReply struct {
	Success bool   `json:"success"`
	Token   string `json:"token"`
	Expires int64  `json:"expires"`
}

func (s *server) mint(c echo.Context) error {
	start := time.Now()
	var issuer string
	defer func() { s.exchangeDone(c, issuer, start) }()
	body, ok, err := s.readBody(c)
	if !ok {
		return err
	}
	raw, project, ok := tokenField(body)
	if !ok {
		return s.refuse(c, http.StatusUnprocessableEntity, "invalid-payload", `the body must be a JSON object {"token": "<the CI platform's OIDC token>"}, with "project": "<name>" to ask for one project`)
	}
	res, ok, err := s.exchange(c, exchange.Request{Token: raw, Project: project, Audience: s.audienceOf(c)}, &issuer)
	if !ok {
		return err
	}
	return replyToken(c, res.Token, res.Expires.Unix())
}

// exchange runs r, an exchange request of any protocol, and sets *issuer for the
// exchange count. On failure (ok false) it logs the reason and has written the reply, in
// the protocol's shape; err is then that write's error.
func (s *server) exchange(c echo.Context, r exchange.Request, issuer *string) (res exchange.Result, ok bool, err error) {
	res, err = s.cfg.Exchange.ExchangeRequest(c.Request().Context(), r)
	*issuer = res.Issuer
	if err != nil {
		var e *exchange.Error
		if errors.As(err, &e) {
			*issuer = e.Issuer
			if s.logRefusal(c, e.Class) {
				s.log(c).Info("exchange failed", "class", e.Class.Error(), "reason", e.Error())
			}
			if errors.Is(err, exchange.ErrBusy) {
				c.Response().Header().Set("Retry-After", "1")
			}
			if p, ok := c.Get(protocolKey).(Protocol); ok && p.Protocol != protocol.PyPI {
				// npm and cargo clients show the message as it is: the sentence alone;
				// the code has a field of its own.
				return res, false, s.reply(c, statusOf(fault.KindOf(err)), codeOf(err), e.Description)
			}
		}
		return res, false, s.replyError(c, err)
	}
	return res, true, nil
}

// readAtMost reads r to its end, or to one byte past MaxBodyBytes.
func readAtMost(r io.Reader) ([]byte, error) { return io.ReadAll(io.LimitReader(r, MaxBodyBytes+1)) }

// readBody reads an exchange request's body, at most MaxBodyBytes; past that, or when it
// cannot be read, it has replied (ok false) and err is the reply's.
func (s *server) readBody(c echo.Context) (body []byte, ok bool, err error) {
	req := c.Request()
	if req.ContentLength > MaxBodyBytes {
		return nil, false, s.refuse(c, http.StatusRequestEntityTooLarge, "invalid-payload", "the request body is larger than 64 KiB")
	}
	body, err = readAtMost(req.Body)
	if err != nil {
		return nil, false, s.refuse(c, http.StatusBadRequest, "invalid-payload", "the request body could not be read")
	}
	if len(body) > MaxBodyBytes {
		return nil, false, s.refuse(c, http.StatusRequestEntityTooLarge, "invalid-payload", "the request body is larger than 64 KiB")
	}
	return body, true, nil
}

// replyToken writes the success reply, {"success":true,"token":…,"expires":…}, as
// encoding/json writes mintReply, in one buffer: a minted token is base64url and dots,
// which JSON needs no escape for. A request with a query string (echo's ?pretty) gets
// echo's own rendering.
func replyToken(c echo.Context, token string, expires int64) error {
	if c.QueryString() != "" || !jwtChars(token) {
		return c.JSON(http.StatusOK, mintReply{Success: true, Token: token, Expires: expires})
	}
	b := make([]byte, 0, len(token)+64)
	b = append(b, `{"success":true,"token":"`...)
	b = append(b, token...)
	b = append(b, `","expires":`...)
	b = strconv.AppendInt(b, expires, 10)
	b = append(b, "}\n"...)
	return c.JSONBlob(http.StatusOK, b)
}

func jwtChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isJWTByte(s[i]) {
			return false
		}
	}
	return true
}

// refuse answers an exchange request that was refused before its token was looked at.
func (s *server) refuse(c echo.Context, status int, code, description string) error {
	s.logRefusal(c, exchange.ErrInvalidPayload)
	return s.reply(c, status, code, description)
}

// maxProjectName bounds the optional "project" of an exchange request: no project name is
// longer.
const maxProjectName = 100

// tokenField returns the non-empty string "token" of a JSON object body, and its optional
// string "project".
func tokenField(body []byte) (token, project string, ok bool) {
	if t, ok := plainTokenBody(body); ok {
		return t, "", true
	}
	return decodeTokenField(body)
}

// decodeTokenField is tokenField by encoding/json, for any body.
func decodeTokenField(body []byte) (token, project string, ok bool) {
	var payload struct {
		Token   *string `json:"token"`
		Project string  `json:"project"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&payload); err != nil || d.More() {
		return "", "", false
	}
	if payload.Token == nil || *payload.Token == "" || len(payload.Project) > maxProjectName {
		return "", "", false
	}
	return *payload.Token, payload.Project, true
}

// plainTokenBody reads the body nearly every client sends, {"token": "<a JWT>"} and nothing
// else, without a JSON decoder, which would look at each of the token's thousand bytes
// several times. A JWT's characters (base64url and dots) need no escaping, so such a body
// means to encoding/json exactly what it means here; any other body is left to it.
func plainTokenBody(body []byte) (string, bool) {
	i := 0
	expect := func(lit string) bool {
		for i < len(body) && isJSONSpace(body[i]) {
			i++
		}
		if !bytes.HasPrefix(body[i:], []byte(lit)) {
			return false
		}
		i += len(lit)
		return true
	}
	if !expect("{") || !expect(`"token"`) || !expect(":") || !expect(`"`) {
		return "", false
	}
	start := i
	for i < len(body) && isJWTByte(body[i]) {
		i++
	}
	end := i
	// The closing quote follows the token at once: a space before it is part of the string.
	if end == start || i == len(body) || body[i] != '"' {
		return "", false
	}
	i++
	if !expect("}") {
		return "", false
	}
	for i < len(body) && isJSONSpace(body[i]) {
		i++
	}
	if i != len(body) {
		return "", false
	}
	return string(body[start:end]), true
}

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isJWTByte(c byte) bool { return b64url.Is(c) || c == '.' }

// introspect answers RFC 7662: a token is active only if its signature verifies, it has
// not expired, its record exists and it was not revoked. The token is read from the form
// body only: one in the URL would end up in the access logs of every proxy on the way.
// Failed authentications count against the caller's address, so that guessing the
// secret is slow as well as hopeless.
func (s *server) introspect(c echo.Context) error {
	if s.cfg.IntrospectSecret == "" {
		return echo.ErrNotFound
	}
	client := s.clientIP(c.Request())
	if k, ok := clientKey(client); ok {
		client = k.String()
	}
	if retry, blocked := s.failures.blocked(limitIntrospectIP, client); blocked {
		secs := int(retry.Seconds() + 0.999)
		c.Response().Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		return s.reply(c, http.StatusTooManyRequests, "rate-limited", "too many failed introspection requests from this address; retry after the number of seconds in Retry-After")
	}
	secret, _ := bearer(c)
	if !s.introspectSecret.matches(secret) {
		s.failures.add(limitIntrospectIP, client)
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="tpx"`)
		return s.reply(c, http.StatusUnauthorized, "unauthorized", "introspection needs Authorization: Bearer <TPX_INTROSPECT_SECRET>")
	}
	if c.QueryParams().Has("token") {
		return s.reply(c, http.StatusBadRequest, "invalid-request", "send the token in the form body (token=…), never in the URL")
	}
	raw, err := formToken(c.Request())
	if err != nil {
		return s.reply(c, http.StatusBadRequest, "invalid-request", err.Error())
	}
	inactive := map[string]bool{"active": false}
	claims, err := s.cfg.Minter.Parse(raw)
	if err != nil {
		return c.JSON(http.StatusOK, inactive)
	}
	rec, err := s.cfg.Store.UploadToken(c.Request().Context(), claims.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return c.JSON(http.StatusOK, inactive)
	case err != nil:
		return s.replyError(c, fault.Wrap(fault.Unavailable, "token records cannot be read; try again", err))
	case rec.RevokedAt != nil || !s.cfg.Now().Before(rec.ExpiresAt):
		return c.JSON(http.StatusOK, inactive)
	}
	out := map[string]any{}
	b, err := json.Marshal(claims)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return err
	}
	out["active"] = true
	out["token_type"] = "Bearer"
	return c.JSON(http.StatusOK, out)
}

// maxFormBytes caps an introspection body: one upload token, which the token package
// bounds at 16 KiB, form-encoded.
const maxFormBytes = 64 << 10

// formToken reads the "token" field of an application/x-www-form-urlencoded body.
func formToken(r *http.Request) (string, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType)); mt != echo.MIMEApplicationForm {
		return "", errors.New("the body must be application/x-www-form-urlencoded with a token field")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxFormBytes+1))
	if err != nil || len(body) > maxFormBytes {
		return "", errors.New("the body could not be read or is larger than 64 KiB")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "", errors.New("the body is not a valid form")
	}
	return form.Get("token"), nil
}

// secretDigest holds a bearer secret as its SHA-256, so that a presented secret is
// compared in constant time whatever its length: comparing the raw strings would end
// early on a length mismatch and tell a caller how long the secret is.
type secretDigest [sha256.Size]byte

func newSecretDigest(secret string) secretDigest { return sha256.Sum256([]byte(secret)) }

func (d secretDigest) matches(presented string) bool {
	got := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(got[:], d[:]) == 1
}

// bearer returns the credential of an Authorization header with the Bearer scheme, whose
// name is case-insensitive (RFC 7235).
func bearer(c echo.Context) (string, bool) {
	scheme, cred, ok := strings.Cut(c.Request().Header.Get(echo.HeaderAuthorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(cred), true
}

func (s *server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

func (s *server) readyz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Store.Ping(ctx); err != nil {
		s.log(c).Warn("not ready: database unreachable", "error", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "database unreachable"})
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// recovered runs next, turning a panic into an error; http.ErrAbortHandler, net/http's
// way to drop a connection on purpose, goes on.
func recovered(next echo.HandlerFunc, c echo.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return next(c)
}

// pathParam is the route parameter name unescaped. Echo routes on the request's raw path
// when the request escaped more than Go would (npm's scoped names arrive as
// "@scope%2Fname"), and a parameter then holds its segment as sent; otherwise it holds the
// segment already unescaped, which must not be unescaped twice.
func pathParam(c echo.Context, name string) string {
	v := c.Param(name)
	if c.Request().URL.RawPath == "" {
		return v
	}
	if u, err := url.PathUnescape(v); err == nil {
		return u
	}
	return v
}
