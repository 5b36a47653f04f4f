package web

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// attemptLimiter counts attempts per key (a user, an address) in fixed windows. It lives in the
// process: each replica counts on its own, so N replicas admit up to N times a limit. That
// is accepted (README, "Owner web UI"): the limits damp guessing, and TOTP codes are also
// single-use in the shared database.
//
// Its memory is bounded whatever callers send: keys are kept as fixed-size digests, so a
// 60 KB user name costs what a short one does, and at most max windows are tracked. When
// the table is full the window that started longest ago is forgotten to make room, so
// that a flood of fresh keys costs the flooder its own oldest counts first and never
// stops tpx from counting the keys in use now.
type attemptLimiter struct {
	now func() time.Time
	max int

	mu        sync.Mutex
	windows   map[windowKey]*list.Element // of *uiWindow
	order     *list.List                  // windows by start, oldest first
	lastSweep time.Time
}

// windowKey names one key's window under one limit.
type windowKey struct {
	limit  string // a uiLimit's name: one of a few constants
	digest [16]byte
}

type uiWindow struct {
	key   windowKey
	start time.Time
	span  time.Duration
	count int
}

// A uiLimit is how many attempts a key may make per window.
type uiLimit struct {
	name  string
	count int
	per   time.Duration
}

// The owner web UI's limits. TOTP's and publisher registration's are PyPI's figures.
var (
	limitLoginIP        = uiLimit{"login-ip", 30, 5 * time.Minute}
	limitLoginUser      = uiLimit{"login-user", 10, 5 * time.Minute}
	limitTOTPUser       = uiLimit{"totp-user", 5, 5 * time.Minute}
	limitRecoveryUser   = uiLimit{"recovery-user", 5, 15 * time.Minute}
	limitRecoveryIP     = uiLimit{"recovery-ip", 20, 15 * time.Minute}
	limitPublisherUser  = uiLimit{"publisher-user", 100, 24 * time.Hour}
	limitPublisherIP    = uiLimit{"publisher-ip", 100, 24 * time.Hour}
	limitSignupIP       = uiLimit{"signup-ip", 10, time.Hour}
	limitVerifyMailUser = uiLimit{"verify-mail-user", 5, time.Hour}
	// Failed introspection requests per address: an upload service that has the secret
	// never fails, so a few mistakes a minute are plenty.
	limitIntrospectIP = uiLimit{"introspect-ip", 10, time.Minute}
)

// maxAttemptWindows bounds the windows tracked: about 100 bytes each, so some 10 MB at most.
const maxAttemptWindows = 100_000

func newAttemptLimiter(now func() time.Time, max int) *attemptLimiter {
	return &attemptLimiter{now: now, max: max, windows: map[windowKey]*list.Element{}, order: list.New()}
}

// window returns the current window of l for key, starting a new one when the last ended.
func (l *attemptLimiter) window(lim uiLimit, key string, now time.Time) *uiWindow {
	if now.Sub(l.lastSweep) >= time.Minute {
		for e := l.order.Front(); e != nil; {
			next := e.Next()
			if w := e.Value.(*uiWindow); now.Sub(w.start) >= w.span {
				l.forget(e)
			}
			e = next
		}
		l.lastSweep = now
	}
	sum := sha256.Sum256([]byte(key))
	k := windowKey{limit: lim.name}
	copy(k.digest[:], sum[:])
	if e, ok := l.windows[k]; ok {
		w := e.Value.(*uiWindow)
		if now.Sub(w.start) < w.span {
			return w
		}
		l.forget(e)
	}
	for len(l.windows) >= l.max {
		l.forget(l.order.Front())
	}
	w := &uiWindow{key: k, start: now, span: lim.per}
	l.windows[k] = l.order.PushBack(w)
	return w
}

func (l *attemptLimiter) forget(e *list.Element) {
	delete(l.windows, e.Value.(*uiWindow).key)
	l.order.Remove(e)
}

// blocked reports whether key has used up lim, and for how long, without counting.
func (l *attemptLimiter) blocked(lim uiLimit, key string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.window(lim, key, now)
	if w.count >= lim.count {
		return w.start.Add(w.span).Sub(now), true
	}
	return 0, false
}

// add counts one attempt of key against lim.
func (l *attemptLimiter) add(lim uiLimit, key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.window(lim, key, l.now()).count++
}

// take counts an attempt unless key has used up lim, in which case it says how long to wait.
func (l *attemptLimiter) take(lim uiLimit, key string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.window(lim, key, now)
	if w.count >= lim.count {
		return w.start.Add(w.span).Sub(now), false
	}
	w.count++
	return 0, true
}
