package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/fault"
	"github.com/tpx-dev/tpx/store"
)

// This file has the confirmation with a second factor that management actions ask for
// when the login is older than account.RecentAuthentication, and that each change of
// second factors asks for. The password alone never confirms: it is what a session
// opened before a second factor was due had.
//
// A form refused for want of a confirmation is kept: the confirmation page carries its
// values, and once confirmed the browser sends them again to where they were going.

// reauthView is the confirmation page.
type reauthView struct {
	// Next is the page to go to once confirmed (a GET was refused).
	Next string
	// Then and Carry are the refused form: where it was posted, and its values.
	Then  string
	Carry string
	// Factor says the confirmation is for a change of second factors.
	Factor   bool
	TOTP     bool
	Keys     bool
	Options  string
	WebAuthn string // why security keys cannot be used, if they cannot
}

// carried is one value of a kept form.
type carried struct{ Name, Value string }

// keptForm is a form sent again after the confirmation.
type keptForm struct {
	Then   string
	Fields []carried
}

// confirm answers a request that needs a confirmation first: a GET goes to the
// confirmation page and back, a POST gets the page at once, with its form kept.
func (h *ui) confirm(c echo.Context, r *uiReq, err error) error {
	factor := errors.Is(err, account.ErrFactorProof)
	req := c.Request()
	if req.Method == http.MethodGet {
		q := url.Values{"next": {localPath(req.URL.RequestURI(), "/projects")}}
		if factor {
			q.Set("for", "factor")
		}
		return c.Redirect(http.StatusSeeOther, "/account/reauthenticate?"+q.Encode())
	}
	form, ferr := c.FormParams()
	if ferr != nil {
		return ferr
	}
	kept := url.Values{}
	for k, vs := range form {
		if k != "csrf" {
			kept[k] = vs
		}
	}
	v := reauthView{Then: localPath(req.URL.Path, ""), Carry: kept.Encode(), Factor: factor, Next: h.backTo(c, "/projects")}
	return h.renderReauth(c, r, http.StatusUnauthorized, v, "")
}

func (h *ui) reauthPage(c echo.Context, r *uiReq) error {
	v := reauthView{Next: localPath(c.QueryParam("next"), "/projects"), Factor: c.QueryParam("for") == "factor"}
	return h.renderReauth(c, r, http.StatusOK, v, "")
}

func (h *ui) renderReauth(c echo.Context, r *uiReq, status int, v reauthView, problem string) error {
	v.TOTP, v.Keys = r.user.TOTPSecret != nil && r.user.TOTPConfirmed, r.user.WebAuthnCount > 0
	if v.Keys {
		if err := h.cfg.Accounts.WebAuthnAvailable(); err != nil {
			v.WebAuthn = sentence(fault.Public(err))
		} else {
			opts, err := h.cfg.Accounts.BeginWebAuthnLogin(c.Request().Context(), r.user.Name, r.session.ID)
			if err != nil {
				return err
			}
			v.Options = string(opts)
		}
	}
	return h.render(c, r, status, "reauth", "Confirm it is you", v, problem)
}

// reauthForm reads the hidden fields every confirmation form sends back.
func reauthForm(c echo.Context) reauthView {
	return reauthView{Next: localPath(c.FormValue("next"), "/projects"), Then: localPath(c.FormValue("then"), ""),
		Carry: c.FormValue("carry"), Factor: c.FormValue("for") == "factor"}
}

// reauthTOTP confirms with a TOTP code, single use as at login.
func (h *ui) reauthTOTP(c echo.Context, r *uiReq) error {
	v := reauthForm(c)
	if ok, err := h.checkTOTP(c, r, func(status int, msg string) error { return h.renderReauth(c, r, status, v, msg) }); !ok {
		return err
	}
	return h.confirmed(c, r, v, store.FactorTOTP, "TOTP")
}

// reauthWebAuthn confirms with a security key.
func (h *ui) reauthWebAuthn(c echo.Context, r *uiReq) error {
	v := reauthForm(c)
	err := h.cfg.Accounts.FinishWebAuthnLogin(c.Request().Context(), r.actor(), []byte(c.FormValue("response")))
	if status, msg, ok := refused(err); ok {
		return h.renderReauth(c, r, status, v, msg)
	}
	if err != nil {
		return err
	}
	return h.confirmed(c, r, v, store.FactorWebAuthn, "a security key")
}

// confirmed renews the session with the factor just proved, then sends the kept form on
// (or goes to the page that asked).
func (h *ui) confirmed(c echo.Context, r *uiReq, v reauthView, factor store.SessionFactor, how string) error {
	if err := h.renewSession(c, r, factor, true); err != nil {
		return err
	}
	h.cfg.Accounts.RecordLogin(c.Request().Context(), r.actor(), r.user, how+" (confirmation)")
	if v.Then == "" {
		return c.Redirect(http.StatusSeeOther, v.Next)
	}
	values, err := url.ParseQuery(v.Carry)
	if err != nil {
		return h.message(c, r, http.StatusBadRequest, "Not saved", "You are confirmed, but the form you sent before could not be kept: nothing was saved. Fill it in again.", v.Next)
	}
	k := keptForm{Then: v.Then}
	for name, vs := range values {
		for _, val := range vs {
			k.Fields = append(k.Fields, carried{Name: name, Value: val})
		}
	}
	return h.render(c, r, http.StatusOK, "continue", "Confirmed", k, "")
}
