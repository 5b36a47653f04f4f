package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/fault"
	"github.com/tpx-dev/tpx/signin"
	"github.com/tpx-dev/tpx/store"
)

// UIConfig wires the owner web UI: server-rendered pages for signing up, logging in with
// a second factor, and managing projects and trusted publishers. Config.UI nil serves the
// API alone.
type UIConfig struct {
	Accounts *account.Service
	// Store keeps the sessions, so that every replica knows every session.
	Store UIStore
	// PublicURL is where browsers reach tpx: the origin forms must come from, and whether
	// cookies are Secure (always, except for http://127.0.0.1).
	PublicURL string
	// SignIn is sign-in through the package index's OpenID provider; nil offers none.
	SignIn *signin.RP
}

// UIStore is the part of store.Store the web UI uses itself; everything else goes through
// the account service, where the rules are.
type UIStore interface {
	CreateSession(ctx context.Context, s store.Session) error
	Session(ctx context.Context, id string, now time.Time) (store.Session, error)
	RenewSession(ctx context.Context, oldID string, s store.Session) error
	DeleteSession(ctx context.Context, id string) error
	TouchSession(ctx context.Context, id string, at time.Time, address, userAgent string) error
	UserByID(ctx context.Context, id int64) (store.User, error)
}

// Session lifetimes: a whole session, and the step between password and second factor.
const (
	sessionLifetime      = 12 * time.Hour
	secondFactorLifetime = 10 * time.Minute
	// uiMaxBody caps a form: the largest is a WebAuthn answer of a few kilobytes.
	uiMaxBody = 64 << 10
	// touchEvery is how often a session's last use is written: the account page shows it
	// to the minute, and most requests then write nothing.
	touchEvery = time.Minute
	// maxUserAgent caps the user agent a session keeps: it is the visitor's to choose.
	maxUserAgent = 200
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// ui serves the owner web UI.
type ui struct {
	s      *server
	cfg    UIConfig
	pages  map[string]*template.Template
	origin string
	secure bool
	cookie string
	limits *attemptLimiter
}

// registerUI adds the owner web UI's routes to e.
func registerUI(e *echo.Echo, s *server, cfg UIConfig) error {
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("web UI: public URL %q is not an absolute URL", cfg.PublicURL)
	}
	h := &ui{s: s, cfg: cfg, origin: u.Scheme + "://" + u.Host, limits: newAttemptLimiter(s.cfg.Now, maxAttemptWindows)}
	// Browsers keep Secure cookies from plain-http pages only for secure contexts; an
	// operator trying tpx on their own machine at 127.0.0.1 gets cookies without it.
	h.secure = !(u.Scheme == "http" && u.Hostname() == "127.0.0.1")
	h.cookie = "tpx_session"
	if h.secure {
		// __Host-: the browser accepts the cookie only Secure, for this host, path /, so a
		// sibling subdomain cannot plant a session or a CSRF token.
		h.cookie = "__Host-tpx_session"
		// Browsers treat http://localhost (and loopback addresses) as secure contexts and
		// keep Secure cookies there; on any other plain-http host they drop them.
		if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
			s.cfg.Logger.Warn("TPX_PUBLIC_URL is plain http on a host other than localhost or a loopback address: session cookies are Secure and browsers will not send them back, so logging in will not work; use https")
		}
	}
	if h.pages, err = parsePages(); err != nil {
		return err
	}
	static, err := newStaticFiles()
	if err != nil {
		return err
	}
	e.GET("/static/*", static.serve, h.headers)
	s.uiError = h.routeError

	anyone, step, loggedIn, enrolled := h.gate(gateAnyone), h.gate(gateSecondStep), h.gate(gateLoggedIn), h.gate(gateEnrolled)
	route := func(method, p string, handler func(echo.Context, *uiReq) error, gate echo.MiddlewareFunc) {
		e.Add(method, p, h.handle(handler), h.headers, h.session, gate)
	}
	get, post := http.MethodGet, http.MethodPost

	route(get, "/", h.home, anyone)
	route(get, "/account/signup", h.signupPage, anyone)
	route(post, "/account/signup", h.signup, anyone)
	route(get, "/account/login", h.loginPage, anyone)
	route(post, "/account/login", h.login, anyone)
	if cfg.SignIn != nil {
		route(get, "/account/login/index", h.indexStart, anyone)
		route(get, SignInCallbackPath, h.indexCallback, anyone)
	}
	route(get, "/account/verify-email", h.verifyEmailPage, anyone)
	route(post, "/account/verify-email", h.verifyEmail, anyone)

	route(get, "/account/login/verify", h.secondStepPage, step)
	route(post, "/account/login/totp", h.loginTOTP, step)
	route(post, "/account/login/recovery", h.loginRecovery, step)
	route(post, "/account/login/webauthn", h.loginWebAuthn, step)

	// A user without a second factor reaches these, the pages that enrol one, and no other.
	route(post, "/account/logout", h.logout, loggedIn)
	route(get, "/account/reauthenticate", h.reauthPage, enrolled)
	route(post, "/account/reauthenticate/totp", h.reauthTOTP, enrolled)
	route(post, "/account/reauthenticate/webauthn", h.reauthWebAuthn, enrolled)
	route(get, "/account/two-factor", h.twoFactorPage, loggedIn)
	route(get, "/account/totp", h.totpPage, loggedIn)
	route(post, "/account/totp", h.totpStart, loggedIn)
	route(post, "/account/totp/confirm", h.totpConfirm, loggedIn)
	route(get, "/account/webauthn/new", h.webauthnPage, loggedIn)
	route(post, "/account/webauthn", h.webauthnRegister, loggedIn)

	route(get, "/account", h.accountPage, enrolled)
	route(post, "/account/email/resend", h.resendEmail, enrolled)
	route(post, "/account/sessions/:handle/logout", h.logoutSession, enrolled)
	route(post, "/account/sessions/logout-others", h.logoutOthers, enrolled)
	route(get, "/account/password", h.passwordPage, enrolled)
	route(post, "/account/password", h.changePassword, enrolled)
	route(post, "/account/totp/remove", h.totpRemove, enrolled)
	route(post, "/account/webauthn/:id/name", h.webauthnRename, enrolled)
	route(post, "/account/webauthn/:id/remove", h.webauthnRemove, enrolled)
	route(post, "/account/recovery-codes", h.recoveryRegenerate, enrolled)
	route(get, "/account/pending", h.pendingPage, enrolled)
	route(post, "/account/pending", h.addPending, enrolled)
	route(post, "/account/pending/:id/remove", h.removePending, enrolled)
	route(post, "/account/invitations/:project/accept", h.acceptInvitation, enrolled)
	route(post, "/account/invitations/:project/decline", h.declineInvitation, enrolled)
	route(get, "/projects", h.projectsPage, enrolled)
	route(post, "/projects", h.createProject, enrolled)
	route(get, "/projects/:project", h.projectPage, enrolled)
	route(post, "/projects/:project/publishers", h.addPublisher, enrolled)
	route(post, "/projects/:project/publishers/:id/rules", h.setPublisherRules, enrolled)
	route(get, "/projects/:project/publishers/:id/remove", h.removePublisherPage, enrolled)
	route(post, "/projects/:project/publishers/:id/remove", h.removePublisher, enrolled)
	route(post, "/projects/:project/owners", h.inviteOwner, enrolled)
	route(post, "/projects/:project/owners/:user/remove", h.removeOwner, enrolled)
	route(post, "/projects/:project/invitations/:user/cancel", h.cancelInvitation, enrolled)
	return nil
}

