package store

import "time"

// RetentionPolicy is what Store.Retain keeps and deletes.
type RetentionPolicy struct {
	// Now is the time the run acts at.
	Now time.Time
	// KeepExchanges is how long exchange records are kept; older ones are deleted once
	// their CI token and their upload token have expired (each record is also the
	// replay record of its CI token and the record of its upload token).
	KeepExchanges time.Duration
	// NoticeBefore is how long before a pending publisher expires its registrant is told.
	NoticeBefore time.Duration
	// Words words what the registrants are told; Retain records and queues exactly that.
	Words RetentionWords
}

// RetentionWords says what Retain tells a registrant about their pending publisher. The
// store only finds what is due or expired and records the words in the same transaction
// that marks a notice given or deletes the publisher; wording them is the caller's.
type RetentionWords interface {
	// ExpiryNotice is told when pp is NoticeBefore or less from its expiry: recorded in
	// the registrant's audit log, and mailed if their address is verified.
	ExpiryNotice(pp PendingPublisher) Notice
	// Expired is the audit detail recorded when pp expired unused and was deleted.
	Expired(pp PendingPublisher) string
}

// Notice is one message to a user: the detail of an audit event, and a mail.
type Notice struct {
	Detail, Subject, Body string
}

// Retained counts what one Store.Retain run did.
type Retained struct {
	PendingNoticed int64 // pending publishers whose registrant was told of the coming expiry
	PendingExpired int64 // expired pending publishers, recorded in the audit log and deleted
	Exchanges      int64 // exchange records older than KeepExchanges and expired, deleted
}

// Deleted is the number of rows the run deleted.
func (r Retained) Deleted() int64 {
	return r.PendingExpired + r.Exchanges
}

// Audit actions Retain records, with the registrant as the event's user so that it shows
// in their own view of the audit log.
const (
	ActionPendingExpiryNotice = "pending.expiry_notice"
	ActionPendingExpired      = "pending.expired"
)
