package postgres

import "github.com/tpx-dev/tpx/store"

// PoolStats reads pgxpool's statistics. An acquire that found the pool empty waited for a
// connection to be released or dialled: those are the waits that show the pool is too
// small or the database too slow.
func (d db) PoolStats() store.PoolStats {
	s := d.pool.Stat()
	return store.PoolStats{
		Max:      int(s.MaxConns()),
		Open:     int(s.TotalConns()),
		InUse:    int(s.AcquiredConns()),
		Idle:     int(s.IdleConns()),
		Waits:    s.EmptyAcquireCount(),
		WaitTime: s.EmptyAcquireWaitTime(),
	}
}