// visible shows a name typed by an owner or sent in a token so that look-alikes cannot
// pass for the real one: characters other than printable ASCII (a Cyrillic "е" in
// "rеlease.yml", a right-to-left override, a zero-width space) appear as \u{…} escapes.
func visible(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r > '~' }) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r < ' ' || r > '~' {
			fmt.Fprintf(&b, "\\u{%04X}", r)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"visible": visible,
		// pathseg escapes a name for one segment of a path: npm's scoped names hold a "/".
		"pathseg": url.PathEscape,
		"when":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
		"whenp": func(t *time.Time) string {
			if t == nil {
				return "never"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, err
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, name)
		if err != nil {
			return nil, err
		}
		pages[strings.TrimSuffix(base, ".html")] = t
	}
	return pages, nil
}

// uiReq is what the middleware learned about a request.
type uiReq struct {
	// sid is the session cookie's value, a secret; session.ID is its hash.
	sid     string
	session *store.Session
	user    store.User
	csrf    string
	nonce   string
	// address is the client's address as the rate limits see it: the connection's, or
	// the one a trusted proxy forwarded.
	address string
}

func (r *uiReq) loggedIn() bool { return r.session != nil && r.session.Stage == store.StageFull }

// actor is the logged-in user as the account service's rules see them.
func (r *uiReq) actor() account.Actor {
	a := account.Actor{UserName: r.user.Name, Via: account.ViaWeb, AuthenticatedAt: r.session.AuthenticatedAt,
		Factor: r.session.Factor, Session: r.session.ID, Address: r.address}
	if r.session.FactorProofAt != nil {
		a.FactorProofAt = *r.session.FactorProofAt
	}
	return a
}

