package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
)

// workflow names the i-th of several otherwise identical publishers.
func workflow(i int) func(*policy.Publisher) {
	return func(p *policy.Publisher) { p.Workflow = fmt.Sprintf("release-%d.yml", i) }
}

func publisherTests() []test {
	return []test{
		{"An added publisher comes back with its id and project, and reads back the same", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			proj := f.project("proj", alice)
			p := f.publisher(proj, alice, func(p *policy.Publisher) { p.Environment = "release"; p.OwnerID = "65" })
			want := store.Publisher{
				Publisher: policy.Publisher{ID: p.ID, Kind: policy.GitHub, Issuer: githubIssuer, Owner: "octo-org", Name: "octo-repo",
					Workflow: "release.yml", Environment: "release", OwnerID: "65"},
				ProjectID: proj.ID, ProjectName: "proj", CreatedBy: alice.ID, CreatedAt: epoch,
			}
			if p.ID == 0 {
				t.Fatal("AddPublisher returned no id")
			}
			equal(t, "added", p, want)
			equal(t, "by id", f.publisherByID(p.ID), want)
		}},
		{"Ref rules and a called-workflow pin are stored, read back and replaced, and stored with a pending publisher, by every read", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			proj := f.project("proj", alice)
			refs := policy.RefRules{TagsOnly: true, Pattern: "refs/tags/v*", Protected: true}
			const called = "octo-org/shared/.github/workflows/publish.yml@refs/tags/v*"
			p := f.publisher(proj, alice, func(p *policy.Publisher) { p.Refs, p.CalledWorkflow = refs, called })
			got := f.publisherByID(p.ID)
			if got.Refs != refs || got.CalledWorkflow != called {
				t.Fatalf("read back refs %+v called %q", got.Refs, got.CalledWorkflow)
			}
			if err := f.st.SetPublisherRules(f.ctx, p.ID, policy.RefRules{Pattern: "refs/heads/main"}, ""); err != nil {
				t.Fatal(err)
			}
			got = f.publisherByID(p.ID)
			if got.Refs != (policy.RefRules{Pattern: "refs/heads/main"}) || got.CalledWorkflow != "" {
				t.Fatalf("after SetPublisherRules: refs %+v called %q", got.Refs, got.CalledWorkflow)
			}
			wantErr(t, f.st.SetPublisherRules(f.ctx, 424242, refs, ""), store.ErrNotFound)
			pp, err := f.st.AddPending(f.ctx, store.PendingPublisher{Publisher: func() policy.Publisher {
				r := rules()
				r.Refs, r.CalledWorkflow = refs, called
				return r
			}(), ProjectName: "newproj", UserID: alice.ID, CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			list, err := f.st.ListPending(f.ctx, alice.ID)
			if err != nil || len(list) != 1 || list[0].ID != pp.ID || list[0].Refs != refs || list[0].CalledWorkflow != called {
				t.Fatalf("ListPending = %+v, %v", list, err)
			}
			if err := f.st.SetPublisherRules(f.ctx, p.ID, refs, called); err != nil {
				t.Fatal(err)
			}
			active, pending, err := f.st.FindCandidates(f.ctx, githubIssuer, rules().Key(), job(), f.now)
			if err != nil || len(active) != 1 || active[0].Refs != refs || active[0].CalledWorkflow != called ||
				len(pending) != 1 || pending[0].Refs != refs || pending[0].CalledWorkflow != called {
				t.Fatalf("FindCandidates = %+v, %+v, %v", active, pending, err)
			}
		}},
		{"An identical publisher on the same project is a conflict, on another project it is not", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			one, two := f.project("one", alice), f.project("two", alice)
			f.publisher(one, alice, nil)
			_, err := f.st.AddPublisher(f.ctx, store.Publisher{Publisher: rules(), ProjectID: one.ID, CreatedBy: alice.ID, CreatedAt: f.now})
			wantErr(t, err, store.ErrConflict)
			f.publisher(two, alice, nil)
			f.publisher(one, alice, func(p *policy.Publisher) { p.Environment = "release" })
		}},
		{"A publisher for an unknown project is not found", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			_, err := f.st.AddPublisher(f.ctx, store.Publisher{Publisher: rules(), ProjectID: 424242, CreatedBy: alice.ID, CreatedAt: f.now})
			wantErr(t, err, store.ErrNotFound)
		}},
		{"The publisher after the limit is refused", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			proj := f.project("proj", alice)
			for i := range store.MaxPublishersPerProject {
				f.publisher(proj, alice, workflow(i))
			}
			r := rules()
			workflow(store.MaxPublishersPerProject)(&r)
			_, err := f.st.AddPublisher(f.ctx, store.Publisher{Publisher: r, ProjectID: proj.ID, CreatedBy: alice.ID, CreatedAt: f.now})
			wantErr(t, err, store.ErrTooManyPublishers)
			// The limit is per project.
			f.publisher(f.project("other", alice), alice, nil)
		}},
		{"Concurrent adds to one project stop at the limit", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			proj := f.project("proj", alice)
			errs := concurrently(30, func(i int) error {
				r := rules()
				workflow(i)(&r)
				_, err := f.st.AddPublisher(f.ctx, store.Publisher{Publisher: r, ProjectID: proj.ID, CreatedBy: alice.ID, CreatedAt: f.now})
				return err
			})
			equal(t, "outcomes", tally(errs, store.ErrTooManyPublishers), map[string]int{
				"nil": store.MaxPublishersPerProject, store.ErrTooManyPublishers.Error(): 30 - store.MaxPublishersPerProject,
			})
			stored, err := f.st.ListPublishers(f.ctx, proj.ID)
			must(t, err)
			equal(t, "stored", len(stored), store.MaxPublishersPerProject)
		}},
		{"FindCandidates matches active publishers' repository key in any case, on its issuer only", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			proj := f.project("proj", alice)
			gh := f.publisher(proj, alice, func(p *policy.Publisher) { p.Owner, p.Name = "Octo-Org", "Octo-Repo" })
			ghes := f.publisher(proj, alice, func(p *policy.Publisher) { p.Issuer = ghesIssuer })
			f.publisher(proj, alice, func(p *policy.Publisher) { p.Name = "other-repo" })
			gl := f.publisher(proj, alice, func(p *policy.Publisher) {
				p.Kind, p.Issuer, p.Owner, p.Name, p.Workflow = policy.GitLab, gitlabIssuer, "group/sub", "project", ".gitlab-ci.yml"
			})
			for _, c := range []struct {
				issuer, repository string
				want               []store.Publisher
			}{
				{githubIssuer, "octo-org/octo-repo", []store.Publisher{gh}},
				{githubIssuer, "OCTO-ORG/octo-REPO", []store.Publisher{gh}},
				{ghesIssuer, "octo-org/octo-repo", []store.Publisher{ghes}},
				{gitlabIssuer, "Group/Sub/Project", []store.Publisher{gl}},
				{gitlabIssuer, "octo-org/octo-repo", nil},
				{"https://gitlab.example.com", "group/sub/project", nil},
				{githubIssuer, "octo-org/octo", nil},
			} {
				got, err := f.findActive(c.issuer, policy.RepositoryKey(c.repository))
				must(t, err)
				equal(t, c.issuer+" "+c.repository, got, c.want)
			}
		}},
		{"ListPublishers lists one project's publishers, or all of them", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			one, two := f.project("one", alice), f.project("two", alice)
			a := f.publisher(one, alice, nil)
			b := f.publisher(two, alice, nil)
			c := f.publisher(one, alice, workflow(1))
			got, err := f.st.ListPublishers(f.ctx, one.ID)
			must(t, err)
			equal(t, "project one", got, []store.Publisher{a, c})
			got, err = f.st.ListPublishers(f.ctx, 0)
			must(t, err)
			equal(t, "all", got, []store.Publisher{a, b, c})
		}},
		{"A removed publisher is gone, and removing it again is not found", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			p := f.publisher(f.project("proj", alice), alice, nil)
			must(t, f.st.RemovePublisher(f.ctx, p.ID))
			_, err := f.st.PublisherByID(f.ctx, p.ID)
			wantErr(t, err, store.ErrNotFound)
			wantErr(t, f.st.RemovePublisher(f.ctx, p.ID), store.ErrNotFound)
			got, err := f.findActive(githubIssuer, p.Key())
			must(t, err)
			equal(t, "found", len(got), 0)
		}},
	}
}

