package exchange

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/verify"
)

// pub is an active publisher with id on project, registered by user by, bound to env.
func pub(id int64, project string, by int64, env string) store.Publisher {
	return store.Publisher{Publisher: policy.Publisher{ID: id, Kind: policy.GitHub, Environment: env}, ProjectName: project, CreatedBy: by}
}

func keys(cs []candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.key
	}
	return out
}

func TestChoose(t *testing.T) {
	many := func(by int64, n int, firstID int64) []store.Publisher {
		var out []store.Publisher
		for i := range n {
			out = append(out, pub(firstID+int64(i), fmt.Sprintf("u%d-%03d", by, i), by, ""))
		}
		return out
	}
	for _, c := range []struct {
		name    string
		matched []store.Publisher
		want    string
		check   func(t *testing.T, got []string)
	}{
		{name: "registrants take turns: one with many projects gets one place per turn, whatever the age of its publishers",
			matched: append(many(7, 5, 1), pub(100, "victim", 9, ""), pub(101, "other", 8, "")),
			check: func(t *testing.T, got []string) {
				if want := []string{"u7-000", "other", "victim", "u7-001", "u7-002", "u7-003", "u7-004"}; !slices.Equal(got, want) {
					t.Errorf("got %v, want %v", got, want)
				}
			}},
		{name: "a registrant with a publisher bound to the job's environment goes first, before lower user ids",
			matched: append(many(1, 3, 1), pub(50, "bound", 9, "prod")),
			check: func(t *testing.T, got []string) {
				if got[0] != "bound" {
					t.Errorf("got %v, want the environment-bound project first", got)
				}
			}},
		{name: "a project stands for its most specific publisher, whoever registered the others",
			matched: []store.Publisher{pub(1, "shared", 1, ""), pub(2, "shared", 2, "prod"), pub(3, "mine", 1, "")},
			check: func(t *testing.T, got []string) {
				if want := []string{"shared", "mine"}; !slices.Equal(got, want) {
					t.Errorf("got %v, want %v: shared through user 2's bound publisher, then user 1's", got, want)
				}
			}},
		{name: "a token covers at most MaxTokenProjects projects",
			matched: append(many(1, 150, 1), many(2, 150, 1000)...),
			check: func(t *testing.T, got []string) {
				if len(got) != MaxTokenProjects {
					t.Errorf("covers %d projects, want %d", len(got), MaxTokenProjects)
				}
			}},
		{name: "a token's names stay within MaxTokenProjectBytes",
			matched: func() []store.Publisher {
				var out []store.Publisher
				for i := range 100 {
					out = append(out, pub(int64(i+1), fmt.Sprintf("%03d-%s", i, strings.Repeat("x", 96)), int64(i+1), ""))
				}
				return out
			}(),
			check: func(t *testing.T, got []string) {
				size := 0
				for _, k := range got {
					size += len(k) + 3
				}
				if size > MaxTokenProjectBytes || len(got) == 0 || len(got) == 100 {
					t.Errorf("%d projects of %d bytes in all, want as many as fit in %d", len(got), size, MaxTokenProjectBytes)
				}
			}},
		{name: "a client naming its project, in any spelling, gets that project alone",
			matched: append(many(1, 3, 1), pub(9, "Victim_App", 9, "")), want: "victim.app",
			check: func(t *testing.T, got []string) {
				if !slices.Equal(got, []string{"victim-app"}) {
					t.Errorf("got %v, want [victim-app]", got)
				}
			}},
	} {
		t.Run(c.name, func(t *testing.T) { c.check(t, keys(choose(c.matched, nil, c.want, verify.PyPINames))) })
	}
}
