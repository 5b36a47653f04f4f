// Package storetest is the conformance suite for store.Store: every backend runs the same
// tests (Run), so SQLite on a laptop and PostgreSQL in production answer alike, errors
// included. It checks what the rest of tpx relies on for safety, not only the happy path:
// a token id is accepted once even under concurrency, a failed exchange writes nothing,
// limits hold when requests race, and lookups are bound to their issuer.
package storetest
