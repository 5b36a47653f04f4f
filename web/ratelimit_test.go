package web

import (
	"net/netip"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/internal/oidctest"
)

func TestLimiterIsATokenBucketPerClient(t *testing.T) {
	a, b := netip.MustParseAddr("203.0.113.1"), netip.MustParseAddr("203.0.113.2")
	type step struct {
		after  time.Duration // clock advance before the request
		client netip.Addr
		allow  bool
		retry  time.Duration // wait announced on a refusal
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"A client may spend its whole allowance at once, then waits for one request's worth", []step{
			{0, a, true, 0}, {0, a, true, 0}, {0, a, true, 0}, {0, a, false, 20 * time.Second},
		}},
		{"The allowance refills at the rate of the limit", []step{
			{0, a, true, 0}, {0, a, true, 0}, {0, a, true, 0},
			{20 * time.Second, a, true, 0}, {0, a, false, 20 * time.Second},
			{10 * time.Second, a, false, 10 * time.Second},
		}},
		{"One client's spending leaves another's allowance whole", []step{
			{0, a, true, 0}, {0, a, true, 0}, {0, a, true, 0}, {0, a, false, 20 * time.Second},
			{0, b, true, 0}, {0, b, true, 0}, {0, b, true, 0},
		}},
		{"An idle client's allowance is whole again after the period, forgotten or not", []step{
			{0, a, true, 0}, {0, a, true, 0}, {0, a, true, 0},
			{time.Hour, b, true, 0},
			{0, a, true, 0}, {0, a, true, 0}, {0, a, true, 0}, {0, a, false, 20 * time.Second},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := oidctest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
			l := newLimiter(RateLimit{Requests: 3, Per: time.Minute}, clk.Now)
			for i, s := range c.steps {
				clk.Advance(s.after)
				allow, retry := l.allow(s.client)
				if allow != s.allow || retry.Round(time.Millisecond) != s.retry {
					t.Fatalf("step %d: allow %v retry %v, want %v %v", i, allow, retry, s.allow, s.retry)
				}
			}
		})
	}
}

func TestLimiterForgetsIdleClients(t *testing.T) {
	clk := oidctest.NewClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	l := newLimiter(RateLimit{Requests: 3, Per: time.Minute}, clk.Now)
	for i := range 1000 {
		l.allow(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}))
	}
	clk.Advance(time.Minute)
	l.allow(netip.MustParseAddr("203.0.113.1"))
	if n := len(l.buckets); n != 1 {
		t.Fatalf("%d clients remembered a period after they went idle, want only the new one", n)
	}
}

func TestClientKey(t *testing.T) {
	cases := []struct {
		name, ip, want string
	}{
		{"An IPv4 address is its own key", "203.0.113.9", "203.0.113.9"},
		{"An IPv4-mapped IPv6 address is the IPv4 address", "::ffff:203.0.113.9", "203.0.113.9"},
		{"An IPv6 address is counted by its /64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::"},
		{"Anything else is no client", "unix-socket", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := clientKey(c.ip)
			if (c.want == "") == ok || (ok && got.String() != c.want) {
				t.Fatalf("clientKey(%q) = %v, %v; want %q", c.ip, got, ok, c.want)
			}
		})
	}
}
