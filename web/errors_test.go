package web

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/exchange"
	"github.com/tpx-dev/tpx/fault"
	"github.com/tpx-dev/tpx/store"
)

// replyTo runs replyError for err and returns the status, the body and the log.
func replyTo(t *testing.T, err error) (int, string, string) {
	t.Helper()
	var log bytes.Buffer
	s := &server{cfg: Config{Logger: slog.New(slog.NewTextHandler(&log, nil))}}
	rec := httptest.NewRecorder()
	c := echo.New().NewContext(httptest.NewRequest(http.MethodPost, "/_/oidc/mint-token", nil), rec)
	c.Set("request_id", "r1")
	if err := s.replyError(c, err); err != nil {
		t.Fatal(err)
	}
	return rec.Code, strings.TrimSpace(rec.Body.String()), log.String()
}

// The exchange API's replies are a contract: status, code and shape stay as they are.
func TestExchangeFailuresKeepTheirStatusCodeAndShape(t *testing.T) {
	driver := errors.New("dial tcp 10.0.0.7:5432: connection refused")
	for _, tc := range []struct {
		class  error
		status int
		code   string
	}{
		{exchange.ErrInvalidPayload, 422, "invalid-payload"},
		{exchange.ErrInvalidToken, 422, "invalid-token"},
		{exchange.ErrInvalidPublisher, 422, "invalid-publisher"},
		{exchange.ErrReuse, 422, "invalid-reuse-token"},
		{exchange.ErrInvalidPending, 422, "invalid-pending-publisher"},
		{exchange.ErrNotEnabled, 422, "not-enabled"},
		{exchange.ErrKeysUnavailable, 503, "provider-keys-unavailable"},
		{exchange.ErrUnavailable, 503, "unavailable"},
	} {
		t.Run(tc.code+" is "+fmt.Sprint(tc.status), func(t *testing.T) {
			err := fmt.Errorf("exchange: %w", &exchange.Error{Class: tc.class, Description: "check this", Cause: driver, Issuer: "https://issuer.example"})
			status, body, _ := replyTo(t, err)
			want := `{"message":"Token request failed","errors":[{"code":"` + tc.code + `","description":"check this"}],"request_id":"r1"}`
			if status != tc.status || body != want {
				t.Fatalf("got %d %s\nwant %d %s", status, body, tc.status, want)
			}
		})
	}
}

func TestOtherFailuresAnswerTheirKindsStatusWithPublicTextOnly(t *testing.T) {
	driver := errors.New("dial tcp 10.0.0.7:5432: connection refused")
	for _, tc := range []struct {
		name, code, description string
		err                     error
		status                  int
	}{
		{"a store that is down is 503, its driver's message kept out", "unavailable", "token records cannot be read; try again",
			fault.Wrap(fault.Unavailable, "token records cannot be read; try again", store.ErrUnavailable.With(driver)), 503},
		{"a store error unworded by the caller says only that the database is down", "unavailable", "database unavailable",
			fmt.Errorf("upload token 7: %w", store.ErrUnavailable.With(driver)), 503},
		{"not found is 404", "not-found", "not found", fmt.Errorf("%w", store.ErrNotFound), 404},
		{"a scope an API key lacks is 403", "forbidden", "API key lacks the scope admin", fmt.Errorf("%w admin", account.ErrAPIKeyScope), 403},
		{"an unknown API key is 401", "unauthorized", "missing, unknown or revoked API key", account.ErrBadAPIKey, 401},
		{"a name taken is 409", "conflict", `project already exists: "numpy"`, fmt.Errorf("%w: %q", account.ErrProjectExists, "numpy"), 409},
		{"too many requests is 429", "rate-limited", "slow down", fault.New(fault.RateLimited, "slow down"), 429},
		{"an unclassified error is a 500 that tells nothing", "internal-error", "an unexpected error happened; the request id identifies it in the service's log", driver, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, log := replyTo(t, tc.err)
			want := `{"message":"Token request failed","errors":[{"code":"` + tc.code + `","description":"` + strings.ReplaceAll(tc.description, `"`, `\"`) + `"}],"request_id":"r1"}`
			if status != tc.status || body != want {
				t.Fatalf("got %d %s\nwant %d %s", status, body, tc.status, want)
			}
			if tc.status == 500 && !strings.Contains(log, driver.Error()) {
				t.Fatalf("the log lacks the reason of a 500: %s", log)
			}
		})
	}
}

// The owner UI answers the core's refusals with the status of their kind, as it did when it
// had a switch of its own, and the sentence the core wrote.
func TestTheUIAnswersEachRefusalWithItsKindsStatus(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
	}{
		{account.ErrNoSecondFactor, 403},
		{account.ErrNotOwner, 403},
		{account.ErrEmailUnverified, 403},
		{account.ErrUnknownProject, 404},
		{account.ErrUnknownID, 404},
		{account.ErrUnknownUser, 422},
		{account.ErrBadInvitation, 403},
		{account.ErrSignupClosed, 403},
		{account.ErrProjectExists, 409},
		{account.ErrContested, 409},
		{account.ErrLastFactor, 409},
		{account.ErrLastOwner, 409},
		{account.ErrAlreadyEnrolled, 409},
		{account.ErrNoInvitation, 409},
		{account.ErrInvalidInput, 422},
		{account.ErrBadTOTP, 401},
		{account.ErrTOTPCodeReused, 401},
		{account.ErrBadRecoveryCode, 401},
		{account.ErrBadPassword, 401},
		{account.ErrBadLogin, 401},
		{account.ErrWebAuthn, 401},
		{account.ErrWebAuthnUnavailable, 503},
	} {
		t.Run(tc.err.Error(), func(t *testing.T) {
			status, msg, ok := refused(fmt.Errorf("%w: do this", tc.err))
			if !ok || status != tc.status {
				t.Fatalf("refused: %d, %v; want %d", status, ok, tc.status)
			}
			if want := strings.ToUpper(tc.err.Error()[:1]) + tc.err.Error()[1:] + ": do this."; msg != want {
				t.Fatalf("sentence %q, want %q", msg, want)
			}
		})
	}
	if _, _, ok := refused(errors.New("disk full")); ok {
		t.Fatal("an unexpected error was answered as a refusal instead of going up")
	}
}
