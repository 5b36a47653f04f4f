package fault

import "errors"

// Kind is a class of failure. The zero value, Internal, is everything unclassified: the
// caller learns only that something unexpected happened.
type Kind uint8

const (
	Internal     Kind = iota
	Invalid           // the request cannot be carried out as sent: input, a token, a form
	NotFound          // the thing named does not exist, or is not the caller's to see
	Conflict          // it contradicts what exists: a name taken, a last owner, a replay
	Unauthorized      // who the caller is could not be established: password, code, key
	Forbidden         // the caller is known but may not do this
	Unavailable       // a service the request needs is down; trying later may work
	RateLimited       // the caller sent too many requests; trying later will work
)

var names = [...]string{"internal", "invalid", "not-found", "conflict", "unauthorized", "forbidden", "unavailable", "rate-limited"}

// String is the kind's name in lower case, hyphenated: the code of a JSON error reply.
func (k Kind) String() string {
	if int(k) < len(names) {
		return names[k]
	}
	return names[Internal]
}

// Error is a failure of a known kind.
type Error struct {
	Kind Kind
	// Public is said to the caller.
	Public string
	// Err is the private reason, for the log; nil for a sentinel.
	Err error
	// of is the sentinel this failure is an instance of (see With).
	of *Error
}

// New returns a sentinel: a failure of kind k whose text, public, is for the caller.
func New(k Kind, public string) *Error { return &Error{Kind: k, Public: public} }

// Wrap classifies cause as a failure of kind k, telling the caller public and keeping
// cause, which errors.Is and errors.As still find, for the log only.
func Wrap(k Kind, public string, cause error) *Error {
	return &Error{Kind: k, Public: public, Err: cause}
}

// With is the sentinel e with a private cause: the same kind and public text, the cause
// for the log; errors.Is finds both e and the cause.
func (e *Error) With(cause error) *Error {
	return &Error{Kind: e.Kind, Public: e.Public, Err: cause, of: e}
}

// Is reports whether target is the sentinel e was made from by With.
func (e *Error) Is(target error) bool { return e.of != nil && target == e.of }

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Public
	}
	return e.Public + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf is the kind of the first Error in err's chain; Internal when there is none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Public is what the caller may be told about err. For a sentinel wrapped by the core's
// own wording, the whole text; for an error made by Wrap, its public text alone; for an
// unclassified error, nothing: the caller is told only that something unexpected happened.
func Public(err error) string {
	var e *Error
	switch {
	case !errors.As(err, &e):
		return ""
	case e.Err == nil:
		return err.Error()
	default:
		return e.Public
	}
}