// visitor is a request without a (full) session as the account service's audit log names
// it: by its address, and the user it is about when there is one.
func (r *uiReq) visitor(name string) account.Actor {
	a := account.Actor{UserName: name, Via: account.ViaWeb, Address: r.address}
	if r.session != nil {
		a.Session = r.session.ID
	}
	return a
}

func reqOf(c echo.Context) *uiReq {
	r, _ := c.Get("ui").(*uiReq)
	return r
}

// headers sets what every page needs: a Content-Security-Policy that allows scripts only
// with this response's nonce, no framing, no sniffing, and no caching of pages that may
// show secrets (recovery codes, TOTP secrets).
func (h *ui) headers(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		b := make([]byte, 16)
		rand.Read(b)
		nonce := base64.RawStdEncoding.EncodeToString(b)
		c.Set("nonce", nonce)
		hd := c.Response().Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		if h.secure && strings.HasPrefix(h.origin, "https://") {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		return next(c)
	}
}

// newSessionID returns a fresh cookie value: 256 random bits.
func newSessionID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validSessionID reports whether a cookie value has the shape newSessionID makes; any
// other value is replaced before it reaches the store.
func validSessionID(v string) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == 32
}

// csrfToken is derived from the session cookie: only a page of this origin can know it,
// since the cookie is HttpOnly and a hash does not give the cookie back.
func csrfToken(sid string) string {
	sum := sha256.Sum256([]byte("tpx csrf\x00" + sid))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (h *ui) setCookie(c echo.Context, sid string) {
	c.SetCookie(&http.Cookie{Name: h.cookie, Value: sid, Path: "/", HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode})
}

// session reads the session cookie (making one for a new visitor), loads the session and
// its user, and refuses a state-changing request without the right CSRF token or from
// another origin.
//
// A refused request sets no cookie: a cross-site form arrives without the (SameSite=Lax)
// session cookie, and answering it with a new one would log the owner out.
func (h *ui) session(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		req.Body = http.MaxBytesReader(c.Response(), req.Body, uiMaxBody)
		r := &uiReq{address: h.s.clientIP(req)}
		c.Set("ui", r)
		r.nonce, _ = c.Get("nonce").(string)
		safe := req.Method == http.MethodGet || req.Method == http.MethodHead
		fresh := true
		if ck, err := req.Cookie(h.cookie); err == nil && validSessionID(ck.Value) {
			r.sid, fresh = ck.Value, false
		} else {
			r.sid = newSessionID()
			if safe {
				h.setCookie(c, r.sid)
			}
		}
		r.csrf = csrfToken(r.sid)
		if !fresh {
			if err := h.loadSession(c, r); err != nil {
				return err
			}
		}
		if !safe {
			if o := req.Header.Get("Origin"); o != "" && o != h.origin {
				return h.forbidden(c, r, "This form was sent from another site.")
			}
			// The token is read from the form body only: a token in the URL would end up
			// in logs and Referer headers.
			got := req.PostFormValue("csrf")
			if fresh || got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(r.csrf)) != 1 {
				return h.forbidden(c, r, "The form's security token is missing or out of date. Go back, reload the page and try again.")
			}
		}
		return next(c)
	}
}

