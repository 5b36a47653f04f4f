// Package postgres is the production store: PostgreSQL through a pgx connection pool,
// shared by any number of tpx replicas.
//
// Everything that must hold across replicas is enforced by the database itself: unique
// keys (a CI token's id is accepted once), row locks (publisher limits), and advisory
// locks (migrations and signing-key rotation).
package postgres
