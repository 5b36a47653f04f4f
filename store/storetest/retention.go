package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
)

const day = 24 * time.Hour

// policyAt is the production policy (400 days of exchanges, notices 5 days ahead) at now,
// with words that name the pending publisher, its project and its expiry: the store must
// record and mail them as given.
func policyAt(now time.Time) store.RetentionPolicy {
	return store.RetentionPolicy{Now: now, KeepExchanges: 400 * day, NoticeBefore: 5 * day, Words: testWords{}}
}

type testWords struct{}

func (testWords) ExpiryNotice(pp store.PendingPublisher) store.Notice {
	what := fmt.Sprintf("%d %s %s", pp.ID, pp.ProjectName, pp.Repository())
	return store.Notice{
		Detail:  what + " expires " + pp.ExpiresAt.UTC().Format(time.DateOnly),
		Subject: "subject: " + what,
		Body:    "body: " + what + " expires " + pp.ExpiresAt.UTC().Format(time.DateOnly),
	}
}

func (testWords) Expired(pp store.PendingPublisher) string {
	return fmt.Sprintf("%d %s %s expired", pp.ID, pp.ProjectName, pp.Repository())
}

// auditOf returns user's audit events with action, oldest first.
func (f *fixture) auditOf(user store.User, action string) []store.AuditEvent {
	f.t.Helper()
	all, err := f.st.AuditLog(f.ctx, 0, user.ID, 1000)
	must(f.t, err)
	var out []store.AuditEvent
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Action == action {
			out = append(out, all[i])
		}
	}
	return out
}

