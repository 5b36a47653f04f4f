package web

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tpx-dev/tpx/exchange"
	"github.com/tpx-dev/tpx/protocol"
)

// Protocol is one client protocol served, with the audience its CI tokens must carry.
type Protocol struct {
	Protocol protocol.Protocol
	Audience string
}

// protocolKey is where a route's protocol is kept for the request, so that every reply on
// it — the rate limiter's and the exchange's refusals alike — takes that protocol's shape.
const protocolKey = "tpx.protocol"

// protocols are the client protocols served: those configured, else PyPI's alone.
func (s *server) protocols() []Protocol {
	if len(s.cfg.Protocols) == 0 {
		return []Protocol{{Protocol: protocol.PyPI, Audience: s.cfg.Audience}}
	}
	return s.cfg.Protocols
}

// registerProtocols serves each configured protocol's routes. Each is a front on the one
// exchange (exchange.Service.ExchangeRequest): the same verification, replay protection,
// rate limit, refusal records and metrics; what differs is where the token and the
// package name are in the request, the audience, and the shape of the reply.
func registerProtocols(e *echo.Echo, s *server, limit []echo.MiddlewareFunc) {
	for _, p := range s.protocols() {
		mw := append([]echo.MiddlewareFunc{speaks(p)}, limit...)
		switch p.Protocol {
		case protocol.PyPI:
			e.GET("/_/oidc/audience", s.audience)
			e.POST("/_/oidc/mint-token", s.mint, mw...)
			e.POST("/_/oidc/github/mint-token", s.mint, mw...)
		case protocol.NPM:
			// The name is read from the escaped path (npmPackage), whatever echo makes of
			// an escaped slash: one wildcard route takes every spelling.
			e.POST(protocol.NPMExchangePrefix+"*", s.npmExchange, mw...)
		case protocol.Cargo:
			e.POST(protocol.CargoTokensPath, s.cargoExchange, mw...)
			e.DELETE(protocol.CargoTokensPath, s.cargoRevoke, speaks(p))
		}
	}
}

// speaks marks a request as p's.
func speaks(p Protocol) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			c.Set(protocolKey, p)
			return next(c)
		}
	}
}

// audienceOf is the audience the request's CI token must carry: its protocol's.
func (s *server) audienceOf(c echo.Context) string {
	if p, ok := c.Get(protocolKey).(Protocol); ok {
		return p.Audience
	}
	return s.cfg.Audience
}

// npmExchange is the npm CLI's exchange: POST
// /-/npm/v1/oidc/token/exchange/package/NAME, the CI token as bearer, no body. The upload
// token covers NAME alone, and only if one of NAME's publishers matches: npm asks for the
// package it is publishing.
func (s *server) npmExchange(c echo.Context) error {
	start := time.Now()
	var issuer string
	defer func() { s.exchangeDone(c, issuer, start) }()
	if c.Request().ContentLength > MaxBodyBytes {
		return s.reply(c, http.StatusRequestEntityTooLarge, "invalid-payload", "the request body is larger than 64 KiB; the exchange takes none")
	}
	name, err := protocol.NPMPackage(c.Request().URL.EscapedPath())
	if err != nil {
		return s.reply(c, http.StatusUnprocessableEntity, "invalid-payload", err.Error())
	}
	raw, ok := bearer(c)
	if !ok || raw == "" {
		return s.reply(c, http.StatusUnprocessableEntity, "invalid-payload", "send the CI platform's OIDC token as Authorization: Bearer <token>")
	}
	res, ok, err := s.exchange(c, exchange.Request{Token: raw, Project: name, Audience: s.audienceOf(c)}, &issuer)
	if !ok {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"token": res.Token, "expires": res.Expires.Unix()})
}

// cargoExchange is crates.io's exchange: POST /api/v1/trusted_publishing/tokens with
// {"jwt": "<CI token>"} → {"token"}. The upload token covers every crate the job's
// publishers reach, within the exchange's bounds, as crates.io's does.
func (s *server) cargoExchange(c echo.Context) error {
	start := time.Now()
	var issuer string
	defer func() { s.exchangeDone(c, issuer, start) }()
	body, ok, err := s.readBody(c)
	if !ok {
		return err
	}
	raw, perr := protocol.CargoJWT(body)
	if perr != nil {
		return s.reply(c, http.StatusUnprocessableEntity, "invalid-payload", perr.Error())
	}
	res, ok, err := s.exchange(c, exchange.Request{Token: raw, Audience: s.audienceOf(c)}, &issuer)
	if !ok {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"token": res.Token})
}

// cargoRevoke is crates-io-auth-action's post step: DELETE
// /api/v1/trusted_publishing/tokens with the upload token as bearer revokes it, on every
// replica at once (introspection reports it inactive); 204 as crates.io answers.
func (s *server) cargoRevoke(c echo.Context) error {
	raw, ok := bearer(c)
	if !ok || raw == "" {
		return s.reply(c, http.StatusUnauthorized, "unauthorized", "send the upload token to revoke as Authorization: Bearer <token>")
	}
	ok, err := s.revokeToken(c, raw)
	if !ok {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