// loadSession finds the request's session and its user. A password-only session of a
// user who has a second factor now (enrolled in another browser, or by the operator) is
// ended: it was opened before the second factor was due and must never count as a login.
func (h *ui) loadSession(c echo.Context, r *uiReq) error {
	ctx := c.Request().Context()
	now := h.s.cfg.Now()
	ss, err := h.cfg.Store.Session(ctx, account.HashToken(r.sid), now)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	u, err := h.cfg.Store.UserByID(ctx, ss.UserID)
	if err != nil {
		return err
	}
	if ss.Stage == store.StageFull && !ss.Factor.SecondFactor() && u.HasSecondFactor() {
		h.s.log(c).Info("password-only session ended: the user has a second factor now", "user", u.Name, "address", r.address)
		return h.cfg.Store.DeleteSession(ctx, ss.ID)
	}
	ua := userAgent(c.Request().UserAgent())
	if now.Sub(ss.LastSeenAt) >= touchEvery || ss.Address != r.address || ss.UserAgent != ua {
		if err := h.cfg.Store.TouchSession(ctx, ss.ID, now, r.address, ua); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		ss.LastSeenAt, ss.Address, ss.UserAgent = now, r.address, ua
	}
	r.session, r.user = &ss, u
	return nil
}

// userAgent is the browser's user agent as a session keeps it: printable, at most
// maxUserAgent bytes.
func userAgent(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	for len(s) > maxUserAgent {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return s
}

type gateKind int

const (
	gateAnyone     gateKind = iota
	gateSecondStep          // between password and second factor
	gateLoggedIn            // logged in, second factor or not: the enrolment pages
	gateEnrolled            // logged in with a second factor: everything else
)

// gate sends a request where it may go: to the login page without a session, to the
// second step of the login halfway through, to enrolment without a second factor. A
// refused POST changes nothing.
func (h *ui) gate(kind gateKind) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := reqOf(c)
			get := c.Request().Method == http.MethodGet
			switch kind {
			case gateSecondStep:
				if r.session == nil || r.session.Stage != store.StageSecondFactor {
					return c.Redirect(http.StatusSeeOther, "/account/login")
				}
			case gateLoggedIn, gateEnrolled:
				if !r.loggedIn() {
					if get {
						return c.Redirect(http.StatusSeeOther, "/account/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
					}
					return h.message(c, r, http.StatusUnauthorized, "Log in first", "Your session ended. Log in and try again.", "/account/login")
				}
				if kind == gateEnrolled && !r.user.HasSecondFactor() {
					if get {
						return c.Redirect(http.StatusSeeOther, "/account/two-factor")
					}
					return h.message(c, r, http.StatusForbidden, "Second factor required", "Enrol a second factor (an authenticator app or a security key) before anything else.", "/account/two-factor")
				}
			}
			return next(c)
		}
	}
}

// handle turns an unexpected error of a page into a logged 500 page with the request id.
func (h *ui) handle(fn func(echo.Context, *uiReq) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := reqOf(c)
		err := fn(c, r)
		if err == nil || c.Response().Committed {
			return err
		}
		h.s.log(c).Error("unexpected error", "error", err)
		return h.message(c, r, http.StatusInternalServerError, "Something went wrong",
			"An unexpected error happened. Its request id, "+requestID(c)+", identifies it in the service's log.", "/")
	}
}

