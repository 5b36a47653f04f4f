package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tpx-dev/tpx/exchange"
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
}

type server struct {
	cfg Config
}

// New returns the HTTP handler for cfg.
func New(cfg Config) *echo.Echo {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &server{cfg: cfg}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.httpError
	e.Use(s.requestLog)

	e.GET("/_/oidc/audience", s.audience)
	e.POST("/_/oidc/mint-token", s.mint)
	e.POST("/_/oidc/github/mint-token", s.mint)
	e.GET("/.well-known/openid-configuration", s.discovery)
	e.GET("/.well-known/jwks.json", s.jwks)
	e.POST("/v1/tokens/introspect", s.introspect)
	e.POST("/v1/tokens/revoke", s.revoke)
	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	return e
}

type ctxKey struct{}

// requestLog gives each request an id (never taken from the client, so log lines cannot
// be forged) and logs one line per request: no bodies, no headers, so no secrets.
func (s *server) requestLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		b := make([]byte, 8)
		rand.Read(b)
		id := hex.EncodeToString(b)
		c.Set("request_id", id)
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		log := s.cfg.Logger.With("request_id", id)
		req := c.Request()
		c.SetRequest(req.WithContext(context.WithValue(req.Context(), ctxKey{}, log)))
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		log.Info("request", "method", req.Method, "route", c.Path(), "status", c.Response().Status, "duration", time.Since(start).Round(time.Microsecond))
		return nil
	}
}

func requestID(c echo.Context) string {
	id, _ := c.Get("request_id").(string)
	return id
}

// log returns the request's logger, which carries its request id.
func (s *server) log(c echo.Context) *slog.Logger {
	if l, ok := c.Request().Context().Value(ctxKey{}).(*slog.Logger); ok {
		return l
	}
	return s.cfg.Logger
}

// httpError answers routing errors (404, 405) and echo's own errors in the JSON shape.
func (s *server) httpError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg := http.StatusText(he.Code)
		_ = s.reply(c, he.Code, strings.ReplaceAll(strings.ToLower(msg), " ", "-"), msg)
		return
	}
	_ = s.replyError(c, err)
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
	req := c.Request()
	if req.ContentLength > MaxBodyBytes {
		return s.reply(c, http.StatusRequestEntityTooLarge, "invalid-payload", "the request body is larger than 64 KiB")
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, MaxBodyBytes+1))
	if err != nil {
		return s.reply(c, http.StatusBadRequest, "invalid-payload", "the request body could not be read")
	}
	if len(body) > MaxBodyBytes {
		return s.reply(c, http.StatusRequestEntityTooLarge, "invalid-payload", "the request body is larger than 64 KiB")
	}
	raw, ok := tokenField(body)
	if !ok {
		return s.reply(c, http.StatusUnprocessableEntity, "invalid-payload", `the body must be a JSON object {"token": "<the CI platform's OIDC token>"}`)
	}
	res, err := s.cfg.Exchange.Exchange(req.Context(), raw)
	if err != nil {
		var e *exchange.Error
		if errors.As(err, &e) {
			s.log(c).Info("exchange failed", "class", e.Class.Error(), "reason", e.Error())
		}
		return s.replyError(c, err)
	}
	return c.JSON(http.StatusOK, mintReply{Success: true, Token: res.Token, Expires: res.Expires.Unix()})
}

// tokenField returns the non-empty string "token" of a JSON object body.
func tokenField(body []byte) (string, bool) {
	var payload struct {
		Token *string `json:"token"`
	}
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&payload); err != nil || d.More() {
		return "", false
	}
	if payload.Token == nil || *payload.Token == "" {
		return "", false
	}
	return *payload.Token, true
}

func (s *server) discovery(c echo.Context) error {
	return c.JSONBlob(http.StatusOK, s.cfg.Minter.Discovery())
}

func (s *server) jwks(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, "application/jwk-set+json", s.cfg.Minter.JWKS())
}

// introspect answers RFC 7662: a token is active only if its signature verifies, it has
// not expired, its record exists and it was not revoked.
func (s *server) introspect(c echo.Context) error {
	if s.cfg.IntrospectSecret == "" {
		return echo.ErrNotFound
	}
	auth := c.Request().Header.Get(echo.HeaderAuthorization)
	want := "Bearer " + s.cfg.IntrospectSecret
	if subtle.ConstantTimeCompare([]byte(auth), []byte(want)) != 1 {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="tpx"`)
		return s.reply(c, http.StatusUnauthorized, "unauthorized", "introspection needs Authorization: Bearer <TPX_INTROSPECT_SECRET>")
	}
	inactive := map[string]bool{"active": false}
	raw := c.FormValue("token")
	claims, err := s.cfg.Minter.Parse(raw)
	if err != nil {
		return c.JSON(http.StatusOK, inactive)
	}
	rec, err := s.cfg.Store.UploadToken(c.Request().Context(), claims.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return c.JSON(http.StatusOK, inactive)
	case err != nil:
		return s.replyError(c, &exchange.Error{Class: exchange.ErrUnavailable, Description: "token records cannot be read; try again", Cause: err})
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

// revoke ends an upload token early; the token itself is the credential (RFC 7009 style),
// so whoever holds a leaked token can also kill it.
func (s *server) revoke(c echo.Context) error {
	raw, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
	if !ok {
		return s.reply(c, http.StatusUnauthorized, "unauthorized", "revocation needs the upload token as Authorization: Bearer <token>")
	}
	claims, err := s.cfg.Minter.Parse(raw)
	if err != nil {
		return s.reply(c, http.StatusUnauthorized, "unauthorized", "the bearer is not a valid, unexpired upload token of this service")
	}
	err = s.cfg.Store.RevokeUploadToken(c.Request().Context(), claims.ID, s.cfg.Now())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return s.replyError(c, &exchange.Error{Class: exchange.ErrUnavailable, Description: "the token could not be revoked; try again", Cause: err})
	}
	s.log(c).Info("upload token revoked", "token_id", claims.ID)
	return c.JSON(http.StatusOK, map[string]bool{"revoked": true})
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
