// Package sqlitetest gives tests a data directory holding a migrated SQLite database, so
// that each test starts from the migrated schema without running every migration again:
// migrating takes about a second under the race detector, copying the file milliseconds.
package sqlitetest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tpx-dev/tpx/store/sqlite"
)

// migrated is the database file of a store migrated once per test binary.
var migrated struct {
	once sync.Once
	file []byte
	err  error
}

// Dir returns a fresh temporary directory of t's holding a copy of a freshly migrated
// database, for sqlite.Open; Migrate on it finds every migration applied.
func Dir(t testing.TB) string {
	t.Helper()
	migrated.once.Do(func() { migrated.file, migrated.err = migrate() })
	if migrated.err != nil {
		t.Fatalf("a migrated SQLite database: %v", migrated.err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, sqlite.FileName), migrated.file, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// migrate migrates a store in a directory of its own, closes it (which checkpoints the
// write-ahead log into the database file) and returns the file.
func migrate() ([]byte, error) {
	dir, err := os.MkdirTemp("", "tpx-sqlitetest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir)
	if err != nil {
		return nil, err
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	if err := st.Close(); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, sqlite.FileName)
	if fi, err := os.Stat(path + "-wal"); err == nil && fi.Size() > 0 {
		return nil, fmt.Errorf("the write-ahead log of %s was not checkpointed on close", path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return os.ReadFile(path)
}
