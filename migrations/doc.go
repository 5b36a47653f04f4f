// Package migrations holds the schema of the tpx database as numbered SQL files, one
// directory per dialect, embedded so that the binary can bring any database up to date
// without files beside it.
//
// Files are named NNNN_words.sql and applied in order, each once (store/sqlstore records
// them in schema_migrations). A released file is never edited: a change is a new file, in
// both directories, so that SQLite and PostgreSQL keep the same tables and meaning.
//
// PostgreSQL is the production schema. The SQLite one mirrors it in SQLite's types: times
// are INTEGER unix microseconds, so that comparisons in SQL order them correctly, and
// tables are STRICT, so that a value of the wrong type is refused rather than stored.
package migrations

import "embed"

// Postgres holds postgres/NNNN_*.sql.
//
//go:embed postgres/*.sql
var Postgres embed.FS

// SQLite holds sqlite/NNNN_*.sql.
//
//go:embed sqlite/*.sql
var SQLite embed.FS