func pendingTests() []test {
	return []test{
		{"FindCandidates finds active and pending publishers of one repository and issuer together", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			proj := f.project("proj", alice)
			plain := f.publisher(proj, alice, nil)
			pinned := f.publisher(proj, alice, func(p *policy.Publisher) { p.Workflow, p.OwnerID, p.RepositoryID = "pinned.yml", "65", "74" })
			must(t, f.st.CommitExchange(f.ctx, f.exchange("jti-used", pinned)))
			pinned = f.publisherByID(pinned.ID)
			f.publisher(f.project("other-repo", bob), bob, func(p *policy.Publisher) { p.Name = "other-repo" })
			ghes := f.publisher(f.project("other-issuer", bob), bob, func(p *policy.Publisher) { p.Issuer = ghesIssuer })
			soon := f.pending("New-One", alice, func(p *policy.Publisher) { p.Environment = "release" })
			f.pending("proj", bob, func(p *policy.Publisher) { p.Workflow = "taken.yml" }) // its project exists
			later, err := f.st.AddPending(f.ctx, pendingOf("later", bob, f.now.Add(12*time.Hour), func(p *policy.Publisher) { p.Workflow = "later.yml" }))
			must(t, err)
			both := []store.Publisher{plain, pinned}
			for _, c := range []struct {
				issuer, repository string
				at                 time.Time
				active             []store.Publisher
				pending            []store.PendingPublisher
			}{
				{githubIssuer, "OCTO-org/octo-REPO", f.now, both, []store.PendingPublisher{soon, later}},
				{githubIssuer, "octo-org/octo-repo", soon.ExpiresAt, both, []store.PendingPublisher{later}},
				{githubIssuer, "octo-org/octo-repo", later.ExpiresAt, both, nil},
				{ghesIssuer, "octo-org/octo-repo", f.now, []store.Publisher{ghes}, nil},
				{githubIssuer, "nobody/nothing", f.now, nil, nil},
			} {
				active, pending, err := f.st.FindCandidates(f.ctx, c.issuer, policy.RepositoryKey(c.repository), job(), c.at)
				must(t, err)
				what := fmt.Sprintf("%s %s at %s", c.issuer, c.repository, c.at)
				equal(t, what+": active", active, c.active)
				equal(t, what+": pending", pending, c.pending)
			}
		}},
		{"An added pending publisher is listed, and found until it expires", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			p := f.pending("New-Project", alice, func(p *policy.Publisher) { p.Environment = "release" })
			want := store.PendingPublisher{
				Publisher: policy.Publisher{ID: p.ID, Kind: policy.GitHub, Issuer: githubIssuer, Owner: "octo-org", Name: "octo-repo",
					Workflow: "release.yml", Environment: "release"},
				ProjectName: "New-Project", UserID: alice.ID, CreatedAt: epoch, ExpiresAt: epoch.Add(24 * time.Hour),
			}
			if p.ID == 0 {
				t.Fatal("AddPending returned no id")
			}
			equal(t, "added", p, want)
			listed, err := f.st.ListPending(f.ctx, alice.ID)
			must(t, err)
			equal(t, "listed", listed, []store.PendingPublisher{want})
			for _, c := range []struct {
				issuer string
				at     time.Time
				want   []store.PendingPublisher
			}{
				{githubIssuer, epoch.Add(time.Hour), []store.PendingPublisher{want}},
				{githubIssuer, want.ExpiresAt.Add(-time.Microsecond), []store.PendingPublisher{want}},
				{githubIssuer, want.ExpiresAt, nil},
				{githubIssuer, want.ExpiresAt.Add(time.Hour), nil},
				{ghesIssuer, epoch.Add(time.Hour), nil},
			} {
				got, err := f.findPending(c.issuer, policy.RepositoryKey("OCTO-org/Octo-Repo"), c.at)
				must(t, err)
				equal(t, fmt.Sprintf("found on %s at %s", c.issuer, c.at), got, c.want)
			}
		}},
		{"A pending publisher past the per-user limit is refused, counting unexpired ones only", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			old := pendingOf("old", alice, f.now.Add(-48*time.Hour), nil)
			_, err := f.st.AddPending(f.ctx, old)
			must(t, err)
			for i := range store.MaxPendingPerUser {
				f.pending(fmt.Sprintf("new-%d", i), alice, nil)
			}
			_, err = f.st.AddPending(f.ctx, pendingOf("one-more", alice, f.now, nil))
			wantErr(t, err, store.ErrTooManyPending)
			f.pending("bobs", bob, func(p *policy.Publisher) { p.Workflow = "bob.yml" })
		}},
		{"Concurrent pending adds by one user stop at the limit", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			errs := concurrently(10, func(i int) error {
				_, err := f.st.AddPending(f.ctx, pendingOf(fmt.Sprintf("new-%d", i), alice, f.now, nil))
				return err
			})
			equal(t, "outcomes", tally(errs, store.ErrTooManyPending), map[string]int{
				"nil": store.MaxPendingPerUser, store.ErrTooManyPending.Error(): 10 - store.MaxPendingPerUser,
			})
		}},
		{"An identical pending publisher for one project name is a conflict unless the earlier one expired", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			f.pending("new-pkg", alice, nil)
			_, err := f.st.AddPending(f.ctx, pendingOf("New_Pkg", alice, f.now, nil))
			wantErr(t, err, store.ErrConflict)
			_, err = f.st.AddPending(f.ctx, pendingOf("later", alice, f.now.Add(-48*time.Hour), nil))
			must(t, err)
			f.pending("later", alice, nil)
		}},
		{"Another user's pending publisher with the same rules, compared as the platform does, is contested whatever the name", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			prod := func(p *policy.Publisher) { p.Environment = "prod" }
			gitlab := func(env string) func(*policy.Publisher) {
				return func(p *policy.Publisher) {
					*p = policy.Publisher{Kind: policy.GitLab, Issuer: gitlabIssuer, Owner: "my-group", Name: "my-project", Workflow: ".gitlab-ci.yml", Environment: env}
				}
			}
			mine := []store.PendingPublisher{f.pending("newpkg", alice, prod), f.pending("glpkg", alice, gitlab("release"))}
			for _, c := range []struct {
				name    string
				project string
				edit    func(*policy.Publisher)
				want    error
			}{
				{"the same environment, same name", "newpkg", prod, store.ErrContested},
				{"the same environment in GitHub's other case", "newpkg", func(p *policy.Publisher) { p.Environment = "PROD" }, store.ErrContested},
				{"the same rules for another name", "otherpkg", prod, store.ErrContested},
				{"the same repository in another case", "otherpkg", func(p *policy.Publisher) { p.Owner, p.Name, p.Environment = "Octo-Org", "OCTO-REPO", "Prod" }, store.ErrContested},
				{"the same GitLab environment", "otherpkg", gitlab("release"), store.ErrContested},
				{"a GitLab environment differing in case (GitLab tells them apart)", "otherpkg", gitlab("Release"), nil},
				{"no environment (less specific, so it cannot take a job of alice's)", "newpkg", nil, nil},
				{"another workflow", "thirdpkg", func(p *policy.Publisher) { p.Workflow, p.Environment = "publish.yml", "prod" }, nil},
			} {
				t.Run(c.name, func(t *testing.T) {
					added, err := f.st.AddPending(f.ctx, pendingOf(c.project, bob, f.now, c.edit))
					if c.want != nil {
						wantErr(t, err, c.want)
						return
					}
					must(t, err)
					must(t, f.st.RemovePending(f.ctx, added.ID))
				})
			}
			listed, err := f.st.ListPending(f.ctx, alice.ID)
			must(t, err)
			equal(t, "alice's pending publishers", listed, mine)
		}},
		{"An expired pending publisher of another user contests nothing", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			_, err := f.st.AddPending(f.ctx, pendingOf("newpkg", alice, f.now.Add(-48*time.Hour), nil))
			must(t, err)
			f.pending("otherpkg", bob, nil)
		}},
		{"Concurrent registrations of the same rules by several users leave one", func(t *testing.T, f *fixture) {
			users := make([]store.User, 8)
			for i := range users {
				users[i] = f.user(fmt.Sprintf("user%d", i))
			}
			errs := concurrently(len(users), func(i int) error {
				_, err := f.st.AddPending(f.ctx, pendingOf(fmt.Sprintf("pkg-%d", i), users[i], f.now, nil))
				return err
			})
			equal(t, "outcomes", tally(errs, store.ErrContested), map[string]int{"nil": 1, store.ErrContested.Error(): len(users) - 1})
		}},
		{"A pending publisher whose project name exists, in any spelling, is not found", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			p := f.pending("Foo.Bar", alice, nil)
			f.project("foo_bar", bob)
			got, err := f.findPending(githubIssuer, p.Key(), f.now)
			must(t, err)
			equal(t, "found", len(got), 0)
			listed, err := f.st.ListPending(f.ctx, alice.ID)
			must(t, err)
			equal(t, "alice's pending publishers", listed, []store.PendingPublisher{p})
		}},
		{"A pending publisher for an unknown user is not found", func(t *testing.T, f *fixture) {
			_, err := f.st.AddPending(f.ctx, pendingOf("new", store.User{ID: 424242}, f.now, nil))
			wantErr(t, err, store.ErrNotFound)
		}},
		{"A removed pending publisher is gone, and removing it again is not found", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			p := f.pending("new", alice, nil)
			must(t, f.st.RemovePending(f.ctx, p.ID))
			wantErr(t, f.st.RemovePending(f.ctx, p.ID), store.ErrNotFound)
			listed, err := f.st.ListPending(f.ctx, alice.ID)
			must(t, err)
			equal(t, "listed", len(listed), 0)
		}},
	}
}
