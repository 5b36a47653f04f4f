package sqlite

import (
	"database/sql"

	"github.com/tpx-dev/tpx/store"
)

// PoolStats adds up the writer's one connection and the readers' pool.
func (d *db) PoolStats() store.PoolStats {
	var out store.PoolStats
	for _, db := range []*sql.DB{d.writer, d.reader} {
		st := db.Stats()
		out.Max += st.MaxOpenConnections
		out.Open += st.OpenConnections
		out.InUse += st.InUse
		out.Idle += st.Idle
		out.Waits += st.WaitCount
		out.WaitTime += st.WaitDuration
	}
	return out
}
