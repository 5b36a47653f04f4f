// Package fault gives the core's failures a kind: a few classes that say, to whoever made
// the request, what went wrong in a way they can act on (the input, a missing thing, a
// conflict with what exists, who they are, what they may do, a service down, too many
// requests). Each kind is one HTTP status, mapped in one place in package web; the core
// never speaks of statuses.
//
// An Error carries two texts. Public is for the caller: what class of failure happened and
// what to check, never a secret, a driver's message or another tenant's configuration.
// Err, when set, is the private reason, for the log. The core words its failures in one of
// two ways: a sentinel (New) wrapped as fmt.Errorf("%w: <what to do>", sentinel), whose whole
// text is written for the caller; or Wrap, which keeps a cause it did not word out of the
// public text.
package fault
