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
// may cost. Such a connection's next exchange requests from the same client take turns
// with those of every other such connection, one at a time across the server and at most
// one per Interval, until one of its requests succeeds. A client sending made-up tokens as
// fast as the replies come back is then served at that pace, leaving the processors to the
// exchanges of connections that have not been refused; a CI job's request on a new
// connection, or on one whose last exchange succeeded, never waits for this lane. The
// client is the connection's peer, or, from a trusted proxy (RateLimit.TrustedProxies),
// the client it names: a proxy's connection carries many clients' requests, and one
// client's refusals do not send the others' to the lane.
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
	// was answered with an error; nil when it was not.
	refused atomic.Pointer[string]
}

// refusedLane is the turn of requests on refused connections.
type refusedLane struct {
	interval, wait time.Duration
	turn           chan struct{}
	next           time.Time // the earliest start of the next turn; read and set by the turn's holder
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
// remembers whether each request was refused.
func (s *server) refusedConnections(lane *refusedLane) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			conn, ok := c.Request().Context().Value(connKey{}).(*connState)
			if !ok {
				return next(c)
			}
			client, laned := "", false
			if last := conn.refused.Load(); last != nil {
				client = s.clientIP(c.Request())
				laned = *last == client
			}
			if laned {
				// The body is read before the wait: a server notices that a client went
				// away only once the request's body is read, and a request whose client
				// has gone must leave the queue, not take a turn.
				req := c.Request()
				read, _ := io.ReadAll(io.LimitReader(req.Body, MaxBodyBytes+1))
				req.Body = struct {
					io.Reader
					io.Closer
				}{io.MultiReader(bytes.NewReader(read), req.Body), req.Body}
				if err := lane.enter(req.Context()); err != nil {
					if errors.Is(err, errNoTurn) {
						s.cfg.Metrics.refusedTurn("no_turn")
						c.Response().Header().Set("Retry-After", strconv.Itoa(int(lane.wait.Seconds())+1))
						return s.reply(c, http.StatusServiceUnavailable, "unavailable",
							"this connection's earlier token requests were refused, and its turn among such connections did not come in time; retry later, or on a new connection")
					}
					// The client has gone: the reply is for the request log.
					s.cfg.Metrics.refusedTurn("gone")
					return s.reply(c, http.StatusServiceUnavailable, "unavailable", "the request ended while it waited for its turn")
				}
				s.cfg.Metrics.refusedTurn("served")
				defer lane.leave()
			}
			err := next(c)
			if err == nil && c.Response().Status < http.StatusBadRequest {
				conn.refused.Store(nil)
				return nil
			}
			if client == "" {
				client = s.clientIP(c.Request())
			}
			conn.refused.Store(&client)
			return err
		}
	}
}
