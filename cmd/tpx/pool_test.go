package main

import (
	"net/url"
	"runtime"
	"strconv"
	"testing"
)

func TestThePoolHasEightConnectionsPerProcessorUnlessTheURLSays(t *testing.T) {
	t.Parallel()
	want := strconv.Itoa(8 * runtime.GOMAXPROCS(0))
	for _, tc := range []struct{ name, dsn, conns string }{
		{"A URL without parameters gets the default", "postgres://tpx@db:5432/tpx", want},
		{"A URL with parameters keeps them and gets the default", "postgres://tpx:p%40ss@db/tpx?sslmode=verify-full", want},
		{"A URL that sets the pool keeps its size", "postgresql://tpx@db/tpx?pool_max_conns=3&sslmode=disable", "3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := withPoolSize(tc.dsn)
			u, err := url.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			orig, _ := url.Parse(tc.dsn)
			q := u.Query()
			if q.Get("pool_max_conns") != tc.conns || len(q["pool_max_conns"]) != 1 {
				t.Fatalf("%q: pool_max_conns %q, want %q", got, q["pool_max_conns"], tc.conns)
			}
			q.Del("pool_max_conns")
			oq := orig.Query()
			oq.Del("pool_max_conns")
			if u.User.String() != orig.User.String() || u.Host != orig.Host || u.Path != orig.Path || q.Encode() != oq.Encode() {
				t.Fatalf("%q changed more than the pool of %q", got, tc.dsn)
			}
		})
	}
}
