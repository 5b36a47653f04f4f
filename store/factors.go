package store

import (
	"time"

	"github.com/tpx-dev/tpx/fault"
)

// ErrLastFactor: the change would leave the user without a second factor.
var ErrLastFactor = fault.New(fault.Conflict, "the user's last second factor")

// WebAuthnCredential is a registered security key or passkey. Record is the credential as
// the WebAuthn library serialises it; SignCount is the authoritative signature counter.
type WebAuthnCredential struct {
	ID           int64
	UserID       int64
	CredentialID []byte
	PublicKey    []byte
	SignCount    uint32
	Name         string
	Record       []byte
	CreatedAt    time.Time
	LastUsedAt   *time.Time
}
