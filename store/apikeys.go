package store

import "time"

// Scopes of operator API keys.
const (
	// ScopeAdmin lets the key's holder use the admin API: the index that tpx serves.
	ScopeAdmin = "admin"
)

// APIKey is an operator API key. The key itself is never stored: Lookup finds the row, and
// SecretHash is the SHA-256 (hex) of the key's secret part.
type APIKey struct {
	ID         int64
	Name       string
	Scope      string
	Lookup     string
	SecretHash string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}
