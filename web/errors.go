package web

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tpx-dev/tpx/exchange"
)

// apiError is one entry of the error reply (DESIGN §3).
type apiError struct {
	Code        string `json:"code"`
	Description string `json:"description"`
}

type errorReply struct {
	Message   string     `json:"message"`
	Errors    []apiError `json:"errors"`
	RequestID string     `json:"request_id,omitempty"`
}

// exchangeStatus maps each class of exchange failure to its status and code.
var exchangeStatus = []struct {
	class  error
	status int
	code   string
}{
	{exchange.ErrInvalidPayload, http.StatusUnprocessableEntity, "invalid-payload"},
	{exchange.ErrInvalidToken, http.StatusUnprocessableEntity, "invalid-token"},
	{exchange.ErrInvalidPublisher, http.StatusUnprocessableEntity, "invalid-publisher"},
	{exchange.ErrReuse, http.StatusUnprocessableEntity, "invalid-reuse-token"},
	{exchange.ErrInvalidPending, http.StatusUnprocessableEntity, "invalid-pending-publisher"},
	{exchange.ErrNotEnabled, http.StatusUnprocessableEntity, "not-enabled"},
	{exchange.ErrKeysUnavailable, http.StatusServiceUnavailable, "provider-keys-unavailable"},
	{exchange.ErrUnavailable, http.StatusServiceUnavailable, "unavailable"},
}

// replyError writes the JSON error shape for err; anything unmatched is a logged 500.
func (s *server) replyError(c echo.Context, err error) error {
	var e *exchange.Error
	if errors.As(err, &e) {
		for _, m := range exchangeStatus {
			if errors.Is(e.Class, m.class) {
				return s.reply(c, m.status, m.code, e.Description)
			}
		}
	}
	s.log(c).Error("unexpected error", "error", err)
	return s.reply(c, http.StatusInternalServerError, "internal-error", "an unexpected error happened; the request id identifies it in the service's log")
}

func (s *server) reply(c echo.Context, status int, code, description string) error {
	c.Set(replyCodeKey, code)
	return c.JSON(status, errorReply{
		Message:   "Token request failed",
		Errors:    []apiError{{Code: code, Description: description}},
		RequestID: requestID(c),
	})
}
