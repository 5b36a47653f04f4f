package web

import (
	"bytes"
	"encoding/base64"
	"html/template"
	"image/png"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/fault"
	"github.com/tpx-dev/tpx/store"
)

// This file has the pages that enrol and remove second factors and recovery codes.

type twoFactorView struct {
	// EmailVerified is false until the sign-up's link was followed: the page says to
	// check the mail.
	EmailVerified bool
	TOTP          bool
	TOTPPending   bool
	Keys          []store.WebAuthnCredential
	RecoveryLeft  int
	WebAuthnError string
}

func (h *ui) twoFactorPage(c echo.Context, r *uiReq) error {
	ctx := c.Request().Context()
	d := twoFactorView{TOTP: r.user.TOTPSecret != nil && r.user.TOTPConfirmed, TOTPPending: r.user.TOTPSecret != nil && !r.user.TOTPConfirmed}
	var err error
	if d.Keys, err = h.cfg.Accounts.WebAuthnCredentials(ctx, r.user); err != nil {
		return err
	}
	if d.RecoveryLeft, err = h.cfg.Accounts.RecoveryCodesLeft(ctx, r.user); err != nil {
		return err
	}
	if d.EmailVerified, err = h.cfg.Accounts.EmailVerified(ctx, r.user); err != nil {
		return err
	}
	if err := h.cfg.Accounts.WebAuthnAvailable(); err != nil {
		d.WebAuthnError = sentence(fault.Public(err))
	}
	title := "Second factors"
	if !r.user.HasSecondFactor() {
		title = "Enrol a second factor"
	}
	return h.render(c, r, http.StatusOK, "two_factor", title, d, "")
}

func (h *ui) totpStart(c echo.Context, r *uiReq) error {
	if _, err := h.cfg.Accounts.StartTOTP(c.Request().Context(), r.actor()); err != nil {
		return h.failed(c, r, err, "/account/two-factor")
	}
	return c.Redirect(http.StatusSeeOther, "/account/totp")
}

type totpView struct {
	QR     template.URL
	Secret string
}

// totpPage shows the pending secret as a QR code made here (a PNG inlined as a data: URI,
// so the secret never leaves the page) and as text, with the form that confirms it.
func (h *ui) totpPage(c echo.Context, r *uiReq) error {
	return h.renderTOTP(c, r, http.StatusOK, "")
}

func (h *ui) renderTOTP(c echo.Context, r *uiReq, status int, problem string) error {
	key, err := h.cfg.Accounts.PendingTOTP(c.Request().Context(), r.user.Name)
	if err != nil {
		return err
	}
	if key == nil {
		return c.Redirect(http.StatusSeeOther, "/account/two-factor")
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return err
	}
	qr := template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()))
	return h.render(c, r, status, "totp", "Enrol an authenticator app", totpView{QR: qr, Secret: key.Secret()}, problem)
}

type codesView struct {
	Codes []string
	// Download is the codes as a text file, for the download link.
	Download template.URL
}

// showCodes renders new recovery codes: the only time they are shown.
func (h *ui) showCodes(c echo.Context, r *uiReq, codes []string) error {
	text := "tpx recovery codes of " + r.user.Name + ": each logs in once.\n\n" + strings.Join(codes, "\n") + "\n"
	return h.render(c, r, http.StatusOK, "recovery_codes", "Your recovery codes", codesView{Codes: codes,
		Download: template.URL("data:text/plain;charset=utf-8," + url.PathEscape(text))}, "")
}

