package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/tpx-dev/tpx/store"
)

// This file keeps the failed exchanges an owner sees.

// RecordFailedExchanges trims each project it wrote to in the same transaction, so that no
// amount of failing tokens grows the table past MaxFailedPerProject rows per project. The
// records are diagnoses for owners: their commit does not wait for the disk, so that
// strangers' refusals recorded after an exchange's reply do not hold up the exchanges that
// follow it.
func (s *Store) RecordFailedExchanges(ctx context.Context, failures []store.FailedExchange) error {
	return s.tx(ctx, func(tx q) error {
		if s.dialect.Unflushed != "" {
			if _, err := tx.exec(ctx, s.dialect.Unflushed); err != nil {
				return err
			}
		}
		var projects []int64
		for _, f := range failures {
			_, err := tx.exec(ctx, `INSERT INTO failed_exchanges
				(project_id, publisher_id, at, issuer, repository, workflow_ref, ref, sha, run_id, environment, event, reason)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
				f.ProjectID, f.PublisherID, f.At, f.Issuer, f.Repository, f.WorkflowRef, f.Ref, f.SHA, f.RunID, f.Environment, f.Event, f.Reason)
			if errors.Is(err, errForeignKey) {
				return fmt.Errorf("failed exchange of project %d: %w", f.ProjectID, store.ErrNotFound)
			}
			if err != nil {
				return err
			}
			projects = append(projects, f.ProjectID)
		}
		slices.Sort(projects)
		for _, p := range slices.Compact(projects) {
			if _, err := tx.exec(ctx, `DELETE FROM failed_exchanges WHERE project_id = $1 AND id NOT IN
				(SELECT id FROM failed_exchanges WHERE project_id = $1 ORDER BY id DESC LIMIT $2)`, p, store.MaxFailedPerProject); err != nil {
				return err
			}
		}
		return nil
	})
}

func (s *Store) FailedExchanges(ctx context.Context, projectID int64) ([]store.FailedExchange, error) {
	return collect(ctx, s.read(), func(r scanner) (store.FailedExchange, error) {
		var f store.FailedExchange
		err := r.Scan(&f.ID, &f.ProjectID, &f.PublisherID, timeDest{&f.At}, &f.Issuer, &f.Repository, &f.WorkflowRef, &f.Ref,
			&f.SHA, &f.RunID, &f.Environment, &f.Event, &f.Reason)
		return f, err
	}, `SELECT id, project_id, publisher_id, at, issuer, repository, workflow_ref, ref, sha, run_id, environment, event, reason
		FROM failed_exchanges WHERE project_id = $1 ORDER BY id DESC LIMIT $2`, projectID, store.MaxFailedPerProject)
}
