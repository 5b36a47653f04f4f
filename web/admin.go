package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/fault"
	"github.com/tpx-dev/tpx/store"
)

// AdminConfig wires the admin API under /v1/admin/: what the package index that tpx
// serves uses to say which projects exist, who owns them, which names a user may register
// pending publishers for, and to read the audit events. Config.Admin nil serves none.
type AdminConfig struct {
	Accounts *account.Service
	// RateLimit limits admin requests per client address; zero is AdminRateLimit.
	RateLimit RateLimit
}

// AdminRateLimit is the admin API's default limit per client address: ample for an
// index re-syncing its projects, and a bound on what a stolen key does per minute.
var AdminRateLimit = RateLimit{Requests: 600, Per: time.Minute}

// Admin list pages: the default and the largest number of items.
const (
	adminPage    = 100
	adminMaxPage = 1000
)

type admin struct {
	s   *server
	cfg AdminConfig
}

func registerAdmin(e *echo.Echo, s *server, cfg AdminConfig) {
	rl := cfg.RateLimit
	if rl.Requests == 0 {
		rl = AdminRateLimit
	}
	rl.TrustedProxies = s.cfg.RateLimit.TrustedProxies
	a := &admin{s: s, cfg: cfg}
	limit := a.limit(newLimiter(rl, s.cfg.Now))
	// The index reports leaked upload tokens next to the other token routes, with its
	// admin key.
	e.POST("/v1/tokens/leaked", a.reportLeak, limit, a.authenticate)
	g := e.Group("/v1/admin", limit, a.authenticate)
	g.GET("/projects", a.listProjects)
	g.POST("/projects", a.createProject)
	g.GET("/projects/:project", a.getProject)
	g.PATCH("/projects/:project", a.renameProject)
	g.DELETE("/projects/:project", a.deleteProject)
	g.PUT("/projects/:project/owners", a.setOwners)
	g.GET("/publishers", a.listPublishers)
	g.POST("/users", a.createUser)
	g.DELETE("/users/:user", a.deleteUser)
	g.PUT("/users/:user/identity", a.linkIdentity)
	g.PUT("/users/:user/grants/:name", a.grant)
	g.DELETE("/users/:user/grants/:name", a.revokeGrant)
	g.GET("/events", a.events)
	g.POST("/invitations", a.invite)
	// Anything else under the prefix answers in the admin shape, after authentication, so
	// that an unauthenticated caller learns nothing of which routes exist.
	g.Any("/*", func(c echo.Context) error {
		return a.fail(c, http.StatusNotFound, "not-found", "", "no such admin route")
	})
}

// adminError is one entry of an admin error reply; Field names the request field at
// fault, when one is.
type adminError struct {
	Code        string `json:"code"`
	Field       string `json:"field,omitempty"`
	Description string `json:"description"`
}

type adminErrorReply struct {
	Message   string       `json:"message"`
	Errors    []adminError `json:"errors"`
	RequestID string       `json:"request_id,omitempty"`
}

func (a *admin) fail(c echo.Context, status int, code, field, description string) error {
	c.Set(replyCodeKey, code)
	return c.JSON(status, adminErrorReply{Message: "Admin request failed", Errors: []adminError{{Code: code, Field: field, Description: description}}, RequestID: requestID(c)})
}

// adminCode is the admin API's code for err: its kind's name, but for the two kinds of
// invalid request the API tells apart.
func adminCode(err error) string {
	switch {
	case errors.Is(err, account.ErrUnknownUser):
		return "unknown-user"
	case fault.KindOf(err) == fault.Invalid:
		return "invalid-field"
	}
	return fault.KindOf(err).String()
}

// failWith answers err with its kind's status; anything unclassified is a logged 500.
func (a *admin) failWith(c echo.Context, err error) error {
	var fe *account.FieldError
	field := ""
	if errors.As(err, &fe) {
		field = fe.Field
	}
	kind := fault.KindOf(err)
	switch kind {
	case fault.Internal:
		a.s.log(c).Error("unexpected error", "error", err)
		return a.fail(c, http.StatusInternalServerError, "internal-error", "", "an unexpected error happened; the request id identifies it in the service's log")
	case fault.Unavailable:
		a.s.log(c).Error("admin request failed", "error", err)
		return a.fail(c, statusOf(kind), adminCode(err), "", "the database is unavailable; try again")
	}
	return a.fail(c, statusOf(kind), adminCode(err), field, sentence(fault.Public(err)))
}

