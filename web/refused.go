package web

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
)

// RefusedConnections bounds what a connection whose last exchange request was refused
// for the client's fault (a 4xx reply other than 429) may cost. Such a connection's next
// exchange requests from the same client take turns with those of every other such
// connection, one at a time across the server and at most one started per Interval, until
// a request on it is answered without such a refusal. A client sending made-up tokens as
// fast as the replies come back is then served at that pace, leaving the processors to the
// exchanges of connections that have not been refused; a CI job's request on a new
// connection, or on one whose last exchange succeeded, never waits for this lane, and
// failures that are not the client's (rate limits, an unavailable database or issuer) mark
// no connection. The client is the connection's peer, or, from a trusted proxy
// (RateLimit.TrustedProxies), the client it names: a proxy's connection carries many
// clients' requests, and one client's refusals do not send the others' to the lane. A
// request whose client address cannot be told is never sent to the lane.
//
// Connections are told apart only where the http.Server's ConnContext is ConnContext;
// elsewhere every request is served as a new connection's.
type RefusedConnections struct {
	// Interval is the least time between the starts of two such requests; 0 is
	// DefaultRefusedInterval.
	Interval time.Duration
	// Wait is how long such a request waits for its turn before it is answered 503 with
	// Retry-After; 0 is DefaultRefusedWait.
	Wait time.Duration
}

const (
	// DefaultRefusedInterval lets refused connections cost at most a thousand requests a
	// second, a small share of one processor.
	DefaultRefusedInterval = time.Millisecond
	// DefaultRefusedWait is long enough for a queue of ten thousand such requests.
	DefaultRefusedWait = 10 * time.Second
)

// ConnContext is the http.Server ConnContext that lets the exchange routes tell a
// connection's requests apart from other connections'.
func ConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, new(connState))
}

type connKey struct{}

// connState is what the exchange routes remember of one connection.
type connState struct {
	// refused is the client of the connection's last exchange request when that request
	// was refused for the client's fault; nil when it was not.
	refused atomic.Pointer[string]
	// waiting: a request of the connection waits for a turn.
	waiting atomic.Bool
}

// refusedLane is the turn of requests on refused connections.
type refusedLane struct {
	interval, wait time.Duration
	turn           chan struct{}
	next           time.Time // the earliest start of the next turn; read and set by the turn's holder
	waiters        atomic.Int64
}

func newRefusedLane(rc RefusedConnections) *refusedLane {
	if rc.Interval <= 0 {
		rc.Interval = DefaultRefusedInterval
	}
	if rc.Wait <= 0 {
		rc.Wait = DefaultRefusedWait
	}
	return &refusedLane{interval: rc.Interval, wait: rc.Wait, turn: make(chan struct{}, 1)}
}

// mayWait bounds the requests waiting for a turn: past the turns that start within the
// wait, a request could never be served in time. Past it, and past one waiting request per
// connection (HTTP/2 streams share a connection), a request is answered at once.
func (l *refusedLane) mayWait() int64 { return int64(l.wait/l.interval) + 1 }

// errNoTurn is a request that waited Wait without its turn coming.
var errNoTurn = errors.New("no turn within the wait")

// enter waits for a turn, at most Wait, and at least until Interval after the previous
// turn's start; the caller calls leave when its request is done.
func (l *refusedLane) enter(ctx context.Context) error {
	deadline := time.NewTimer(l.wait)
	defer deadline.Stop()
	select {
	case l.turn <- struct{}{}:
	case <-deadline.C:
		return errNoTurn
	case <-ctx.Done():
		return ctx.Err()
	}
	if d := time.Until(l.next); d > 0 {
		pace := time.NewTimer(d)
		defer pace.Stop()
		select {
		case <-pace.C:
		case <-deadline.C:
			l.leave()
			return errNoTurn
		case <-ctx.Done():
			l.leave()
			return ctx.Err()
		}
	}
	l.next = time.Now().Add(l.interval)
	return nil
}

func (l *refusedLane) leave() { <-l.turn }

// refusedConnections sends the exchange requests of refused connections through lane, and
// remembers whether each request was refused for the client's fault.
func (s *server) refusedConnections(lane *refusedLane) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			conn, ok := c.Request().Context().Value(connKey{}).(*connState)
			if !ok {
				return next(c)
			}
			client := ""
			if last := conn.refused.Load(); last != nil {
				client = s.clientIP(c.Request())
				if client != "" && *last == client {
					ok, err := s.takeTurn(c, conn, lane)
					if !ok {
						return err
					}
					defer lane.leave()
				}
			}
			err := next(c)
			switch status := c.Response().Status; {
			case err == nil && status < http.StatusBadRequest:
				conn.refused.Store(nil)
			case err == nil && status < http.StatusInternalServerError && status != http.StatusTooManyRequests:
				if client == "" {
					client = s.clientIP(c.Request())
				}
				if client != "" {
					conn.refused.Store(&client)
				}
			}
			return err
		}
	}
}

// takeTurn waits for a turn of lane for c's request (ok); when none comes, it has replied
// and err is the reply's.
func (s *server) takeTurn(c echo.Context, conn *connState, lane *refusedLane) (ok bool, err error) {
	noTurn := func(result, description string) (bool, error) {
		s.cfg.Metrics.refusedTurn(result)
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(lane.wait.Seconds())+1))
		return false, s.reply(c, http.StatusServiceUnavailable, "unavailable", description)
	}
	const busy = "this connection's earlier token requests were refused, and its turn among such connections did not come in time; retry later, or on a new connection"
	if !conn.waiting.CompareAndSwap(false, true) {
		return noTurn("no_turn", busy)
	}
	defer conn.waiting.Store(false)
	if lane.waiters.Add(1) > lane.mayWait() {
		lane.waiters.Add(-1)
		return noTurn("no_turn", busy)
	}
	defer lane.waiters.Add(-1)
	// The body is read before the wait: a server notices that a client went away only once
	// the request's body is read, and a request whose client has gone must leave the
	// queue, not take a turn. A body declared too large is left to the handler's refusal.
	req := c.Request()
	if req.ContentLength <= MaxBodyBytes {
		read, _ := readAtMost(req.Body)
		req.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(read), req.Body), req.Body}
	}
	switch err := lane.enter(req.Context()); {
	case errors.Is(err, errNoTurn):
		return noTurn("no_turn", busy)
	case err != nil:
		// The client has gone: the reply is for the request log.
		return noTurn("gone", "the request ended while it waited for its turn")
	}
	s.cfg.Metrics.refusedTurn("served")
	return true, nil
}
