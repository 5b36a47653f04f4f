package uitest

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tpx-dev/tpx/internal/sqlitetest"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/store/postgres"
	"github.com/tpx-dev/tpx/store/sqlite"
)

// Backend opens a fresh, migrated store for one test, closed when it ends.
type Backend struct {
	Name string
	Open func(t *testing.T) store.Store
}

// Backends are SQLite always and PostgreSQL when TPX_TEST_DATABASE_URL is set. ForEach
// reports a skipped "Postgres" subtest without it, so that CI can refuse that.
func Backends() []Backend {
	b := []Backend{{"SQLite", openSQLite}}
	if os.Getenv("TPX_TEST_DATABASE_URL") != "" {
		b = append(b, Backend{"Postgres", openPostgres})
	}
	return b
}

// ForEach runs f once per backend, as subtests named after the backend.
func ForEach(t *testing.T, f func(t *testing.T, b Backend)) {
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) { f(t, b) })
	}
	if os.Getenv("TPX_TEST_DATABASE_URL") == "" {
		t.Run("Postgres", func(t *testing.T) { t.Skip("TPX_TEST_DATABASE_URL is not set") })
	}
}

func openSQLite(t *testing.T) store.Store {
	st, err := sqlite.Open(context.Background(), sqlitetest.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

// openPostgres works in a schema of the test's own, dropped when it ends.
func openPostgres(t *testing.T) store.Store {
	base := os.Getenv("TPX_TEST_DATABASE_URL")
	schema := "tpx_ui_" + strings.ToLower(rand.Text()[:12])
	admin := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := admin(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admin(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	q.Set("pool_max_conns", "4")
	u.RawQuery = q.Encode()
	st, err := postgres.Open(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}