// view is what every page template gets.
type view struct {
	Title     string
	User      *store.User
	LoggedIn  bool
	CSRF      string
	Nonce     string
	Path      string
	Error     string
	Notice    string
	Page      any
	WebAuthn  bool
	RequestID string
	// Signup says whether pages offer sign-up (TPX_SIGNUP=open); Managed whether the
	// index, not the user, creates projects (TPX_PROJECTS=managed).
	Signup  bool
	Managed bool
	// IndexSignIn names the index's identity provider when owners may sign in through
	// it; PasswordLogin says whether they may log in with a password.
	IndexSignIn   string
	PasswordLogin bool
}

func (h *ui) render(c echo.Context, r *uiReq, status int, page, title string, data any, problem string) error {
	t, ok := h.pages[page]
	if !ok {
		return fmt.Errorf("no page %s", page)
	}
	v := view{Title: title, CSRF: r.csrf, Nonce: r.nonce, Path: c.Request().URL.Path, Page: data, Error: problem,
		WebAuthn: h.cfg.Accounts.WebAuthnAvailable() == nil, RequestID: requestID(c),
		Signup: h.cfg.Accounts.SignupMode() == account.SignupOpen, Managed: h.cfg.Accounts.ProjectsMode() == account.ProjectsManaged,
		PasswordLogin: h.cfg.Accounts.PasswordLogin()}
	if h.cfg.SignIn != nil {
		v.IndexSignIn = h.cfg.SignIn.Name()
	}
	if r.loggedIn() {
		v.User, v.LoggedIn = &r.user, true
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		return err
	}
	return c.HTMLBlob(status, buf.Bytes())
}

type messagePage struct {
	Message string
	Back    string
}

// message answers with a page that says one thing and links back.
func (h *ui) message(c echo.Context, r *uiReq, status int, title, msg, back string) error {
	return h.render(c, r, status, "message", title, messagePage{Message: msg, Back: back}, "")
}

func (h *ui) forbidden(c echo.Context, r *uiReq, msg string) error {
	return h.message(c, r, http.StatusForbidden, "Request refused", msg, "/")
}

// tooMany answers a rate-limited request: 429 with Retry-After in whole seconds.
func (h *ui) tooMany(c echo.Context, r *uiReq, retry time.Duration) error {
	secs := int(retry.Seconds() + 0.999)
	c.Response().Header().Set("Retry-After", fmt.Sprint(secs))
	return h.message(c, r, http.StatusTooManyRequests, "Too many attempts", fmt.Sprintf("Too many attempts. Wait %d seconds and try again.", secs), c.Request().URL.Path)
}

// clientIP is the address requests are counted by for rate limits.
func (h *ui) clientIP(c echo.Context) string {
	ip := h.s.clientIP(c.Request())
	if a, ok := clientKey(ip); ok {
		return a.String()
	}
	return ip
}

// startSession begins a new session for u at stage, having passed factor (the password,
// or a sign-in through the index), under a new id: a session id is never carried across a
// login, so one planted before it is worth nothing after.
func (h *ui) startSession(c echo.Context, r *uiReq, u store.User, stage store.SessionStage, factor store.SessionFactor) error {
	now := h.s.cfg.Now()
	life := sessionLifetime
	if stage == store.StageSecondFactor {
		life = secondFactorLifetime
	}
	sid := newSessionID()
	ss := store.Session{ID: account.HashToken(sid), UserID: u.ID, Stage: stage, Factor: factor, CreatedAt: now, AuthenticatedAt: now,
		ExpiresAt: now.Add(life), LastSeenAt: now, Address: r.address, UserAgent: userAgent(c.Request().UserAgent())}
	if err := h.cfg.Store.CreateSession(c.Request().Context(), ss); err != nil {
		return err
	}
	if r.session != nil {
		if err := h.cfg.Store.DeleteSession(c.Request().Context(), r.session.ID); err != nil {
			return err
		}
	}
	h.setCookie(c, sid)
	r.sid, r.session, r.user, r.csrf = sid, &ss, u, csrfToken(sid)
	return nil
}

