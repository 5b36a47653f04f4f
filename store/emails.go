package store

import (
	"time"

	"github.com/tpx-dev/tpx/fault"
)

// ErrEmailTaken: another user has this email address, compared without case.
var ErrEmailTaken = fault.New(fault.Conflict, "email address already in use")

// EmailToken is an email verification link's token, by its SHA-256 (hex).
type EmailToken struct {
	Hash      string
	UserID    int64
	Email     string
	ExpiresAt time.Time
}
