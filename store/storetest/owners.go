package storetest

import (
	"testing"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// ownerTests hold both backends to the methods of owners, maintainers and invitations.
func ownerTests() []test {
	return []test{
		{"Invitations make owners once accepted, and the last owner stays", func(t *testing.T, f *fixture) {
			alice, bob, carol := f.user("alice"), f.user("bob"), f.user("carol")
			proj := f.project("proj", alice)
			inv := store.Invitation{ProjectID: proj.ID, UserID: bob.ID, InvitedBy: alice.ID, CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}
			must(t, f.st.Invite(f.ctx, inv))
			wantErr(t, f.st.Invite(f.ctx, inv), store.ErrConflict)
			wantErr(t, f.st.Invite(f.ctx, store.Invitation{ProjectID: proj.ID, UserID: alice.ID, CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}), store.ErrConflict)
			wantErr(t, f.st.Invite(f.ctx, store.Invitation{ProjectID: proj.ID, UserID: 424242, CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}), store.ErrNotFound)
			must(t, f.st.Invite(f.ctx, store.Invitation{ProjectID: proj.ID, UserID: carol.ID, InvitedBy: alice.ID, CreatedAt: f.now, ExpiresAt: f.now.Add(time.Minute)}))

			want := []store.Invitation{
				{Role: store.RoleOwner, ProjectID: proj.ID, ProjectName: "proj", UserID: bob.ID, UserName: "bob", InvitedBy: alice.ID, InvitedByName: "alice", CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)},
				{Role: store.RoleOwner, ProjectID: proj.ID, ProjectName: "proj", UserID: carol.ID, UserName: "carol", InvitedBy: alice.ID, InvitedByName: "alice", CreatedAt: f.now, ExpiresAt: f.now.Add(time.Minute)},
			}
			got, err := f.st.Invitations(f.ctx, proj.ID, 0, f.now)
			must(t, err)
			equal(t, "project's invitations", got, want)
			got, err = f.st.Invitations(f.ctx, 0, bob.ID, f.now)
			must(t, err)
			equal(t, "bob's invitations", got, want[:1])
			got, err = f.st.Invitations(f.ctx, proj.ID, 0, f.now.Add(time.Minute))
			must(t, err)
			equal(t, "unexpired invitations", got, want[:1])

			wantErr(t, f.st.AcceptInvitation(f.ctx, proj.ID, carol.ID, f.now.Add(time.Minute)), store.ErrNotFound)
			must(t, f.st.AcceptInvitation(f.ctx, proj.ID, bob.ID, f.now))
			wantErr(t, f.st.AcceptInvitation(f.ctx, proj.ID, bob.ID, f.now), store.ErrNotFound)
			owners, err := f.st.ProjectOwners(f.ctx, proj.ID)
			must(t, err)
			equal(t, "owners", owners, []store.Owner{
				{UserID: alice.ID, Name: "alice", Email: "alice@example.com", Role: store.RoleOwner},
				{UserID: bob.ID, Name: "bob", Email: "bob@example.com", Role: store.RoleOwner},
			})
			other := f.project("other", bob)
			f.project("ownerless-after-all", carol)
			byProject, err := f.st.OwnersOf(f.ctx, []int64{proj.ID, other.ID, 424242})
			must(t, err)
			equal(t, "owners of two projects and of none, in one read", byProject, map[int64][]store.Owner{
				proj.ID:  owners,
				other.ID: {{UserID: bob.ID, Name: "bob", Email: "bob@example.com", Role: store.RoleOwner}},
			})
			must(t, f.st.RemoveOwner(f.ctx, proj.ID, alice.ID))
			wantErr(t, f.st.RemoveOwner(f.ctx, proj.ID, alice.ID), store.ErrNotFound)
			wantErr(t, f.st.RemoveOwner(f.ctx, proj.ID, bob.ID), store.ErrLastOwner)
			isOwner, err := f.st.IsOwner(f.ctx, proj.ID, bob.ID)
			must(t, err)
			if !isOwner {
				t.Fatal("the last owner was removed")
			}
			must(t, f.st.Invite(f.ctx, store.Invitation{ProjectID: proj.ID, UserID: carol.ID, CreatedAt: f.now.Add(time.Hour), ExpiresAt: f.now.Add(2 * time.Hour)}))
			must(t, f.st.RemoveInvitation(f.ctx, proj.ID, carol.ID))
			wantErr(t, f.st.RemoveInvitation(f.ctx, proj.ID, carol.ID), store.ErrNotFound)
		}},
		{"Two owners removing each other at once leave one", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			proj := f.project("proj", alice)
			must(t, f.st.Invite(f.ctx, store.Invitation{ProjectID: proj.ID, UserID: bob.ID, CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}))
			must(t, f.st.AcceptInvitation(f.ctx, proj.ID, bob.ID, f.now))
			errs := concurrently(2, func(i int) error {
				return f.st.RemoveOwner(f.ctx, proj.ID, []int64{alice.ID, bob.ID}[i])
			})
			equal(t, "outcomes", tally(errs, store.ErrLastOwner), map[string]int{"nil": 1, store.ErrLastOwner.Error(): 1})
		}},
		{"A maintainer is a member in that role, not an owner, and never the last owner", func(t *testing.T, f *fixture) {
			alice, bob, carol := f.user("alice"), f.user("bob"), f.user("carol")
			proj := f.project("proj", alice)
			must(t, f.st.Invite(f.ctx, store.Invitation{Role: store.RoleMaintainer, ProjectID: proj.ID, UserID: bob.ID, InvitedBy: alice.ID, CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}))
			invs, err := f.st.Invitations(f.ctx, proj.ID, 0, f.now)
			must(t, err)
			equal(t, "invited role", invs[0].Role, store.RoleMaintainer)
			must(t, f.st.AcceptInvitation(f.ctx, proj.ID, bob.ID, f.now))
			wantErr(t, f.st.Invite(f.ctx, store.Invitation{ProjectID: proj.ID, UserID: bob.ID, CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}), store.ErrConflict)

			role, err := f.st.MemberRole(f.ctx, proj.ID, bob.ID)
			must(t, err)
			equal(t, "role", role, store.RoleMaintainer)
			_, err = f.st.MemberRole(f.ctx, proj.ID, carol.ID)
			wantErr(t, err, store.ErrNotFound)
			owner, err := f.st.IsOwner(f.ctx, proj.ID, bob.ID)
			must(t, err)
			if owner {
				t.Fatal("a maintainer counts as an owner")
			}
			owners, err := f.st.ProjectOwners(f.ctx, proj.ID)
			must(t, err)
			equal(t, "owners", len(owners), 1)
			members, err := f.st.ProjectMembers(f.ctx, proj.ID)
			must(t, err)
			equal(t, "members", [][2]any{{members[0].Name, members[0].Role}, {members[1].Name, members[1].Role}}, [][2]any{{"alice", store.RoleOwner}, {"bob", store.RoleMaintainer}})
			maintained, err := f.st.ProjectsMaintainedBy(f.ctx, bob.ID)
			must(t, err)
			equal(t, "maintained", len(maintained), 1)
			ownedByBob, err := f.st.ProjectsOwnedBy(f.ctx, bob.ID)
			must(t, err)
			equal(t, "owned by the maintainer", len(ownedByBob), 0)

			wantErr(t, f.st.RemoveOwner(f.ctx, proj.ID, alice.ID), store.ErrLastOwner)
			_, _, err = f.st.SetOwners(f.ctx, proj.ID, []int64{alice.ID, carol.ID})
			must(t, err)
			role, err = f.st.MemberRole(f.ctx, proj.ID, bob.ID)
			must(t, err)
			equal(t, "the maintainer after the owners were set", role, store.RoleMaintainer)
			_, _, err = f.st.SetOwners(f.ctx, proj.ID, []int64{alice.ID, bob.ID})
			must(t, err)
			role, err = f.st.MemberRole(f.ctx, proj.ID, bob.ID)
			must(t, err)
			equal(t, "a maintainer the index makes an owner", role, store.RoleOwner)
		}},
		{"A maintainer can be removed even beside a single owner", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			proj := f.project("proj", alice)
			must(t, f.st.Invite(f.ctx, store.Invitation{Role: store.RoleMaintainer, ProjectID: proj.ID, UserID: bob.ID, CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}))
			must(t, f.st.AcceptInvitation(f.ctx, proj.ID, bob.ID, f.now))
			must(t, f.st.RemoveOwner(f.ctx, proj.ID, bob.ID))
			wantErr(t, f.st.RemoveOwner(f.ctx, proj.ID, bob.ID), store.ErrNotFound)
		}},
	}
}
