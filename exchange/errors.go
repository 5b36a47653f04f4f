package exchange

import (
	"errors"
)

// The classes of failure an exchange reports. Each maps to one error code of the HTTP
// contract (DESIGN §3); the table lives in package web.
var (
	ErrInvalidPayload   = errors.New("invalid-payload")
	ErrInvalidToken     = errors.New("invalid-token")
	ErrInvalidPublisher = errors.New("invalid-publisher")
	ErrReuse            = errors.New("invalid-reuse-token")
	ErrInvalidPending   = errors.New("invalid-pending-publisher")
	// ErrNotEnabled: the token names an issuer the operator switched off (TPX_CONFIG).
	ErrNotEnabled      = errors.New("not-enabled")
	ErrKeysUnavailable = errors.New("provider keys unavailable")
	ErrUnavailable     = errors.New("service unavailable")
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
