package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// outboxTests hold both backends to the outbox.
func outboxTests() []test {
	return []test{
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
	}
}
