package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/fault"
	"github.com/tpx-dev/tpx/store"
)

// This file has the pages of signing up, logging in and out, and the account page.

func (h *ui) home(c echo.Context, r *uiReq) error {
	switch {
	case r.loggedIn() && r.user.HasSecondFactor():
		return c.Redirect(http.StatusSeeOther, "/projects")
	case r.loggedIn():
		return c.Redirect(http.StatusSeeOther, "/account/two-factor")
	case r.session != nil:
		return c.Redirect(http.StatusSeeOther, "/account/login/verify")
	}
	return h.render(c, r, http.StatusOK, "home", "Trusted publishing", nil, "")
}

type signupForm struct{ Username, Email, Invitation string }

// signupPage offers the form when anyone may sign up, or to the holder of an invitation;
// otherwise it says where accounts come from.
func (h *ui) signupPage(c echo.Context, r *uiReq) error {
	f := signupForm{Invitation: c.QueryParam("invitation")}
	switch h.cfg.Accounts.SignupMode() {
	case account.SignupClosed:
		return h.message(c, r, http.StatusForbidden, "Sign up", "Accounts come from the package index: sign in through it, or ask its operators.", "/account/login")
	case account.SignupInvite:
		inv, err := h.cfg.Accounts.SignupInvitation(c.Request().Context(), f.Invitation)
		if fault.KindOf(err) == fault.Forbidden {
			return h.message(c, r, http.StatusForbidden, "Sign up", sentence(fault.Public(err)), "/account/login")
		}
		if err != nil {
			return err
		}
		f.Email = inv.Email
	default:
		f.Invitation = ""
	}
	return h.render(c, r, http.StatusOK, "signup", "Sign up", f, "")
}

func (h *ui) signup(c echo.Context, r *uiReq) error {
	f := signupForm{Username: strings.TrimSpace(c.FormValue("username")), Email: strings.TrimSpace(c.FormValue("email")), Invitation: c.FormValue("invitation")}
	if retry, ok := h.limits.take(limitSignupIP, h.clientIP(c)); !ok {
		return h.tooMany(c, r, retry)
	}
	password := c.FormValue("password")
	if password != c.FormValue("password2") {
		return h.render(c, r, http.StatusUnprocessableEntity, "signup", "Sign up", f, "The two passwords differ; type the same password twice.")
	}
	u, err := h.cfg.Accounts.SignUp(c.Request().Context(), r.visitor(f.Username), f.Invitation, f.Username, f.Email, password)
	if fault.KindOf(err) == fault.Forbidden {
		return h.message(c, r, http.StatusForbidden, "Sign up", sentence(fault.Public(err)), "/account/login")
	}
	if status, msg, ok := refused(err); ok {
		return h.render(c, r, status, "signup", "Sign up", f, msg)
	}
	if err != nil {
		return err
	}
	h.s.log(c).Info("user signed up", "user", u.Name, "address", r.address)
	if err := h.startSession(c, r, u, store.StageFull, store.FactorPassword); err != nil {
		return err
	}
	h.cfg.Accounts.RecordLogin(c.Request().Context(), r.actor(), u, "password at sign-up (no second factor yet)")
	return c.Redirect(http.StatusSeeOther, "/account/two-factor")
}

type loginForm struct{ Username, Next string }

func (h *ui) loginPage(c echo.Context, r *uiReq) error {
	return h.render(c, r, http.StatusOK, "login", "Log in", loginForm{Next: localPath(c.QueryParam("next"), "")}, "")
}

