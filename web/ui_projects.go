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
	"github.com/tpx-dev/tpx/fault"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
)

// This file has the project pages: the list, one project with its publishers, owners,
// failed exchanges and audit log, and the forms that change them.

// publisherForm is one "add a publisher" form of one platform, as typed, with the
// policy's messages by input.
type publisherForm struct {
	Kind    string
	Label   string // the platform's name, "GitHub"
	Action  string
	Project string
	// Values are the platform's inputs as typed, by input name.
	Values  map[string]string
	Issuer  string
	Issuers []string
	Errors  map[string]string
	CSRF    string
	// Pending: the form registers a pending publisher, for a project it names.
	Pending  bool
	platform *policy.Platform
}

// fieldView is one labelled input of a form, with its hint and its error.
type fieldView struct {
	ID, Name, Label, Value, Hint, Error, Type, Auto string
	Required, Disabled                              bool
}

// inputView is a platform field as a form input; values holds what was typed, nil for a
// new form, which starts with the field's suggested value.
func inputView(prefix string, fd policy.Field, values, errs map[string]string) fieldView {
	v := fieldView{ID: prefix + "-" + fd.Name, Name: fd.Name, Label: fd.Label, Value: values[fd.Name], Hint: fd.Hint,
		Error: errs[fd.Name], Type: "text", Required: fd.Required, Disabled: fd.Disabled}
	if values == nil {
		v.Value = fd.Suggested
	}
	if fd.Check {
		v.Type = "checkbox"
	}
	if fd.Disabled {
		v.Value = ""
	}
	return v
}

// Field is the input name of the form, for the "field" template.
func (f publisherForm) Field(name, label, value, hint string, required bool) fieldView {
	return fieldView{ID: f.Kind + "-" + name, Name: name, Label: label, Value: value, Hint: hint, Error: f.Errors[name], Type: "text", Required: required}
}

// Inputs are the platform's publisher fields an owner fills in, in its order, with what
// was typed.
func (f publisherForm) Inputs() []fieldView { return f.inputs(false) }

// AdvancedInputs are the fields most owners leave empty: the numeric ids, pinned on first
// use when not given. They go under "Advanced", with the issuer.
func (f publisherForm) AdvancedInputs() []fieldView { return f.inputs(true) }

func advancedField(fd policy.Field) bool { return !fd.Required && strings.HasSuffix(fd.Name, "_id") }

func (f publisherForm) inputs(advanced bool) []fieldView {
	if f.platform == nil {
		return nil
	}
	var out []fieldView
	for _, fd := range f.platform.Fields {
		if advancedField(fd) == advanced {
			out = append(out, inputView(f.Kind, fd, f.Values, f.Errors))
		}
	}
	return out
}

// AdvancedOpen says the Advanced part starts open: something in it was typed or refused.
func (f publisherForm) AdvancedOpen() bool {
	if f.Errors["issuer"] != "" || (len(f.Issuers) > 0 && f.Issuer != "" && f.Issuer != f.Issuers[0]) {
		return true
	}
	for _, in := range f.AdvancedInputs() {
		if in.Value != "" || in.Error != "" {
			return true
		}
	}
	return false
}

// idHelp links to where a platform says how to find its numeric ids.
var idHelp = map[policy.Kind]string{
	policy.GitHub: "https://docs.github.com/en/rest/repos/repos#get-a-repository",
	policy.GitLab: "https://docs.gitlab.com/user/project/working_with_projects/#find-the-project-id",
}

// IDHelp is the link for this form's platform, or "".
func (f publisherForm) IDHelp() string { return idHelp[policy.Kind(f.Kind)] }

// publisherForms returns one form per platform with a configured issuer, posting to
// action; the one of sent's kind is filled with what was sent.
func (h *ui) publisherForms(r *uiReq, sent publisherForm, action string) []publisherForm {
	var out []publisherForm
	for _, pl := range policy.Platforms() {
		issuers := h.issuers(pl.Kind)
		if len(issuers) == 0 {
			// No issuer of this kind is configured: its publishers could never match.
			continue
		}
		f := publisherForm{Kind: string(pl.Kind)}
		if sent.Kind == string(pl.Kind) {
			f = sent
		}
		f.Label, f.Action, f.Issuers, f.CSRF, f.Pending, f.platform = pl.Label, action, issuers, r.csrf, action == "/account/pending", pl
		out = append(out, f)
	}
	return out
}

