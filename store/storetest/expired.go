package storetest

import (
	"testing"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// expiryTests hold both backends to DeleteExpired, the sweep of what expired.
func expiryTests() []test {
	return []test{
		{"DeleteExpired removes only what expired", func(t *testing.T, f *fixture) {
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

			n, err := f.st.DeleteExpired(f.ctx, f.now)
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
