package web

import (
	"sync"
	"time"
)

// uiLimiter counts attempts per key (a user, an address) in fixed windows. It lives in the
// process: each replica counts on its own, so N replicas admit up to N times a limit. That
// is accepted (README, "Owner web UI"): the limits damp guessing, and TOTP codes are also
// single-use in the shared database.
type uiLimiter struct {
	now func() time.Time

	mu        sync.Mutex
	windows   map[string]*uiWindow
	lastSweep time.Time
}

type uiWindow struct {
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
)

func newUILimiter(now func() time.Time) *uiLimiter {
	return &uiLimiter{now: now, windows: map[string]*uiWindow{}}
}

// window returns the current window of l for key, starting a new one when the last ended.
func (l *uiLimiter) window(lim uiLimit, key string, now time.Time) *uiWindow {
	if now.Sub(l.lastSweep) >= time.Minute {
		for k, w := range l.windows {
			if now.Sub(w.start) >= w.span {
				delete(l.windows, k)
			}
		}
		l.lastSweep = now
	}
	k := lim.name + "\x00" + key
	w, ok := l.windows[k]
	if !ok || now.Sub(w.start) >= w.span {
		w = &uiWindow{start: now, span: lim.per}
		l.windows[k] = w
	}
	return w
}

// blocked reports whether key has used up lim, and for how long, without counting.
func (l *uiLimiter) blocked(lim uiLimit, key string) (time.Duration, bool) {
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
func (l *uiLimiter) add(lim uiLimit, key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.window(lim, key, l.now()).count++
}

// take counts an attempt unless key has used up lim, in which case it says how long to wait.
func (l *uiLimiter) take(lim uiLimit, key string) (time.Duration, bool) {
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
