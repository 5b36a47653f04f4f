package store

import "time"

// PendingGrant is a project name the index granted to a user: with TPX_PROJECTS=managed a
// pending publisher may only name one of the user's grants.
type PendingGrant struct {
	UserID    int64
	Name      string
	CreatedAt time.Time
}
