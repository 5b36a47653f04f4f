package web

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/tpx-dev/tpx/account"
)

// This file has the confirmation step of destructive actions: removing a member,
// removing a second factor, replacing the recovery codes, removing a pending publisher.
// Their buttons post without the confirmation; the answer is a page that says what will
// happen and posts again with it.

// confirmView is a confirmation page.
type confirmView struct {
	// Action is where the confirmed form posts; Button names what it does.
	Action, Button string
	// Message says what will happen, and what cannot be undone.
	Message string
	// Expect, when set, must be typed to confirm (a user name), as PyPI asks before
	// removing an owner: a click alone is too easy to give by mistake.
	Expect string
	Back   string
}

// confirmFirst reports whether the destructive form was confirmed; if not, it has
// answered with the confirmation page, and the caller returns err.
func (h *ui) confirmFirst(c echo.Context, r *uiReq, title string, v confirmView) (ok bool, err error) {
	if v.Expect == "" {
		if c.FormValue("confirmed") == "yes" {
			return true, nil
		}
		return false, h.render(c, r, http.StatusOK, "confirm", title, v, "")
	}
	typed := c.FormValue("confirm")
	if typed == v.Expect {
		return true, nil
	}
	status, problem := http.StatusOK, ""
	if typed != "" {
		status, problem = http.StatusUnprocessableEntity, "What you typed is not "+v.Expect+": nothing was removed."
	}
	return false, h.render(c, r, status, "confirm", title, v, problem)
}

// removeByID removes, once confirmed on a page titled title, the thing whose id is in the
// path, as remove does for the acting user, and goes back to v.Back; a bad id, like a
// refusal, shows there.
func (h *ui) removeByID(c echo.Context, r *uiReq, title string, v confirmView, remove func(context.Context, account.Actor, int64) error) error {
	id, err := account.ParseID(c.Param("id"))
	if err != nil {
		return h.failed(c, r, err, v.Back)
	}
	v.Action = c.Request().URL.Path
	if ok, err := h.confirmFirst(c, r, title, v); !ok {
		return err
	}
	if err := remove(c.Request().Context(), r.actor(), id); err != nil {
		return h.failed(c, r, err, v.Back)
	}
	return c.Redirect(http.StatusSeeOther, v.Back)
}
