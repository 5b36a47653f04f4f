package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// sweepUIEvery is how often the owner web UI's expired sessions, challenges, links and
// invitations, and old sent mail, are deleted. Every replica sweeps; deleting what another
// already deleted is harmless, and reads ignore what expired anyway.
const sweepUIEvery = 15 * time.Minute

func sweepUI(ctx context.Context, st store.Store, log *slog.Logger) {
	t := time.NewTicker(sweepUIEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := st.DeleteExpiredUI(ctx, time.Now())
		if err != nil {
			log.Warn("deleting the web UI's expired records", "error", err)
			continue
		}
		log.Info("web UI's expired records deleted", "rows", n)
	}
}
