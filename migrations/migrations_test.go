package migrations_test

import (
	"io/fs"
	"path"
	"slices"
	"testing"

	"github.com/tpx-dev/tpx/migrations"
)

func TestDialects(t *testing.T) {
	t.Run("Both dialects have the same migrations", func(t *testing.T) {
		pg, err := fs.Glob(migrations.Postgres, "postgres/*.sql")
		if err != nil {
			t.Fatal(err)
		}
		lite, err := fs.Glob(migrations.SQLite, "sqlite/*.sql")
		if err != nil {
			t.Fatal(err)
		}
		base := func(names []string) []string {
			out := make([]string, len(names))
			for i, n := range names {
				out[i] = path.Base(n)
			}
			return out
		}
		if len(pg) == 0 || !slices.Equal(base(pg), base(lite)) {
			t.Fatalf("postgres has %v, sqlite has %v; every migration needs both", pg, lite)
		}
	})
}
