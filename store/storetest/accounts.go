package storetest

import (
	"testing"

	"github.com/tpx-dev/tpx/store"
)

func userTests() []test {
	return []test{
		{"A created user is found by id and by name in any case", func(t *testing.T, f *fixture) {
			u := f.user("Alice")
			if u.ID == 0 {
				t.Fatal("CreateUser returned no id")
			}
			want := store.User{ID: u.ID, Name: "Alice", Email: "Alice@example.com", PasswordHash: "hash-of-Alice", CreatedAt: epoch}
			equal(t, "created", u, want)
			byID, err := f.st.UserByID(f.ctx, u.ID)
			must(t, err)
			equal(t, "by id", byID, want)
			byName, err := f.st.UserByName(f.ctx, "aLICE")
			must(t, err)
			equal(t, "by name", byName, want)
			if want.HasSecondFactor() {
				t.Fatal("a new user has no second factor")
			}
		}},
		{"A user name taken in another case is a conflict", func(t *testing.T, f *fixture) {
			f.user("alice")
			_, err := f.st.CreateUser(f.ctx, store.User{Name: "ALICE", Email: "x@example.com", PasswordHash: "h", CreatedAt: f.now})
			wantErr(t, err, store.ErrConflict)
		}},
		{"An email address another user has, in any case, is refused and stores nothing", func(t *testing.T, f *fixture) {
			f.user("alice")
			_, err := f.st.CreateUser(f.ctx, store.User{Name: "mallory", Email: "ALICE@Example.com", PasswordHash: "h", CreatedAt: f.now})
			wantErr(t, err, store.ErrEmailTaken)
			_, err = f.st.UserByName(f.ctx, "mallory")
			wantErr(t, err, store.ErrNotFound)
		}},
		{"An unknown user is not found by name or id", func(t *testing.T, f *fixture) {
			_, err := f.st.UserByName(f.ctx, "nobody")
			wantErr(t, err, store.ErrNotFound)
			_, err = f.st.UserByID(f.ctx, 424242)
			wantErr(t, err, store.ErrNotFound)
		}},
		{"SetTOTP stores the secret, confirms it, resets the last step, and nil removes it", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			sealed := []byte("tpxs1:sealed-secret")
			must(t, f.st.SetTOTP(f.ctx, u.ID, sealed, false))
			got, err := f.st.UserByID(f.ctx, u.ID)
			must(t, err)
			equal(t, "secret", got.TOTPSecret, sealed)
			if got.TOTPConfirmed || got.HasSecondFactor() {
				t.Fatal("an unconfirmed TOTP is not a second factor")
			}
			ok, err := f.st.UseTOTPStep(f.ctx, u.ID, 1000)
			must(t, err)
			if !ok {
				t.Fatal("first step refused")
			}
			must(t, f.st.SetTOTP(f.ctx, u.ID, sealed, true))
			got, err = f.st.UserByID(f.ctx, u.ID)
			must(t, err)
			if !got.TOTPConfirmed || !got.HasSecondFactor() || got.TOTPLastStep != 0 {
				t.Fatalf("after confirming: %+v, want confirmed with last step 0", got)
			}
			must(t, f.st.SetTOTP(f.ctx, u.ID, nil, false))
			got, err = f.st.UserByID(f.ctx, u.ID)
			must(t, err)
			if got.TOTPSecret != nil || got.TOTPConfirmed || got.HasSecondFactor() {
				t.Fatalf("after removing: %+v, want no secret", got)
			}
		}},
		{"UseTOTPStep accepts each step once and only steps after the last one", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			for _, c := range []struct {
				step int64
				want bool
			}{{100, true}, {100, false}, {99, false}, {101, true}, {103, true}, {102, false}} {
				got, err := f.st.UseTOTPStep(f.ctx, u.ID, c.step)
				must(t, err)
				if got != c.want {
					t.Fatalf("UseTOTPStep(%d) = %v, want %v", c.step, got, c.want)
				}
			}
			got, err := f.st.UserByID(f.ctx, u.ID)
			must(t, err)
			equal(t, "last step", got.TOTPLastStep, int64(103))
		}},
		{"Of concurrent uses of one TOTP step exactly one is accepted", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			accepted := make([]bool, 20)
			errs := concurrently(len(accepted), func(i int) error {
				var err error
				accepted[i], err = f.st.UseTOTPStep(f.ctx, u.ID, 5000)
				return err
			})
			n := 0
			for i, ok := range accepted {
				must(t, errs[i])
				if ok {
					n++
				}
			}
			equal(t, "accepted", n, 1)
		}},
		{"TOTP changes for an unknown user are not found", func(t *testing.T, f *fixture) {
			wantErr(t, f.st.SetTOTP(f.ctx, 424242, []byte("x"), true), store.ErrNotFound)
			_, err := f.st.UseTOTPStep(f.ctx, 424242, 1)
			wantErr(t, err, store.ErrNotFound)
		}},
	}
}

func projectTests() []test {
	return []test{
		{"A created project is found by name in any case and owned by its creator only", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			p := f.project("My-Project", alice)
			equal(t, "created", p, store.Project{ID: p.ID, Name: "My-Project", CreatedAt: epoch})
			got, err := f.st.ProjectByName(f.ctx, "my-PROJECT")
			must(t, err)
			equal(t, "by name", got, p)
			for _, c := range []struct {
				user store.User
				want bool
			}{{alice, true}, {bob, false}} {
				owner, err := f.st.IsOwner(f.ctx, p.ID, c.user.ID)
				must(t, err)
				if owner != c.want {
					t.Fatalf("IsOwner(%s) = %v, want %v", c.user.Name, owner, c.want)
				}
			}
		}},
		{"A project name taken in another case is a conflict and creates nothing", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			f.project("proj", alice)
			_, err := f.st.CreateProject(f.ctx, "PROJ", bob.ID, f.now)
			wantErr(t, err, store.ErrConflict)
			owned, err := f.st.ProjectsOwnedBy(f.ctx, bob.ID)
			must(t, err)
			equal(t, "bob's projects", len(owned), 0)
		}},
		{"Project names an index treats as one name are one project: found by any spelling, a second is a conflict", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			p := f.project("Foo_Bar", alice)
			for _, spelling := range []string{"foo-bar", "FOO.BAR", "foo__bar", "Foo-_.Bar"} {
				got, err := f.st.ProjectByName(f.ctx, spelling)
				must(t, err)
				equal(t, "found as "+spelling, got, p)
				_, err = f.st.CreateProject(f.ctx, spelling, bob.ID, f.now)
				wantErr(t, err, store.ErrConflict)
			}
			owned, err := f.st.ProjectsOwnedBy(f.ctx, bob.ID)
			must(t, err)
			equal(t, "bob's projects", len(owned), 0)
			_, err = f.st.ProjectByName(f.ctx, "foobar")
			wantErr(t, err, store.ErrNotFound)
			f.project("foobar", bob)
		}},
		{"A project for an unknown owner is not found and not created", func(t *testing.T, f *fixture) {
			_, err := f.st.CreateProject(f.ctx, "orphan", 424242, f.now)
			wantErr(t, err, store.ErrNotFound)
			_, err = f.st.ProjectByName(f.ctx, "orphan")
			wantErr(t, err, store.ErrNotFound)
		}},
		{"ProjectsOwnedBy lists a user's projects by name", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			b := f.project("beta", alice)
			a := f.project("Alpha", alice)
			f.project("gamma", bob)
			got, err := f.st.ProjectsOwnedBy(f.ctx, alice.ID)
			must(t, err)
			equal(t, "alice's projects", got, []store.Project{a, b})
		}},
	}
}