// renewSession moves the session to a new id at a privilege change (second factor passed
// or confirmed again, factor enrolled). A non-empty factor says the user just proved who
// they are with it; proof says that proof was asked for (a login, a confirmation), and
// one change of second factors may spend it.
func (h *ui) renewSession(c echo.Context, r *uiReq, factor store.SessionFactor, proof bool) error {
	now := h.s.cfg.Now()
	// The stored row, not the one read at the start of the request: the account service
	// may have spent its factor proof meanwhile.
	ss, err := h.cfg.Store.Session(c.Request().Context(), r.session.ID, now)
	if err != nil {
		return err
	}
	sid := newSessionID()
	ss.ID = account.HashToken(sid)
	if factor != "" {
		ss.Factor, ss.AuthenticatedAt = factor, now
		if proof && factor.SecondFactor() {
			ss.FactorProofAt = &now
		}
	}
	if ss.Stage != store.StageFull {
		ss.Stage, ss.CreatedAt, ss.ExpiresAt = store.StageFull, now, now.Add(sessionLifetime)
	}
	if err := h.cfg.Store.RenewSession(c.Request().Context(), r.session.ID, ss); err != nil {
		return err
	}
	u, err := h.cfg.Store.UserByID(c.Request().Context(), ss.UserID)
	if err != nil {
		return err
	}
	h.setCookie(c, sid)
	r.sid, r.session, r.user, r.csrf = sid, &ss, u, csrfToken(sid)
	return nil
}

// localPath returns next if it is a path of this site, else def: a login link must not
// send anyone elsewhere. Browsers drop tabs and newlines inside a URL and read '\' as '/',
// so "/\t/host" and "/\\host" mean "//host", another site: rather than guess what a browser
// makes of a value, anything but printable ASCII is refused, before and after decoding,
// and the path must be absolute, without a host, and clean (no "//", "." or "..").
func localPath(next, def string) string {
	odd := func(s string) bool {
		return strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '\\' }) >= 0
	}
	if next == "" || odd(next) {
		return def
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Opaque != "" || u.User != nil || u.Host != "" || odd(u.Path) {
		return def
	}
	if !strings.HasPrefix(u.Path, "/") || (u.Path != path.Clean(u.Path) && u.Path != path.Clean(u.Path)+"/") || strings.HasPrefix(u.Path, "//") {
		return def
	}
	return (&url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}).String()
}

// backTo is the page a refused form returns to: the page it was sent from, when that is
// one of ours.
func (h *ui) backTo(c echo.Context, def string) string {
	ref, err := url.Parse(c.Request().Referer())
	if err != nil || ref.Scheme+"://"+ref.Host != h.origin {
		return def
	}
	return localPath(ref.Path, def)
}

// failed answers a refused management action with what the owner should do: confirm who
// they are when their authentication is stale or the change needs a second factor, else a
// page that says why, with the status of the failure's kind. Unexpected errors go up.
func (h *ui) failed(c echo.Context, r *uiReq, err error, back string) error {
	if errors.Is(err, account.ErrStaleAuthentication) || errors.Is(err, account.ErrFactorProof) {
		return h.confirm(c, r, err)
	}
	status, msg, ok := refused(err)
	if !ok {
		return err
	}
	return h.message(c, r, status, "Not done", msg, back)
}

// refused says whether err is a refusal of a known kind, with its status and the sentence
// that tells the person why; false for an unexpected error, which goes up to be logged.
func refused(err error) (status int, msg string, ok bool) {
	kind := fault.KindOf(err)
	if err == nil || kind == fault.Internal {
		return 0, "", false
	}
	return statusOf(kind), sentence(fault.Public(err)), true
}

// sentence is a failure's public text for a person: the core's errors start with a
// sentinel's few words and go on with what to do.
func sentence(msg string) string {
	if msg == "" {
		return msg
	}
	return strings.ToUpper(msg[:1]) + msg[1:] + "."
}