// issuers lists the configured issuers of kind, its default first.
func (h *ui) issuers(k policy.Kind) []string {
	var out []string
	for _, ic := range h.cfg.Accounts.Issuers() {
		if ic.Kind == k {
			out = append(out, ic.Issuer)
		}
	}
	return out
}

// readPublisherForm reads the form of the platform it names; an unknown kind reads as a
// form without inputs, for validation to refuse.
func (h *ui) readPublisherForm(c echo.Context) publisherForm {
	f := publisherForm{Kind: c.FormValue("kind"), Project: strings.TrimSpace(c.FormValue("project")), Issuer: c.FormValue("issuer"), Values: map[string]string{}}
	if pl, ok := policy.Lookup(policy.Kind(f.Kind)); ok {
		f.platform = pl
		for _, fd := range pl.Fields {
			v := c.FormValue(fd.Name)
			// Spaces around an environment are the owner's to see refused, not ours to
			// drop: they could be part of a name the platform sends.
			if fd.Name != policy.FieldEnvironment {
				v = strings.TrimSpace(v)
			}
			f.Values[fd.Name] = v
		}
	}
	if f.Issuer == "" {
		if is := h.issuers(policy.Kind(f.Kind)); len(is) > 0 {
			f.Issuer = is[0]
		}
	}
	return f
}

// publisher is the form as a policy.Publisher.
func (f publisherForm) publisher() policy.Publisher {
	if f.platform == nil {
		return policy.Publisher{Kind: policy.Kind(f.Kind), Issuer: f.Issuer}
	}
	return f.platform.Publisher(f.Issuer, func(name string) string { return f.Values[name] })
}