func (h *ui) login(c echo.Context, r *uiReq) error {
	f := loginForm{Username: strings.TrimSpace(c.FormValue("username")), Next: localPath(c.FormValue("next"), "")}
	if retry, ok := h.limits.take(limitLoginIP, h.clientIP(c)); !ok {
		return h.tooMany(c, r, retry)
	}
	key := strings.ToLower(f.Username)
	if retry, blocked := h.limits.blocked(limitLoginUser, key); blocked {
		return h.tooMany(c, r, retry)
	}
	u, err := h.cfg.Accounts.Login(c.Request().Context(), f.Username, c.FormValue("password"))
	if errors.Is(err, account.ErrPasswordLoginOff) {
		return h.render(c, r, http.StatusForbidden, "login", "Log in", f, sentence(fault.Public(err)))
	}
	if fault.KindOf(err) == fault.Unauthorized {
		h.limits.add(limitLoginUser, key)
		return h.render(c, r, http.StatusUnauthorized, "login", "Log in", f, "Wrong user name or password.")
	}
	if err != nil {
		return err
	}
	if !u.HasSecondFactor() {
		if err := h.startSession(c, r, u, store.StageFull, store.FactorPassword); err != nil {
			return err
		}
		h.cfg.Accounts.RecordLogin(c.Request().Context(), r.actor(), u, "password (no second factor yet)")
		return c.Redirect(http.StatusSeeOther, "/account/two-factor")
	}
	if err := h.startSession(c, r, u, store.StageSecondFactor, store.FactorPassword); err != nil {
		return err
	}
	next := "/account/login/verify"
	if f.Next != "" {
		next += "?next=" + url.QueryEscape(f.Next)
	}
	return c.Redirect(http.StatusSeeOther, next)
}

type secondStep struct {
	TOTP     bool
	Keys     bool
	Options  string
	Next     string
	WebAuthn string // why security keys cannot be used, if they cannot
}

// secondStepPage offers the user's second factors: a TOTP code, a security key, or a
// recovery code.
func (h *ui) secondStepPage(c echo.Context, r *uiReq) error {
	return h.renderSecondStep(c, r, http.StatusOK, localPath(c.QueryParam("next"), ""), "")
}

func (h *ui) renderSecondStep(c echo.Context, r *uiReq, status int, next, problem string) error {
	d := secondStep{TOTP: r.user.TOTPSecret != nil && r.user.TOTPConfirmed, Keys: r.user.WebAuthnCount > 0, Next: next}
	if d.Keys {
		if err := h.cfg.Accounts.WebAuthnAvailable(); err != nil {
			d.WebAuthn = sentence(fault.Public(err))
		} else {
			opts, err := h.cfg.Accounts.BeginWebAuthnLogin(c.Request().Context(), r.user.Name, r.session.ID)
			if err != nil {
				return err
			}
			d.Options = string(opts)
		}
	}
	return h.render(c, r, status, "login_verify", "Second factor", d, problem)
}

// completeLogin completes a login with a second factor: the session gets a new id, counts
// as fully logged in, and records the factor.
func (h *ui) completeLogin(c echo.Context, r *uiReq, factor store.SessionFactor, how string) error {
	if err := h.renewSession(c, r, factor, true); err != nil {
		return err
	}
	h.cfg.Accounts.RecordLogin(c.Request().Context(), r.actor(), r.user, how)
	return nil
}

// checkTOTP checks the code the form sends against r.user's TOTP, single use. Each wrong
// guess counts against the user's limit, and past it no code is checked. It reports
// whether the code was right; if not, the reply is made (too many guesses, or refuse's page
// with the refusal's status and sentence) or err says why not.
func (h *ui) checkTOTP(c echo.Context, r *uiReq, refuse func(status int, msg string) error) (bool, error) {
	key := strconv.FormatInt(r.user.ID, 10)
	if retry, blocked := h.limits.blocked(limitTOTPUser, key); blocked {
		return false, h.tooMany(c, r, retry)
	}
	err := h.cfg.Accounts.LoginTOTP(c.Request().Context(), r.user.Name, strings.TrimSpace(c.FormValue("code")))
	if status, msg, ok := refused(err); ok {
		if status == http.StatusUnauthorized {
			h.limits.add(limitTOTPUser, key) // a wrong guess
		}
		return false, refuse(status, msg)
	}
	return err == nil, err
}

