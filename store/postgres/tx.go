package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tpx-dev/tpx/store/sqlstore"
)

// inTx runs fn in a transaction on a connection of pool. The transaction's BEGIN goes out
// with its first statement, in one round trip, rather than in a round trip of its own:
// on a small machine every round trip costs as much CPU as the statement behind it, and
// an exchange's whole transaction is then two of them (its writes, and COMMIT).
//
// A panic in fn leaves the connection in a transaction; the pool closes such a connection
// rather than reuse it, and the server rolls the transaction back.
func inTx(ctx context.Context, pool *pgxpool.Pool, fn func(tx sqlstore.Querier) error) error {
	c, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	t := &lazyTx{c: c}
	if err := fn(t); err != nil {
		if t.begun {
			// The server rolls back what a failed ROLLBACK leaves, when the pool closes
			// the connection.
			c.Exec(ctx, "ROLLBACK")
		}
		return err
	}
	if !t.begun || t.committed {
		return nil
	}
	tag, err := c.Exec(ctx, "COMMIT")
	if err == nil && tag.String() == "ROLLBACK" {
		// The transaction had failed, and the server rolled it back.
		err = pgx.ErrTxCommitRollback
	}
	return err
}

// lazyTx is a transaction whose BEGIN has not been sent until begun.
type lazyTx struct {
	c         *pgxpool.Conn
	begun     bool
	committed bool // by ExecAndCommit
}

// begin sends BEGIN on its own, for statements that cannot carry it.
func (t *lazyTx) begin(ctx context.Context) error {
	if t.begun {
		return nil
	}
	t.begun = true
	_, err := t.c.Exec(ctx, "BEGIN")
	return err
}

func (t *lazyTx) Exec(ctx context.Context, sql string, args ...any) (int64, error) {
	if t.begun {
		return conn{t.c}.Exec(ctx, sql, args...)
	}
	changed, err := t.ExecBatch(ctx, []sqlstore.Statement{{SQL: sql, Args: args}})
	if err != nil {
		return 0, err
	}
	return changed[0], nil
}

// ExecBatch sends stmts in one round trip, preceded by BEGIN if it was not sent yet.
func (t *lazyTx) ExecBatch(ctx context.Context, stmts []sqlstore.Statement) ([]int64, error) {
	if t.begun {
		return conn{t.c}.ExecBatch(ctx, stmts)
	}
	t.begun = true
	changed, err := conn{t.c}.ExecBatch(ctx, append([]sqlstore.Statement{{SQL: "BEGIN"}}, stmts...))
	if len(changed) > 0 {
		changed = changed[1:]
	}
	return changed, err
}

// ExecAndCommit makes lazyTx a sqlstore.Committer. Before anything else was sent, stmts
// go out as one batch and nothing more: the statements of a batch, up to its one Sync,
// are one implicit transaction, which the server commits at the Sync when all succeed and
// rolls back otherwise, so the BEGIN and COMMIT would only cost two statements more. In a
// transaction already begun, the COMMIT follows stmts in the same batch; a failing
// statement stops the batch before it, and inTx rolls back.
func (t *lazyTx) ExecAndCommit(ctx context.Context, stmts []sqlstore.Statement) ([]int64, error) {
	if !t.begun {
		changed, err := conn{t.c}.ExecBatch(ctx, stmts)
		if err != nil {
			return changed, err
		}
		t.begun, t.committed = true, true
		return changed, nil
	}
	changed, err := conn{t.c}.ExecBatch(ctx, append(stmts[:len(stmts):len(stmts)], sqlstore.Statement{SQL: "COMMIT"}))
	if err != nil {
		return changed[:min(len(changed), len(stmts))], err
	}
	t.committed = true
	return changed[:len(stmts)], nil
}

func (t *lazyTx) Query(ctx context.Context, sql string, args ...any) (sqlstore.Rows, error) {
	if err := t.begin(ctx); err != nil {
		return nil, err
	}
	return conn{t.c}.Query(ctx, sql, args...)
}

func (t *lazyTx) QueryRow(ctx context.Context, sql string, args ...any) sqlstore.Row {
	if err := t.begin(ctx); err != nil {
		return errRow{err}
	}
	return conn{t.c}.QueryRow(ctx, sql, args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
