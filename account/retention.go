package account

import (
	"fmt"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// RetentionWords words what retention tells the registrant of a pending publisher: that it
// expires soon, and that it expired. Store.Retain records and mails these words.
type RetentionWords struct{}

var _ store.RetentionWords = RetentionWords{}

// ExpiryNotice tells the registrant of pp when it expires and what to do before then.
func (RetentionWords) ExpiryNotice(pp store.PendingPublisher) store.Notice {
	at := pp.ExpiresAt.UTC()
	return store.Notice{
		Detail: fmt.Sprintf("pending publisher %d for new project %s (%s) expires on %s; publish with it before then, or register it again",
			pp.ID, pp.ProjectName, Describe(pp.Publisher), at.Format(time.DateTime+" MST")),
		Subject: fmt.Sprintf("Your pending publisher for %s expires on %s", pp.ProjectName, at.Format(time.DateOnly)),
		Body: fmt.Sprintf("The pending publisher you registered for the new project %s (%s) has not been used yet.\n\n"+
			"It expires on %s. The first publish from that workflow before then creates the project with you as its owner; "+
			"after that you would have to register it again.\n",
			pp.ProjectName, Describe(pp.Publisher), at.Format(time.DateTime+" MST")),
	}
}

// Expired is the audit detail of pp's expiry.
func (RetentionWords) Expired(pp store.PendingPublisher) string {
	return fmt.Sprintf("pending publisher %d for new project %s (%s) expired unused and was deleted",
		pp.ID, pp.ProjectName, Describe(pp.Publisher))
}
