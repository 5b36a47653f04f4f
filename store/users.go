package store

import (
	"time"

	"github.com/tpx-dev/tpx/fault"
)

// User is an account: an owner or maintainer of projects, or someone who registers
// pending publishers.
type User struct {
	ID           int64
	Name         string
	Email        string
	PasswordHash string
	// TOTPSecret is sealed (see internal/secretbox); nil when no TOTP is enrolled.
	TOTPSecret []byte
	// TOTPConfirmed is false between enrolment and the first correct code (web flow).
	TOTPConfirmed bool
	// TOTPLastStep is the last accepted RFC 6238 time step; codes at or before it are refused.
	TOTPLastStep int64
	// WebAuthnCount is the number of registered security keys and passkeys.
	WebAuthnCount int
	CreatedAt     time.Time
}

// HasSecondFactor reports whether the user has a confirmed TOTP or a WebAuthn credential.
func (u User) HasSecondFactor() bool {
	return (u.TOTPSecret != nil && u.TOTPConfirmed) || u.WebAuthnCount > 0
}

// ErrIdentityTaken: the (issuer, subject) pair is linked to a user already.
var ErrIdentityTaken = fault.New(fault.Conflict, "external identity already linked")

// ExternalIdentity links a user to a subject of an OpenID provider.
type ExternalIdentity struct {
	Issuer    string
	Subject   string
	UserID    int64
	CreatedAt time.Time
}

// SignupInvitation lets one person sign up while sign-up is by invitation; Hash is the
// SHA-256 (hex) of the token in the link.
type SignupInvitation struct {
	Hash      string
	Email     string
	CreatedAt time.Time
	ExpiresAt time.Time
}