func retentionTests() []test {
	return []test{
		{"Retain removes only what expired", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			proj := f.project("proj", alice)
			pub := f.publisher(proj, alice, nil)
			old := f.exchange("jti-old", pub)
			old.JTIExpires = f.now.Add(-time.Second)
			old.TokenExpires = f.now.Add(-time.Second)
			must(t, f.st.CommitExchange(f.ctx, old))
			live := f.exchange("jti-live", pub)
			must(t, f.st.CommitExchange(f.ctx, live))
			expired := pendingOf("gone", alice, f.now.Add(-48*time.Hour), nil)
			_, err := f.st.AddPending(f.ctx, expired)
			must(t, err)
			current := f.pending("current", alice, nil)

			got, err := f.st.Retain(f.ctx, policyAt(f.now))
			must(t, err)
			equal(t, "what Retain did", got, store.Retained{PendingNoticed: 1, PendingExpired: 1})
			if !f.tokenRecorded(old) || !f.tokenRecorded(live) {
				t.Fatal("Retain must keep the exchange records younger than KeepExchanges, expired or not")
			}
			pend, err := f.st.ListPending(f.ctx, alice.ID)
			must(t, err)
			equal(t, "pending publishers left", pend, []store.PendingPublisher{current})
			// A record kept is its CI token's replay record, expired or not.
			for _, e := range []store.Exchange{old, live} {
				replay := e
				replay.TokenID = "token-replay-" + e.JTI
				wantErr(t, f.st.CommitExchange(f.ctx, replay), store.ErrReplay)
			}
		}},
		{"An exchange record outlives its CI token and its upload token, whatever KeepExchanges", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			pub := f.publisher(f.project("proj", alice), alice, nil)
			before, after := f.now.Add(-time.Second), f.now.Add(time.Second)
			exchanges := map[string]store.Exchange{}
			for _, c := range []struct {
				jti            string
				jtiEnd, tokEnd time.Time
			}{
				{"jti-live", after, before},
				{"token-live", before, after},
				{"both-live", after, after},
				{"both-expired", before, before},
				{"both-expire-now", f.now, f.now},
			} {
				e := f.exchange(c.jti, pub)
				e.At = f.now.Add(-time.Minute)
				e.JTIExpires, e.TokenExpires = c.jtiEnd, c.tokEnd
				must(t, f.st.CommitExchange(f.ctx, e))
				exchanges[c.jti] = e
			}
			p := policyAt(f.now)
			p.KeepExchanges = 0
			got, err := f.st.Retain(f.ctx, p)
			must(t, err)
			equal(t, "exchange records deleted", got.Exchanges, int64(2))
			for jti, e := range exchanges {
				kept := !strings.HasPrefix(jti, "both-expire")
				if f.tokenRecorded(e) != kept {
					t.Errorf("exchange %s: record kept %v, want %v", jti, !kept, kept)
				}
			}
			replay := exchanges["jti-live"]
			replay.TokenID = "token-replay"
			wantErr(t, f.st.CommitExchange(f.ctx, replay), store.ErrReplay)
		}},
		{"A registrant is told once, NoticeBefore ahead, and then of the expiry, in their audit log", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			p := pendingOf("newproj", alice, f.now, nil)
			p.ExpiresAt = f.now.Add(30 * day)
			pp, err := f.st.AddPending(f.ctx, p)
			must(t, err)

			for _, c := range []struct {
				at              time.Duration
				notices, expiry int
			}{
				{0, 0, 0},
				{25*day - time.Minute, 0, 0},
				{25 * day, 1, 0},
				{26 * day, 1, 0},
				{30*day - time.Minute, 1, 0},
				{30 * day, 1, 1},
				{31 * day, 1, 1},
			} {
				_, err := f.st.Retain(f.ctx, policyAt(f.now.Add(c.at)))
				must(t, err)
				notices, expiries := f.auditOf(alice, store.ActionPendingExpiryNotice), f.auditOf(alice, store.ActionPendingExpired)
				if len(notices) != c.notices || len(expiries) != c.expiry {
					t.Fatalf("%v after registration: %d notices and %d expiry events, want %d and %d", c.at, len(notices), len(expiries), c.notices, c.expiry)
				}
			}
			notice := f.auditOf(alice, store.ActionPendingExpiryNotice)[0]
			if want := (testWords{}).ExpiryNotice(pp).Detail; notice.Actor != "retention" || notice.UserID != alice.ID || notice.Detail != want {
				t.Fatalf("notice %+v, want alice's, by retention, with the detail %q", notice, want)
			}
			expiry := f.auditOf(alice, store.ActionPendingExpired)[0]
			if want := (testWords{}).Expired(pp); expiry.Actor != "retention" || expiry.UserID != alice.ID || expiry.Detail != want {
				t.Fatalf("expiry event %+v, want alice's, by retention, with the detail %q", expiry, want)
			}
			if len(f.auditOf(bob, store.ActionPendingExpiryNotice)) != 0 {
				t.Fatal("another user was told of alice's pending publisher")
			}
			pend, err := f.st.ListPending(f.ctx, alice.ID)
			must(t, err)
			if len(pend) != 0 {
				t.Fatalf("pending publisher %d outlived its expiry: %+v", pp.ID, pend)
			}
		}},
		{"A registrant whose address is verified is also mailed the notice, once", func(t *testing.T, f *fixture) {
			alice, bob := f.user("alice"), f.user("bob")
			must(t, f.st.CreateEmailToken(f.ctx, store.EmailToken{Hash: "alice-link", UserID: alice.ID, Email: alice.Email, ExpiresAt: f.now.Add(time.Hour)}))
			_, err := f.st.UseEmailToken(f.ctx, "alice-link", f.now)
			must(t, err)
			var alices store.PendingPublisher
			for _, u := range []store.User{alice, bob} {
				p := pendingOf("new-"+u.Name, u, f.now, func(p *policy.Publisher) { p.Workflow = u.Name + ".yml" })
				p.ExpiresAt = f.now.Add(3 * day)
				pp, err := f.st.AddPending(f.ctx, p)
				must(t, err)
				if u.ID == alice.ID {
					alices = pp
				}
			}
			for range 2 {
				_, err := f.st.Retain(f.ctx, policyAt(f.now))
				must(t, err)
			}
			mail, err := f.st.ClaimMail(f.ctx, f.now, time.Minute, 10)
			must(t, err)
			want := (testWords{}).ExpiryNotice(alices)
			if len(mail) != 1 || mail[0].To != alice.Email || mail[0].Subject != want.Subject || mail[0].Body != want.Body {
				t.Fatalf("outbox %+v, want one notice to %s: %+v", mail, alice.Email, want)
			}
			equal(t, "bob's notices in the audit log", len(f.auditOf(bob, store.ActionPendingExpiryNotice)), 1)
		}},
		{"Exchange records are kept for KeepExchanges and no longer", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			pub := f.publisher(f.project("proj", alice), alice, nil)
			for i, age := range []time.Duration{401 * day, 400*day + time.Second, 400 * day, 399 * day} {
				e := f.exchange("jti-"+string(rune('a'+i)), pub)
				e.At = f.now.Add(-age)
				e.JTIExpires, e.TokenExpires = e.At.Add(10*time.Minute), e.At.Add(15*time.Minute)
				must(t, f.st.CommitExchange(f.ctx, e))
			}
			got, err := f.st.Retain(f.ctx, policyAt(f.now))
			must(t, err)
			equal(t, "exchange records deleted", got.Exchanges, int64(2))
			got, err = f.st.Retain(f.ctx, policyAt(f.now))
			must(t, err)
			equal(t, "exchange records deleted by a second run", got.Exchanges, int64(0))
			p := policyAt(f.now)
			p.KeepExchanges = 0
			got, err = f.st.Retain(f.ctx, p)
			must(t, err)
			equal(t, "exchange records deleted with nothing kept", got.Exchanges, int64(2))
		}},
		{"Of concurrent runs each notice and each expiry is given once", func(t *testing.T, f *fixture) {
			alice := f.user("alice")
			soon := pendingOf("soon", alice, f.now, nil)
			soon.ExpiresAt = f.now.Add(2 * day)
			_, err := f.st.AddPending(f.ctx, soon)
			must(t, err)
			_, err = f.st.AddPending(f.ctx, pendingOf("gone", alice, f.now.Add(-2*day), nil))
			must(t, err)

			var total store.Retained
			results := make([]store.Retained, 8)
			for _, err := range concurrently(len(results), func(i int) error {
				var err error
				results[i], err = f.st.Retain(f.ctx, policyAt(f.now))
				return err
			}) {
				must(t, err)
			}
			for _, r := range results {
				total.PendingNoticed += r.PendingNoticed
				total.PendingExpired += r.PendingExpired
			}
			equal(t, "notices and expiries over all runs", total, store.Retained{PendingNoticed: 1, PendingExpired: 1})
			equal(t, "notice events", len(f.auditOf(alice, store.ActionPendingExpiryNotice)), 1)
			equal(t, "expiry events", len(f.auditOf(alice, store.ActionPendingExpired)), 1)
		}},
	}
}
