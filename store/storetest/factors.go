package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// factorTests hold both backends to the methods of passwords and second factors: TOTP, WebAuthn credentials and their challenges, recovery codes.
func factorTests() []test {
	return []test{
		{"SetPassword replaces the hash, and an unknown user is not found", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			must(t, f.st.SetPassword(f.ctx, u.ID, "new-hash"))
			got, err := f.st.UserByID(f.ctx, u.ID)
			must(t, err)
			equal(t, "hash", got.PasswordHash, "new-hash")
			wantErr(t, f.st.SetPassword(f.ctx, 424242, "x"), store.ErrNotFound)
		}},
		{"ConfirmTOTP confirms only the secret still stored, once, and records the step", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			must(t, f.st.SetTOTP(f.ctx, u.ID, []byte("sealed-1"), false))
			ok, err := f.st.ConfirmTOTP(f.ctx, u.ID, []byte("sealed-other"), 100)
			must(t, err)
			if ok {
				t.Fatal("a secret that is not the stored one was confirmed")
			}
			ok, err = f.st.ConfirmTOTP(f.ctx, u.ID, []byte("sealed-1"), 100)
			must(t, err)
			if !ok {
				t.Fatal("the stored secret was not confirmed")
			}
			got, err := f.st.UserByID(f.ctx, u.ID)
			must(t, err)
			if !got.HasSecondFactor() || got.TOTPLastStep != 100 {
				t.Fatalf("after confirming: %+v", got)
			}
			again, err := f.st.ConfirmTOTP(f.ctx, u.ID, []byte("sealed-1"), 200)
			must(t, err)
			if again {
				t.Fatal("a confirmed secret was confirmed again")
			}
			used, err := f.st.UseTOTPStep(f.ctx, u.ID, 100)
			must(t, err)
			if used {
				t.Fatal("the confirming code's step was accepted again")
			}
		}},
		{"The last second factor cannot be removed, another one can", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			wantErr(t, f.st.RemoveTOTP(f.ctx, u.ID), store.ErrNotFound)
			must(t, f.st.SetTOTP(f.ctx, u.ID, []byte("sealed"), true))
			wantErr(t, f.st.RemoveTOTP(f.ctx, u.ID), store.ErrLastFactor)
			key, err := f.st.AddWebAuthnCredential(f.ctx, store.WebAuthnCredential{UserID: u.ID, CredentialID: []byte{1}, PublicKey: []byte("pk"), Name: "key", CreatedAt: f.now})
			must(t, err)
			must(t, f.st.RemoveTOTP(f.ctx, u.ID))
			wantErr(t, f.st.RemoveWebAuthnCredential(f.ctx, u.ID, key.ID), store.ErrLastFactor)
			second, err := f.st.AddWebAuthnCredential(f.ctx, store.WebAuthnCredential{UserID: u.ID, CredentialID: []byte{2}, PublicKey: []byte("pk"), CreatedAt: f.now})
			must(t, err)
			must(t, f.st.RemoveWebAuthnCredential(f.ctx, u.ID, key.ID))
			got, err := f.st.UserByID(f.ctx, u.ID)
			must(t, err)
			if got.TOTPSecret != nil || got.WebAuthnCount != 1 {
				t.Fatalf("after removals: %+v", got)
			}
			wantErr(t, f.st.RemoveWebAuthnCredential(f.ctx, u.ID, second.ID), store.ErrLastFactor)
		}},
		{"An unconfirmed TOTP can be removed when it is the only one", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			must(t, f.st.SetTOTP(f.ctx, u.ID, []byte("sealed"), false))
			must(t, f.st.RemoveTOTP(f.ctx, u.ID))
		}},
		{"Of two concurrent removals of a user's two factors one is refused", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			must(t, f.st.SetTOTP(f.ctx, u.ID, []byte("sealed"), true))
			key, err := f.st.AddWebAuthnCredential(f.ctx, store.WebAuthnCredential{UserID: u.ID, CredentialID: []byte{1}, PublicKey: []byte("pk"), CreatedAt: f.now})
			must(t, err)
			errs := concurrently(2, func(i int) error {
				if i == 0 {
					return f.st.RemoveTOTP(f.ctx, u.ID)
				}
				return f.st.RemoveWebAuthnCredential(f.ctx, u.ID, key.ID)
			})
			equal(t, "outcomes", tally(errs, store.ErrLastFactor), map[string]int{"nil": 1, store.ErrLastFactor.Error(): 1})
			got, err := f.st.UserByID(f.ctx, u.ID)
			must(t, err)
			if !got.HasSecondFactor() {
				t.Fatal("the user was left without a second factor")
			}
		}},
		{"A challenge is taken once, replaced by a newer one, refused once expired, and needs its session", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			must(t, f.st.CreateSession(f.ctx, store.Session{ID: "s1", UserID: u.ID, Stage: store.StageFull, CreatedAt: f.now, AuthenticatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}))
			wantErr(t, f.st.PutChallenge(f.ctx, "nosuchsession", "login", []byte("x"), f.now.Add(time.Minute)), store.ErrNotFound)
			must(t, f.st.PutChallenge(f.ctx, "s1", "login", []byte("first"), f.now.Add(time.Minute)))
			must(t, f.st.PutChallenge(f.ctx, "s1", "login", []byte("second"), f.now.Add(time.Minute)))
			must(t, f.st.PutChallenge(f.ctx, "s1", "register", []byte("reg"), f.now.Add(time.Minute)))
			got, err := f.st.TakeChallenge(f.ctx, "s1", "login", f.now)
			must(t, err)
			equal(t, "challenge", string(got), "second")
			_, err = f.st.TakeChallenge(f.ctx, "s1", "login", f.now)
			wantErr(t, err, store.ErrNotFound)
			_, err = f.st.TakeChallenge(f.ctx, "s1", "register", f.now.Add(time.Minute))
			wantErr(t, err, store.ErrNotFound)
			_, err = f.st.TakeChallenge(f.ctx, "s1", "register", f.now)
			wantErr(t, err, store.ErrNotFound)
		}},
		{"Concurrent takes of one challenge give it to one", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			must(t, f.st.CreateSession(f.ctx, store.Session{ID: "s1", UserID: u.ID, Stage: store.StageFull, CreatedAt: f.now, AuthenticatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}))
			must(t, f.st.PutChallenge(f.ctx, "s1", "login", []byte("c"), f.now.Add(time.Minute)))
			errs := concurrently(10, func(int) error {
				_, err := f.st.TakeChallenge(f.ctx, "s1", "login", f.now)
				return err
			})
			equal(t, "outcomes", tally(errs, store.ErrNotFound), map[string]int{"nil": 1, store.ErrNotFound.Error(): 9})
		}},
		{"WebAuthn credentials are listed, renamed, refused twice and their counter only goes up", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			c, err := f.st.AddWebAuthnCredential(f.ctx, store.WebAuthnCredential{UserID: alice.ID, CredentialID: []byte("cred"), PublicKey: []byte("pk"), SignCount: 5, Name: "yubikey", Record: []byte(`{"id":"x"}`), CreatedAt: f.now})
			must(t, err)
			_, err = f.st.AddWebAuthnCredential(f.ctx, store.WebAuthnCredential{UserID: bob.ID, CredentialID: []byte("cred"), PublicKey: []byte("pk"), CreatedAt: f.now})
			wantErr(t, err, store.ErrConflict)
			list, err := f.st.WebAuthnCredentials(f.ctx, alice.ID)
			must(t, err)
			equal(t, "credentials", list, []store.WebAuthnCredential{c})
			wantErr(t, f.st.RenameWebAuthnCredential(f.ctx, bob.ID, c.ID, "stolen"), store.ErrNotFound)
			must(t, f.st.RenameWebAuthnCredential(f.ctx, alice.ID, c.ID, "blue key"))
			for _, step := range []struct {
				count uint32
				want  bool
			}{{5, false}, {4, false}, {6, true}, {6, false}, {100, true}} {
				ok, err := f.st.UseWebAuthnCredential(f.ctx, c.ID, step.count, []byte(fmt.Sprintf(`{"n":%d}`, step.count)), f.now)
				must(t, err)
				if ok != step.want {
					t.Fatalf("UseWebAuthnCredential(%d) = %v, want %v", step.count, ok, step.want)
				}
			}
			list, err = f.st.WebAuthnCredentials(f.ctx, alice.ID)
			must(t, err)
			if list[0].SignCount != 100 || list[0].Name != "blue key" || string(list[0].Record) != `{"n":100}` || list[0].LastUsedAt == nil || !list[0].LastUsedAt.Equal(f.now) {
				t.Fatalf("after use: %+v", list[0])
			}
			_, err = f.st.UseWebAuthnCredential(f.ctx, 424242, 1, nil, f.now)
			wantErr(t, err, store.ErrNotFound)
		}},
		{"A credential without a counter is accepted with zero every time", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			c, err := f.st.AddWebAuthnCredential(f.ctx, store.WebAuthnCredential{UserID: u.ID, CredentialID: []byte("c"), PublicKey: []byte("pk"), CreatedAt: f.now})
			must(t, err)
			for range 2 {
				ok, err := f.st.UseWebAuthnCredential(f.ctx, c.ID, 0, []byte("{}"), f.now)
				must(t, err)
				if !ok {
					t.Fatal("counter 0 refused for a credential without a counter")
				}
			}
		}},
		{"Recovery codes are each used once, and replacing them voids the old ones", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			must(t, f.st.ReplaceRecoveryCodes(f.ctx, alice.ID, []string{"h1", "h2", "h3"}, f.now))
			left, err := f.st.RecoveryCodesLeft(f.ctx, alice.ID)
			must(t, err)
			equal(t, "left", left, 3)
			for _, c := range []struct {
				user int64
				hash string
				want bool
			}{{bob.ID, "h1", false}, {alice.ID, "h1", true}, {alice.ID, "h1", false}, {alice.ID, "nope", false}} {
				ok, err := f.st.UseRecoveryCode(f.ctx, c.user, c.hash, f.now)
				must(t, err)
				if ok != c.want {
					t.Fatalf("UseRecoveryCode(%d, %s) = %v, want %v", c.user, c.hash, ok, c.want)
				}
			}
			left, err = f.st.RecoveryCodesLeft(f.ctx, alice.ID)
			must(t, err)
			equal(t, "left after one use", left, 2)
			must(t, f.st.ReplaceRecoveryCodes(f.ctx, alice.ID, []string{"h4"}, f.now))
			ok, err := f.st.UseRecoveryCode(f.ctx, alice.ID, "h2", f.now)
			must(t, err)
			if ok {
				t.Fatal("a replaced code was accepted")
			}
			wantErr(t, f.st.ReplaceRecoveryCodes(f.ctx, 424242, []string{"h"}, f.now), store.ErrNotFound)
		}},
		{"Concurrent uses of one recovery code accept it once", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			must(t, f.st.ReplaceRecoveryCodes(f.ctx, u.ID, []string{"h1"}, f.now))
			accepted := make([]bool, 10)
			errs := concurrently(len(accepted), func(i int) error {
				var err error
				accepted[i], err = f.st.UseRecoveryCode(f.ctx, u.ID, "h1", f.now)
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
	}
}
