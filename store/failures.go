package store

import "time"

// MaxFailedPerProject is how many failed exchanges a project keeps, newest first: enough
// for an owner to see what went wrong, bounded whoever sends tokens.
const MaxFailedPerProject = 50

// FailedExchange is an exchange that matched no publisher of ProjectID, with the policy's
// reason for one of them. It quotes the owner's configuration: owners' eyes only.
type FailedExchange struct {
	ID          int64
	ProjectID   int64
	PublisherID int64
	At          time.Time
	Issuer      string
	Repository  string
	WorkflowRef string
	Ref         string
	SHA         string
	RunID       string
	Environment string
	Event       string
	Reason      string
}
