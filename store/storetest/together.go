package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
)

// poolStats is a store that reports its connections and its commits of exchanges.
type poolStats interface {
	PoolStats() store.PoolStats
}

// bursts runs burst, with the burst's number, until the store reports done, at most five
// times: concurrent exchanges commit together only when they meet, and a first burst
// may find the database idle enough that none do. A backend that does not claim
// CommitsTogether runs one burst.
func (f *fixture) bursts(burst func(n int), done func(store.PoolStats) bool) {
	f.t.Helper()
	ps, ok := f.st.(poolStats)
	if !f.can(CommitsTogether) {
		burst(0)
		return
	}
	if !ok {
		f.t.Fatal("the store claims to commit exchanges together but reports no statistics")
	}
	for n := range 5 {
		burst(n)
		if done(ps.PoolStats()) {
			return
		}
	}
	f.t.Fatalf("after five bursts of concurrent exchanges, the store reports %+v", ps.PoolStats())
}

// live is a publisher of alice's project "live".
func (f *fixture) live() store.Publisher {
	alice := f.user("alice")
	return f.publisher(f.project("live", alice), alice, nil)
}

// holding is burst n's size exchanges of p, each holding it (used lately).
func (f *fixture) holding(n, size int, p store.Publisher) []store.Exchange {
	out := make([]store.Exchange, size)
	for i := range out {
		out[i] = f.exchange(fmt.Sprintf("jti-%d-%d", n, i), p)
		out[i].Recent = []int64{p.ID}
	}
	return out
}

