package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/web"
)

const (
	// retentionEvery is how often each replica runs retention. The store serialises the
	// runs of all replicas, so a later one finds the work done.
	retentionEvery = time.Hour
	// pendingNotice is how long before a pending publisher expires its registrant is told.
	pendingNotice = 5 * 24 * time.Hour
)

// retentionPolicy is the policy of cfg at now.
func retentionPolicy(cfg Config) func(now time.Time) store.RetentionPolicy {
	return func(now time.Time) store.RetentionPolicy {
		return store.RetentionPolicy{Now: now, KeepExchanges: cfg.ExchangeRetention, NoticeBefore: pendingNotice, Words: account.RetentionWords{}}
	}
}

// retain runs retention at start, so that a replica restarted more often than hourly
// still runs it, and then every retentionEvery until ctx is done.
func retain(ctx context.Context, st store.Store, log *slog.Logger, m *web.Metrics, policy func(time.Time) store.RetentionPolicy) {
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	for {
		now := time.Now()
		r, err := st.Retain(ctx, policy(now))
		if ctx.Err() != nil {
			return
		}
		m.Retained(now, r, err)
		if err != nil {
			log.Warn("retention failed; it runs again within the hour", "error", err)
		} else {
			log.Info("retention done", "pending_noticed", r.PendingNoticed, "pending_expired", r.PendingExpired, "exchanges", r.Exchanges)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sweepEvery is how often expired sessions, challenges, email links and invitations, and
// old sent mail, are deleted. Every replica sweeps; deleting what another already deleted
// is harmless, and reads ignore what expired anyway.
const sweepEvery = 15 * time.Minute

func sweepExpired(ctx context.Context, st store.Store, log *slog.Logger) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := st.DeleteExpired(ctx, time.Now())
		if err != nil {
			log.Warn("deleting expired sessions, links, invitations and old mail", "error", err)
			continue
		}
		log.Info("expired sessions, links, invitations and old mail deleted", "rows", n)
	}
}
