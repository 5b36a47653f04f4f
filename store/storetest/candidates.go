package storetest

import (
	"cmp"
	"fmt"
	"slices"
	"testing"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
)

// releaseJob is a run of rules() in environment "Release" of repository ids 7/8.
func releaseJob() (policy.Identity, store.Job) {
	id := policy.Identity{Kind: policy.GitHub, Issuer: githubIssuer, Repository: "octo-org/octo-repo", OwnerID: "7", RepositoryID: "8",
		WorkflowRef: "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main", Ref: "refs/heads/main", SHA: "0123456789abcdef0123456789abcdef01234567",
		EventName: "push", Environment: "Release"}
	return id, store.JobOf(id)
}

// byTurns is the reference selection the candidate read must agree with: of the publishers
// that match id, each project stands for its most specific, oldest publisher; registrants
// take turns, each its most specific first, registrants in the order of their first
// publisher's specificity then age; the first limit projects.
func byTurns(all []store.Publisher, id policy.Identity, limit int) []int64 {
	better := func(a, b store.Publisher) int {
		if c := cmp.Compare(policy.Specificity(b.Publisher), policy.Specificity(a.Publisher)); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	}
	best := map[int64]store.Publisher{}
	for _, p := range all {
		if policy.Match(p.Publisher, id) != nil {
			continue
		}
		if b, ok := best[p.ProjectID]; !ok || better(p, b) < 0 {
			best[p.ProjectID] = p
		}
	}
	var firsts []store.Publisher
	queues := map[int64][]store.Publisher{}
	for _, p := range best {
		queues[p.CreatedBy] = append(queues[p.CreatedBy], p)
	}
	for by := range queues {
		slices.SortFunc(queues[by], better)
		firsts = append(firsts, queues[by][0])
	}
	slices.SortFunc(firsts, better)
	var out []int64
	for turn := 0; len(out) < len(best); turn++ {
		for _, f := range firsts {
			if q := queues[f.CreatedBy]; turn < len(q) {
				if len(out) == limit {
					return out
				}
				out = append(out, q[turn].ProjectID)
			}
		}
	}
	return out
}

func candidateTests() []test {
	return []test{
		{"FindCandidates reads a bounded set in token order, whatever other registrants add, and keeps the last registrant's publisher", func(t *testing.T, f *fixture) {
			id, job := releaseJob()
			// Many registrants, each with several projects whose publishers match the job
			// (some bound to its environment, spelled in another case), and publishers
			// bound to other environments, workflows or repository ids, which cannot.
			for u := range 30 {
				user := f.user(fmt.Sprintf("other%d", u))
				for i := range 6 {
					proj := f.project(fmt.Sprintf("other%d-%d", u, i), user)
					env := ""
					if (u+i)%4 == 0 {
						env = "RELEASE"
					}
					f.publisher(proj, user, func(p *policy.Publisher) { p.Environment = env })
					if i == 0 {
						// A second publisher of the project, by a co-owner: the project
						// stands for the more specific of the two.
						f.publisher(proj, f.user(fmt.Sprintf("co%d", u)), func(p *policy.Publisher) {
							if env == "" {
								p.Environment = "release"
							}
						})
					}
				}
				for i, edit := range []func(*policy.Publisher){
					func(p *policy.Publisher) { p.Environment = fmt.Sprintf("elsewhere-%d", u) },
					func(p *policy.Publisher) { p.Workflow = "other.yml" },
					func(p *policy.Publisher) { p.OwnerID, p.RepositoryID = "70", "80" },
				} {
					f.publisher(f.project(fmt.Sprintf("miss%d-%d", u, i), user), user, edit)
				}
			}
			victim := f.user("victim")
			mine := f.publisher(f.project("victim-app", victim), victim, nil)

			active, _, err := f.st.FindCandidates(f.ctx, githubIssuer, policy.RepositoryKey(id.Repository), job, f.now)
			must(t, err)
			all, err := f.st.ListPublishers(f.ctx, 0)
			must(t, err)
			var (
				projects = map[int64]bool{}
				misses   int
				found    bool
			)
			for _, p := range active {
				found = found || p.ID == mine.ID
				if policy.Match(p.Publisher, id) != nil {
					misses++
					continue
				}
				projects[p.ProjectID] = true
			}
			if !found {
				t.Errorf("the last registrant's publisher %d is not among the %d read", mine.ID, len(active))
			}
			if misses > store.MaxNearMisses {
				t.Errorf("read %d publishers the job cannot satisfy, want at most %d", misses, store.MaxNearMisses)
			}
			if misses == 0 {
				t.Errorf("read no publisher the job cannot satisfy, want some for the refusal records")
			}
			want := byTurns(all, id, store.MaxCandidateProjects)
			equal(t, "projects read", len(projects), len(want))
			for _, p := range want {
				if !projects[p] {
					t.Errorf("project %d is chosen from all publishers but was not read", p)
				}
			}
			// Every matching publisher of a project read comes with it: the exchange marks
			// them all used.
			for _, p := range all {
				if projects[p.ProjectID] && policy.Match(p.Publisher, id) == nil && !slices.ContainsFunc(active, func(a store.Publisher) bool { return a.ID == p.ID }) {
					t.Errorf("matching publisher %d of project %d read is missing", p.ID, p.ProjectID)
				}
			}
			if len(all) <= len(active)*2 {
				t.Fatalf("the fixture is too small to show a bound: %d publishers, %d read", len(all), len(active))
			}
		}},
	}
}
