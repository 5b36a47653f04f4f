package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
)

// This file has the project pages: the list, one project with its publishers, owners,
// failed exchanges and audit log, and the forms that change them.

// publisherForm is one "add a publisher" form, as typed, with the policy's messages by
// field.
type publisherForm struct {
	Kind         string
	Label        string // "GitHub" or "GitLab"
	Action       string
	Project      string
	Repository   string
	Workflow     string
	Environment  string
	OwnerID      string
	RepositoryID string
	Issuer       string
	Issuers      []string
	Errors       map[string]string
	CSRF         string
	// Pending: the form registers a pending publisher, for a project it names.
	Pending bool
}

// fieldView is one labelled input of a form, with its hint and its error.
type fieldView struct {
	ID, Name, Label, Value, Hint, Error, Type, Auto string
	Required                                        bool
}

// Field is the input name of the form, for the "field" template.
func (f publisherForm) Field(name, label, value, hint string, required bool) fieldView {
	return fieldView{ID: f.Kind + "-" + name, Name: name, Label: label, Value: value, Hint: hint, Error: f.Errors[name], Type: "text", Required: required}
}

var kindLabels = map[policy.Kind]string{policy.GitHub: "GitHub", policy.GitLab: "GitLab"}

// publisherForms returns the GitHub and GitLab forms posting to action, of the kinds with
// a configured issuer, the one of sent's kind filled with what was sent.
func (h *ui) publisherForms(r *uiReq, sent publisherForm, action string) []publisherForm {
	var out []publisherForm
	for _, k := range []policy.Kind{policy.GitHub, policy.GitLab} {
		if len(h.issuers(k)) == 0 {
			// No issuer of this kind is configured: its publishers could never match.
			continue
		}
		f := publisherForm{Kind: string(k)}
		if sent.Kind == string(k) {
			f = sent
		}
		f.Label, f.Action, f.Issuers, f.CSRF, f.Pending = kindLabels[k], action, h.issuers(k), r.csrf, action == "/account/pending"
		out = append(out, f)
	}
	return out
}

// issuers lists the configured issuers of kind, its default first.
func (h *ui) issuers(k policy.Kind) []string {
	var out []string
	for _, ic := range h.cfg.Issuers {
		if ic.Kind == k {
			out = append(out, ic.Issuer)
		}
	}
	return out
}

func (h *ui) readPublisherForm(c echo.Context) publisherForm {
	f := publisherForm{
		Kind: c.FormValue("kind"), Project: strings.TrimSpace(c.FormValue("project")),
		Repository: strings.TrimSpace(c.FormValue("repository")), Workflow: strings.TrimSpace(c.FormValue("workflow")),
		Environment: c.FormValue("environment"), OwnerID: strings.TrimSpace(c.FormValue("owner_id")),
		RepositoryID: strings.TrimSpace(c.FormValue("repository_id")), Issuer: c.FormValue("issuer"),
	}
	if f.Issuer == "" {
		if is := h.issuers(policy.Kind(f.Kind)); len(is) > 0 {
			f.Issuer = is[0]
		}
	}
	return f
}

// publisher is the form as a policy.Publisher; "owner/name" splits at its last '/', since
// GitLab namespaces have several parts.
func (f publisherForm) publisher() policy.Publisher {
	p := policy.Publisher{Kind: policy.Kind(f.Kind), Issuer: f.Issuer, Workflow: f.Workflow, Environment: f.Environment, OwnerID: f.OwnerID, RepositoryID: f.RepositoryID}
	if i := strings.LastIndex(f.Repository, "/"); i >= 0 {
		p.Owner, p.Name = f.Repository[:i], f.Repository[i+1:]
	} else {
		p.Owner = f.Repository
	}
	return p
}

// setErrors puts a policy validation's messages next to their fields; false if err is
// not one.
func (f *publisherForm) setErrors(err error) bool {
	var ve *policy.ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	f.Errors = map[string]string{}
	for _, fe := range ve.Fields {
		field := fe.Field
		if field == policy.FieldOwner || field == policy.FieldName {
			field = "repository"
		}
		if f.Errors[field] != "" {
			f.Errors[field] += "; " + fe.Message
		} else {
			f.Errors[field] = fe.Message
		}
	}
	return true
}

// takePublisherLimits counts a publisher registration against the user's and the
// address's daily limits.
func (h *ui) takePublisherLimits(c echo.Context, r *uiReq) (time.Duration, bool) {
	if retry, blocked := h.limits.blocked(limitPublisherUser, strconv.FormatInt(r.user.ID, 10)); blocked {
		return retry, false
	}
	if retry, ok := h.limits.take(limitPublisherIP, h.clientIP(c)); !ok {
		return retry, false
	}
	h.limits.add(limitPublisherUser, strconv.FormatInt(r.user.ID, 10))
	return 0, true
}

type projectsView struct {
	Projects []store.Project
	Name     string
}

func (h *ui) projectsPage(c echo.Context, r *uiReq) error {
	return h.renderProjects(c, r, http.StatusOK, "", "")
}

func (h *ui) renderProjects(c echo.Context, r *uiReq, status int, name, problem string) error {
	ps, err := h.cfg.Accounts.Projects(c.Request().Context(), r.user)
	if err != nil {
		return err
	}
	return h.render(c, r, status, "projects", "Your projects", projectsView{Projects: ps, Name: name}, problem)
}

