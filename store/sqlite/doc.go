// Package sqlite is the embedded store: tpx on one machine with no database server,
// everything in DIR/tpx.db.
//
// SQLite lets one connection write at a time, and a writer that finds another already
// writing fails with SQLITE_BUSY. So all writes go through one connection, whose
// transactions start with BEGIN IMMEDIATE: concurrent exchanges queue for it in the
// process, and another process on the same file (a `tpx` command next to `tpx serve`)
// waits on busy_timeout instead of failing half-way. Reads use a pool of read-only
// connections, which the write-ahead log lets run beside the writer.
package sqlite
