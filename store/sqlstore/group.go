package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
)

// Concurrent exchanges commit together: while a commit is out, the exchanges that arrive
// wait for it and then go out as one transaction, in one round trip. A transaction costs
// the database more than the statements in it, so a busy store commits fewer of them. An
// exchange that finds no commit out goes at once: grouping never adds a wait of its own,
// only the one for the commit already out, and a group is bounded in members.
const (
	// groupsOut is how many group commits may be out at once, each on its own connection.
	groupsOut = 2
	// groupMembers bounds the exchanges of one group.
	groupMembers = 16
	// groupTimeout bounds one group's commit, which no member's cancellation may stop:
	// the others are waiting for it.
	groupTimeout = 30 * time.Second
)

// groups gathers the exchanges waiting for a group commit.
type groups struct {
	mu    sync.Mutex
	queue []*member
	out   int // group commits out
	// groups, members and rolledBack count the commits of two or more exchanges, the
	// exchanges in them, and those of them rolled back because a member failed.
	groups, members, rolledBack int64
}

// member is one exchange's statements in a group commit.
type member struct {
	// stmts begin with the statement that records the exchange under key, its token's
	// issuer and id, which no other exchange may record.
	stmts []Statement
	key   string
	// uses are the publishers its statements hold or write, writes those they write.
	uses, writes []int64
	done         chan groupResult // buffered: the committer never waits for a member
}

type groupResult struct {
	changed []int64
	err     error
	alone   bool // the group rolled back: commit alone
}

// commitGrouped commits stmts, which a Committer can send with their COMMIT in one round
// trip, in a group with concurrent exchanges, and returns what ExecAndCommit returns for
// them alone, classified. A group's transaction fails as a whole when one member's
// statement fails (a token id used already, a publisher removed or its rules changed):
// its members then commit alone, so that each gets its own outcome and no member's
// failure is another's.
func (s *Store) commitGrouped(ctx context.Context, key string, stmts []Statement, uses, writes []int64) ([]int64, error) {
	g := &s.groups
	g.mu.Lock()
	if g.out < groupsOut {
		// No group waits (one would have gone out): this exchange goes at once, alone.
		g.out++
		g.mu.Unlock()
		defer s.handOff(context.WithoutCancel(ctx))
		return s.commitAlone(ctx, stmts, conflictRuns)
	}
	m := &member{stmts: stmts, key: key, uses: uses, writes: writes, done: make(chan groupResult, 1)}
	g.queue = append(g.queue, m)
	g.mu.Unlock()
	select {
	case r := <-m.done:
		if r.alone {
			return s.commitAlone(ctx, stmts, conflictRuns)
		}
		return r.changed, r.err
	case <-ctx.Done():
		// Still queued, it leaves and commits nothing. Taken, its group may commit it:
		// it waits for the outcome (at most groupTimeout) rather than report a failure
		// for an exchange that succeeded.
		g.mu.Lock()
		i := slices.Index(g.queue, m)
		if i >= 0 {
			g.queue = slices.Delete(g.queue, i, i+1)
		}
		g.mu.Unlock()
		if i >= 0 {
			return nil, ctx.Err()
		}
		if r := <-m.done; !r.alone {
			return r.changed, r.err
		}
		return nil, ctx.Err()
	}
}

// take removes the next group from the queue; g.mu is held.
func (g *groups) take() []*member {
	n := min(len(g.queue), groupMembers)
	batch := slices.Clone(g.queue[:n])
	g.queue = slices.Delete(g.queue, 0, n)
	return batch
}

// handOff ends a lone commit: the groups that queued meanwhile go out on a goroutine of
// their own, so that the exchange whose commit went out need not wait for them.
func (s *Store) handOff(ctx context.Context) {
	g := &s.groups
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) == 0 {
		g.out--
		return
	}
	go s.commitGroups(ctx, g.take())
}

// commitGroups commits batch, then the groups that queued meanwhile, until none waits.
func (s *Store) commitGroups(ctx context.Context, batch []*member) {
	g := &s.groups
	for {
		s.commitGroup(ctx, batch)
		g.mu.Lock()
		if len(g.queue) == 0 {
			g.out--
			g.mu.Unlock()
			return
		}
		batch = g.take()
		g.mu.Unlock()
	}
}

