package exchange

import (
	"errors"

	"github.com/tpx-dev/tpx/fault"
)

// The classes of failure an exchange reports. Each is one error code of the exchange API
// (package web holds the table of codes); their kind gives the status, so every refused
// token is 422 and only a service that is down is 503, as PyPI answers.
var (
	ErrInvalidPayload   = fault.New(fault.Invalid, "invalid-payload")
	ErrInvalidToken     = fault.New(fault.Invalid, "invalid-token")
	ErrInvalidPublisher = fault.New(fault.Invalid, "invalid-publisher")
	ErrReuse            = fault.New(fault.Invalid, "invalid-reuse-token")
	ErrInvalidPending   = fault.New(fault.Invalid, "invalid-pending-publisher")
	// ErrNotEnabled: the token names an issuer the operator switched off (TPX_CONFIG).
	ErrNotEnabled      = fault.New(fault.Invalid, "not-enabled")
	ErrKeysUnavailable = fault.New(fault.Unavailable, "provider keys unavailable")
	ErrUnavailable     = fault.New(fault.Unavailable, "service unavailable")
	// ErrBusy: too many tokens wait to be verified (Admission); the client retries.
	ErrBusy = fault.New(fault.Unavailable, "busy")
)

// Error is a failed exchange: Class is one of the sentinels above, Description the
// sentence the caller sees (what to check, never another owner's configuration), and
// Cause the full reason, for the log and the owner's own view only.
type Error struct {
	Class       error
	Description string
	Cause       error
	// Issuer is the configured issuer the token named, verified or not, so that failures
	// can be counted per issuer; empty when it named none.
	Issuer string
}

func (e *Error) Error() string {
	if e.Cause == nil {
		return e.Class.Error() + ": " + e.Description
	}
	return e.Class.Error() + ": " + e.Description + ": " + e.Cause.Error()
}

func (e *Error) Unwrap() error { return e.Class }

// As lets fault.KindOf and fault.Public read an exchange's failure: its kind is its class's,
// its public text the description; the cause stays private.
func (e *Error) As(target any) bool {
	t, ok := target.(**fault.Error)
	if ok {
		*t = fault.Wrap(fault.KindOf(e.Class), e.Description, e.Cause)
	}
	return ok
}

func fail(class error, description string, cause error) *Error {
	return &Error{Class: class, Description: description, Cause: cause}
}

// attribute names the issuer on an exchange's failure; a success names the verified one.
func attribute(err error, iss string) {
	var e *Error
	if errors.As(err, &e) && e.Issuer == "" {
		e.Issuer = iss
	}
}