func (h *ui) loginTOTP(c echo.Context, r *uiReq) error {
	next := localPath(c.FormValue("next"), "/projects")
	if ok, err := h.checkTOTP(c, r, func(status int, msg string) error { return h.renderSecondStep(c, r, status, next, msg) }); !ok {
		return err
	}
	if err := h.completeLogin(c, r, store.FactorTOTP, firstFactor(r)+" and TOTP"); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, next)
}

type recoveryUsed struct{ Left int }

func (h *ui) loginRecovery(c echo.Context, r *uiReq) error {
	key := strconv.FormatInt(r.user.ID, 10)
	if retry, blocked := h.limits.blocked(limitRecoveryUser, key); blocked {
		return h.tooMany(c, r, retry)
	}
	if retry, ok := h.limits.take(limitRecoveryIP, h.clientIP(c)); !ok {
		return h.tooMany(c, r, retry)
	}
	err := h.cfg.Accounts.LoginRecoveryCode(c.Request().Context(), r.visitor(r.user.Name), c.FormValue("code"))
	if status, msg, ok := refused(err); ok {
		if status == http.StatusUnauthorized {
			h.limits.add(limitRecoveryUser, key) // a wrong guess
		}
		return h.renderSecondStep(c, r, status, localPath(c.FormValue("next"), ""), msg)
	}
	if err != nil {
		return err
	}
	if err := h.completeLogin(c, r, store.FactorRecovery, firstFactor(r)+" and a recovery code"); err != nil {
		return err
	}
	left, err := h.cfg.Accounts.RecoveryCodesLeft(c.Request().Context(), r.user)
	if err != nil {
		return err
	}
	return h.render(c, r, http.StatusOK, "recovery_used", "Recovery code used", recoveryUsed{Left: left}, "")
}