func (h *ui) totpConfirm(c echo.Context, r *uiReq) error {
	key := strconv.FormatInt(r.user.ID, 10)
	if retry, blocked := h.limits.blocked(limitTOTPUser, key); blocked {
		return h.tooMany(c, r, retry)
	}
	codes, err := h.cfg.Accounts.ConfirmTOTP(c.Request().Context(), r.actor(), c.FormValue("code"))
	if fault.KindOf(err) == fault.Unauthorized {
		h.limits.add(limitTOTPUser, key)
		return h.renderTOTP(c, r, http.StatusUnauthorized, sentence(fault.Public(err)))
	}
	if err != nil {
		return h.failed(c, r, err, "/account/two-factor")
	}
	// The code just entered proves the new factor: a session that had passed the password
	// alone (enrolling its first factor) now counts as one that passed TOTP.
	if err := h.renewSession(c, r, store.FactorTOTP, false); err != nil {
		return err
	}
	if codes != nil {
		return h.showCodes(c, r, codes)
	}
	return c.Redirect(http.StatusSeeOther, "/account/two-factor")
}

func (h *ui) totpRemove(c echo.Context, r *uiReq) error {
	if ok, err := h.confirmFirst(c, r, "Remove the authenticator app", confirmView{Action: c.Request().URL.Path, Button: "Remove the authenticator app", Back: "/account/two-factor",
		Message: "Codes from your authenticator app will no longer log you in. Your other sessions are logged out."}); !ok {
		return err
	}
	if err := h.cfg.Accounts.RemoveTOTP(c.Request().Context(), r.actor()); err != nil {
		return h.failed(c, r, err, "/account/two-factor")
	}
	return c.Redirect(http.StatusSeeOther, "/account/two-factor")
}

type webauthnView struct{ Options string }

// webauthnPage starts a registration: the options, with a challenge stored for this
// session, go in the page for the small script that calls the browser.
func (h *ui) webauthnPage(c echo.Context, r *uiReq) error {
	opts, err := h.cfg.Accounts.BeginWebAuthnRegistration(c.Request().Context(), r.actor(), r.session.ID)
	if err != nil {
		return h.failed(c, r, err, "/account/two-factor")
	}
	return h.render(c, r, http.StatusOK, "webauthn", "Add a security key", webauthnView{Options: string(opts)}, "")
}

func (h *ui) webauthnRegister(c echo.Context, r *uiReq) error {
	codes, err := h.cfg.Accounts.FinishWebAuthnRegistration(c.Request().Context(), r.actor(), r.session.ID, c.FormValue("name"), []byte(c.FormValue("response")))
	if err != nil {
		return h.failed(c, r, err, "/account/webauthn/new")
	}
	// Registering a key proves holding it, as logging in with it would.
	if err := h.renewSession(c, r, store.FactorWebAuthn, false); err != nil {
		return err
	}
	if codes != nil {
		return h.showCodes(c, r, codes)
	}
	return c.Redirect(http.StatusSeeOther, "/account/two-factor")
}

func (h *ui) webauthnRename(c echo.Context, r *uiReq) error {
	id, err := account.ParseID(c.Param("id"))
	if err == nil {
		err = h.cfg.Accounts.RenameWebAuthnCredential(c.Request().Context(), r.actor(), id, c.FormValue("name"))
	}
	if err != nil {
		return h.failed(c, r, err, "/account/two-factor")
	}
	return c.Redirect(http.StatusSeeOther, "/account/two-factor")
}

func (h *ui) webauthnRemove(c echo.Context, r *uiReq) error {
	return h.removeByID(c, r, "Remove a security key", confirmView{Button: "Remove the security key", Back: "/account/two-factor",
		Message: "The security key will no longer log you in. Your other sessions are logged out."}, h.cfg.Accounts.RemoveWebAuthnCredential)
}

func (h *ui) recoveryRegenerate(c echo.Context, r *uiReq) error {
	if ok, err := h.confirmFirst(c, r, "Make new recovery codes", confirmView{Action: c.Request().URL.Path, Button: "Make new codes", Back: "/account/two-factor",
		Message: "New codes replace all your current ones: the codes you saved stop working at once."}); !ok {
		return err
	}
	codes, err := h.cfg.Accounts.RegenerateRecoveryCodes(c.Request().Context(), r.actor())
	if err != nil {
		return h.failed(c, r, err, "/account/two-factor")
	}
	return h.showCodes(c, r, codes)
}
