package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tpx-dev/tpx/fault"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/token"
)

// Cache lifetimes of the public documents. Upload services refetch the key set when they
// meet an unknown kid, and tpx publishes a key an hour before it signs, so five minutes
// of caching by a proxy delays nothing; the discovery document changes only with the
// configuration.
const (
	jwksCacheControl      = "public, max-age=300"
	discoveryCacheControl = "public, max-age=3600"
)

// discoveryDocument adds the introspection endpoint to the Minter's document when
// introspection is served: a document listing an endpoint that answers 404 would say
// what does not apply.
func (s *server) discoveryDocument() []byte {
	doc := s.cfg.Minter.Discovery()
	if s.cfg.IntrospectSecret == "" {
		return doc
	}
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		s.cfg.Logger.Error("discovery document is not a JSON object; served as it is", "error", err)
		return doc
	}
	iss, _ := m["issuer"].(string)
	m["introspection_endpoint"] = strings.TrimSuffix(iss, "/") + token.IntrospectionPath
	out, err := json.Marshal(m)
	if err != nil {
		return doc
	}
	return out
}

func (s *server) discovery(c echo.Context) error {
	return serveDocument(c, echo.MIMEApplicationJSON, discoveryCacheControl, s.discoveryDoc)
}

func (s *server) jwks(c echo.Context) error {
	return serveDocument(c, "application/jwk-set+json", jwksCacheControl, s.cfg.Minter.JWKS())
}

// serveDocument answers GET and HEAD for a public document with a strong ETag (a digest
// of the bytes, the same on every replica that holds the same keys) and Cache-Control, so
// that verifiers and proxies can revalidate it with If-None-Match and get a 304.
func serveDocument(c echo.Context, contentType, cacheControl string, body []byte) error {
	sum := sha256.Sum256(body)
	h := c.Response().Header()
	h.Set("ETag", `"`+base64.RawURLEncoding.EncodeToString(sum[:18])+`"`)
	h.Set("Cache-Control", cacheControl)
	h.Set(echo.HeaderContentType, contentType)
	// ServeContent answers If-None-Match, HEAD (headers and length, no body) and ranges.
	http.ServeContent(c.Response(), c.Request(), "", time.Time{}, bytes.NewReader(body))
	return nil
}

// revoke ends an upload token early (RFC 7009). The token is its own authorisation:
// whoever holds it, its CI job or whoever found it leaked, may end it and needs nothing
// else. It comes as the form field token (token_type_hint is ignored: tpx has one kind of
// token); the older form, the token as Authorization: Bearer, is still accepted. As RFC
// 7009 §2.2 says, a token that is invalid, expired, unknown or already revoked is answered
// 200 like one just revoked: there is nothing left to do, and the answer tells nobody
// anything about the token.
func (s *server) revoke(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	if c.QueryParams().Has("token") {
		return oauthError(c, http.StatusBadRequest, "invalid_request", "send the token in the form body (token=…), never in the URL")
	}
	raw, bearerForm := bearer(c)
	if !bearerForm {
		var err error
		if raw, err = formToken(c.Request()); err != nil || raw == "" {
			return oauthError(c, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded with the upload token in the field token")
		}
	}
	if !bearerForm {
		if _, err := s.cfg.Minter.Parse(raw); err != nil {
			return c.JSON(http.StatusOK, map[string]any{})
		}
	}
	if ok, err := s.revokeToken(c, raw); !ok {
		return err
	}
	if bearerForm {
		return c.JSON(http.StatusOK, map[string]bool{"revoked": true})
	}
	return c.JSON(http.StatusOK, map[string]any{})
}

// revokeToken revokes raw, an upload token presented as its own authorisation. When it
// is not a valid, unexpired token of this service, or cannot be revoked, it has replied
// (ok false) and err is the reply's.
func (s *server) revokeToken(c echo.Context, raw string) (ok bool, err error) {
	claims, err := s.cfg.Minter.Parse(raw)
	if err != nil {
		return false, s.reply(c, http.StatusUnauthorized, "unauthorized", "the bearer is not a valid, unexpired upload token of this service")
	}
	err = s.cfg.Store.RevokeUploadToken(c.Request().Context(), claims.ID, s.cfg.Now())
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, s.replyError(c, fault.Wrap(fault.Unavailable, "the token could not be revoked; try again", err))
	}
	s.log(c).Info("upload token revoked", "token_id", claims.ID)
	return true, nil
}

// oauthError answers in the error shape of RFC 6749 §5.2, which RFC 7009 clients read.
func oauthError(c echo.Context, status int, code, description string) error {
	c.Set(replyCodeKey, code)
	return c.JSON(status, map[string]string{"error": code, "error_description": description})
}
