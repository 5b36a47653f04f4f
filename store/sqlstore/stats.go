package sqlstore

import "github.com/tpx-dev/tpx/store"

// poolReporter is a DB that reports on its connections; both backends are.
type poolReporter interface {
	PoolStats() store.PoolStats
}

// PoolStats reports the backend's connections: how many are open, in use and idle, and
// how long requests waited for one. A backend that keeps no statistics reports zeros.
func (s *Store) PoolStats() store.PoolStats {
	if r, ok := s.db.(poolReporter); ok {
		return r.PoolStats()
	}
	return store.PoolStats{}
}
