package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
)

func exchangeTests() []test {
	return []test{
		{"An exchange records its upload token and the last use of its publishers", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			one, two := f.project("one", alice), f.project("two", alice)
			a, b := f.publisher(one, alice, nil), f.publisher(two, alice, nil)
			idle := f.publisher(one, alice, workflow(1))
			e := f.exchange("jti-1", a, b)
			must(t, f.st.CommitExchange(f.ctx, e))

			tok, err := f.st.UploadToken(f.ctx, e.TokenID)
			must(t, err)
			equal(t, "upload token", tok, store.UploadToken{
				ID: e.TokenID, Projects: []string{"one", "two"}, Subject: e.TokenSubject, IssuedAt: epoch, ExpiresAt: e.TokenExpires,
			})
			for _, p := range []store.Publisher{a, b} {
				got := f.publisherByID(p.ID)
				if got.LastUsedAt == nil || !got.LastUsedAt.Equal(e.At) {
					t.Fatalf("publisher %d last used %v, want %v", p.ID, got.LastUsedAt, e.At)
				}
			}
			equal(t, "unused publisher", f.publisherByID(idle.ID), idle)
		}},
		{"An upload token that would outlive what revocation looks back over is refused, and nothing is written", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			pub := f.publisher(f.project("proj", alice), alice, nil)
			e := f.exchange("jti-long", pub)
			e.TokenExpires = e.At.Add(store.MaxUploadTokenLifetime + store.ExchangeSpan + time.Second)
			if err := f.st.CommitExchange(f.ctx, e); err == nil {
				t.Fatal("an upload token expiring past MaxUploadTokenLifetime + ExchangeSpan after its exchange was recorded")
			}
			if f.tokenRecorded(e) {
				t.Fatal("the refused exchange left its record")
			}
			e.TokenExpires = e.At.Add(store.MaxUploadTokenLifetime + store.ExchangeSpan)
			must(t, f.st.CommitExchange(f.ctx, e))
		}},
		{"An exchange writes its audit events, 1,000 of them in one commit, and a replay writes none", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			var pubs []store.Publisher
			for i := range 3 {
				pubs = append(pubs, f.publisher(f.project(fmt.Sprintf("p%d", i), alice), alice, nil))
			}
			e := f.exchange("jti-events", pubs...)
			for i := range 1000 {
				p := pubs[i%len(pubs)]
				e.Events = append(e.Events, store.AuditEvent{At: e.At, Actor: "exchange", ProjectID: p.ProjectID, Action: "token.mint", Detail: fmt.Sprintf("event %d", i)})
			}
			must(t, f.st.CommitExchange(f.ctx, e))
			log, err := f.st.AuditLog(f.ctx, pubs[0].ProjectID, 0, 1000)
			must(t, err)
			minted := 0
			for _, ev := range log {
				if ev.Action == "token.mint" && ev.Actor == "exchange" && ev.At.Equal(e.At) && ev.UserID == 0 {
					minted++
				}
			}
			if minted != 334 {
				t.Fatalf("project p0 has %d token.mint events, want 334", minted)
			}
			all, err := f.st.AuditLog(f.ctx, 0, 0, 5000)
			must(t, err)
			again := f.exchange("jti-events", pubs...)
			again.TokenID = "token-replayed"
			again.Events = e.Events
			wantErr(t, f.st.CommitExchange(f.ctx, again), store.ErrReplay)
			after, err := f.st.AuditLog(f.ctx, 0, 0, 5000)
			must(t, err)
			if len(after) != len(all) || len(all) < 1000 {
				t.Fatalf("%d audit events after the exchange, %d after its replay", len(all), len(after))
			}
		}},
		{"A second exchange of one token id is a replay and writes nothing", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			proj := f.project("proj", alice)
			used := f.publisher(proj, alice, nil)
			unpinned := f.publisher(proj, alice, workflow(1))
			pend := f.pending("new", alice, nil)
			must(t, f.st.CommitExchange(f.ctx, f.exchange("jti-1", used)))
			before := f.publisherByID(used.ID)

			again := f.exchange("jti-1", used, unpinned)
			again.At = f.now.Add(time.Minute)
			again.TokenID = "token-second"
			again.Pins = []store.Pin{{PublisherID: unpinned.ID, OwnerID: "65", RepositoryID: "74"}}
			again.Pending = []store.PendingPublisher{pend}
			wantErr(t, f.st.CommitExchange(f.ctx, again), store.ErrReplay)

			if f.tokenRecorded(again) {
				t.Fatal("a replayed exchange recorded its upload token")
			}
			equal(t, "used publisher", f.publisherByID(used.ID), before)
			equal(t, "unpinned publisher", f.publisherByID(unpinned.ID), unpinned)
			listed, err := f.st.ListPending(f.ctx, alice.ID)
			must(t, err)
			equal(t, "pending publishers", listed, []store.PendingPublisher{pend})
			_, err = f.st.ProjectByName(f.ctx, "new")
			wantErr(t, err, store.ErrNotFound)
		}},
		{"The same token id from another issuer is not a replay", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			p := f.publisher(f.project("proj", alice), alice, nil)
			must(t, f.st.CommitExchange(f.ctx, f.exchange("jti-1", p)))
			other := f.exchange("jti-1", p)
			other.Issuer = ghesIssuer
			other.TokenID = "token-ghes"
			must(t, f.st.CommitExchange(f.ctx, other))
		}},
		{"Of 50 concurrent exchanges of one token id exactly one succeeds", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			p := f.publisher(f.project("proj", alice), alice, nil)
			exchanges := make([]store.Exchange, 50)
			for i := range exchanges {
				exchanges[i] = f.exchange("jti-contested", p)
				exchanges[i].TokenID = fmt.Sprintf("token-%d", i)
			}
			errs := concurrently(len(exchanges), func(i int) error { return f.st.CommitExchange(f.ctx, exchanges[i]) })
			equal(t, "outcomes", tally(errs, store.ErrReplay), map[string]int{"nil": 1, store.ErrReplay.Error(): 49})
			for i, e := range exchanges {
				if f.tokenRecorded(e) != (errs[i] == nil) {
					t.Fatalf("exchange %d: error %v, but its token recorded: %v", i, errs[i], !(errs[i] == nil))
				}
			}
		}},
		{"A first exchange pins the publisher to the identity's ids", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			proj := f.project("proj", alice)
			p := f.publisher(proj, alice, nil)
			half := f.publisher(proj, alice, func(p *policy.Publisher) { p.OwnerID = "65"; p.Workflow = "other.yml" })
			e := f.exchange("jti-1", p, half)
			e.Pins = []store.Pin{{PublisherID: p.ID, OwnerID: "65", RepositoryID: "74"}, {PublisherID: half.ID, OwnerID: "65", RepositoryID: "74"}}
			must(t, f.st.CommitExchange(f.ctx, e))
			for _, id := range []int64{p.ID, half.ID} {
				got := f.publisherByID(id)
				if got.OwnerID != "65" || got.RepositoryID != "74" {
					t.Fatalf("publisher %d pinned to %q/%q, want 65/74", id, got.OwnerID, got.RepositoryID)
				}
			}
			// Pinning again to the same ids is no conflict.
			e = f.exchange("jti-2", p)
			e.Pins = []store.Pin{{PublisherID: p.ID, OwnerID: "65", RepositoryID: "74"}}
			must(t, f.st.CommitExchange(f.ctx, e))
		}},
		{"A first exchange pins many publishers and marks the others used; one of them removed meanwhile fails it, as not found, writing nothing", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			var pubs []store.Publisher
			for i := range 6 {
				pubs = append(pubs, f.publisher(f.project(fmt.Sprintf("proj-%d", i), alice), alice, func(p *policy.Publisher) {
					if i%2 == 1 {
						p.OwnerID, p.RepositoryID = "65", "74"
					}
				}))
			}
			pinAll := func(e *store.Exchange) {
				for i, p := range pubs {
					if i%2 == 0 {
						e.Pins = append(e.Pins, store.Pin{PublisherID: p.ID, OwnerID: "65", RepositoryID: "74"})
					}
				}
			}
			removed := f.publisher(f.project("proj-removed", alice), alice, nil)
			must(t, f.st.RemovePublisher(f.ctx, removed.ID))
			e := f.exchange("jti-0", append(slices.Clone(pubs), removed)...)
			pinAll(&e)
			wantErr(t, f.st.CommitExchange(f.ctx, e), store.ErrNotFound)
			for _, p := range pubs {
				equal(t, "publisher after the failed exchange", f.publisherByID(p.ID), p)
			}
			e = f.exchange("jti-1", pubs...)
			pinAll(&e)
			must(t, f.st.CommitExchange(f.ctx, e))
			for _, p := range pubs {
				got := f.publisherByID(p.ID)
				if got.OwnerID != "65" || got.RepositoryID != "74" || got.LastUsedAt == nil || !got.LastUsedAt.Equal(e.At) {
					t.Errorf("publisher %d: pinned to %q/%q, last used %v; want 65/74 and %v", p.ID, got.OwnerID, got.RepositoryID, got.LastUsedAt, e.At)
				}
			}
		}},
		{"Pinning a publisher pinned to other ids is a pin conflict and writes nothing", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			proj := f.project("proj", alice)
			for _, c := range []struct {
				name              string
				owner, repository string // the publisher's ids
				pinOwner, pinRepo string // the ids to pin
			}{
				{"other repository", "65", "74", "65", "75"},
				{"other owner", "65", "74", "66", "74"},
				{"owner given, another owner to pin", "65", "", "66", "74"},
			} {
				p := f.publisher(proj, alice, func(p *policy.Publisher) {
					p.OwnerID, p.RepositoryID, p.Workflow = c.owner, c.repository, c.name+".yml"
				})
				bystander := f.publisher(proj, alice, func(p *policy.Publisher) { p.Workflow = c.name + "-2.yml" })
				e := f.exchange("jti-"+c.name, p, bystander)
				e.Pins = []store.Pin{{PublisherID: p.ID, OwnerID: c.pinOwner, RepositoryID: c.pinRepo}}
				wantErr(t, f.st.CommitExchange(f.ctx, e), store.ErrPinConflict)
				equal(t, c.name+": publisher", f.publisherByID(p.ID), p)
				equal(t, c.name+": bystander", f.publisherByID(bystander.ID), bystander)
				if f.tokenRecorded(e) {
					t.Fatalf("%s: the failed exchange recorded its token", c.name)
				}
				// Nothing written includes the replay record: the token id is still unused.
				e.Pins = nil
				must(t, f.st.CommitExchange(f.ctx, e))
			}
		}},
		{"Publishers used less than a minute ago are held, not written; the others are written", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			a, b, c := f.publisher(f.project("a", alice), alice, nil), f.publisher(f.project("b", alice), alice, nil), f.publisher(f.project("c", alice), alice, nil)
			first := f.exchange("jti-1", a, b)
			must(t, f.st.CommitExchange(f.ctx, first))
			for _, at := range []time.Time{f.now, f.now.Add(store.LastUseResolution - time.Microsecond)} {
				if !store.LastUseRecent(&first.At, at) {
					t.Fatalf("a use at %v is not recent at %v", first.At, at)
				}
			}
			if store.LastUseRecent(&first.At, f.now.Add(store.LastUseResolution)) || store.LastUseRecent(nil, f.now) {
				t.Fatal("a use a minute old, or none, is recent")
			}

			// a is recent, b is not (the caller says so), c was never used.
			second := f.exchange("jti-2", a, b, c)
			second.At = f.now.Add(30 * time.Second)
			second.Recent = []int64{a.ID}
			must(t, f.st.CommitExchange(f.ctx, second))
			for _, p := range []store.Publisher{b, c} {
				if got := f.publisherByID(p.ID); got.LastUsedAt == nil || !got.LastUsedAt.Equal(second.At) {
					t.Fatalf("publisher %d last used %v, want %v", p.ID, got.LastUsedAt, second.At)
				}
			}
			got := f.publisherByID(a.ID).LastUsedAt
			switch {
			case got != nil && got.Equal(first.At):
			case got != nil && got.Equal(second.At) && !f.can(HoldsRows):
			default:
				t.Fatalf("held publisher %d last used %v, want %v", a.ID, got, first.At)
			}
			if !f.tokenRecorded(second) {
				t.Fatal("the exchange did not record its token")
			}

			// Held only, every one of them.
			third := f.exchange("jti-3", a, b, c)
			third.At = second.At
			third.Recent = []int64{c.ID, b.ID, a.ID}
			must(t, f.st.CommitExchange(f.ctx, third))
			if got := f.publisherByID(c.ID).LastUsedAt; got == nil || !got.Equal(second.At) {
				t.Fatalf("publisher %d last used %v, want %v", c.ID, got, second.At)
			}
		}},
		{"A held publisher removed before the commit fails the exchange as not found, writing nothing", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			a, b := f.publisher(f.project("a", alice), alice, nil), f.publisher(f.project("b", alice), alice, nil)
			must(t, f.st.CommitExchange(f.ctx, f.exchange("jti-1", a, b)))
			must(t, f.st.RemovePublisher(f.ctx, b.ID))
			for i, recent := range [][]int64{{a.ID, b.ID}, {b.ID}, {a.ID}} {
				before := f.publisherByID(a.ID).LastUsedAt
				e := f.exchange(fmt.Sprintf("jti-held-%d", i), a, b)
				e.At = f.now.Add(time.Duration(i+1) * time.Second)
				e.Recent = recent
				wantErr(t, f.st.CommitExchange(f.ctx, e), store.ErrNotFound)
				if f.tokenRecorded(e) {
					t.Fatalf("recent %v: the failed exchange recorded its token", recent)
				}
				if got := f.publisherByID(a.ID).LastUsedAt; got == nil || !got.Equal(*before) {
					t.Fatalf("recent %v: the failed exchange marked publisher %d used at %v", recent, a.ID, got)
				}
				// Nothing was written, the replay record included: the token id is unused.
				e.Publishers, e.RulesVersions, e.Recent, e.Projects = []int64{a.ID}, []int64{a.RulesVersion}, nil, []string{"a"}
				must(t, f.st.CommitExchange(f.ctx, e))
			}
		}},
		{"Concurrent exchanges holding and writing the same publishers commit or find the rules they matched changed, and rule changes meanwhile take effect", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			var pubs []store.Publisher
			for i := range 4 {
				pubs = append(pubs, f.publisher(f.project(fmt.Sprintf("p%d", i), alice), alice, nil))
			}
			must(t, f.st.CommitExchange(f.ctx, f.exchange("jti-first", pubs...)))
			const n = 40
			errs := concurrently(n+4, func(i int) error {
				if i >= n {
					return f.st.SetPublisherRules(f.ctx, pubs[i-n].ID, policy.RefRules{TagsOnly: true}, "")
				}
				// Each holds some publishers and writes the others, in varying order.
				e := f.exchange(fmt.Sprintf("jti-%d", i), pubs...)
				e.At = f.now.Add(time.Duration(i%3) * time.Minute)
				for j, p := range pubs {
					if (i>>j)&1 == 1 {
						e.Recent = append(e.Recent, p.ID)
					}
				}
				slices.Reverse(e.Recent)
				return f.st.CommitExchange(f.ctx, e)
			})
			equal(t, "rule changes", tally(errs[n:]), map[string]int{"nil": 4})
			outcomes := tally(errs[:n], store.ErrRulesChanged)
			if outcomes["nil"]+outcomes[store.ErrRulesChanged.Error()] != n {
				t.Fatalf("outcomes of the exchanges: %v", outcomes)
			}
			for _, p := range pubs {
				if !f.publisherByID(p.ID).Refs.TagsOnly {
					t.Fatalf("publisher %d: the rule change was lost", p.ID)
				}
			}
		}},
		{"A publisher whose rules changed after it was matched fails the exchange and nothing is written; matched again, it commits", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			proj := f.project("proj", alice)
			for i, mode := range []string{"written", "held", "pinned", "pinned with another pair"} {
				p := f.publisher(proj, alice, func(p *policy.Publisher) { p.Workflow = fmt.Sprintf("release-%d.yml", i) })
				bystander := f.publisher(proj, alice, func(p *policy.Publisher) { p.Workflow = fmt.Sprintf("other-%d.yml", i) })
				if p.RulesVersion != 0 {
					t.Fatalf("%s: a new publisher's rules version is %d", mode, p.RulesVersion)
				}
				// The exchange matched p as it was; its owner then requires tags.
				e := f.exchange(fmt.Sprintf("jti-%d", i), p, bystander)
				switch mode {
				case "held":
					e.Recent = []int64{p.ID, bystander.ID}
				case "pinned":
					e.Pins = []store.Pin{{PublisherID: p.ID, OwnerID: "65", RepositoryID: "74"}}
				case "pinned with another pair":
					e.Pins = []store.Pin{{PublisherID: p.ID, OwnerID: "65", RepositoryID: "74"}, {PublisherID: bystander.ID, OwnerID: "66", RepositoryID: "75"}}
				}
				must(t, f.st.SetPublisherRules(f.ctx, p.ID, policy.RefRules{TagsOnly: true}, ""))
				changed := f.publisherByID(p.ID)
				if changed.RulesVersion == p.RulesVersion {
					t.Fatalf("%s: the rules changed, their version stayed %d", mode, changed.RulesVersion)
				}
				wantErr(t, f.st.CommitExchange(f.ctx, e), store.ErrRulesChanged)
				if f.tokenRecorded(e) {
					t.Fatalf("%s: the failed exchange recorded its token", mode)
				}
				equal(t, mode+": publisher", f.publisherByID(p.ID), changed)
				equal(t, mode+": bystander", f.publisherByID(bystander.ID), bystander)

				// Matched under the new rules, the same token id commits.
				e.RulesVersions = []int64{changed.RulesVersion, bystander.RulesVersion}
				must(t, f.st.CommitExchange(f.ctx, e))
			}
		}},
		{"Every read of a publisher gives its rules version, the candidate reads few and many", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			p := f.publisher(f.project("proj", alice), alice, nil)
			must(t, f.st.SetPublisherRules(f.ctx, p.ID, policy.RefRules{TagsOnly: true}, ""))
			must(t, f.st.SetPublisherRules(f.ctx, p.ID, policy.RefRules{Pattern: "refs/tags/v*"}, ""))
			got := f.publisherByID(p.ID)
			equal(t, "version after two changes", got.RulesVersion, p.RulesVersion+2)
			listed, err := f.st.ListPublishers(f.ctx, p.ProjectID)
			must(t, err)
			equal(t, "listed", listed, []store.Publisher{got})
			for round, more := range []int{0, store.ShortCandidateRead + 1} {
				for i := range more {
					f.publisher(f.project(fmt.Sprintf("more-%d", i), alice), alice, nil)
				}
				active, err := f.findActive(githubIssuer, p.Key())
				must(t, err)
				i := slices.IndexFunc(active, func(a store.Publisher) bool { return a.ID == p.ID })
				if i < 0 {
					t.Fatalf("read %d: the publisher was not read", round)
				}
				equal(t, fmt.Sprintf("read %d: version", round), active[i].RulesVersion, got.RulesVersion)
			}
		}},
		{"An exchange that does not name the rules version of each publisher it uses is refused", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			p := f.publisher(f.project("proj", alice), alice, nil)
			e := f.exchange("jti-1", p)
			e.RulesVersions = nil
			if err := f.st.CommitExchange(f.ctx, e); err == nil {
				t.Fatal("an exchange without rules versions committed")
			}
			if f.tokenRecorded(e) {
				t.Fatal("the refused exchange recorded its token")
			}
		}},
		{"A matched publisher removed before the commit fails the exchange", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			p := f.publisher(f.project("proj", alice), alice, nil)
			must(t, f.st.RemovePublisher(f.ctx, p.ID))
			e := f.exchange("jti-1", p)
			wantErr(t, f.st.CommitExchange(f.ctx, e), store.ErrNotFound)
			if f.tokenRecorded(e) {
				t.Fatal("the failed exchange recorded its token")
			}
		}},
		{"A publisher on 1,001 projects is marked used on each, and one of them removed fails the whole exchange", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			var pubs []store.Publisher
			for i := range 1001 {
				pubs = append(pubs, f.publisher(f.project(fmt.Sprintf("project-%d", i), alice), alice, nil))
			}
			e := f.exchange("jti-1", pubs...)
			must(t, f.st.CommitExchange(f.ctx, e))
			for _, p := range pubs {
				if got := f.publisherByID(p.ID); got.LastUsedAt == nil || !got.LastUsedAt.Equal(e.At) {
					t.Fatalf("publisher %d last used %v, want %v", p.ID, got.LastUsedAt, e.At)
				}
			}
			must(t, f.st.RemovePublisher(f.ctx, pubs[1000].ID))
			again := f.exchange("jti-2", pubs...)
			again.At = f.now.Add(time.Minute)
			wantErr(t, f.st.CommitExchange(f.ctx, again), store.ErrNotFound)
			if f.tokenRecorded(again) {
				t.Fatal("the failed exchange recorded its token")
			}
			if got := f.publisherByID(pubs[0].ID); !got.LastUsedAt.Equal(e.At) {
				t.Fatalf("the failed exchange marked publisher %d used at %v", pubs[0].ID, got.LastUsedAt)
			}
		}},
		{"A matched pending publisher creates its project, owner and pinned publisher", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			pend := f.pending("New-Project", alice, func(p *policy.Publisher) { p.Environment = "release" })
			e := f.exchange("jti-1")
			e.At = f.now.Add(time.Hour)
			e.Pending = []store.PendingPublisher{pend}
			e.Projects = []string{"New-Project"}
			must(t, f.st.CommitExchange(f.ctx, e))

			proj, err := f.st.ProjectByName(f.ctx, "new-project")
			must(t, err)
			equal(t, "project", proj, store.Project{ID: proj.ID, Name: "New-Project", CreatedAt: e.At})
			owned, err := f.st.ProjectsOwnedBy(f.ctx, alice.ID)
			must(t, err)
			equal(t, "alice's projects", owned, []store.Project{proj})
			pubs, err := f.st.ListPublishers(f.ctx, proj.ID)
			must(t, err)
			if len(pubs) != 1 {
				t.Fatalf("project has %d publishers, want 1", len(pubs))
			}
			want := pend.Publisher
			want.ID, want.OwnerID, want.RepositoryID = pubs[0].ID, "65", "74"
			equal(t, "publisher", pubs[0], store.Publisher{
				Publisher: want, ProjectID: proj.ID, ProjectName: "New-Project", CreatedBy: alice.ID, CreatedAt: e.At, LastUsedAt: &e.At,
			})
			listed, err := f.st.ListPending(f.ctx, alice.ID)
			must(t, err)
			equal(t, "pending publishers left", len(listed), 0)
			if !f.tokenRecorded(e) {
				t.Fatal("the exchange did not record its token")
			}
		}},
		{"Pending publishers whose project name is taken fail with their ids and write nothing", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			proj := f.project("proj", alice)
			active := f.publisher(proj, alice, nil)
			free := f.pending("free", bob, nil)
			taken := f.pending("PROJ", bob, nil)
			alsoTaken := f.pending("Proj", bob, workflow(1))
			e := f.exchange("jti-1", active)
			e.Pending = []store.PendingPublisher{taken, free, alsoTaken}
			err := f.st.CommitExchange(f.ctx, e)
			wantErr(t, err, store.ErrPendingTaken)
			var pt *store.PendingTakenError
			if !errors.As(err, &pt) {
				t.Fatalf("got %T, want a *store.PendingTakenError", err)
			}
			equal(t, "taken ids", pt.IDs, []int64{taken.ID, alsoTaken.ID})

			_, err = f.st.ProjectByName(f.ctx, "free")
			wantErr(t, err, store.ErrNotFound)
			listed, err := f.st.ListPending(f.ctx, bob.ID)
			must(t, err)
			equal(t, "pending publishers", listed, []store.PendingPublisher{free, taken, alsoTaken})
			equal(t, "active publisher", f.publisherByID(active.ID), active)
			if f.tokenRecorded(e) {
				t.Fatal("the failed exchange recorded its token")
			}
			// The caller removes the taken ones and tries again with the same token.
			must(t, f.st.RemovePending(f.ctx, taken.ID))
			must(t, f.st.RemovePending(f.ctx, alsoTaken.ID))
			e.Pending = []store.PendingPublisher{free}
			must(t, f.st.CommitExchange(f.ctx, e))
			_, err = f.st.ProjectByName(f.ctx, "free")
			must(t, err)
		}},
		{"Two pending publishers of one user for one name make one project", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			plain := f.pending("new", alice, nil)
			withEnv := f.pending("New", alice, func(p *policy.Publisher) { p.Environment = "release" })
			e := f.exchange("jti-1")
			e.Pending = []store.PendingPublisher{withEnv, plain}
			must(t, f.st.CommitExchange(f.ctx, e))
			proj, err := f.st.ProjectByName(f.ctx, "new")
			must(t, err)
			pubs, err := f.st.ListPublishers(f.ctx, proj.ID)
			must(t, err)
			equal(t, "publishers", len(pubs), 2)
		}},
		{"A pending publisher of another user for the same name is taken", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			first := f.pending("new", alice, nil)
			second := f.pending("new", bob, func(p *policy.Publisher) { p.Environment = "release" })
			e := f.exchange("jti-1")
			e.Pending = []store.PendingPublisher{second, first}
			err := f.st.CommitExchange(f.ctx, e)
			var pt *store.PendingTakenError
			if !errors.As(err, &pt) {
				t.Fatalf("got %v, want a *store.PendingTakenError", err)
			}
			equal(t, "taken ids", pt.IDs, []int64{second.ID})
		}},
		{"A pending publisher converted by an earlier exchange is taken", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			pend := f.pending("new", alice, nil)
			first := f.exchange("jti-1")
			first.Pending = []store.PendingPublisher{pend}
			must(t, f.st.CommitExchange(f.ctx, first))
			second := f.exchange("jti-2")
			second.Pending = []store.PendingPublisher{pend}
			err := f.st.CommitExchange(f.ctx, second)
			var pt *store.PendingTakenError
			if !errors.As(err, &pt) {
				t.Fatalf("got %v, want a *store.PendingTakenError", err)
			}
			equal(t, "taken ids", pt.IDs, []int64{pend.ID})
		}},
	}
}
