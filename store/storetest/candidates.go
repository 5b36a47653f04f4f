package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

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

// readByShares is the reference for the projects the candidate read returns, worked out
// from all publishers: publishers whose workflow and environment fit the job fall in two
// ranges, bound to the job's environment and bound to none; of each range's first
// MaxCandidateRegistrants registrants by user id, those with a publisher in the first
// range first, then by user id, the first MaxCandidateRegistrants; each reads its first
// ⌊MaxCandidateProjects/R⌋ (at least one) publishers of each range where it was among the
// first, by id, R being the registrants read; the projects of those that fit (their
// pinned ids too) are read.
func readByShares(all []store.Publisher, id policy.Identity) map[int64]bool {
	envKey := policy.EnvironmentKey(id.Kind, id.Environment)
	inRange := func(p store.Publisher, env string) bool {
		return p.Workflow == policy.JobWorkflow(id) && policy.EnvironmentKey(p.Kind, p.Environment) == env
	}
	ranges := []string{""}
	if envKey != "" {
		ranges = []string{envKey, ""}
	}
	// Each range's first MaxCandidateRegistrants registrants by user id.
	inRangeFound := map[string]map[int64]bool{}
	spec := map[int64]int{} // 1 for a registrant found bound to the job's environment
	for i, env := range ranges {
		var rs []int64
		for _, p := range all {
			if inRange(p, env) && !slices.Contains(rs, p.CreatedBy) {
				rs = append(rs, p.CreatedBy)
			}
		}
		slices.Sort(rs)
		inRangeFound[env] = map[int64]bool{}
		for _, r := range rs[:min(len(rs), store.MaxCandidateRegistrants)] {
			inRangeFound[env][r] = true
			if s, ok := spec[r]; !ok || len(ranges)-1-i > s {
				spec[r] = len(ranges) - 1 - i
			}
		}
	}
	registrants := slices.SortedFunc(func(yield func(int64) bool) {
		for r := range spec {
			if !yield(r) {
				return
			}
		}
	}, func(a, b int64) int {
		if c := cmp.Compare(spec[b], spec[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	registrants = registrants[:min(len(registrants), store.MaxCandidateRegistrants)]
	read := map[int64]bool{}
	if len(registrants) == 0 {
		return read
	}
	share := max(1, store.MaxCandidateProjects/len(registrants))
	for _, r := range registrants {
		for _, env := range ranges {
			if !inRangeFound[env][r] {
				continue
			}
			var queue []store.Publisher
			for _, p := range all {
				if p.CreatedBy == r && inRange(p, env) {
					queue = append(queue, p)
				}
			}
			slices.SortFunc(queue, func(a, b store.Publisher) int { return cmp.Compare(a.ID, b.ID) })
			for _, p := range queue[:min(len(queue), share)] {
				if (p.OwnerID == "" || p.OwnerID == id.OwnerID) && (p.RepositoryID == "" || p.RepositoryID == id.RepositoryID) {
					read[p.ProjectID] = true
				}
			}
		}
	}
	return read
}

// fitsJob is whether the store may count p as fitting the job: workflow, environment and
// pinned ids.
func fitsJob(p store.Publisher, id policy.Identity) bool {
	env := policy.EnvironmentKey(p.Kind, p.Environment)
	return p.Workflow == policy.JobWorkflow(id) && (env == "" || env == policy.EnvironmentKey(id.Kind, id.Environment)) &&
		(p.OwnerID == "" || p.OwnerID == id.OwnerID) && (p.RepositoryID == "" || p.RepositoryID == id.RepositoryID)
}

// checkRead holds a candidate read to the reference: exactly the projects readByShares
// names, each with every publisher of it that fits, and a few that cannot fit.
func checkRead(t *testing.T, f *fixture, id policy.Identity, active []store.Publisher) map[int64]bool {
	t.Helper()
	every, err := f.st.ListPublishers(f.ctx, 0)
	must(t, err)
	// Only the job's repository's publishers can be read for it.
	var all []store.Publisher
	for _, p := range every {
		if p.Issuer == id.Issuer && p.Key() == policy.RepositoryKey(id.Repository) {
			all = append(all, p)
		}
	}
	projects := map[int64]bool{}
	misses := 0
	for _, p := range active {
		if !fitsJob(p, id) {
			misses++
			continue
		}
		projects[p.ProjectID] = true
	}
	if misses > store.MaxNearMisses {
		t.Errorf("read %d publishers the job cannot satisfy, want at most %d", misses, store.MaxNearMisses)
	}
	want := readByShares(all, id)
	equal(t, "projects read", len(projects), len(want))
	for p := range want {
		if !projects[p] {
			t.Errorf("project %d is read by the reference but was not read", p)
		}
	}
	// Every fitting publisher of a project read comes with it: the exchange marks them
	// all used.
	for _, p := range all {
		if projects[p.ProjectID] && fitsJob(p, id) && !slices.ContainsFunc(active, func(a store.Publisher) bool { return a.ID == p.ID }) {
			t.Errorf("fitting publisher %d of project %d read is missing", p.ID, p.ProjectID)
		}
	}
	return projects
}

// sameChoice holds two candidate reads of one kind to the same publishers that fit, in
// the same order, and as many that cannot.
func sameChoice[T any](t *testing.T, what string, a, b []T, fits func(T) bool) {
	t.Helper()
	split := func(ps []T) (fit []T, misses int) {
		for _, p := range ps {
			if fits(p) {
				fit = append(fit, p)
			} else {
				misses++
			}
		}
		return fit, misses
	}
	aFit, aMisses := split(a)
	bFit, bMisses := split(b)
	equal(t, what+" that fit", aFit, bFit)
	equal(t, what+" that cannot fit", aMisses, bMisses)
}

func candidateTests() []test {
	return []test{
		{"A repository with few publishers is read whole and chosen from as the bounded read chooses", func(t *testing.T, f *fixture) {
			// Random repositories small enough for the short read; then enough expired
			// pending publishers to make the store take the bounded read instead, which
			// must choose the same publishers. Expired ones are never returned.
			users := []store.User{f.user("u0"), f.user("u1"), f.user("u2"), f.user("u3")}

			envs := []string{"", "Release", "release", "staging"}
			for round := range 12 {
				rnd := rand.New(rand.NewPCG(uint64(round), 42))
				repo := fmt.Sprintf("repo-%d", round)
				edit := func(p *policy.Publisher) {
					p.Name = repo
					p.Workflow = []string{"release.yml", "release.yml", "other.yml"}[rnd.IntN(3)]
					p.Environment = envs[rnd.IntN(len(envs))]
					switch rnd.IntN(4) {
					case 0:
						p.OwnerID, p.RepositoryID = "7", "8"
					case 1:
						p.OwnerID = "9"
					}
				}
				var projects []store.Project
				for i := range 1 + rnd.IntN(store.ShortCandidateRead-1) {
					by := users[rnd.IntN(len(users))]
					if len(projects) == 0 || rnd.IntN(3) > 0 {
						projects = append(projects, f.project(fmt.Sprintf("r%d-p%d", round, i), by))
					}
					proj := projects[rnd.IntN(len(projects))]
					r := rules()
					edit(&r)
					if _, err := f.st.AddPublisher(f.ctx, store.Publisher{Publisher: r, ProjectID: proj.ID, CreatedBy: by.ID, CreatedAt: f.now}); err != nil && !errors.Is(err, store.ErrConflict) {
						t.Fatal(err)
					}
				}
				for i := range rnd.IntN(5) {
					name := fmt.Sprintf("r%d-new%d", round, i)
					if rnd.IntN(3) == 0 {
						name = projects[0].Name // taken: never returned
					}
					p := pendingOf(name, users[rnd.IntN(len(users))], f.now, edit)
					if rnd.IntN(4) == 0 {
						p.ExpiresAt = f.now.Add(-time.Second)
					}
					if _, err := f.st.AddPending(f.ctx, p); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrContested) && !errors.Is(err, store.ErrTooManyPending) {
						t.Fatal(err)
					}
				}
				id, job := releaseJob()
				id.Repository = "octo-org/" + repo
				if rnd.IntN(2) == 0 {
					id.Environment, job.Environment = "", ""
				}
				key := policy.RepositoryKey(id.Repository)
				short, shortPending, err := f.st.FindCandidates(f.ctx, githubIssuer, key, job, f.now)
				must(t, err)
				checkRead(t, f, id, short)

				for i := range store.ShortCandidateRead + 1 {
					p := pendingOf(fmt.Sprintf("r%d-expired%d", round, i), f.user(fmt.Sprintf("r%d-filler%d", round, i)), f.now.Add(-48*time.Hour), func(p *policy.Publisher) {
						p.Name, p.Workflow = repo, fmt.Sprintf("filler-%d.yml", i)
					})
					_, err := f.st.AddPending(f.ctx, p)
					must(t, err)
				}
				bounded, boundedPending, err := f.st.FindCandidates(f.ctx, githubIssuer, key, job, f.now)
				must(t, err)
				for _, p := range append(shortPending, boundedPending...) {
					if !p.ExpiresAt.After(f.now) {
						t.Fatalf("round %d: expired pending publisher %d read", round, p.ID)
					}
				}
				sameChoice(t, fmt.Sprintf("round %d: publishers", round), short, bounded, func(p store.Publisher) bool { return fitsJob(p, id) })
				sameChoice(t, fmt.Sprintf("round %d: pending publishers", round), shortPending, boundedPending,
					func(p store.PendingPublisher) bool { return fitsJob(store.Publisher{Publisher: p.Publisher}, id) })
			}
		}},
		{"FindCandidates reads a bounded share of each registrant's publishers, whatever others add, and keeps the last registrant's publisher", func(t *testing.T, f *fixture) {
			id, job := releaseJob()
			// Many registrants, each with several projects whose publishers match the job
			// (some bound to its environment, spelled in another case), and publishers
			// bound to other environments, workflows or repository ids, which cannot. With
			// their co-owners they are fewer than MaxCandidateRegistrants, so that the last
			// registrant still has a place.
			for u := range (store.MaxCandidateRegistrants - 2) / 2 {
				user := f.user(fmt.Sprintf("other%d", u))
				for i := range 12 {
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
			checkRead(t, f, id, active)
			if !slices.ContainsFunc(active, func(p store.Publisher) bool { return p.ID == mine.ID }) {
				t.Errorf("the last registrant's publisher %d is not among the %d read", mine.ID, len(active))
			}
			if !slices.ContainsFunc(active, func(p store.Publisher) bool { return !fitsJob(p, id) }) {
				t.Errorf("read no publisher the job cannot satisfy, want some for the refusal records")
			}
			all, err := f.st.ListPublishers(f.ctx, 0)
			must(t, err)
			if len(all) <= len(active)*2 {
				t.Fatalf("the fixture is too small to show a bound: %d publishers, %d read", len(all), len(active))
			}
		}},
		{"One registrant's many publishers take a share of the candidate read, whatever their age, and the others' are read", func(t *testing.T, f *fixture) {
			id, job := releaseJob()
			big := f.user("big")
			for i := range 150 {
				f.publisher(f.project(fmt.Sprintf("big-%d", i), big), big, nil)
			}
			var small []store.Publisher
			for u := range 3 {
				user := f.user(fmt.Sprintf("small%d", u))
				small = append(small, f.publisher(f.project(fmt.Sprintf("small-%d", u), user), user, nil))
			}
			victim := f.user("victim")
			small = append(small, f.publisher(f.project("victim-app", victim), victim, func(p *policy.Publisher) { p.Environment = "release" }))
			active, _, err := f.st.FindCandidates(f.ctx, githubIssuer, policy.RepositoryKey(id.Repository), job, f.now)
			must(t, err)
			projects := checkRead(t, f, id, active)
			for _, p := range small {
				if !projects[p.ProjectID] {
					t.Errorf("project %s of a registrant with one publisher was not read", p.ProjectName)
				}
			}
			// Five registrants share 101 places: 20 each at most.
			if n := len(projects); n > 20+len(small) {
				t.Errorf("read %d projects, want at most %d: the big registrant's share and one each of the others", n, 20+len(small))
			}
		}},
		{"A candidate read for a named project reads that project's publishers and no other's", func(t *testing.T, f *fixture) {
			id, job := releaseJob()
			other := f.user("other")
			for i := range 5 {
				f.publisher(f.project(fmt.Sprintf("other-%d", i), other), other, nil)
			}
			f.publisher(f.project("other-miss", other), other, func(p *policy.Publisher) { p.Workflow = "other.yml" })
			victim := f.user("victim")
			proj := f.project("Victim.App", victim)
			mine := f.publisher(proj, victim, nil)
			miss := f.publisher(proj, victim, func(p *policy.Publisher) { p.Environment = "staging" })
			f.pending("other-new", other, nil)
			job.Project = "victim-app"
			active, pending, err := f.st.FindCandidates(f.ctx, githubIssuer, policy.RepositoryKey(id.Repository), job, f.now)
			must(t, err)
			var ids []int64
			for _, p := range active {
				ids = append(ids, p.ID)
			}
			equal(t, "publishers read", fmt.Sprint(ids), fmt.Sprint([]int64{mine.ID, miss.ID}))
			equal(t, "pending publishers read", len(pending), 0)
		}},
		{"When each registrant takes one place, removing a registrant's oldest publisher hands its place to its next, and removing its last to the next registrant", func(t *testing.T, f *fixture) {
			id, job := releaseJob()
			first := f.user("first")
			oldest := f.publisher(f.project("first-a", first), first, nil)
			next := f.publisher(f.project("first-b", first), first, nil)
			var last store.Publisher
			for u := range store.MaxCandidateRegistrants {
				user := f.user(fmt.Sprintf("other%d", u))
				last = f.publisher(f.project(fmt.Sprintf("other-%d", u), user), user, nil)
			}
			read := func(step string) map[int64]bool {
				t.Helper()
				active, _, err := f.st.FindCandidates(f.ctx, githubIssuer, policy.RepositoryKey(id.Repository), job, f.now)
				must(t, err)
				t.Logf("%s: %d publishers read", step, len(active))
				return checkRead(t, f, id, active)
			}
			if got := read("all registered"); !got[oldest.ProjectID] || got[next.ProjectID] || got[last.ProjectID] {
				t.Errorf("with %d registrants, want the first registrant's oldest project read and neither its next nor the last registrant's", store.MaxCandidateRegistrants+1)
			}
			must(t, f.st.RemovePublisher(f.ctx, oldest.ID))
			if got := read("oldest removed"); !got[next.ProjectID] {
				t.Errorf("the first registrant's next publisher was not read once its oldest was removed")
			}
			must(t, f.st.RemovePublisher(f.ctx, next.ID))
			if got := read("all of the first removed"); !got[last.ProjectID] {
				t.Errorf("the last registrant was not read once the first had no publisher left")
			}
		}},
	}
}
