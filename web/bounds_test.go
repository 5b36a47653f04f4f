package web

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/internal/oidctest"
)

func TestAttemptLimiterStaysBoundedWhateverCallersSend(t *testing.T) {
	clk := oidctest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	const max = 200
	l := newAttemptLimiter(clk.Now, max)
	long := strings.Repeat("x", 60<<10)
	for i := range 2000 {
		// User names of 60 KB and fresh addresses, each a new key.
		l.take(limitLoginUser, long+string(rune('a'+i%26))+strings.Repeat("y", i))
		l.take(limitLoginIP, netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}).String())
		if len(l.windows) > max || l.order.Len() != len(l.windows) {
			t.Fatalf("after %d keys: %d windows, %d in order; want at most %d, the same", 2*(i+1), len(l.windows), l.order.Len(), max)
		}
	}

	t.Run("a key in use keeps its count while a flood of fresh keys passes", func(t *testing.T) {
		for range limitTOTPUser.count {
			l.add(limitTOTPUser, "victim")
			for j := range max / 2 { // fewer fresh keys between two uses than the table holds
				l.take(limitSignupIP, "flood"+strings.Repeat("z", j)+clk.Now().String())
			}
		}
		if _, blocked := l.blocked(limitTOTPUser, "victim"); !blocked {
			t.Fatal("the victim's count was forgotten")
		}
	})
	t.Run("windows that ended are swept", func(t *testing.T) {
		clk.Advance(25 * time.Hour)
		l.take(limitLoginIP, "203.0.113.1")
		if len(l.windows) != 1 {
			t.Fatalf("%d windows a day later, want only the new one", len(l.windows))
		}
	})
}

func TestExchangeLimiterForgetsAClientWhenFull(t *testing.T) {
	clk := oidctest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	l := newLimiter(RateLimit{Requests: 3, Per: time.Minute}, clk.Now)
	l.max = 500
	for i := range 5000 {
		var a [16]byte
		a[0], a[1], a[2], a[3] = 0x20, 0x01, byte(i>>8), byte(i)
		if allowed, _ := l.allow(netip.AddrFrom16(a)); !allowed {
			t.Fatalf("client %d, new, was refused", i)
		}
		if len(l.buckets) > l.max {
			t.Fatalf("%d clients tracked, want at most %d", len(l.buckets), l.max)
		}
	}
	busy := netip.MustParseAddr("203.0.113.1")
	for range 3 {
		l.allow(busy)
	}
	if allowed, _ := l.allow(busy); allowed {
		t.Fatal("a client past its limit was admitted while the table was full")
	}
}

func TestLoggedValuesAreCut(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewTextHandler(&buf, nil)))
	long := strings.Repeat("é", 40<<10) // two bytes a rune: a cut must not split one
	log.With("issuer", long).Info("exchange failed", "reason", errors.New("unknown issuer "+long),
		slog.Group("claims", "repository", long), "short", "kept")
	line := buf.String()
	if len(line) > 5*maxLogValue {
		t.Fatalf("a line of %d bytes", len(line))
	}
	if !strings.Contains(line, "short=kept") || strings.Count(line, "[81920 bytes]") != 2 || !strings.Contains(line, "[81935 bytes]") {
		t.Fatalf("line %.300q… does not keep short values and say how long the cut ones were", line)
	}
	if strings.ContainsRune(line, '\uFFFD') {
		t.Fatal("a cut split a character")
	}
}
