package storetest

import (
	"testing"
	"time"

	"github.com/tpx-dev/tpx/store"
)

func indexTests() []test {
	return []test{
		{"An API key is found by its lookup, listed, touched and revoked once", func(t *testing.T, f *fixture) {
			k, err := f.st.CreateAPIKey(f.ctx, store.APIKey{Name: "index", Scope: store.ScopeAdmin, Lookup: "abc", SecretHash: "h", CreatedAt: f.now})
			must(t, err)
			_, err = f.st.CreateAPIKey(f.ctx, store.APIKey{Name: "again", Scope: store.ScopeAdmin, Lookup: "abc", SecretHash: "h2", CreatedAt: f.now})
			wantErr(t, err, store.ErrConflict)
			got, err := f.st.APIKeyByLookup(f.ctx, "abc")
			must(t, err)
			equal(t, "by lookup", got, k)
			must(t, f.st.TouchAPIKey(f.ctx, k.ID, f.now.Add(time.Minute)))
			must(t, f.st.RevokeAPIKey(f.ctx, k.ID, f.now.Add(2*time.Minute)))
			must(t, f.st.RevokeAPIKey(f.ctx, k.ID, f.now.Add(3*time.Minute)))
			all, err := f.st.APIKeys(f.ctx)
			must(t, err)
			if len(all) != 1 || all[0].LastUsedAt == nil || !all[0].LastUsedAt.Equal(f.now.Add(time.Minute)) ||
				all[0].RevokedAt == nil || !all[0].RevokedAt.Equal(f.now.Add(2*time.Minute)) {
				t.Fatalf("keys %+v, want one used at +1m and revoked at +2m", all)
			}
			wantErr(t, f.st.RevokeAPIKey(f.ctx, 424242, f.now), store.ErrNotFound)
			_, err = f.st.APIKeyByLookup(f.ctx, "nope")
			wantErr(t, err, store.ErrNotFound)
		}},
		{"A project is created with any number of owners, renamed and deleted", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			none, err := f.st.CreateProjectOwned(f.ctx, "orphan", nil, f.now)
			must(t, err)
			owners, err := f.st.ProjectOwners(f.ctx, none.ID)
			must(t, err)
			equal(t, "owners of orphan", len(owners), 0)
			p, err := f.st.CreateProjectOwned(f.ctx, "Sample", []int64{bob.ID, alice.ID, bob.ID}, f.now)
			must(t, err)
			owners, err = f.st.ProjectOwners(f.ctx, p.ID)
			must(t, err)
			equal(t, "owners", len(owners), 2)
			_, err = f.st.CreateProjectOwned(f.ctx, "sample", nil, f.now)
			wantErr(t, err, store.ErrConflict)
			_, err = f.st.CreateProjectOwned(f.ctx, "ghost-owned", []int64{424242}, f.now)
			wantErr(t, err, store.ErrNotFound)
			_, err = f.st.ProjectByName(f.ctx, "ghost-owned")
			wantErr(t, err, store.ErrNotFound)

			_, err = f.st.RenameProject(f.ctx, p.ID, "ORPHAN")
			wantErr(t, err, store.ErrConflict)
			renamed, err := f.st.RenameProject(f.ctx, p.ID, "sample-two")
			must(t, err)
			equal(t, "renamed", renamed, store.Project{ID: p.ID, Name: "sample-two", CreatedAt: p.CreatedAt})
			byID, err := f.st.ProjectByID(f.ctx, p.ID)
			must(t, err)
			equal(t, "by id", byID, renamed)
			_, err = f.st.RenameProject(f.ctx, 424242, "x")
			wantErr(t, err, store.ErrNotFound)

			pub := f.publisher(renamed, alice, nil)
			_, err = f.st.DeleteProject(f.ctx, p.ID, f.now)
			must(t, err)
			_, err = f.st.PublisherByID(f.ctx, pub.ID)
			wantErr(t, err, store.ErrNotFound)
			_, err = f.st.DeleteProject(f.ctx, p.ID, f.now)
			wantErr(t, err, store.ErrNotFound)
			list, err := f.st.ListProjects(f.ctx, 0, 10)
			must(t, err)
			equal(t, "left", list, []store.Project{none})
		}},
		{"ListProjects pages by id", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			var all []store.Project
			for _, n := range []string{"c", "a", "b"} {
				all = append(all, f.project(n, alice))
			}
			first, err := f.st.ListProjects(f.ctx, 0, 2)
			must(t, err)
			equal(t, "first page", first, all[:2])
			rest, err := f.st.ListProjects(f.ctx, first[1].ID, 2)
			must(t, err)
			equal(t, "second page", rest, all[2:])
		}},
		{"SetOwners makes exactly the named users owners, idempotently, and changes nothing on a bad user", func(t *testing.T, f *fixture) {
			alice, bob, carol := f.user("alice"), f.user("bob"), f.user("carol")
			p := f.project("sample", alice)
			must(t, f.st.Invite(f.ctx, store.Invitation{ProjectID: p.ID, UserID: carol.ID, InvitedBy: alice.ID, CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}))
			added, removed, err := f.st.SetOwners(f.ctx, p.ID, []int64{bob.ID, carol.ID})
			must(t, err)
			equal(t, "added", added, []int64{bob.ID, carol.ID})
			equal(t, "removed", removed, []int64{alice.ID})
			added, removed, err = f.st.SetOwners(f.ctx, p.ID, []int64{carol.ID, bob.ID})
			must(t, err)
			if len(added)+len(removed) != 0 {
				t.Fatalf("a second identical call changed %v %v", added, removed)
			}
			invs, err := f.st.Invitations(f.ctx, p.ID, 0, f.now)
			must(t, err)
			equal(t, "invitations left", len(invs), 0)
			_, _, err = f.st.SetOwners(f.ctx, p.ID, []int64{alice.ID, 424242})
			wantErr(t, err, store.ErrNotFound)
			for u, want := range map[int64]bool{alice.ID: false, bob.ID: true, carol.ID: true} {
				ok, err := f.st.IsOwner(f.ctx, p.ID, u)
				must(t, err)
				equal(t, "owner after a refused change", ok, want)
			}
			_, _, err = f.st.SetOwners(f.ctx, 424242, nil)
			wantErr(t, err, store.ErrNotFound)
			_, removed, err = f.st.SetOwners(f.ctx, p.ID, nil)
			must(t, err)
			equal(t, "all removed", len(removed), 2)
		}},
		{"A pending grant is per user and per name in canonical form, granted once, and revoked", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			must(t, f.st.GrantPending(f.ctx, store.PendingGrant{UserID: alice.ID, Name: "Sample", CreatedAt: f.now}))
			must(t, f.st.GrantPending(f.ctx, store.PendingGrant{UserID: alice.ID, Name: "sample", CreatedAt: f.now.Add(time.Hour)}))
			wantErr(t, f.st.GrantPending(f.ctx, store.PendingGrant{UserID: 424242, Name: "x", CreatedAt: f.now}), store.ErrNotFound)
			for _, c := range []struct {
				user int64
				name string
				want bool
			}{{alice.ID, "SAMPLE", true}, {alice.ID, "other", false}, {bob.ID, "sample", false}} {
				ok, err := f.st.HasPendingGrant(f.ctx, c.user, c.name)
				must(t, err)
				equal(t, "grant of "+c.name, ok, c.want)
			}
			grants, err := f.st.PendingGrants(f.ctx, alice.ID)
			must(t, err)
			equal(t, "grants", grants, []store.PendingGrant{{UserID: alice.ID, Name: "Sample", CreatedAt: f.now}})
			must(t, f.st.RevokePendingGrant(f.ctx, alice.ID, "sAmple"))
			wantErr(t, f.st.RevokePendingGrant(f.ctx, alice.ID, "sample"), store.ErrNotFound)
		}},
		{"An external identity links one user, once", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			id := store.ExternalIdentity{Issuer: "https://idp.example.org", Subject: "1234", UserID: alice.ID, CreatedAt: f.now}
			must(t, f.st.LinkIdentity(f.ctx, id))
			id.UserID = bob.ID
			wantErr(t, f.st.LinkIdentity(f.ctx, id), store.ErrIdentityTaken)
			wantErr(t, f.st.LinkIdentity(f.ctx, store.ExternalIdentity{Issuer: "i", Subject: "s", UserID: 424242, CreatedAt: f.now}), store.ErrNotFound)
			u, err := f.st.UserByIdentity(f.ctx, "https://idp.example.org", "1234")
			must(t, err)
			equal(t, "linked user", u.ID, alice.ID)
			for _, c := range [][2]string{{"https://idp.example.org/", "1234"}, {"https://idp.example.org", "12345"}, {"https://other.example.org", "1234"}} {
				_, err = f.st.UserByIdentity(f.ctx, c[0], c[1])
				wantErr(t, err, store.ErrNotFound)
			}
		}},
		{"A linked user is created with its identity, verified address and invitation in one transaction, or not at all", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			iss := "https://idp.example.org"
			must(t, f.st.LinkIdentity(f.ctx, store.ExternalIdentity{Issuer: iss, Subject: "alice", UserID: alice.ID, CreatedAt: f.now}))
			must(t, f.st.CreateSignupInvitation(f.ctx, store.SignupInvitation{Hash: "inv", Email: "carol@example.org", CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}))
			for _, c := range []struct {
				name       string
				user       store.User
				link       store.ExternalIdentity
				invitation string
				want       error
			}{
				{"a taken name", store.User{Name: "ALICE", Email: "x@example.org", CreatedAt: f.now}, store.ExternalIdentity{Issuer: iss, Subject: "x"}, "", store.ErrConflict},
				{"a taken address", store.User{Name: "x", Email: "Alice@example.com", CreatedAt: f.now}, store.ExternalIdentity{Issuer: iss, Subject: "x"}, "", store.ErrEmailTaken},
				{"a linked subject", store.User{Name: "x", Email: "x@example.org", CreatedAt: f.now}, store.ExternalIdentity{Issuer: iss, Subject: "alice"}, "", store.ErrIdentityTaken},
				{"a linked subject spends no invitation", store.User{Name: "carol", Email: "carol@example.org", CreatedAt: f.now}, store.ExternalIdentity{Issuer: iss, Subject: "alice"}, "inv", store.ErrIdentityTaken},
				{"an unknown invitation", store.User{Name: "x", Email: "x@example.org", CreatedAt: f.now}, store.ExternalIdentity{Issuer: iss, Subject: "x"}, "nope", store.ErrNotFound},
				{"an expired invitation", store.User{Name: "x", Email: "x@example.org", CreatedAt: f.now.Add(time.Hour)}, store.ExternalIdentity{Issuer: iss, Subject: "x"}, "inv", store.ErrNotFound},
			} {
				_, err := f.st.CreateLinkedUser(f.ctx, c.user, c.link, c.invitation)
				wantErr(t, err, c.want)
				_, err = f.st.UserByName(f.ctx, c.user.Name)
				if c.user.Name != "ALICE" {
					wantErr(t, err, store.ErrNotFound)
				}
				_, err = f.st.UserByIdentity(f.ctx, iss, "x")
				wantErr(t, err, store.ErrNotFound)
			}
			_, err := f.st.SignupInvitation(f.ctx, "inv", f.now)
			must(t, err)

			carol, err := f.st.CreateLinkedUser(f.ctx, store.User{Name: "carol", Email: "carol@example.org", CreatedAt: f.now}, store.ExternalIdentity{Issuer: iss, Subject: "c"}, "inv")
			must(t, err)
			linked, err := f.st.UserByIdentity(f.ctx, iss, "c")
			must(t, err)
			equal(t, "linked user", linked, carol)
			verified, err := f.st.EmailVerified(f.ctx, carol.ID)
			must(t, err)
			equal(t, "address verified", verified, true)
			_, err = f.st.SignupInvitation(f.ctx, "inv", f.now)
			wantErr(t, err, store.ErrNotFound)

			dave, err := f.st.CreateLinkedUser(f.ctx, store.User{Name: "dave", Email: "dave@example.org", CreatedAt: f.now}, store.ExternalIdentity{}, "")
			must(t, err)
			verified, err = f.st.EmailVerified(f.ctx, dave.ID)
			must(t, err)
			equal(t, "address of an unlinked user verified", verified, true)
		}},
		{"A sign-up invitation creates one user, before it expires, atomically", func(t *testing.T, f *fixture) {
			f.user("taken")
			inv := store.SignupInvitation{Hash: "h1", Email: "new@example.org", CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}
			must(t, f.st.CreateSignupInvitation(f.ctx, inv))
			got, err := f.st.SignupInvitation(f.ctx, "h1", f.now)
			must(t, err)
			equal(t, "invitation", got, inv)
			_, err = f.st.SignupInvitation(f.ctx, "h1", f.now.Add(time.Hour))
			wantErr(t, err, store.ErrNotFound)
			_, err = f.st.CreateInvitedUser(f.ctx, store.User{Name: "TAKEN", Email: "new@example.org", CreatedAt: f.now}, "h1", f.now)
			wantErr(t, err, store.ErrConflict)
			_, err = f.st.CreateInvitedUser(f.ctx, store.User{Name: "new", Email: "new@example.org", CreatedAt: f.now}, "h1", f.now.Add(2*time.Hour))
			wantErr(t, err, store.ErrNotFound)
			u, err := f.st.CreateInvitedUser(f.ctx, store.User{Name: "new", Email: "new@example.org", CreatedAt: f.now}, "h1", f.now)
			must(t, err)
			if u.ID == 0 {
				t.Fatal("no id")
			}
			_, err = f.st.CreateInvitedUser(f.ctx, store.User{Name: "newer", Email: "new@example.org", CreatedAt: f.now}, "h1", f.now)
			wantErr(t, err, store.ErrNotFound)
			_, err = f.st.UserByName(f.ctx, "newer")
			wantErr(t, err, store.ErrNotFound)
		}},
		{"A session keeps a sign-in through the index as its factor, and only known factors", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			for i, factor := range []store.SessionFactor{store.FactorIndex, store.FactorIndexMFA} {
				id := string(rune('a' + i))
				must(t, f.st.CreateSession(f.ctx, store.Session{ID: id, UserID: u.ID, Stage: store.StageFull, Factor: factor, CreatedAt: f.now, AuthenticatedAt: f.now, LastSeenAt: f.now, ExpiresAt: f.now.Add(time.Hour)}))
				got, err := f.st.Session(f.ctx, id, f.now)
				must(t, err)
				equal(t, "factor", got.Factor, factor)
			}
			if err := f.st.CreateSession(f.ctx, store.Session{ID: "z", UserID: u.ID, Stage: store.StageFull, Factor: "sms", CreatedAt: f.now, AuthenticatedAt: f.now, LastSeenAt: f.now, ExpiresAt: f.now.Add(time.Hour)}); err == nil {
				t.Fatal("a session with an unknown factor was stored")
			}
		}},
		{"AuditAfter reads after a cursor, oldest first, with the names of the event's user and project as they are now", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			p := f.project("sample", alice)
			gone := f.project("gone", alice)
			for i, at := range []time.Duration{0, time.Second, 10 * time.Second, 2 * time.Second} {
				must(t, f.st.Audit(f.ctx, store.AuditEvent{At: f.now.Add(at), Actor: "web", Action: "a", Detail: string(rune('a' + i)), UserID: alice.ID, ProjectID: p.ID}))
			}
			must(t, f.st.Audit(f.ctx, store.AuditEvent{At: f.now, Actor: "web", Action: "b", ProjectID: gone.ID}))
			_, err := f.st.DeleteProject(f.ctx, gone.ID, f.now)
			must(t, err)
			all, err := f.st.AuditAfter(f.ctx, 0, 10, "")
			must(t, err)
			if len(all) != 5 || all[0].Detail != "a" || all[3].Detail != "d" || all[0].ID >= all[1].ID {
				t.Fatalf("all events %+v", all)
			}
			if all[0].UserName != "alice" || all[0].ProjectName != "sample" || all[4].ProjectName != "" || all[4].ProjectID != gone.ID || all[4].UserName != "" {
				t.Fatalf("names %+v", all)
			}
			page, err := f.st.AuditAfter(f.ctx, all[0].ID, 2, "")
			must(t, err)
			equal(t, "page after the first", page, all[1:3])
			must(t, f.st.Audit(f.ctx, store.AuditEvent{At: f.now, Actor: "admin", Action: "apikey.use", Detail: "e"}))
			must(t, f.st.Audit(f.ctx, store.AuditEvent{At: f.now, Actor: "web", Action: "a", Detail: "f"}))
			rest, err := f.st.AuditAfter(f.ctx, all[4].ID, 10, "apikey.use")
			must(t, err)
			if len(rest) != 1 || rest[0].Detail != "f" {
				t.Fatalf("after the excepted action: %+v", rest)
			}
		}},
		{"AuditAfter never hands out an event while one with a smaller id is uncommitted", func(t *testing.T, f *fixture) {
			// Writers and readers race; every reader's cursor must see every event.
			const writers, each = 4, 25
			done := make(chan error, writers)
			for w := 0; w < writers; w++ {
				go func() {
					var err error
					for i := 0; i < each && err == nil; i++ {
						err = f.st.Audit(f.ctx, store.AuditEvent{At: f.now, Actor: "web", Action: "a", Detail: "x"})
					}
					done <- err
				}()
			}
			var seen []int64
			var cursor int64
			finished := 0
			for finished < writers || len(seen) < writers*each {
				select {
				case err := <-done:
					must(t, err)
					finished++
				default:
				}
				page, err := f.st.AuditAfter(f.ctx, cursor, 7, "")
				must(t, err)
				for _, e := range page {
					seen = append(seen, e.ID)
					cursor = e.ID
				}
				if finished == writers && len(page) == 0 && len(seen) < writers*each {
					t.Fatalf("the cursor passed over events: saw %d of %d", len(seen), writers*each)
				}
			}
			equal(t, "events seen", len(seen), writers*each)
		}},
		{"Deleting a project revokes the live upload tokens that name it, in any spelling, and no other", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			p := f.project("Foo.Bar", alice)
			pub := f.publisher(p, alice, nil)
			// The token of "oldest" expires as long after its exchange as a store accepts
			// (longest): the earliest exchange whose token can still be live.
			longest := store.MaxUploadTokenLifetime + store.ExchangeSpan
			for _, tok := range []struct {
				id       string
				projects []string
				age      time.Duration // of the exchange
				expires  time.Duration
			}{
				{"live", []string{"foo-bar"}, 0, time.Hour}, {"both", []string{"other", "Foo_Bar"}, 0, time.Hour},
				{"other", []string{"other"}, 0, time.Hour}, {"expired", []string{"foo-bar"}, 0, -time.Minute},
				{"oldest", []string{"foo-bar"}, longest - time.Second, time.Second},
			} {
				e := f.exchange("jti-"+tok.id, pub)
				e.At = f.now.Add(-tok.age)
				e.TokenID, e.Projects, e.TokenExpires = tok.id, tok.projects, f.now.Add(tok.expires)
				must(t, f.st.CommitExchange(f.ctx, e))
			}
			revoked, err := f.st.DeleteProject(f.ctx, p.ID, f.now)
			must(t, err)
			equal(t, "revoked", revoked, []string{"both", "live", "oldest"})
			for id, want := range map[string]bool{"live": true, "both": true, "other": false, "expired": false, "oldest": true} {
				tok, err := f.st.UploadToken(f.ctx, id)
				must(t, err)
				if (tok.RevokedAt != nil) != want {
					t.Fatalf("token %s revoked %v, want %v", id, tok.RevokedAt, want)
				}
			}
			_, err = f.st.DeleteProject(f.ctx, p.ID, f.now)
			wantErr(t, err, store.ErrNotFound)
		}},
		{"Deleting a user ends their sessions, memberships, links and grants, and keeps their publishers", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			p := f.project("sample", alice)
			pub := f.publisher(p, alice, nil)
			must(t, f.st.LinkIdentity(f.ctx, store.ExternalIdentity{Issuer: "i", Subject: "s", UserID: alice.ID, CreatedAt: f.now}))
			must(t, f.st.GrantPending(f.ctx, store.PendingGrant{UserID: alice.ID, Name: "new", CreatedAt: f.now}))
			must(t, f.st.CreateSession(f.ctx, store.Session{ID: "sess", UserID: alice.ID, Stage: store.StageFull, Factor: store.FactorTOTP, CreatedAt: f.now, AuthenticatedAt: f.now, LastSeenAt: f.now, ExpiresAt: f.now.Add(time.Hour)}))
			must(t, f.st.DeleteUser(f.ctx, alice.ID))
			_, err := f.st.UserByName(f.ctx, "alice")
			wantErr(t, err, store.ErrNotFound)
			_, err = f.st.Session(f.ctx, "sess", f.now)
			wantErr(t, err, store.ErrNotFound)
			_, err = f.st.UserByIdentity(f.ctx, "i", "s")
			wantErr(t, err, store.ErrNotFound)
			owners, err := f.st.ProjectOwners(f.ctx, p.ID)
			must(t, err)
			equal(t, "owners left", len(owners), 0)
			_, err = f.st.PublisherByID(f.ctx, pub.ID)
			must(t, err)
			wantErr(t, f.st.DeleteUser(f.ctx, alice.ID), store.ErrNotFound)
			_, err = f.st.UserByName(f.ctx, bob.Name)
			must(t, err)
		}},
	}
}
