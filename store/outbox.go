package store

import "time"

// Limits of the outbox.
const (
	// MailAttempts is how often a message is tried before the sender gives up on it.
	MailAttempts = 10
	// SentMailKept is how long a sent message stays in the outbox; its dedupe key keeps a
	// notification once-only for that long.
	SentMailKept = 30 * 24 * time.Hour
)

// Mail is a message in the outbox.
type Mail struct {
	ID        int64
	To        string
	Subject   string
	Body      string
	DedupeKey string // "" for none; else a second message with the same key is dropped
	CreatedAt time.Time
	Attempts  int
}
