package web

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tpx-dev/tpx/exchange"
	"github.com/tpx-dev/tpx/fault"
	"github.com/tpx-dev/tpx/protocol"
)

// apiError is one entry of the error reply: a code and a sentence for the caller.
type apiError struct {
	Code        string `json:"code"`
	Description string `json:"description"`
}

type errorReply struct {
	Message   string     `json:"message"`
	Errors    []apiError `json:"errors"`
	RequestID string     `json:"request_id,omitempty"`
}

// statusOf is the HTTP status of each kind of failure, for the JSON API and the owner UI
// alike. Invalid is 422: the request was understood and refused, as the token endpoint has
// always answered (PyPI's contract).
func statusOf(k fault.Kind) int {
	switch k {
	case fault.Invalid:
		return http.StatusUnprocessableEntity
	case fault.NotFound:
		return http.StatusNotFound
	case fault.Conflict:
		return http.StatusConflict
	case fault.Unauthorized:
		return http.StatusUnauthorized
	case fault.Forbidden:
		return http.StatusForbidden
	case fault.Unavailable:
		return http.StatusServiceUnavailable
	case fault.RateLimited:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// exchangeCodes are the exchange API's error codes, finer than kinds: each class of
// exchange failure has its own, which clients of PyPI's endpoint already know.
var exchangeCodes = []struct {
	class error
	code  string
}{
	{exchange.ErrInvalidPayload, "invalid-payload"},
	{exchange.ErrInvalidToken, "invalid-token"},
	{exchange.ErrInvalidPublisher, "invalid-publisher"},
	{exchange.ErrReuse, "invalid-reuse-token"},
	{exchange.ErrInvalidPending, "invalid-pending-publisher"},
	{exchange.ErrNotEnabled, "not-enabled"},
	{exchange.ErrKeysUnavailable, "provider-keys-unavailable"},
}

// codeOf is the code of err's reply: its exchange class's code, else its kind's name.
func codeOf(err error) string {
	for _, m := range exchangeCodes {
		if errors.Is(err, m.class) {
			return m.code
		}
	}
	return fault.KindOf(err).String()
}

// replyError writes the JSON error shape for err: the status of its kind, its code and its
// public text. An unclassified error is a logged 500 that says nothing but the request id.
func (s *server) replyError(c echo.Context, err error) error {
	kind := fault.KindOf(err)
	if kind == fault.Internal {
		s.log(c).Error("unexpected error", "error", err)
		return s.reply(c, http.StatusInternalServerError, "internal-error", "an unexpected error happened; the request id identifies it in the service's log")
	}
	return s.reply(c, statusOf(kind), codeOf(err), fault.Public(err))
}

func (s *server) reply(c echo.Context, status int, code, description string) error {
	c.Set(replyCodeKey, code)
	if p, ok := c.Get(protocolKey).(Protocol); ok && p.Protocol != protocol.PyPI {
		return protocolReply(c, p.Protocol, status, code, description)
	}
	return c.JSON(status, errorReply{
		Message:   "Token request failed",
		Errors:    []apiError{{Code: code, Description: description}},
		RequestID: requestID(c),
	})
}

// protocolReply writes a refusal in the shape p's clients read: npm logs the body's
// message; crates-io-auth-action reads errors[].detail. Their statuses are those of the
// registries they come from: a request that cannot be read is 400, a CI token that is not
// valid here (signature, time, audience, replayed, issuer switched off) 401, a valid one
// that no publisher of the package accepts 403; limits and outages keep theirs (413, 429,
// 503). The code stays in the reply for scripts, and in the exchange count.
func protocolReply(c echo.Context, p protocol.Protocol, status int, code, description string) error {
	switch code {
	case "invalid-payload":
		if status == http.StatusUnprocessableEntity {
			status = http.StatusBadRequest
		}
	case "invalid-token", "invalid-reuse-token", "not-enabled", "unauthorized":
		status = http.StatusUnauthorized
	case "invalid-publisher", "invalid-pending-publisher":
		status = http.StatusForbidden
	}
	if p == protocol.Cargo {
		return c.JSON(status, map[string]any{"errors": []map[string]string{{"detail": description, "code": code}}})
	}
	return c.JSON(status, map[string]string{"message": description, "code": code})
}
