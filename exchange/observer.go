package exchange

import (
	"context"
	"errors"
	"time"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
)

// Observer is told what the owners of projects see of exchanges (the owner web UI):
// failures with the policy's reasons, and tokens minted. It is called in the request, after
// the outcome is decided; it changes nothing of the reply, and handles its own errors.
type Observer interface {
	// ExchangeFailed gets, for each project none of whose publishers matched the identity,
	// the reason each of them gave.
	ExchangeFailed(ctx context.Context, failures []store.FailedExchange)
	// ExchangeSucceeded gets the publishers that matched and the pending publishers that
	// created their projects, once the exchange is recorded.
	ExchangeSucceeded(ctx context.Context, id policy.Identity, tokenID string, matched []store.Publisher, created []store.PendingPublisher)
}

// failure is what the owners of p's project are shown of an identity that p refused. Of a
// job from a repository that is not public they learn the time and which rule failed, and
// nothing the token said: anyone may register a publisher naming any repository, so they
// need not be people who may see its branches, commits or runs. The repository is named
// as p names it, which its owners wrote themselves.
func failure(now time.Time, id policy.Identity, p store.Publisher, reason error) store.FailedExchange {
	if !id.Public {
		rule := "publisher"
		if m, ok := errors.AsType[*policy.Mismatch](reason); ok && m.Rule != "" {
			rule = m.Rule
		}
		return store.FailedExchange{
			ProjectID: p.ProjectID, PublisherID: p.ID, At: now, Issuer: id.Issuer, Repository: p.Repository(),
			Reason: "the " + rule + " rule did not hold for a job of a repository that is not public; its details are not shown",
		}
	}
	return store.FailedExchange{
		ProjectID: p.ProjectID, PublisherID: p.ID, At: now, Issuer: id.Issuer, Repository: id.Repository,
		WorkflowRef: id.WorkflowRef, Ref: id.Ref, SHA: id.SHA, RunID: id.RunID, Environment: id.Environment,
		Event: id.EventName, Reason: reason.Error(),
	}
}

// observeFailures passes on the failures of projects that no matched publisher serves: a
// project with one publisher per environment fails for all but one of them every time,
// and that is no failure of the project.
func (s *Service) observeFailures(ctx context.Context, failed []store.FailedExchange, matched []store.Publisher) {
	if s.cfg.Observer == nil || len(failed) == 0 {
		return
	}
	served := map[int64]bool{}
	for _, p := range matched {
		served[p.ProjectID] = true
	}
	var out []store.FailedExchange
	for _, f := range failed {
		if !served[f.ProjectID] {
			out = append(out, f)
		}
	}
	if len(out) > 0 {
		s.cfg.Observer.ExchangeFailed(ctx, out)
	}
}
