package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// failureTests hold both backends to the methods of failed exchanges.
func failureTests() []test {
	return []test{
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
	}
}
