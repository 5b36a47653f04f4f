package store

import "time"

// PoolStats is a snapshot of a backend's database connections, for metrics.
type PoolStats struct {
	Max, Open, InUse, Idle int
	// Waits counts the connection requests that found none idle and waited for one to be
	// freed or dialled; WaitTime is the total time they waited.
	Waits    int64
	WaitTime time.Duration
	// CommitGroups counts the transactions that committed two or more concurrent
	// exchanges together, GroupedExchanges the exchanges in them, and GroupsRolledBack
	// those rolled back because one member failed or to end a deadlock, whose members then
	// committed alone.
	CommitGroups, GroupedExchanges, GroupsRolledBack int64
	// CommitQueue is how many exchanges wait now for a group commit to take them.
	CommitQueue int
	// Conflicts counts the transactions that the database rolled back to end a conflict
	// with a concurrent one (a deadlock), each then run again: alone, for a group's
	// members.
	Conflicts int64
}
