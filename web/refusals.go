package web

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tpx-dev/tpx/exchange"
)

// quietKey marks a request whose lines are not logged (logRefusal).
const quietKey = "tpx.quiet"

// Lines about refusals that anyone can cause for free — a body or token that is not one,
// a token that does not verify, a full verification queue — are logged at most
// refusalLines a second (refusalBurst at once). Past that they are only counted: in the
// metrics, as every exchange is, and in the unlogged_refusals of the next such line that
// is logged. A flood then costs the log a few lines a second, not two lines a request,
// and what it was is still in the log.
const (
	refusalLines = 20
	refusalBurst = 200
)

// cheapRefusals are the classes of refusal that lineBudget bounds: those given before any
// database work. A refusal after verification (no publisher matched, a reused token) is a
// real CI job's, and is always logged.
var cheapRefusals = []error{exchange.ErrInvalidPayload, exchange.ErrInvalidToken, exchange.ErrNotEnabled, exchange.ErrBusy}

// lineBudget is a token bucket of log lines.
type lineBudget struct {
	mu       sync.Mutex
	lines    float64
	at       time.Time
	unlogged int64
}

// take spends a line if one is left, and returns how many lines were not logged since the
// last one that was.
func (b *lineBudget) take(now time.Time) (ok bool, unlogged int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.at.IsZero() {
		b.lines = refusalBurst
	} else if d := now.Sub(b.at).Seconds(); d > 0 {
		b.lines = min(refusalBurst, b.lines+d*refusalLines)
	}
	b.at = now
	if b.lines < 1 {
		b.unlogged++
		return false, 0
	}
	b.lines--
	unlogged, b.unlogged = b.unlogged, 0
	return true, unlogged
}

// logRefusal reports whether the lines of an exchange refused with class are logged, and
// when they are not, marks the request so that its request line is not either. Unlogged
// refusals since the last logged one are logged with it.
func (s *server) logRefusal(c echo.Context, class error) bool {
	cheap := false
	for _, r := range cheapRefusals {
		if errors.Is(class, r) {
			cheap = true
			break
		}
	}
	if !cheap {
		return true
	}
	ok, unlogged := s.refusals.take(time.Now())
	switch {
	case !ok:
		c.Set(quietKey, true)
	case unlogged > 0:
		s.cfg.Logger.LogAttrs(c.Request().Context(), slog.LevelWarn, "exchange refusals not logged, past the bound on their lines", slog.Int64("unlogged_refusals", unlogged))
	}
	return ok
}
