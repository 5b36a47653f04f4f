package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
)

// TestRequestsPastTheLanesBoundsAreAnsweredAtOnce: a refused connection's request is
// answered 503 at once, without waiting, when as many requests wait as turns can start
// within the wait, or when another request of its connection (an HTTP/2 stream) waits.
func TestRequestsPastTheLanesBoundsAreAnsweredAtOnce(t *testing.T) {
	cases := []struct {
		name string
		fill func(*refusedLane, *connState)
	}{
		{"The lane's queue is full", func(l *refusedLane, _ *connState) { l.waiters.Store(l.mayWait()) }},
		{"Another request of the connection waits", func(_ *refusedLane, c *connState) { c.waiting.Store(true) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A turn an hour away and a wait of an hour: any wait would outlast the test.
			lane := newRefusedLane(RefusedConnections{Interval: time.Hour, Wait: time.Hour})
			lane.next = time.Now().Add(time.Hour)
			conn := &connState{}
			tc.fill(lane, conn)
			waiters := lane.waiters.Load()
			rec := httptest.NewRecorder()
			c := echo.New().NewContext(httptest.NewRequest(http.MethodPost, "/_/oidc/mint-token", strings.NewReader(`{"token":"x"}`)), rec)
			ok, err := (&server{}).takeTurn(c, conn, lane)
			if ok || err != nil {
				t.Fatalf("took a turn (%v, %v), want a reply instead", ok, err)
			}
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), `"unavailable"`) {
				t.Fatalf("replied %d, Retry-After %q: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
			}
			if lane.waiters.Load() != waiters || len(lane.turn) != 0 {
				t.Fatalf("left %d waiters (was %d) and %d turns taken", lane.waiters.Load(), waiters, len(lane.turn))
			}
		})
	}
}