// setErrors puts a policy validation's messages next to their inputs; false if err is
// not one.
func (f *publisherForm) setErrors(err error) bool {
	var ve *policy.ValidationError
	if !errors.As(err, &ve) {
		return false
	}
	f.Errors = map[string]string{}
	for _, fe := range ve.Fields {
		field := fe.Field
		if f.platform != nil {
			if in, ok := f.platform.FieldFor(field); ok {
				field = in.Name
			}
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
	Projects    []store.Project
	Maintained  []store.Project
	Invitations []store.Invitation
	Name        string
	// NoRecoveryCodes offers codes to a user who has none left, or never had any (enrolled
	// from the command line).
	NoRecoveryCodes bool
}

func (h *ui) projectsPage(c echo.Context, r *uiReq) error {
	return h.renderProjects(c, r, http.StatusOK, "", "")
}

func (h *ui) renderProjects(c echo.Context, r *uiReq, status int, name, problem string) error {
	ctx := c.Request().Context()
	v := projectsView{Name: name}
	var err error
	if v.Projects, v.Maintained, err = h.cfg.Accounts.Projects(ctx, r.user); err != nil {
		return err
	}
	if v.Invitations, err = h.cfg.Accounts.Invitations(ctx, r.user); err != nil {
		return err
	}
	left, err := h.cfg.Accounts.RecoveryCodesLeft(ctx, r.user)
	if err != nil {
		return err
	}
	v.NoRecoveryCodes = left == 0
	return h.render(c, r, status, "projects", "Your projects", v, problem)
}

func (h *ui) createProject(c echo.Context, r *uiReq) error {
	name := strings.TrimSpace(c.FormValue("name"))
	p, err := h.cfg.Accounts.CreateOwnedProject(c.Request().Context(), r.actor(), name)
	switch {
	case err == nil:
		return c.Redirect(http.StatusSeeOther, "/projects/"+url.PathEscape(p.Name))
	case fault.KindOf(err) == fault.Conflict:
		return h.renderProjects(c, r, http.StatusConflict, name, "A project named "+name+" exists already; ask its owners to invite you.")
	case fault.KindOf(err) == fault.Invalid:
		return h.renderProjects(c, r, http.StatusUnprocessableEntity, name, sentence(fault.Public(err)))
	}
	return h.failed(c, r, err, "/projects")
}

type projectView struct {
	account.ProjectDetails
	// Selected is the platform whose form is shown: one form at a time.
	Selected string
	// Added is the publisher just added, with the CI configuration for it: one for each
	// protocol served.
	Added    *store.Publisher
	Snippets []snippet
	// Owner says the viewer may change the project (a maintainer may not).
	Owner bool
	Kinds []publisherForm
	// Pinned says, by publisher id, which ids pin it, or that it pins them on first use.
	Pinned map[int64]string
	// Rules says, by publisher id, which refs and called workflow it accepts.
	Rules     map[int64]string
	RuleForms []rulesForm
}

// rulesForm changes one publisher's ref rules and called-workflow pin.
type rulesForm struct {
	ID                              int64
	Action, Describe, CSRF, Problem string
	Values, Errors                  map[string]string
	platform                        *policy.Platform
}

// ruleFields are the fields a rules form changes: those of the ref rules and the called
// workflow; the others belong to the publisher's identity and are changed by replacing it.
func ruleFields(pl *policy.Platform) []policy.Field {
	var out []policy.Field
	for _, f := range pl.Fields {
		switch f.Name {
		case policy.FieldRefTagsOnly, policy.FieldRefPattern, policy.FieldRefProtected, policy.FieldCalledWorkflow:
			out = append(out, f)
		}
	}
	return out
}

// Inputs are the form's fields with the publisher's current rules, or what was typed.
func (f rulesForm) Inputs() []fieldView {
	var out []fieldView
	for _, fd := range ruleFields(f.platform) {
		out = append(out, inputView("rules-"+strconv.FormatInt(f.ID, 10), fd, f.Values, f.Errors))
	}
	return out
}

// newRulesForm is the rules form of p showing its current rules.
func newRulesForm(r *uiReq, pl *policy.Platform, p store.Publisher) rulesForm {
	f := rulesForm{ID: p.ID, Action: "/projects/" + url.PathEscape(p.ProjectName) + "/publishers/" + strconv.FormatInt(p.ID, 10) + "/rules",
		Describe: string(p.Kind) + " " + p.Repository() + " " + p.Workflow, CSRF: r.csrf, Values: map[string]string{}, platform: pl}
	for _, fd := range ruleFields(pl) {
		f.Values[fd.Name] = fd.Get(p.Publisher)
	}
	return f
}

func (h *ui) projectPage(c echo.Context, r *uiReq) error {
	return h.renderProject(c, r, http.StatusOK, pathParam(c, "project"), publisherForm{Kind: c.QueryParam("platform")}, "")
}

func (h *ui) renderProject(c echo.Context, r *uiReq, status int, name string, form publisherForm, problem string) error {
	return h.renderProjectRules(c, r, status, name, form, rulesForm{}, problem)
}

// renderProjectRules renders the project page with rules, a rules form as sent, in place
// of that publisher's form.
func (h *ui) renderProjectRules(c echo.Context, r *uiReq, status int, name string, form publisherForm, rules rulesForm, problem string) error {
	d, err := h.cfg.Accounts.Project(c.Request().Context(), r.user, name)
	if err != nil {
		return h.failed(c, r, err, "/projects")
	}
	v := projectView{ProjectDetails: d, Owner: d.Role == store.RoleOwner, Pinned: map[int64]string{}, Rules: map[int64]string{}}
	for _, p := range d.Publishers {
		pl, ok := policy.Lookup(p.Kind)
		if !ok {
			continue
		}
		v.Pinned[p.ID] = pl.PinnedIDs(p.Publisher)
		v.Rules[p.ID] = p.Refs.String()
		if p.CalledWorkflow != "" {
			v.Rules[p.ID] += ", called workflow " + p.CalledWorkflow
		}
		rf := newRulesForm(r, pl, p)
		if rules.ID == p.ID {
			rf.Values, rf.Errors, rf.Problem = rules.Values, rules.Errors, rules.Problem
		}
		if len(ruleFields(pl)) > 0 {
			v.RuleForms = append(v.RuleForms, rf)
		}
	}
	v.Kinds = h.publisherForms(r, form, "/projects/"+url.PathEscape(d.Project.Name)+"/publishers")
	for _, k := range v.Kinds {
		if k.Kind == form.Kind || v.Selected == "" {
			v.Selected = k.Kind
		}
	}
	if id, err := strconv.ParseInt(c.QueryParam("added"), 10, 64); err == nil {
		for i := range d.Publishers {
			if d.Publishers[i].ID == id {
				v.Added = &d.Publishers[i]
				v.Snippets = h.snippets(d.Publishers[i])
			}
		}
	}
	return h.render(c, r, status, "project", d.Project.Name, v, problem)
}

func (h *ui) addPublisher(c echo.Context, r *uiReq) error {
	project := pathParam(c, "project")
	if retry, ok := h.takePublisherLimits(c, r); !ok {
		return h.tooMany(c, r, retry)
	}
	form := h.readPublisherForm(c)
	p, err := h.cfg.Accounts.AddPublisher(c.Request().Context(), r.actor(), project, form.publisher())
	if err == nil {
		return c.Redirect(http.StatusSeeOther, "/projects/"+url.PathEscape(project)+"?added="+strconv.FormatInt(p.ID, 10)+"#added")
	}
	if form.setErrors(err) {
		return h.renderProject(c, r, http.StatusUnprocessableEntity, project, form, "The publisher was not added; see the messages next to the fields.")
	}
	if fault.KindOf(err) == fault.Invalid {
		return h.renderProject(c, r, http.StatusUnprocessableEntity, project, form, sentence(fault.Public(err)))
	}
	return h.failed(c, r, err, "/projects/"+url.PathEscape(project))
}

// setPublisherRules changes one publisher's ref rules and called-workflow pin.
func (h *ui) setPublisherRules(c echo.Context, r *uiReq) error {
	project := pathParam(c, "project")
	back := "/projects/" + url.PathEscape(project)
	p, err := h.publisherOf(c, r)
	if err != nil {
		return h.failed(c, r, err, back)
	}
	pl, ok := policy.Lookup(p.Kind)
	if !ok {
		return h.failed(c, r, account.ErrUnknownID, back)
	}
	sent := rulesForm{ID: p.ID, Values: map[string]string{}}
	next := p.Publisher
	for _, fd := range ruleFields(pl) {
		v := strings.TrimSpace(c.FormValue(fd.Name))
		sent.Values[fd.Name] = v
		fd.Set(&next, v)
	}
	_, err = h.cfg.Accounts.SetPublisherRules(c.Request().Context(), r.actor(), p.ID, next.Refs, next.CalledWorkflow)
	if err == nil {
		return c.Redirect(http.StatusSeeOther, back)
	}
	var ve *policy.ValidationError
	if errors.As(err, &ve) {
		sent.Errors = map[string]string{}
		for _, fe := range ve.Fields {
			if in, ok := pl.FieldFor(fe.Field); ok {
				sent.Errors[in.Name] = fe.Message
			} else {
				sent.Problem = fe.Message
			}
		}
		return h.renderProjectRules(c, r, http.StatusUnprocessableEntity, project, publisherForm{}, sent, "The rules were not changed; see the messages next to the fields.")
	}
	return h.failed(c, r, err, back)
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
	d, err := h.cfg.Accounts.Project(c.Request().Context(), r.user, pathParam(c, "project"))
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
	back := "/projects/" + url.PathEscape(pathParam(c, "project"))
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
	project := pathParam(c, "project")
	back := "/projects/" + url.PathEscape(project)
	role := store.Role(c.FormValue("role"))
	if role == "" {
		role = store.RoleOwner
	}
	if err := h.cfg.Accounts.InviteOwner(c.Request().Context(), r.actor(), project, strings.TrimSpace(c.FormValue("username")), role); err != nil {
		return h.failed(c, r, err, back)
	}
	return c.Redirect(http.StatusSeeOther, back)
}

func (h *ui) removeOwner(c echo.Context, r *uiReq) error {
	project, who := pathParam(c, "project"), pathParam(c, "user")
	back := "/projects/" + url.PathEscape(project)
	if ok, err := h.confirmFirst(c, r, "Remove a member", confirmView{Action: c.Request().URL.Path, Button: "Remove " + who, Expect: who, Back: back,
		Message: who + " will no longer be a member of " + project + ": they will not see it, nor change its publishers."}); !ok {
		return err
	}
	if err := h.cfg.Accounts.RemoveOwner(c.Request().Context(), r.actor(), project, who); err != nil {
		return h.failed(c, r, err, back)
	}
	if strings.EqualFold(who, r.user.Name) {
		return c.Redirect(http.StatusSeeOther, "/projects")
	}
	return c.Redirect(http.StatusSeeOther, back)
}

func (h *ui) cancelInvitation(c echo.Context, r *uiReq) error {
	project := pathParam(c, "project")
	back := "/projects/" + url.PathEscape(project)
	if err := h.cfg.Accounts.CancelInvitation(c.Request().Context(), r.actor(), project, pathParam(c, "user")); err != nil {
		return h.failed(c, r, err, back)
	}
	return c.Redirect(http.StatusSeeOther, back)
}
