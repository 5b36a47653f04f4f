package main

import (
	"io"
	"strings"
	"testing"
)

func TestRoundSpread(t *testing.T) {
	for _, tc := range []struct {
		name           string
		rounds         []float64
		lo, median, hi float64
	}{
		{"No rounds give zeros", nil, 0, 0, 0},
		{"One round is its own least, median and most", []float64{0.9}, 0.9, 0.9, 0.9},
		{"An odd number of rounds has the middle one as median", []float64{1.2, 0.7, 0.9}, 0.7, 0.9, 1.2},
		{"An even number of rounds has the mean of the middle two as median", []float64{1.0, 0.6, 0.8, 1.4}, 0.6, 0.9, 1.4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := dexLevel{byRound: tc.rounds}
			lo, median, hi := l.roundSpread()
			if lo != tc.lo || median != tc.median || hi != tc.hi {
				t.Fatalf("roundSpread(%v) = %v, %v, %v; want %v, %v, %v", tc.rounds, lo, median, hi, tc.lo, tc.median, tc.hi)
			}
			if len(tc.rounds) > 0 && tc.rounds[0] != l.byRound[0] {
				t.Fatalf("roundSpread reordered the rounds: %v", l.byRound)
			}
		})
	}
}

func TestDexRoundsOutOfRangeAreRefused(t *testing.T) {
	for _, n := range []string{"0", "-1", "21"} {
		err := run([]string{"-dex", "/nonexistent/dex", "-dex-only", "-dex-rounds", n}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "-dex-rounds must be between 1 and 20") {
			t.Errorf("-dex-rounds %s: got %v, want a refusal naming the range", n, err)
		}
	}
}

func TestWALPerExchange(t *testing.T) {
	if got := (walUse{}).per(10); got != "" {
		t.Fatalf("unmeasured WAL shows %q; want nothing", got)
	}
	if got := (walUse{measured: true, bytes: 80_000}).per(0); got != "" {
		t.Fatalf("WAL of no exchanges shows %q; want nothing", got)
	}
	if got := (walUse{measured: true, bytes: 80_000}).per(10); got != "8000 B" {
		t.Fatalf("80,000 bytes over 10 exchanges show %q; want 8000 B", got)
	}
}
