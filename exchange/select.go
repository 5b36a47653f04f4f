package exchange

import (
	"cmp"
	"slices"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/verify"
)

// Bounds on one upload token, whatever others registered. Anyone may register publishers
// naming any repository, so the projects a job's publishers reach are partly chosen by
// strangers; without bounds, a hundred long project names made a victim's token too big for
// upload services to accept, and every matched publisher costs a write in the exchange.
const (
	// MaxTokenProjects is the most projects one upload token covers when the client names
	// none. Each project covered costs the exchange a read, a write and its bytes in the
	// token, and strangers choose some of them: 8 keeps the exchange of a repository that
	// strangers' publishers name within twice the cost of one they do not (at 16 it
	// measured 1.6–2.1× on a quiet machine). A job that publishes more projects names each
	// one.
	MaxTokenProjects = 8
	// MaxTokenProjectBytes bounds the JSON of the token's project list, so that a token with
	// the longest names still verifies (verifiers refuse tokens past 16 KiB).
	MaxTokenProjectBytes = 6 * 1024
	// MaxFailuresRecorded is the most failures one exchange records for projects' owners.
	MaxFailuresRecorded = 4
)

// candidate is one project a job may receive a token for: through an active publisher, or
// a pending one that would create it.
type candidate struct {
	key       string // the project's name in the index's canonical form (Config.Names)
	publisher policy.Publisher
	by        int64 // who registered the publisher
	pending   *store.PendingPublisher
}

// choose decides which of the projects the job's publishers reach its token covers, in the
// order the token names them. want, when set, is the one project the client asked for:
// then the token covers that project alone, or none.
//
// Otherwise projects are taken by turns from each registrant (the user who registered the
// publisher), most specific publisher first (policy.Specificity), until the token holds
// MaxTokenProjects or MaxTokenProjectBytes: one account registering a thousand projects
// gets one place per turn like any other, so it cannot push the repository's own
// projects out. Registrants take turns in order of their most specific publisher, then
// of user id: the order in which the store reads registrants (store.FindCandidates),
// since an order by the age of each one's first publisher would need every fitting
// publisher read and ranked.
//
// Names are compared, and written into the token, in the canonical form of names (the
// index's rule).
func choose(matched []store.Publisher, convert []store.PendingPublisher, want string, names verify.Names) []candidate {
	// One candidate per project: its most specific publisher, the oldest of equals.
	best := map[string]candidate{}
	consider := func(c candidate) {
		if want != "" && c.key != names.Key(want) {
			return
		}
		if b, ok := best[c.key]; ok && rank(b, c) <= 0 {
			return
		}
		best[c.key] = c
	}
	for _, p := range matched {
		consider(candidate{key: names.Key(p.ProjectName), publisher: p.Publisher, by: p.CreatedBy})
	}
	for i := range convert {
		p := &convert[i]
		consider(candidate{key: names.Key(p.ProjectName), publisher: p.Publisher, by: p.UserID, pending: p})
	}
	all := slices.SortedFunc(func(yield func(candidate) bool) {
		for _, c := range best {
			if !yield(c) {
				return
			}
		}
	}, rank)

	// Turns: each registrant's candidates in rank order; registrants in the order of
	// their first (best) candidate's specificity, then of user id.
	var (
		order  []int64
		queues = map[int64][]candidate{}
	)
	for _, c := range all {
		if _, ok := queues[c.by]; !ok {
			order = append(order, c.by)
		}
		queues[c.by] = append(queues[c.by], c)
	}
	slices.SortFunc(order, func(a, b int64) int {
		if c := cmp.Compare(policy.Specificity(queues[b][0].publisher), policy.Specificity(queues[a][0].publisher)); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	var (
		out   []candidate
		bytes int
	)
	for len(out) < len(all) {
		for _, by := range order {
			q := queues[by]
			if len(q) == 0 {
				continue
			}
			c := q[0]
			size := len(c.key) + 3 // quotes and comma
			if len(out) == MaxTokenProjects || bytes+size > MaxTokenProjectBytes {
				return out
			}
			out = append(out, c)
			bytes += size
			queues[by] = q[1:]
		}
	}
	return out
}

// rank orders candidates: more specific first, then older publishers (lower ids; a pending
// publisher, which has none yet among active ones, after active ones), then by name.
func rank(a, b candidate) int {
	if c := cmp.Compare(policy.Specificity(b.publisher), policy.Specificity(a.publisher)); c != 0 {
		return c
	}
	if ap, bp := a.pending != nil, b.pending != nil; ap != bp {
		if ap {
			return 1
		}
		return -1
	}
	if c := cmp.Compare(a.publisher.ID, b.publisher.ID); c != 0 {
		return c
	}
	return cmp.Compare(a.key, b.key)
}
