package providers_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/providers"
)

// allocated runs f n times and reports the allocations and bytes per run. Tests that use
// it do not run in parallel: the counters are process-wide.
func allocated(n int, f func()) (allocs, bytes float64) {
	f() // warm up lazily initialized state
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		f()
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / float64(n), float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
}

// Inputs of the wrong shape are refused by a scan that stops at the first offending byte
// and allocates nothing but the error, whatever their size.
func TestMisshapenTokensAreRefusedBeforeParsingInBoundedMemory(t *testing.T) {
	w := newWorld(t)
	iss := w.issuer()
	genuine := iss.Sign(iss.GitHubClaims(nil))
	parts := strings.Split(genuine, ".")
	huge := parts[0] + "." + strings.Repeat("A", 200<<10) + "." + parts[2]
	for _, limit := range []struct {
		name  string
		bytes int
	}{{"under the default limit", 0}, {"under a 1 MiB limit", 1 << 20}} {
		s := w.set(func(c *providers.Config) { c.MaxTokenBytes = limit.bytes }, github(iss))
		for _, tc := range []struct{ name, raw string }{
			{"an empty string", ""},
			{"one segment", "eyJhbGciOiJSUzI1NiJ9"},
			{"two segments", parts[0] + "." + parts[1]},
			{"four segments", genuine + ".AAAA"},
			{"five segments, all empty", "...."},
			{"100,000 dots", strings.Repeat(".", 100_000)},
			{"100,000 dots after a genuine token", genuine + strings.Repeat(".", 100_000)},
			{"an empty signature", parts[0] + "." + parts[1] + "."},
			{"an empty header", "." + parts[1] + "." + parts[2]},
			{"a character outside base64url", parts[0] + "." + parts[1] + "!." + parts[2]},
			{"standard base64 instead of base64url", parts[0] + "." + parts[1] + "+/." + parts[2]},
			{"base64 padding", parts[0] + "=." + parts[1] + "." + parts[2]},
			{"a newline", parts[0] + "\n." + parts[1] + "." + parts[2]},
			{"surrounding space", " " + genuine + " "},
			{"bytes that are not UTF-8", parts[0] + ".\xff\xfe\xfd." + parts[2]},
			{"a segment of a length base64 cannot have", parts[0] + ".AAAAA." + parts[2]},
			{"the JSON serialization", `{"payload":"` + parts[1] + `","signatures":[]}`},
			{"200 KB", huge},
		} {
			if limit.bytes > 0 && tc.raw == huge {
				continue // under a 1 MiB limit this is a well-shaped token, decoded on purpose
			}
			t.Run(limit.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				_, err := s.Verify(ctx, tc.raw)
				if !errors.Is(err, providers.ErrMalformed) {
					t.Fatalf("Verify: %v, want ErrMalformed", err)
				}
				allocs, bytes := allocated(200, func() { _, _ = s.Verify(ctx, tc.raw) })
				t.Logf("%v; %.1f allocations, %.0f bytes per call", err, allocs, bytes)
				if allocs > 6 || bytes > 1024 {
					t.Fatalf("refusing %d bytes took %.0f allocations and %.0f bytes per call", len(tc.raw), allocs, bytes)
				}
			})
		}
	}
	noRequests(t, iss)
}
