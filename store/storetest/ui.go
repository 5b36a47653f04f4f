package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// uiTests hold both backends to the owner web UI's methods.
func uiTests() []test {
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
		{"A session is found until it expires, renewed under a new id and deleted", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			ss := store.Session{ID: "s1", UserID: u.ID, Stage: store.StageSecondFactor, Factor: store.FactorPassword, CreatedAt: f.now, AuthenticatedAt: f.now,
				ExpiresAt: f.now.Add(time.Hour), LastSeenAt: f.now, Address: "192.0.2.1", UserAgent: "Mozilla/5.0 (X11; Linux x86_64)"}
			must(t, f.st.CreateSession(f.ctx, ss))
			wantErr(t, f.st.CreateSession(f.ctx, ss), store.ErrConflict)
			got, err := f.st.Session(f.ctx, "s1", f.now)
			must(t, err)
			equal(t, "session", got, ss)
			_, err = f.st.Session(f.ctx, "s1", f.now.Add(time.Hour))
			wantErr(t, err, store.ErrNotFound)

			renewed := ss
			proof := f.now.Add(time.Minute)
			renewed.ID, renewed.Stage, renewed.Factor, renewed.AuthenticatedAt, renewed.FactorProofAt = "s2", store.StageFull, store.FactorTOTP, f.now.Add(time.Minute), &proof
			must(t, f.st.RenewSession(f.ctx, "s1", renewed))
			_, err = f.st.Session(f.ctx, "s1", f.now)
			wantErr(t, err, store.ErrNotFound)
			got, err = f.st.Session(f.ctx, "s2", f.now)
			must(t, err)
			equal(t, "renewed", got, renewed)
			wantErr(t, f.st.RenewSession(f.ctx, "s1", store.Session{ID: "s3", UserID: u.ID, Stage: store.StageFull, CreatedAt: f.now, AuthenticatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}), store.ErrNotFound)
			_, err = f.st.Session(f.ctx, "s3", f.now)
			wantErr(t, err, store.ErrNotFound)

			must(t, f.st.DeleteSession(f.ctx, "s2"))
			_, err = f.st.Session(f.ctx, "s2", f.now)
			wantErr(t, err, store.ErrNotFound)
		}},
		{"A session without a factor passed the password alone, and was last seen when made", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			must(t, f.st.CreateSession(f.ctx, store.Session{ID: "s1", UserID: u.ID, Stage: store.StageFull, CreatedAt: f.now, AuthenticatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}))
			got, err := f.st.Session(f.ctx, "s1", f.now)
			must(t, err)
			equal(t, "factor", got.Factor, store.FactorPassword)
			equal(t, "last seen", got.LastSeenAt, f.now)
			if got.Factor.SecondFactor() {
				t.Fatal("the password is not a second factor")
			}
		}},
		{"UserSessions lists a user's unexpired sessions, last seen first, with their last address and browser", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			for _, s := range []struct {
				id      string
				user    int64
				expires time.Duration
			}{{"a1", alice.ID, time.Hour}, {"a2", alice.ID, time.Hour}, {"gone", alice.ID, time.Minute}, {"b1", bob.ID, time.Hour}} {
				must(t, f.st.CreateSession(f.ctx, store.Session{ID: s.id, UserID: s.user, Stage: store.StageFull, Factor: store.FactorTOTP, CreatedAt: f.now, AuthenticatedAt: f.now, ExpiresAt: f.now.Add(s.expires)}))
			}
			must(t, f.st.TouchSession(f.ctx, "a1", f.now.Add(2*time.Minute), "2001:db8::1", "Firefox"))
			wantErr(t, f.st.TouchSession(f.ctx, "nosuch", f.now, "", ""), store.ErrNotFound)
			got, err := f.st.UserSessions(f.ctx, alice.ID, f.now.Add(time.Minute))
			must(t, err)
			var ids []string
			for _, s := range got {
				ids = append(ids, s.ID)
			}
			equal(t, "sessions", ids, []string{"a1", "a2"})
			equal(t, "touched", [3]any{got[0].LastSeenAt, got[0].Address, got[0].UserAgent}, [3]any{f.now.Add(2 * time.Minute), "2001:db8::1", "Firefox"})
		}},
		{"A factor proof is spent once, and only if it is recent enough", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			proof := f.now
			must(t, f.st.CreateSession(f.ctx, store.Session{ID: "s1", UserID: u.ID, Stage: store.StageFull, Factor: store.FactorTOTP, CreatedAt: f.now, AuthenticatedAt: f.now, FactorProofAt: &proof, ExpiresAt: f.now.Add(time.Hour)}))
			ok, err := f.st.SpendFactorProof(f.ctx, "s1", f.now)
			must(t, err)
			if ok {
				t.Fatal("a proof made at the bound was spent")
			}
			results := make(chan bool, 4)
			for range 4 {
				go func() {
					ok, err := f.st.SpendFactorProof(f.ctx, "s1", f.now.Add(-time.Minute))
					results <- ok && err == nil
				}()
			}
			spent := 0
			for range 4 {
				if <-results {
					spent++
				}
			}
			equal(t, "spent", spent, 1)
			got, err := f.st.Session(f.ctx, "s1", f.now)
			must(t, err)
			if got.FactorProofAt != nil {
				t.Fatal("the proof is still there")
			}
		}},
		{"DeleteUserSessions keeps the current session and other users' sessions", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			for _, s := range []struct {
				id   string
				user int64
			}{{"a1", alice.ID}, {"a2", alice.ID}, {"a3", alice.ID}, {"b1", bob.ID}} {
				must(t, f.st.CreateSession(f.ctx, store.Session{ID: s.id, UserID: s.user, Stage: store.StageFull, CreatedAt: f.now, AuthenticatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}))
			}
			n, err := f.st.DeleteUserSessions(f.ctx, alice.ID, "a2")
			must(t, err)
			equal(t, "deleted", n, int64(2))
			for id, want := range map[string]bool{"a1": false, "a2": true, "a3": false, "b1": true} {
				_, err := f.st.Session(f.ctx, id, f.now)
				if (err == nil) != want {
					t.Fatalf("session %s: err %v, want present %v", id, err, want)
				}
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
		{"An email token verifies the address once, and not after it expired", func(t *testing.T, f *fixture) {
			u := f.user("alice")
			verified, err := f.st.EmailVerified(f.ctx, u.ID)
			must(t, err)
			if verified {
				t.Fatal("a new user's address is verified")
			}
			must(t, f.st.CreateEmailToken(f.ctx, store.EmailToken{Hash: "t1", UserID: u.ID, Email: u.Email, ExpiresAt: f.now.Add(time.Hour)}))
			must(t, f.st.CreateEmailToken(f.ctx, store.EmailToken{Hash: "t2", UserID: u.ID, Email: u.Email, ExpiresAt: f.now.Add(time.Hour)}))
			_, err = f.st.UseEmailToken(f.ctx, "t2", f.now.Add(time.Hour))
			wantErr(t, err, store.ErrNotFound)
			verified, err = f.st.EmailVerified(f.ctx, u.ID)
			must(t, err)
			if verified {
				t.Fatal("an expired token verified the address")
			}
			peeked, err := f.st.PeekEmailToken(f.ctx, "t1", f.now)
			must(t, err)
			equal(t, "peeked", peeked, store.EmailToken{Hash: "t1", UserID: u.ID, Email: u.Email, ExpiresAt: f.now.Add(time.Hour)})
			_, err = f.st.PeekEmailToken(f.ctx, "t1", f.now.Add(time.Hour))
			wantErr(t, err, store.ErrNotFound)
			verified, err = f.st.EmailVerified(f.ctx, u.ID)
			must(t, err)
			if verified {
				t.Fatal("peeking at a token verified the address")
			}
			id, err := f.st.UseEmailToken(f.ctx, "t1", f.now)
			must(t, err)
			equal(t, "user", id, u.ID)
			_, err = f.st.PeekEmailToken(f.ctx, "t1", f.now)
			wantErr(t, err, store.ErrNotFound)
			verified, err = f.st.EmailVerified(f.ctx, u.ID)
			must(t, err)
			if !verified {
				t.Fatal("the address is not verified")
			}
			_, err = f.st.UseEmailToken(f.ctx, "t1", f.now)
			wantErr(t, err, store.ErrNotFound)
			wantErr(t, f.st.CreateEmailToken(f.ctx, store.EmailToken{Hash: "t3", UserID: 424242, Email: "x@example.com", ExpiresAt: f.now}), store.ErrNotFound)
			_, err = f.st.EmailVerified(f.ctx, 424242)
			wantErr(t, err, store.ErrNotFound)
		}},
		{"Mail is claimed by one sender at a time, again after its lease, until sent or tried too often", func(t *testing.T, f *fixture) {
			must(t, f.st.EnqueueMail(f.ctx, []store.Mail{
				{To: "a@example.com", Subject: "one", Body: "b1", CreatedAt: f.now},
				{To: "b@example.com", Subject: "two", Body: "b2", DedupeKey: "k", CreatedAt: f.now},
			}))
			must(t, f.st.EnqueueMail(f.ctx, []store.Mail{{To: "b@example.com", Subject: "two again", Body: "b2", DedupeKey: "k", CreatedAt: f.now}}))
			got, err := f.st.ClaimMail(f.ctx, f.now, time.Minute, 10)
			must(t, err)
			equal(t, "claimed", len(got), 2)
			equal(t, "first", got[0], store.Mail{ID: got[0].ID, To: "a@example.com", Subject: "one", Body: "b1", CreatedAt: f.now, Attempts: 1})
			equal(t, "second's key", got[1].DedupeKey, "k")
			again, err := f.st.ClaimMail(f.ctx, f.now.Add(30*time.Second), time.Minute, 10)
			must(t, err)
			equal(t, "claimed during the lease", len(again), 0)
			must(t, f.st.MarkMailSent(f.ctx, got[0].ID, f.now))
			must(t, f.st.MarkMailFailed(f.ctx, got[1].ID, "connection refused"))
			again, err = f.st.ClaimMail(f.ctx, f.now.Add(time.Minute), time.Minute, 10)
			must(t, err)
			if len(again) != 1 || again[0].ID != got[1].ID || again[0].Attempts != 2 {
				t.Fatalf("after the lease: %+v", again)
			}
			at := f.now.Add(time.Minute)
			for i := 2; i < store.MailAttempts; i++ {
				at = at.Add(time.Minute)
				more, err := f.st.ClaimMail(f.ctx, at, time.Minute, 10)
				must(t, err)
				equal(t, fmt.Sprintf("claim %d", i+1), len(more), 1)
			}
			more, err := f.st.ClaimMail(f.ctx, at.Add(time.Hour), time.Minute, 10)
			must(t, err)
			equal(t, "claimed after the last attempt", len(more), 0)
			wantErr(t, f.st.MarkMailSent(f.ctx, 424242, f.now), store.ErrNotFound)
		}},
		{"Concurrent claims never hand one message to two senders", func(t *testing.T, f *fixture) {
			var msgs []store.Mail
			for i := range 20 {
				msgs = append(msgs, store.Mail{To: "a@example.com", Subject: fmt.Sprint(i), Body: "b", CreatedAt: f.now})
			}
			must(t, f.st.EnqueueMail(f.ctx, msgs))
			claimed := make([][]store.Mail, 6)
			errs := concurrently(len(claimed), func(i int) error {
				var err error
				claimed[i], err = f.st.ClaimMail(f.ctx, f.now, time.Minute, 5)
				return err
			})
			seen := map[int64]bool{}
			for i, c := range claimed {
				must(t, errs[i])
				for _, m := range c {
					if seen[m.ID] {
						t.Fatalf("message %d claimed twice", m.ID)
					}
					seen[m.ID] = true
				}
			}
			equal(t, "messages claimed", len(seen), 20)
		}},
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
		{"Failed exchanges are listed newest first per project and trimmed to the limit", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			p1, p2 := f.project("p1", alice), f.project("p2", alice)
			var batch []store.FailedExchange
			for i := range store.MaxFailedPerProject + 5 {
				batch = append(batch, store.FailedExchange{ProjectID: p1.ID, PublisherID: 7, At: f.now.Add(time.Duration(i) * time.Second),
					Issuer: githubIssuer, Repository: "octo-org/octo-repo", WorkflowRef: "w", Ref: "refs/heads/main", SHA: "abc",
					RunID: fmt.Sprint(i), Environment: "staging", Event: "push", Reason: fmt.Sprintf("reason %d", i)})
			}
			must(t, f.st.RecordFailedExchanges(f.ctx, batch[:10]))
			must(t, f.st.RecordFailedExchanges(f.ctx, append(batch[10:], store.FailedExchange{ProjectID: p2.ID, PublisherID: 8, At: f.now, Reason: "other"})))
			got, err := f.st.FailedExchanges(f.ctx, p1.ID)
			must(t, err)
			equal(t, "kept", len(got), store.MaxFailedPerProject)
			newest := batch[len(batch)-1]
			newest.ID = got[0].ID
			equal(t, "newest", got[0], newest)
			equal(t, "oldest kept", got[len(got)-1].Reason, "reason 5")
			other, err := f.st.FailedExchanges(f.ctx, p2.ID)
			must(t, err)
			equal(t, "other project", len(other), 1)
			wantErr(t, f.st.RecordFailedExchanges(f.ctx, []store.FailedExchange{{ProjectID: 424242, At: f.now}}), store.ErrNotFound)
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
		{"DeleteExpiredUI removes only what expired", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			proj := f.project("proj", alice)
			for _, s := range []struct {
				id      string
				expires time.Time
			}{{"old", f.now.Add(-time.Second)}, {"live", f.now.Add(time.Hour)}} {
				must(t, f.st.CreateSession(f.ctx, store.Session{ID: s.id, UserID: alice.ID, Stage: store.StageFull, CreatedAt: f.now, AuthenticatedAt: f.now, ExpiresAt: s.expires}))
			}
			must(t, f.st.PutChallenge(f.ctx, "live", "login", []byte("old"), f.now.Add(-time.Second)))
			must(t, f.st.PutChallenge(f.ctx, "live", "register", []byte("live"), f.now.Add(time.Minute)))
			must(t, f.st.CreateEmailToken(f.ctx, store.EmailToken{Hash: "old", UserID: alice.ID, Email: alice.Email, ExpiresAt: f.now.Add(-time.Second)}))
			must(t, f.st.CreateEmailToken(f.ctx, store.EmailToken{Hash: "live", UserID: alice.ID, Email: alice.Email, ExpiresAt: f.now.Add(time.Hour)}))
			must(t, f.st.Invite(f.ctx, store.Invitation{ProjectID: proj.ID, UserID: bob.ID, CreatedAt: f.now.Add(-time.Hour), ExpiresAt: f.now.Add(-time.Second)}))
			must(t, f.st.EnqueueMail(f.ctx, []store.Mail{
				{To: "a@example.com", Subject: "old", Body: "b", CreatedAt: f.now.Add(-store.SentMailKept - time.Hour)},
				{To: "a@example.com", Subject: "recent", Body: "b", CreatedAt: f.now},
			}))
			mail, err := f.st.ClaimMail(f.ctx, f.now, time.Minute, 10)
			must(t, err)
			must(t, f.st.MarkMailSent(f.ctx, mail[0].ID, f.now.Add(-store.SentMailKept-time.Second)))
			must(t, f.st.MarkMailSent(f.ctx, mail[1].ID, f.now))

			n, err := f.st.DeleteExpiredUI(f.ctx, f.now)
			must(t, err)
			equal(t, "deleted", n, int64(5))
			_, err = f.st.TakeChallenge(f.ctx, "live", "register", f.now)
			must(t, err)
			_, err = f.st.UseEmailToken(f.ctx, "live", f.now)
			must(t, err)
			_, err = f.st.Session(f.ctx, "live", f.now)
			must(t, err)
		}},
	}
}
