package storetest

import (
	"testing"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// sessionTests hold both backends to the methods of browser sessions.
func sessionTests() []test {
	return []test{
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
	}
}
