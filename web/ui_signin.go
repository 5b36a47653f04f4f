package web

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/signin"
	"github.com/tpx-dev/tpx/store"
)

// This file has sign-in through the package index's OpenID provider.

// SignInCallbackPath is where the provider sends the browser back: the redirect URI to
// register for tpx at the provider is TPX_PUBLIC_URL followed by it.
const SignInCallbackPath = "/account/login/index/callback"

// flowCookie names the cookie that carries a sign-in in progress; like the session's, it
// is __Host- wherever cookies are Secure, so that no sibling host can plant one.
func (h *ui) flowCookie() string {
	if h.secure {
		return "__Host-tpx_signin"
	}
	return "tpx_signin"
}

// setFlowCookie keeps value for the length of a sign-in, or (value "") ends it. SameSite
// Lax: the provider sends the browser back with a top-level GET from its own site, which
// carries Lax cookies and no Strict ones.
func (h *ui) setFlowCookie(c echo.Context, value string) {
	ck := &http.Cookie{Name: h.flowCookie(), Value: value, Path: "/", MaxAge: int(signin.FlowLifetime.Seconds()),
		HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode}
	if value == "" {
		ck.MaxAge = -1
	}
	c.SetCookie(ck)
}

// indexStart sends the browser to the provider, keeping state, nonce and PKCE verifier
// sealed in the flow cookie. It is a link, not a form: a form's redirect to another site
// is blocked by the pages' form-action 'self'. Starting a sign-in changes nothing here.
func (h *ui) indexStart(c echo.Context, r *uiReq) error {
	if retry, ok := h.limits.take(limitLoginIP, h.clientIP(c)); !ok {
		return h.tooMany(c, r, retry)
	}
	redirect, cookie, err := h.cfg.SignIn.Start(c.Request().Context(), localPath(c.QueryParam("next"), ""), c.QueryParam("invitation"))
	if status, msg, ok := refused(err); ok {
		h.s.log(c).Warn("sign-in through the index not started", "error", err)
		return h.message(c, r, status, "Sign-in not possible", msg, "/account/login")
	}
	if err != nil {
		return err
	}
	h.setFlowCookie(c, cookie)
	return c.Redirect(http.StatusSeeOther, redirect)
}

// indexCallback finishes a sign-in: the flow cookie is spent whatever the answer, the
// code traded once, the ID token verified, and the person found (or, as the sign-up mode
// allows, created) by the provider's subject. A refusal stores nothing and says why.
func (h *ui) indexCallback(c echo.Context, r *uiReq) error {
	ctx := c.Request().Context()
	// Each answer costs a request to the provider: counted as a login attempt.
	if retry, ok := h.limits.take(limitLoginIP, h.clientIP(c)); !ok {
		return h.tooMany(c, r, retry)
	}
	var value string
	if ck, err := c.Request().Cookie(h.flowCookie()); err == nil {
		value = ck.Value
	}
	h.setFlowCookie(c, "")
	fail := func(err error) error {
		status, msg, ok := refused(err)
		if !ok {
			return err
		}
		h.s.log(c).Info("sign-in through the index refused", "reason", err.Error(), "address", r.address)
		return h.message(c, r, status, "Not signed in", msg, "/account/login")
	}
	flow, err := h.cfg.SignIn.Open(value)
	if err != nil {
		return fail(err)
	}
	id, err := h.cfg.SignIn.Finish(ctx, flow, c.QueryParams())
	if err != nil {
		return fail(err)
	}
	u, factor, err := h.cfg.Accounts.SignInIndex(ctx, r.visitor(""), account.IndexIdentity{Issuer: id.Issuer, Subject: id.Subject,
		Email: id.Email, EmailVerified: id.EmailVerified, Username: id.Username, SecondFactor: id.SecondFactor}, flow.Invite)
	if err != nil {
		return fail(err)
	}
	h.s.log(c).Info("signed in through the index", "user", u.Name, "factor", factor, "address", r.address)
	// tpx's own second factor is due unless the provider's sign-in counts as one.
	if u.HasSecondFactor() && !factor.SecondFactor() {
		if err := h.startSession(c, r, u, store.StageSecondFactor, factor); err != nil {
			return err
		}
		next := "/account/login/verify"
		if flow.Next != "" {
			next += "?next=" + url.QueryEscape(flow.Next)
		}
		return c.Redirect(http.StatusSeeOther, next)
	}
	if err := h.startSession(c, r, u, store.StageFull, factor); err != nil {
		return err
	}
	if !u.HasSecondFactor() {
		h.cfg.Accounts.RecordLogin(ctx, r.actor(), u, "a sign-in through the package index (no second factor yet)")
		return c.Redirect(http.StatusSeeOther, "/account/two-factor")
	}
	h.cfg.Accounts.RecordLogin(ctx, r.actor(), u, "a sign-in through the package index that passed a second factor there")
	return c.Redirect(http.StatusSeeOther, localPath(flow.Next, "/projects"))
}

// firstFactor names how a session's user passed the first step, for the audit log.
func firstFactor(r *uiReq) string {
	if r.session.Factor == store.FactorIndex {
		return "a sign-in through the package index"
	}
	return "password"
}
