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
// records are diagnoses for owners: their commit does not wait for the disk, and their
// writes go in one round trip where the backend allows, so that strangers' refusals
// recorded after an exchange's reply do not hold up the exchanges that follow it.
func (s *Store) RecordFailedExchanges(ctx context.Context, failures []store.FailedExchange) error {
	if len(failures) == 0 {
		return nil
	}
	var stmts []Statement
	if s.dialect.Unflushed != "" {
		stmts = append(stmts, Statement{SQL: s.dialect.Unflushed})
	}
	rows := make([][]any, len(failures))
	projects := make([]int64, len(failures))
	for i, f := range failures {
		rows[i] = []any{f.ProjectID, f.PublisherID, f.At, f.Issuer, f.Repository, f.WorkflowRef, f.Ref, f.SHA, f.RunID, f.Environment, f.Event, f.Reason}
		projects[i] = f.ProjectID
	}
	stmts = append(stmts, insertRows(`INSERT INTO failed_exchanges
		(project_id, publisher_id, at, issuer, repository, workflow_ref, ref, sha, run_id, environment, event, reason) VALUES `, rows)...)
	slices.Sort(projects)
	projects = slices.Compact(projects)
	for _, p := range projects {
		// Everything older than the project's newest MaxFailedPerProject rows, found by
		// its index.
		stmts = append(stmts, Statement{`DELETE FROM failed_exchanges WHERE project_id = $1 AND id <=
			(SELECT id FROM failed_exchanges WHERE project_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)`, []any{p, store.MaxFailedPerProject}})
	}
	return s.tx(ctx, func(tx q) error {
		_, err := tx.execAll(ctx, stmts)
		if errors.Is(err, errForeignKey) {
			return fmt.Errorf("failed exchanges of projects %v: %w", projects, store.ErrNotFound)
		}
		return err
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
