// Package store is the one contract between tpx's core and its database: the Store
// interface, the records it reads and writes, and the errors every backend returns for the
// same conditions (ErrNotFound, ErrConflict, ErrReplay, ErrUnavailable…, each of a
// fault.Kind).
//
// It stores; it does not decide or word. Which publisher matches a token is policy's; what
// an owner is told, in the audit log or by mail, is account's (Retain records the words a
// RetentionWords gives it). The rules a store does keep are those only one transaction can
// keep: a token id used once (a unique key, so two replicas cannot both accept it), an
// exchange's writes committed together, per-project and per-user limits counted in the
// transaction that inserts.
//
// sqlstore is the one implementation, over SQLite and PostgreSQL alike (sqlite and
// postgres supply the drivers); storetest is the conformance suite both must pass, so a
// rule tested once holds on both. The consumers of a Store declare the part they use
// (exchange.Store, account.Store, web.Store, web.UIStore, notify.Store, token.KeyStore).
// Files are named by the entity they hold (users, sessions, factors, owners, outbox…),
// here and in sqlstore alike.
package store