// authenticate admits a request only with an unrevoked admin API key as bearer, and
// records each use in the audit log. The key never reaches a log: refusals log the class.
func (a *admin) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		raw, _ := bearer(c)
		k, err := a.cfg.Accounts.AuthenticateAPIKey(c.Request().Context(), raw, store.ScopeAdmin)
		switch {
		case errors.Is(err, account.ErrBadAPIKey):
			a.s.log(c).Info("admin request refused", "reason", "missing, unknown or revoked API key")
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="tpx-admin"`)
			return a.fail(c, http.StatusUnauthorized, "unauthorized", "", "the admin API needs Authorization: Bearer <an unrevoked tpxadm_ key from tpx apikey create>")
		case errors.Is(err, account.ErrAPIKeyScope):
			a.s.log(c).Info("admin request refused", "reason", "API key without the admin scope")
			return a.fail(c, http.StatusForbidden, "forbidden", "", "this API key does not have the admin scope")
		case err != nil:
			return a.failWith(c, err)
		}
		a.cfg.Accounts.RecordAPIKeyUse(c.Request().Context(), k, c.Request().Method+" "+c.Request().URL.Path)
		return next(c)
	}
}

func (a *admin) limit(l *limiter) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			client, ok := clientKey(a.s.clientIP(c.Request()))
			if !ok {
				return next(c)
			}
			if allowed, wait := l.allow(client); !allowed {
				secs := max(int(math.Ceil(wait.Seconds())), 1)
				c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
				return a.fail(c, http.StatusTooManyRequests, "rate-limited", "", "too many admin requests from this address; retry after the number of seconds in Retry-After")
			}
			return next(c)
		}
	}
}

// decode reads a JSON object body into v, refusing unknown fields, trailing data and
// bodies over MaxBodyBytes; it answers the failure itself (handled true).
func (a *admin) decode(c echo.Context, v any) (handled bool, err error) {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, MaxBodyBytes+1))
	if err != nil {
		return true, a.fail(c, http.StatusBadRequest, "invalid-body", "", "the request body could not be read")
	}
	if len(body) > MaxBodyBytes {
		return true, a.fail(c, http.StatusRequestEntityTooLarge, "invalid-body", "", "the request body is larger than 64 KiB")
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil || d.More() {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return true, a.fail(c, http.StatusUnprocessableEntity, "invalid-field", te.Field, fmt.Sprintf("%s must be a JSON %s", te.Field, jsonType(te.Type.Kind().String())))
		}
		return true, a.fail(c, http.StatusBadRequest, "invalid-body", "", "the body must be one JSON object with the documented fields only (docs/admin-api.md)")
	}
	return false, nil
}

func jsonType(kind string) string {
	switch kind {
	case "slice":
		return "array"
	case "int64", "int":
		return "number"
	}
	return kind
}

// required answers a missing field.
func (a *admin) required(c echo.Context, field string) error {
	return a.fail(c, http.StatusUnprocessableEntity, "invalid-field", field, field+" is required")
}

// cursor reads the after and limit query parameters of a list.
func (a *admin) cursor(c echo.Context) (after int64, limit int, handled bool, err error) {
	limit = adminPage
	if v := c.QueryParam("after"); v != "" {
		after, err = strconv.ParseInt(v, 10, 64)
		if err != nil || after < 0 {
			return 0, 0, true, a.fail(c, http.StatusUnprocessableEntity, "invalid-field", "after", "after is the id of the last item read, a number of 0 or more")
		}
	}
	if v := c.QueryParam("limit"); v != "" {
		limit, err = strconv.Atoi(v)
		if err != nil || limit < 1 || limit > adminMaxPage {
			return 0, 0, true, a.fail(c, http.StatusUnprocessableEntity, "invalid-field", "limit", fmt.Sprintf("limit is a number from 1 to %d", adminMaxPage))
		}
	}
	return after, limit, false, nil
}

type adminPublisher struct {
	ID           int64      `json:"id"`
	Project      string     `json:"project"`
	Kind         string     `json:"kind"`
	Issuer       string     `json:"issuer"`
	Repository   string     `json:"repository"`
	Workflow     string     `json:"workflow"`
	Environment  string     `json:"environment"`
	OwnerID      string     `json:"owner_id"`
	RepositoryID string     `json:"repository_id"`
	CreatedAt    time.Time  `json:"created_at"`
	LastUsedAt   *time.Time `json:"last_used_at"`
}

func publisherOut(p store.Publisher) adminPublisher {
	return adminPublisher{ID: p.ID, Project: p.ProjectName, Kind: string(p.Kind), Issuer: p.Issuer, Repository: p.Repository(),
		Workflow: p.Workflow, Environment: p.Environment, OwnerID: p.OwnerID, RepositoryID: p.RepositoryID, CreatedAt: p.CreatedAt, LastUsedAt: p.LastUsedAt}
}

type adminProject struct {
	ID         int64            `json:"id"`
	Name       string           `json:"name"`
	CreatedAt  time.Time        `json:"created_at"`
	Owners     []string         `json:"owners"`
	Publishers []adminPublisher `json:"publishers"`
}

func projectOut(p account.IndexProject) adminProject {
	out := adminProject{ID: p.Project.ID, Name: p.Project.Name, CreatedAt: p.Project.CreatedAt, Owners: []string{}, Publishers: []adminPublisher{}}
	for _, o := range p.Owners {
		out.Owners = append(out.Owners, o.Name)
	}
	for _, pub := range p.Publishers {
		out.Publishers = append(out.Publishers, publisherOut(pub))
	}
	return out
}

func (a *admin) listProjects(c echo.Context) error {
	after, limit, handled, err := a.cursor(c)
	if handled {
		return err
	}
	ps, err := a.cfg.Accounts.IndexProjects(c.Request().Context(), after, limit)
	if err != nil {
		return a.failWith(c, err)
	}
	out := struct {
		Projects []adminProject `json:"projects"`
		Next     int64          `json:"next"`
	}{Projects: []adminProject{}, Next: after}
	for _, p := range ps {
		out.Projects = append(out.Projects, projectOut(p))
		out.Next = p.Project.ID
	}
	return c.JSON(http.StatusOK, out)
}

func (a *admin) getProject(c echo.Context) error {
	p, err := a.cfg.Accounts.IndexProjectByName(c.Request().Context(), pathParam(c, "project"))
	if err != nil {
		return a.failWith(c, err)
	}
	return c.JSON(http.StatusOK, projectOut(p))
}

func (a *admin) createProject(c echo.Context) error {
	var in struct {
		Name   string   `json:"name"`
		Owners []string `json:"owners"`
	}
	if handled, err := a.decode(c, &in); handled {
		return err
	}
	if in.Name == "" {
		return a.required(c, "name")
	}
	ctx := c.Request().Context()
	if _, err := a.cfg.Accounts.IndexCreateProject(ctx, in.Name, in.Owners); err != nil {
		return a.failWith(c, err)
	}
	p, err := a.cfg.Accounts.IndexProjectByName(ctx, in.Name)
	if err != nil {
		return a.failWith(c, err)
	}
	return c.JSON(http.StatusCreated, projectOut(p))
}

func (a *admin) renameProject(c echo.Context) error {
	var in struct {
		Name string `json:"name"`
	}
	if handled, err := a.decode(c, &in); handled {
		return err
	}
	if in.Name == "" {
		return a.required(c, "name")
	}
	ctx := c.Request().Context()
	if _, err := a.cfg.Accounts.IndexRenameProject(ctx, pathParam(c, "project"), in.Name); err != nil {
		return a.failWith(c, err)
	}
	p, err := a.cfg.Accounts.IndexProjectByName(ctx, in.Name)
	if err != nil {
		return a.failWith(c, err)
	}
	return c.JSON(http.StatusOK, projectOut(p))
}

func (a *admin) deleteProject(c echo.Context) error {
	if err := a.cfg.Accounts.IndexDeleteProject(c.Request().Context(), pathParam(c, "project")); err != nil {
		return a.failWith(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *admin) setOwners(c echo.Context) error {
	var in struct {
		Owners *[]string `json:"owners"`
	}
	if handled, err := a.decode(c, &in); handled {
		return err
	}
	if in.Owners == nil {
		return a.required(c, "owners")
	}
	ctx := c.Request().Context()
	added, removed, err := a.cfg.Accounts.IndexSetOwners(ctx, pathParam(c, "project"), *in.Owners)
	if err != nil {
		return a.failWith(c, err)
	}
	p, err := a.cfg.Accounts.IndexProjectByName(ctx, pathParam(c, "project"))
	if err != nil {
		return a.failWith(c, err)
	}
	out := struct {
		Owners  []string `json:"owners"`
		Added   []string `json:"added"`
		Removed []string `json:"removed"`
	}{Owners: projectOut(p).Owners, Added: append([]string{}, added...), Removed: append([]string{}, removed...)}
	return c.JSON(http.StatusOK, out)
}

func (a *admin) listPublishers(c echo.Context) error {
	ctx := c.Request().Context()
	var ps []store.Publisher
	if name := c.QueryParam("project"); name != "" {
		p, err := a.cfg.Accounts.IndexProjectByName(ctx, name)
		if err != nil {
			return a.failWith(c, err)
		}
		ps = p.Publishers
	} else {
		var err error
		if ps, err = a.cfg.Accounts.IndexPublishers(ctx); err != nil {
			return a.failWith(c, err)
		}
	}
	out := struct {
		Publishers []adminPublisher `json:"publishers"`
	}{Publishers: []adminPublisher{}}
	for _, p := range ps {
		out.Publishers = append(out.Publishers, publisherOut(p))
	}
	return c.JSON(http.StatusOK, out)
}

type adminUser struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Email     string    `json:"email"`
	Issuer    string    `json:"issuer,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

func (a *admin) createUser(c echo.Context) error {
	var in struct {
		Name    string `json:"name"`
		Email   string `json:"email"`
		Issuer  string `json:"issuer"`
		Subject string `json:"subject"`
	}
	if handled, err := a.decode(c, &in); handled {
		return err
	}
	if in.Name == "" {
		return a.required(c, "name")
	}
	if in.Email == "" {
		return a.required(c, "email")
	}
	u, err := a.cfg.Accounts.IndexCreateUser(c.Request().Context(), account.IndexUser{Name: in.Name, Email: in.Email, Issuer: in.Issuer, Subject: in.Subject})
	if err != nil {
		return a.failWith(c, err)
	}
	return c.JSON(http.StatusCreated, adminUser{ID: u.ID, Name: u.Name, Email: u.Email, Issuer: in.Issuer, Subject: in.Subject, CreatedAt: u.CreatedAt})
}

func (a *admin) deleteUser(c echo.Context) error {
	if err := a.cfg.Accounts.IndexDeleteUser(c.Request().Context(), pathParam(c, "user")); err != nil {
		return a.failWith(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (a *admin) linkIdentity(c echo.Context) error {
	var in struct {
		Issuer  string `json:"issuer"`
		Subject string `json:"subject"`
	}
	if handled, err := a.decode(c, &in); handled {
		return err
	}
	u, err := a.cfg.Accounts.IndexLinkIdentity(c.Request().Context(), pathParam(c, "user"), in.Issuer, in.Subject)
	if err != nil {
		return a.failWith(c, err)
	}
	return c.JSON(http.StatusOK, adminUser{ID: u.ID, Name: u.Name, Email: u.Email, Issuer: in.Issuer, Subject: in.Subject, CreatedAt: u.CreatedAt})
}

func (a *admin) grant(c echo.Context) error {
	if err := a.cfg.Accounts.IndexGrantPending(c.Request().Context(), pathParam(c, "user"), pathParam(c, "name")); err != nil {
		return a.failWith(c, err)
	}
	return c.JSON(http.StatusOK, map[string]string{"user": pathParam(c, "user"), "name": pathParam(c, "name")})
}

func (a *admin) revokeGrant(c echo.Context) error {
	if err := a.cfg.Accounts.IndexRevokePending(c.Request().Context(), pathParam(c, "user"), pathParam(c, "name")); err != nil {
		return a.failWith(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}

type adminEvent struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	UserID    int64     `json:"user_id"`
	User      string    `json:"user"`
	ProjectID int64     `json:"project_id"`
	Project   string    `json:"project"`
	Action    string    `json:"action"`
	Detail    string    `json:"detail"`
}

func (a *admin) events(c echo.Context) error {
	after, limit, handled, err := a.cursor(c)
	if handled {
		return err
	}
	evs, err := a.cfg.Accounts.IndexEvents(c.Request().Context(), after, limit)
	if err != nil {
		return a.failWith(c, err)
	}
	out := struct {
		Events []adminEvent `json:"events"`
		Next   int64        `json:"next"`
	}{Events: []adminEvent{}, Next: after}
	for _, e := range evs {
		out.Events = append(out.Events, adminEvent{ID: e.ID, At: e.At, Actor: e.Actor, UserID: e.UserID, User: e.UserName, ProjectID: e.ProjectID, Project: e.ProjectName, Action: e.Action, Detail: e.Detail})
		out.Next = e.ID
	}
	return c.JSON(http.StatusOK, out)
}

func (a *admin) invite(c echo.Context) error {
	var in struct {
		Email string `json:"email"`
	}
	if handled, err := a.decode(c, &in); handled {
		return err
	}
	if in.Email == "" {
		return a.required(c, "email")
	}
	link, inv, err := a.cfg.Accounts.InviteSignup(c.Request().Context(), account.Actor{Via: account.ViaAdmin}, in.Email)
	if err != nil {
		return a.failWith(c, err)
	}
	return c.JSON(http.StatusCreated, struct {
		Email     string    `json:"email"`
		Link      string    `json:"link"`
		ExpiresAt time.Time `json:"expires_at"`
	}{inv.Email, link, inv.ExpiresAt})
}
