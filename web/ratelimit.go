package web

import (
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// RateLimit limits exchange requests per client address. The zero value limits nothing,
// which is the default: hosted CI runners share addresses, and a limit that one busy
// neighbour exhausts would fail everyone's releases. Each replica counts on its own, so
// N replicas behind a balancer admit up to N times the limit.
type RateLimit struct {
	// Requests is how many requests a client may make in Per, in a burst or spread out;
	// 0 disables the limit.
	Requests int
	Per      time.Duration
	// TrustedProxies are the balancers whose X-Forwarded-For is believed; without them
	// the address of the connection is the client's.
	TrustedProxies []netip.Prefix
}

// maxClients bounds the limiter's table (some 100 bytes a client). When it is full a
// client picked at random is forgotten to make room, as if it had been idle: the limit
// is abuse damping, and a table an attacker can grow without bound would be a worse
// problem than the one it damps.
const maxClients = 100_000

// limiter is a token bucket per client: Requests tokens, refilled at Requests per Per.
type limiter struct {
	burst, perSecond float64
	per              time.Duration
	now              func() time.Time
	max              int // clients tracked at most

	mu        sync.Mutex
	buckets   map[netip.Addr]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(rl RateLimit, now func() time.Time) *limiter {
	return &limiter{
		burst:     float64(rl.Requests),
		perSecond: float64(rl.Requests) / rl.Per.Seconds(),
		per:       rl.Per,
		now:       now,
		max:       maxClients,
		buckets:   map[netip.Addr]*bucket{},
	}
}

// allow takes a token for client; when none is left it says how long until one is.
func (l *limiter) allow(client netip.Addr) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.lastSweep) >= l.per {
		// A bucket untouched for Per is full again: forgetting it changes nothing.
		for k, b := range l.buckets {
			if now.Sub(b.at) >= l.per {
				delete(l.buckets, k)
			}
		}
		l.lastSweep = now
	}
	b, ok := l.buckets[client]
	if !ok {
		for k := range l.buckets { // map order is random enough to pick a victim
			if len(l.buckets) < l.max {
				break
			}
			delete(l.buckets, k)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[client] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.perSecond)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.perSecond * float64(time.Second))
}

// limit is the middleware of the exchange routes.
func (s *server) limit(l *limiter) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			client, ok := clientKey(s.clientIP(c.Request()))
			if !ok {
				return next(c)
			}
			allowed, wait := l.allow(client)
			if allowed {
				return next(c)
			}
			secs := int(math.Ceil(wait.Seconds()))
			c.Response().Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			s.log(c).Info("exchange rate limited", "client", client.String(), "retry_after_seconds", max(secs, 1))
			return s.reply(c, http.StatusTooManyRequests, "rate-limited", "too many token requests from this address; retry after the number of seconds in Retry-After")
		}
	}
}
