package sqlstore

import (
	"fmt"
	"testing"
)

func TestRunsSplitIdsWhereTheWayTheyAreLockedChanges(t *testing.T) {
	held := func(id int64) bool { return id%2 == 0 }
	for _, c := range []struct {
		ids  []int64
		want string
	}{
		{nil, "[]"},
		{[]int64{4}, "[[4] held]"},
		{[]int64{1, 3, 5}, "[[1 3 5] written]"},
		{[]int64{1, 2, 3, 5, 8, 10}, "[[1] written [2] held [3 5] written [8 10] held]"},
	} {
		var got []string
		for run, h := range runs(c.ids, held) {
			way := "written"
			if h {
				way = "held"
			}
			got = append(got, fmt.Sprint(run), way)
			// A run is a slice of ids that the caller may keep but not grow into the next.
			if cap(run) != len(run) {
				t.Fatalf("ids %v: run %v has room for %d more", c.ids, run, cap(run)-len(run))
			}
		}
		if s := fmt.Sprint(got); s != c.want {
			t.Fatalf("ids %v: runs %s, want %s", c.ids, s, c.want)
		}
	}
}
