package sqlstore

import "github.com/tpx-dev/tpx/store"

// poolReporter is a DB that reports on its connections; both backends are.
type poolReporter interface {
	PoolStats() store.PoolStats
}

// PoolStats reports the backend's connections: how many are open, in use and idle, and
// how long requests waited for one, how exchanges commit together, and how many
// transactions ran again after a conflict. A backend that
// keeps no statistics reports zeros for its connections.
func (s *Store) PoolStats() store.PoolStats {
	var out store.PoolStats
	if r, ok := s.db.(poolReporter); ok {
		out = r.PoolStats()
	}
	s.groups.mu.Lock()
	out.CommitGroups, out.GroupedExchanges, out.GroupsRolledBack = s.groups.groups, s.groups.members, s.groups.rolledBack
	out.CommitQueue = len(s.groups.queue)
	s.groups.mu.Unlock()
	out.Conflicts = s.conflicts.Load()
	return out
}
