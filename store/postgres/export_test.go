package postgres

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tpx-dev/tpx/store/sqlstore"
)

// OpenPanicking is Open with transactions that panic, instead of sending them, on the
// statements of a commit that records two or more exchanges, one of them of a CI token id
// that begins with marked; panics counts those panics.
func OpenPanicking(ctx context.Context, url, marked string, panics *atomic.Int64) (*Store, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, err
	}
	d, err := dialect()
	if err != nil {
		pool.Close()
		return nil, err
	}
	return sqlstore.New(panicking{db{pool}, marked, panics}, d), nil
}

type panicking struct {
	db
	marked string
	panics *atomic.Int64
}

func (p panicking) InTx(ctx context.Context, fn func(tx sqlstore.Querier) error) error {
	return inTx(ctx, p.pool, func(tx sqlstore.Querier) error { return fn(panickingTx{tx.(*lazyTx), p}) })
}

type panickingTx struct {
	*lazyTx
	p panicking
}

func (t panickingTx) ExecAndCommit(ctx context.Context, stmts []sqlstore.Statement) ([]int64, error) {
	records, marked := 0, false
	for _, s := range stmts {
		if strings.HasPrefix(s.SQL, "INSERT INTO exchanges") {
			records++
			marked = marked || slices.ContainsFunc(s.Args, func(a any) bool { v, ok := a.(string); return ok && strings.HasPrefix(v, t.p.marked) })
		}
	}
	if records > 1 && marked {
		t.p.panics.Add(1)
		panic("encoding a statement of the marked exchange")
	}
	return t.lazyTx.ExecAndCommit(ctx, stmts)
}