// commitGroup commits batch in one transaction and tells each member its outcome. A
// panic on the way is each member's failure, not the process's: it runs on a goroutine
// of its own, where nothing else would recover it, and the groups queued after it still
// go out.
func (s *Store) commitGroup(ctx context.Context, batch []*member) {
	defer func() {
		if r := recover(); r != nil {
			// Whether the transaction committed is not known.
			err := fmt.Errorf("committing %d exchanges together: panic: %v\n%s", len(batch), r, debug.Stack())
			for _, m := range batch {
				select {
				case m.done <- groupResult{err: err}:
				default: // told already
				}
			}
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, groupTimeout)
	defer cancel()
	if len(batch) == 1 {
		changed, err := s.commitAlone(ctx, batch[0].stmts, conflictRuns)
		batch[0].done <- groupResult{changed: changed, err: err}
		return
	}
	// The members' records go first, in order of key, so that two groups recording one
	// token id (a replay sent to two replicas) wait for each other only one way. Then,
	// before the members' own statements, every publisher a member uses is locked in
	// order of id: for update if a member writes it, else held, one statement for each
	// run of ids locked alike. A row held first and locked for update later could leave
	// two transactions each waiting for the other to let go of it.
	batch = slices.SortedFunc(slices.Values(batch), func(a, b *member) int { return strings.Compare(a.key, b.key) })
	stmts := make([]Statement, 0, len(batch)*len(batch[0].stmts)+2)
	var uses, writes []int64
	for _, m := range batch {
		stmts = append(stmts, m.stmts[0])
		uses = append(uses, m.uses...)
		writes = append(writes, m.writes...)
	}
	slices.Sort(writes)
	writes = slices.Compact(writes)
	slices.Sort(uses)
	if s.dialect.KeyShare == "" {
		uses = writes
	}
	for run, held := range runs(slices.Compact(uses), func(id int64) bool { _, ok := slices.BinarySearch(writes, id); return !ok }) {
		lock := s.using.lockWrite
		if held {
			lock = s.using.lockHold
		}
		stmts = append(stmts, Statement{lock, []any{s.dialect.IDs(run)}})
	}
	rest := len(stmts)
	for _, m := range batch {
		stmts = append(stmts, m.stmts[1:]...)
	}
	// A group rolled back to end a deadlock is not run again as a group: its members
	// commit alone, each with the runs of its own, so that those not in the cycle do not
	// wait for it again.
	changed, err := s.commitAlone(ctx, stmts, 1)
	g := &s.groups
	g.mu.Lock()
	g.groups++
	g.members += int64(len(batch))
	if err != nil && rolledBack(err) {
		g.rolledBack++
	}
	g.mu.Unlock()
	if errors.Is(err, errConflict) {
		s.conflicts.Add(1)
	}
	switch {
	case err == nil:
		at := rest
		for i, m := range batch {
			mine := append([]int64{changed[i]}, changed[at:at+len(m.stmts)-1]...)
			at += len(m.stmts) - 1
			m.done <- groupResult{changed: mine}
		}
	case rolledBack(err):
		for _, m := range batch {
			m.done <- groupResult{alone: true}
		}
	default:
		// Whether the transaction committed is not known (the connection was lost, the
		// database stopped): no member may commit again as if it had not.
		for _, m := range batch {
			m.done <- groupResult{err: fmt.Errorf("committing %d exchanges together: %w", len(batch), err)}
		}
	}
}

// rolledBack is whether err, from a transaction, says that the database refused one of its
// statements and so rolled all of it back.
func rolledBack(err error) bool {
	return errors.Is(err, errUnique) || errors.Is(err, errChanges) || errors.Is(err, errForeignKey) || errors.Is(err, errRefused) ||
		errors.Is(err, errConflict)
}

// commitAlone sends stmts and the COMMIT in one round trip, in a transaction of their own
// that runs at most runs times (txRuns).
func (s *Store) commitAlone(ctx context.Context, stmts []Statement, runs int) (changed []int64, err error) {
	err = s.txRuns(ctx, runs, func(tx q) error {
		commit, ok := tx.committer()
		if !ok {
			return errors.New("the database cannot commit in the round trip of the writes")
		}
		changed, err = commit.ExecAndCommit(ctx, stmts)
		return err
	})
	return changed, err
}
