// Package notify delivers the outbox: the messages the account service writes to the
// store (email verification links, notices to owners). With TPX_SMTP_URL set they go out
// by SMTP; without it they are written to the log, so that an operator running tpx on
// their own machine can follow a verification link. Every replica runs a Sender; the
// store's leases keep two of them from sending one message.
package notify
