package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/store/sqlstore"
)

// A transaction whose context ends while it runs is rolled back by database/sql, which
// then answers sql.ErrTxDone; InTx reports the context's end, which callers tell apart
// as a request given up, not a failure of the store.
func TestATransactionWhoseContextEndsReportsTheEnd(t *testing.T) {
	w, err := sql.Open("sqlite", "file:"+filepath.ToSlash(filepath.Join(t.TempDir(), "t.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	d := &db{writer: w, reader: w}
	ctx, cancel := context.WithCancel(t.Context())
	err = d.InTx(ctx, func(tx sqlstore.Querier) error {
		cancel()
		// Wait for database/sql to roll the transaction back, as it does once the
		// context has ended; a statement on another context then finds it done.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			_, err := tx.Exec(context.Background(), "SELECT 1")
			if errors.Is(err, sql.ErrTxDone) {
				return nil
			}
			if time.Now().After(deadline) {
				t.Fatalf("the transaction was not rolled back after its context ended: %v", err)
			}
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("InTx: %v, want the context's end", err)
	}
}