func (h *ui) loginWebAuthn(c echo.Context, r *uiReq) error {
	next := localPath(c.FormValue("next"), "/projects")
	err := h.cfg.Accounts.FinishWebAuthnLogin(c.Request().Context(), r.visitor(r.user.Name), []byte(c.FormValue("response")))
	if status, msg, ok := refused(err); ok {
		return h.renderSecondStep(c, r, status, next, msg)
	}
	if err != nil {
		return err
	}
	if err := h.completeLogin(c, r, store.FactorWebAuthn, firstFactor(r)+" and a security key"); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// logout ends the session in the store, so the cookie is worth nothing even if kept.
func (h *ui) logout(c echo.Context, r *uiReq) error {
	if err := h.cfg.Store.DeleteSession(c.Request().Context(), r.session.ID); err != nil {
		return err
	}
	h.setCookie(c, newSessionID())
	return c.Redirect(http.StatusSeeOther, "/")
}

type verifyForm struct{ Token, User, Email string }

// verifyEmailPage asks for a click before it uses the token: mail scanners follow links,
// and a GET should change nothing. It names the account and the address the link
// verifies.
func (h *ui) verifyEmailPage(c echo.Context, r *uiReq) error {
	f := verifyForm{Token: c.QueryParam("token")}
	var err error
	f.User, f.Email, err = h.cfg.Accounts.EmailLink(c.Request().Context(), f.Token)
	if status, msg, ok := refused(err); ok {
		return h.message(c, r, status, "Link not valid", msg, "/account")
	}
	if err != nil {
		return err
	}
	return h.render(c, r, http.StatusOK, "verify_email", "Verify your email address", f, "")
}

func (h *ui) verifyEmail(c echo.Context, r *uiReq) error {
	u, err := h.cfg.Accounts.VerifyEmail(c.Request().Context(), r.visitor(""), c.FormValue("token"))
	if status, msg, ok := refused(err); ok {
		return h.message(c, r, status, "Link not valid", msg, "/account")
	}
	if err != nil {
		return err
	}
	return h.message(c, r, http.StatusOK, "Email address verified", "The address "+u.Email+" of the account "+u.Name+" is verified: notifications about its projects go there.", "/account")
}

type accountView struct {
	Sessions      []sessionView
	EmailVerified bool
	Pending       int
	// Grants are the names the index granted the user for pending publishers.
	Grants []store.PendingGrant
	Audit  []store.AuditEvent
}

func (h *ui) accountPage(c echo.Context, r *uiReq) error {
	ctx := c.Request().Context()
	var d accountView
	var err error
	if d.EmailVerified, err = h.cfg.Accounts.EmailVerified(ctx, r.user); err != nil {
		return err
	}
	pending, err := h.cfg.Accounts.Pending(ctx, r.user)
	if err != nil {
		return err
	}
	d.Pending = len(pending)
	if d.Grants, err = h.cfg.Accounts.PendingGrants(ctx, r.user); err != nil {
		return err
	}
	if d.Audit, err = h.cfg.Accounts.AuditLog(ctx, r.user); err != nil {
		return err
	}
	sessions, err := h.cfg.Accounts.Sessions(ctx, r.user)
	if err != nil {
		return err
	}
	for _, ss := range sessions {
		d.Sessions = append(d.Sessions, sessionView{Session: ss, Handle: sessionHandle(ss.ID), Current: ss.ID == r.session.ID})
	}
	return h.render(c, r, http.StatusOK, "account", "Your account", d, "")
}

// pendingView is the pending publishers page: the user's, and one form at a time to add
// one.
type pendingView struct {
	Pending       []store.PendingPublisher
	EmailVerified bool
	Kinds         []publisherForm
	Selected      string
}

func (h *ui) pendingPage(c echo.Context, r *uiReq) error {
	return h.renderPending(c, r, http.StatusOK, publisherForm{Kind: c.QueryParam("platform")}, "")
}

func (h *ui) renderPending(c echo.Context, r *uiReq, status int, form publisherForm, problem string) error {
	ctx := c.Request().Context()
	var d pendingView
	var err error
	if d.Pending, err = h.cfg.Accounts.Pending(ctx, r.user); err != nil {
		return err
	}
	if d.EmailVerified, err = h.cfg.Accounts.EmailVerified(ctx, r.user); err != nil {
		return err
	}
	d.Kinds = h.publisherForms(r, form, "/account/pending")
	for _, k := range d.Kinds {
		if k.Kind == form.Kind || d.Selected == "" {
			d.Selected = k.Kind
		}
	}
	return h.render(c, r, status, "pending", "Pending publishers", d, problem)
}

func (h *ui) resendEmail(c echo.Context, r *uiReq) error {
	if retry, ok := h.limits.take(limitVerifyMailUser, strconv.FormatInt(r.user.ID, 10)); !ok {
		return h.tooMany(c, r, retry)
	}
	ok, err := h.cfg.Accounts.EmailVerified(c.Request().Context(), r.user)
	if err != nil {
		return err
	}
	if ok {
		return h.message(c, r, http.StatusOK, "Already verified", "Your email address is verified already.", "/account")
	}
	if err := h.cfg.Accounts.SendVerification(c.Request().Context(), r.user); err != nil {
		return err
	}
	return h.message(c, r, http.StatusOK, "Link sent", "A new verification link is on its way to "+r.user.Email+".", "/account")
}

func (h *ui) passwordPage(c echo.Context, r *uiReq) error {
	return h.render(c, r, http.StatusOK, "password", "Change your password", nil, "")
}

// changePassword needs the current password, not a recent login: typing it is the proof.
// Every other session of the user ends, and this one moves to a new id.
func (h *ui) changePassword(c echo.Context, r *uiReq) error {
	key := strings.ToLower(r.user.Name)
	if retry, blocked := h.limits.blocked(limitLoginUser, key); blocked {
		return h.tooMany(c, r, retry)
	}
	next := c.FormValue("new_password")
	if next != c.FormValue("new_password2") {
		return h.render(c, r, http.StatusUnprocessableEntity, "password", "Change your password", nil, "The two new passwords differ; type the same password twice.")
	}
	err := h.cfg.Accounts.ChangePassword(c.Request().Context(), r.actor(), c.FormValue("password"), next)
	if status, msg, ok := refused(err); ok {
		if status == http.StatusUnauthorized {
			h.limits.add(limitLoginUser, key)
		}
		return h.render(c, r, status, "password", "Change your password", nil, msg)
	}
	if err != nil {
		return err
	}
	if err := h.renewSession(c, r, "", false); err != nil {
		return err
	}
	return h.message(c, r, http.StatusOK, "Password changed", "Your password is changed, and your other sessions are logged out.", "/account")
}

func (h *ui) acceptInvitation(c echo.Context, r *uiReq) error {
	project := pathParam(c, "project")
	if err := h.cfg.Accounts.AcceptInvitation(c.Request().Context(), r.actor(), project); err != nil {
		return h.failed(c, r, err, "/account")
	}
	return c.Redirect(http.StatusSeeOther, "/projects/"+url.PathEscape(project))
}

func (h *ui) declineInvitation(c echo.Context, r *uiReq) error {
	if err := h.cfg.Accounts.DeclineInvitation(c.Request().Context(), r.actor(), pathParam(c, "project")); err != nil {
		return h.failed(c, r, err, "/account")
	}
	return c.Redirect(http.StatusSeeOther, "/account")
}

func (h *ui) addPending(c echo.Context, r *uiReq) error {
	if retry, ok := h.takePublisherLimits(c, r); !ok {
		return h.tooMany(c, r, retry)
	}
	form := h.readPublisherForm(c)
	_, err := h.cfg.Accounts.AddPending(c.Request().Context(), r.actor(), form.Project, form.publisher())
	if err == nil {
		return c.Redirect(http.StatusSeeOther, "/account/pending")
	}
	if form.setErrors(err) {
		return h.renderPending(c, r, http.StatusUnprocessableEntity, form, "The pending publisher was not added; see the messages next to the fields.")
	}
	if k := fault.KindOf(err); k == fault.Invalid || k == fault.Conflict {
		return h.renderPending(c, r, http.StatusUnprocessableEntity, form, sentence(fault.Public(err)))
	}
	return h.failed(c, r, err, "/account/pending")
}

func (h *ui) removePending(c echo.Context, r *uiReq) error {
	return h.removeByID(c, r, "Remove a pending publisher", confirmView{Button: "Remove the pending publisher", Back: "/account/pending",
		Message: "The pending publisher will not create its project. Anyone may then register the name."}, h.cfg.Accounts.RemovePending)
}

// sessionView is one of the user's sessions on the account page.
type sessionView struct {
	store.Session
	// Handle names the session in forms: derived from its id, which is kept out of pages
	// like any key of the session table.
	Handle  string
	Current bool
}

func sessionHandle(id string) string { return account.HashToken("tpx session handle\x00" + id)[:24] }

// logoutSession ends one of the user's other sessions, named by its handle.
func (h *ui) logoutSession(c echo.Context, r *uiReq) error {
	sessions, err := h.cfg.Accounts.Sessions(c.Request().Context(), r.user)
	if err != nil {
		return err
	}
	id := ""
	for _, ss := range sessions {
		if sessionHandle(ss.ID) == c.Param("handle") {
			id = ss.ID
		}
	}
	if id == r.session.ID {
		return h.logout(c, r)
	}
	if err := h.cfg.Accounts.EndSession(c.Request().Context(), r.actor(), id); err != nil {
		return h.failed(c, r, err, "/account")
	}
	return c.Redirect(http.StatusSeeOther, "/account#sessions")
}

// logoutOthers ends every session of the user but this one.
func (h *ui) logoutOthers(c echo.Context, r *uiReq) error {
	if err := h.cfg.Accounts.EndOtherSessions(c.Request().Context(), r.actor()); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/account#sessions")
}
