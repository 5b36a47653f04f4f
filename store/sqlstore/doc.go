// Package sqlstore is the one implementation of store.Store, shared by the SQLite and
// PostgreSQL backends so that every query, and every security rule the queries carry
// (single use of a token id, pins, limits, atomic exchanges), is written once.
//
// A backend supplies a DB, a handful of methods over its driver (pgx for PostgreSQL,
// database/sql for SQLite), and a Dialect for the few places where the two differ: row and
// advisory locks, the migrations table, and how the driver reports a unique violation or
// a lost connection. Both dialects take the same SQL otherwise: $1 placeholders, RETURNING
// and ON CONFLICT. Times are passed as time.Time; the SQLite backend makes its driver bind
// them as unix microseconds, and timeDest reads either form back.
//
// Reads run on the DB directly; every write runs in DB.InTx, which the SQLite backend
// sends to its single writer connection, so concurrent writers queue instead of failing
// with SQLITE_BUSY.
package sqlstore