func (h *ui) createProject(c echo.Context, r *uiReq) error {
	name := strings.TrimSpace(c.FormValue("name"))
	p, err := h.cfg.Accounts.CreateOwnedProject(c.Request().Context(), r.actor(), name)
	switch {
	case err == nil:
		return c.Redirect(http.StatusSeeOther, "/projects/"+url.PathEscape(p.Name))
	case errors.Is(err, account.ErrInvalidInput):
		return h.renderProjects(c, r, http.StatusUnprocessableEntity, name, sentence(err))
	case errors.Is(err, account.ErrProjectExists):
		return h.renderProjects(c, r, http.StatusConflict, name, "A project named "+name+" exists already; ask its owners to invite you.")
	}
	return h.failed(c, r, err, "/projects")
}

type projectView struct {
	account.ProjectDetails
	Kinds []publisherForm
	// Pinned says, by publisher id, which ids pin it, or that it pins them on first use.
	Pinned map[int64]string
}

func (h *ui) projectPage(c echo.Context, r *uiReq) error {
	return h.renderProject(c, r, http.StatusOK, c.Param("project"), publisherForm{}, "")
}

func (h *ui) renderProject(c echo.Context, r *uiReq, status int, name string, form publisherForm, problem string) error {
	d, err := h.cfg.Accounts.Project(c.Request().Context(), r.user, name)
	if err != nil {
		return h.failed(c, r, err, "/projects")
	}
	v := projectView{ProjectDetails: d, Pinned: map[int64]string{}}
	for _, p := range d.Publishers {
		l := "owner id"
		if p.Kind == policy.GitLab {
			l = "namespace id"
		}
		switch {
		case p.OwnerID == "" && p.RepositoryID == "":
			v.Pinned[p.ID] = "pinned on first use"
		default:
			v.Pinned[p.ID] = l + " " + orDash(p.OwnerID) + ", repository id " + orDash(p.RepositoryID)
		}
	}
	v.Kinds = h.publisherForms(r, form, "/projects/"+url.PathEscape(d.Project.Name)+"/publishers")
	return h.render(c, r, status, "project", d.Project.Name, v, problem)
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func (h *ui) addPublisher(c echo.Context, r *uiReq) error {
	project := c.Param("project")
	if retry, ok := h.takePublisherLimits(c, r); !ok {
		return h.tooMany(c, r, retry)
	}
	form := h.readPublisherForm(c)
	_, err := h.cfg.Accounts.AddPublisher(c.Request().Context(), r.actor(), project, form.publisher())
	if err == nil {
		return c.Redirect(http.StatusSeeOther, "/projects/"+url.PathEscape(project))
	}
	if form.setErrors(err) {
		return h.renderProject(c, r, http.StatusUnprocessableEntity, project, form, "The publisher was not added; see the messages next to the fields.")
	}
	if errors.Is(err, account.ErrInvalidInput) {
		return h.renderProject(c, r, http.StatusUnprocessableEntity, project, form, sentence(err))
	}
	return h.failed(c, r, err, "/projects/"+url.PathEscape(project))
}

type removeView struct {
	Project   string
	Publisher store.Publisher
	Describe  string
}

// publisherOf finds publisher id on project for its owner r.user.
func (h *ui) publisherOf(c echo.Context, r *uiReq) (store.Publisher, error) {
	id, err := account.ParseID(c.Param("id"))
	if err != nil {
		return store.Publisher{}, err
	}
	d, err := h.cfg.Accounts.Project(c.Request().Context(), r.user, c.Param("project"))
	if err != nil {
		return store.Publisher{}, err
	}
	for _, p := range d.Publishers {
		if p.ID == id {
			return p, nil
		}
	}
	return store.Publisher{}, account.ErrUnknownID
}

func (h *ui) removePublisherPage(c echo.Context, r *uiReq) error {
	p, err := h.publisherOf(c, r)
	if err != nil {
		return h.failed(c, r, err, "/projects")
	}
	return h.render(c, r, http.StatusOK, "publisher_remove", "Remove a publisher", removeView{Project: p.ProjectName, Publisher: p, Describe: account.Describe(p.Publisher)}, "")
}

func (h *ui) removePublisher(c echo.Context, r *uiReq) error {
	back := "/projects/" + url.PathEscape(c.Param("project"))
	p, err := h.publisherOf(c, r)
	if err == nil {
		err = h.cfg.Accounts.RemovePublisher(c.Request().Context(), r.actor(), p.ID)
	}
	if err != nil {
		return h.failed(c, r, err, back)
	}
	return c.Redirect(http.StatusSeeOther, back)
}

func (h *ui) inviteOwner(c echo.Context, r *uiReq) error {
	project := c.Param("project")
	back := "/projects/" + url.PathEscape(project)
	if err := h.cfg.Accounts.InviteOwner(c.Request().Context(), r.actor(), project, strings.TrimSpace(c.FormValue("username"))); err != nil {
		return h.failed(c, r, err, back)
	}
	return c.Redirect(http.StatusSeeOther, back)
}

func (h *ui) removeOwner(c echo.Context, r *uiReq) error {
	project, who := c.Param("project"), c.Param("user")
	back := "/projects/" + url.PathEscape(project)
	if err := h.cfg.Accounts.RemoveOwner(c.Request().Context(), r.actor(), project, who); err != nil {
		return h.failed(c, r, err, back)
	}
	if strings.EqualFold(who, r.user.Name) {
		return c.Redirect(http.StatusSeeOther, "/projects")
	}
	return c.Redirect(http.StatusSeeOther, back)
}

func (h *ui) cancelInvitation(c echo.Context, r *uiReq) error {
	project := c.Param("project")
	back := "/projects/" + url.PathEscape(project)
	if err := h.cfg.Accounts.CancelInvitation(c.Request().Context(), r.actor(), project, c.Param("user")); err != nil {
		return h.failed(c, r, err, back)
	}
	return c.Redirect(http.StatusSeeOther, back)
}