func togetherTests() []test {
	return []test{
		{"Of concurrent exchanges, each replay, removed publisher, pin to other ids or change of rules fails alone with its own error, and every other one commits", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			live := f.publisher(f.project("live", alice), alice, nil)
			gone := f.publisher(f.project("gone", alice), alice, nil)
			pinned := f.publisher(f.project("pinned", alice), alice, nil)
			// ruled is matched as it was before its owner changed its rules.
			ruled := f.publisher(f.project("ruled", alice), alice, nil)
			must(t, f.st.SetPublisherRules(f.ctx, ruled.ID, policy.RefRules{TagsOnly: true}, ""))
			first := f.exchange("jti-used", live, pinned)
			first.Pins = []store.Pin{{PublisherID: pinned.ID, OwnerID: "65", RepositoryID: "74"}}
			must(t, f.st.CommitExchange(f.ctx, first))
			must(t, f.st.RemovePublisher(f.ctx, gone.ID))
			before := f.publisherByID(pinned.ID)

			f.bursts(func(n int) {
				const size = 48
				exchanges := make([]store.Exchange, size)
				for i := range exchanges {
					e := f.exchange(fmt.Sprintf("jti-%d-%d", n, i), live)
					e.At = f.now.Add(time.Duration(n*size+i) * time.Second)
					switch i % 8 {
					case 0: // a replay of the first exchange's token
						e.JTI = "jti-used"
					case 1: // a publisher removed since it matched
						e.Publishers, e.RulesVersions, e.Projects = []int64{live.ID, gone.ID}, []int64{live.RulesVersion, gone.RulesVersion}, []string{"live", "gone"}
					case 2: // a publisher pinned to other ids
						e.Publishers, e.RulesVersions, e.Projects = []int64{pinned.ID}, []int64{pinned.RulesVersion}, []string{"pinned"}
						e.Pins = []store.Pin{{PublisherID: pinned.ID, OwnerID: "66", RepositoryID: "75"}}
					case 3, 4: // a publisher whose rules changed since it matched, held or written
						e = f.exchange(e.JTI, live, ruled)
						e.At = f.now.Add(time.Duration(n*size+i) * time.Second)
						if i%8 == 3 {
							e.Recent = []int64{ruled.ID}
						}
					}
					exchanges[i] = e
				}
				errs := concurrently(size, func(i int) error { return f.st.CommitExchange(f.ctx, exchanges[i]) })
				equal(t, "outcomes", tally(errs, store.ErrReplay, store.ErrNotFound, store.ErrPinConflict, store.ErrRulesChanged), map[string]int{
					"nil": size * 3 / 8, store.ErrReplay.Error(): size / 8, store.ErrNotFound.Error(): size / 8, store.ErrPinConflict.Error(): size / 8,
					store.ErrRulesChanged.Error(): size / 4,
				})
				for i, e := range exchanges {
					if f.tokenRecorded(e) != (errs[i] == nil) {
						t.Fatalf("exchange %d: error %v, but its token recorded: %v", i, errs[i], errs[i] != nil)
					}
				}
			}, func(s store.PoolStats) bool { return s.CommitGroups > 0 && s.GroupsRolledBack > 0 })

			if !f.tokenRecorded(first) {
				t.Fatal("the replays removed the first exchange's token")
			}
			after := f.publisherByID(pinned.ID)
			if after.OwnerID != before.OwnerID || after.RepositoryID != before.RepositoryID {
				t.Fatalf("the pinned publisher's ids changed from %s/%s to %s/%s", before.OwnerID, before.RepositoryID, after.OwnerID, after.RepositoryID)
			}
		}},
		{"Concurrent exchanges writing overlapping publishers in differing orders all commit, none waiting on another in a cycle", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			var pubs []store.Publisher
			for i := range 6 {
				pubs = append(pubs, f.publisher(f.project(fmt.Sprintf("p%d", i), alice), alice, nil))
			}
			f.bursts(func(n int) {
				const size = 48
				errs := concurrently(size, func(i int) error {
					// Two publishers each, neither used lately: both are written.
					a, b := pubs[i%6], pubs[(i/6+i+1)%6]
					if a.ID == b.ID {
						b = pubs[(i+3)%6]
					}
					e := f.exchange(fmt.Sprintf("jti-%d-%d", n, i), b, a)
					e.At = f.now.Add(time.Duration(n*size+i) * time.Second)
					return f.st.CommitExchange(f.ctx, e)
				})
				equal(t, "outcomes", tally(errs), map[string]int{"nil": size})
			}, func(s store.PoolStats) bool {
				if s.GroupsRolledBack > 0 {
					t.Fatalf("%d groups of exchanges were rolled back, with no member failing on its own", s.GroupsRolledBack)
				}
				return s.CommitGroups > 0
			})
		}},
		{"Exchanges given up while their commit waits take none of the concurrent ones with them", func(t *testing.T, f *fixture) {
			live := f.live()
			f.bursts(func(n int) {
				const size = 48
				exchanges := f.holding(n, size, live)
				errs := concurrently(size, func(i int) error {
					ctx := f.ctx
					if i%3 == 0 {
						// Given up at once, or a little later, while others commit.
						c, cancel := context.WithTimeout(f.ctx, time.Duration(i%2)*time.Millisecond)
						defer cancel()
						ctx = c
					}
					return f.st.CommitExchange(ctx, exchanges[i])
				})
				for i, err := range errs {
					switch {
					case i%3 != 0 && err != nil:
						t.Fatalf("exchange %d, not given up, failed: %v", i, err)
					case err == nil && !f.tokenRecorded(exchanges[i]):
						t.Fatalf("exchange %d succeeded without its token recorded", i)
					case err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, store.ErrUnavailable):
						t.Fatalf("exchange %d, given up, failed otherwise: %v", i, err)
					}
				}
			}, func(s store.PoolStats) bool { return s.CommitGroups > 0 })
		}},
		{"An exchange whose values the database refuses fails alone, and the exchanges committing with it commit", func(t *testing.T, f *fixture) {
			live := f.live()
			f.bursts(func(n int) {
				const size = 48
				exchanges := f.holding(n, size, live)
				for i := range exchanges {
					if i%8 == 0 {
						// PostgreSQL stores no NUL character in text.
						exchanges[i].Identity.Actor = "octo\x00cat"
					}
				}
				errs := concurrently(size, func(i int) error { return f.st.CommitExchange(f.ctx, exchanges[i]) })
				for i, err := range errs {
					if i%8 != 0 && err != nil {
						t.Fatalf("exchange %d failed with another's refused values: %v", i, err)
					}
					if (err == nil) != f.tokenRecorded(exchanges[i]) {
						t.Fatalf("exchange %d: error %v, but its token recorded: %v", i, err, err != nil)
					}
				}
			}, func(s store.PoolStats) bool { return s.CommitGroups > 0 && s.GroupsRolledBack > 0 })
		}},
	}
}
