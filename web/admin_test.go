package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/internal/uitest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
)

// adminEnv is the admin API over real HTTP on a real store, in managed mode, recording
// every reply for the OpenAPI checks.
type adminEnv struct {
	t    *testing.T
	st   store.Store
	acc  *account.Service
	e    *echo.Echo
	url  string
	log  *bytes.Buffer
	key  string // an admin key
	read string // a key with another scope

	mu      sync.Mutex
	now     time.Time
	replies []adminReply
}

type adminReply struct {
	method, route string
	status        int
	body          []byte
}

func (e *adminEnv) Now() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *adminEnv) advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.now = e.now.Add(d)
}

func newAdminEnv(t *testing.T, b uitest.Backend, rl RateLimit) *adminEnv {
	t.Helper()
	e := &adminEnv{t: t, st: b.Open(t), log: &bytes.Buffer{}, now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	box, err := secretbox.New(strings.Repeat("k", 32))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(&lockedBuffer{b: e.log}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.acc = account.New(account.Config{Store: e.st, Box: box, Now: e.Now, Logger: log, Projects: account.ProjectsManaged})
	e.e = New(Config{Store: e.st, Logger: log, Now: e.Now, Admin: &AdminConfig{Accounts: e.acc, RateLimit: rl}})
	e.e.Use(e.record)
	srv := httptest.NewServer(e.e)
	t.Cleanup(srv.Close)
	e.url = srv.URL
	if e.key, _, err = e.acc.CreateAPIKey(context.Background(), "index", store.ScopeAdmin); err != nil {
		t.Fatal(err)
	}
	// A key of a scope the command line cannot make, as a future scope would be.
	lookup, secret := "00112233445566ff", strings.Repeat("ab", 32)
	if _, err := e.st.CreateAPIKey(context.Background(), store.APIKey{Name: "reader", Scope: "read", Lookup: lookup, SecretHash: account.HashToken(secret), CreatedAt: e.now}); err != nil {
		t.Fatal(err)
	}
	e.read = account.APIKeyPrefix + lookup + "_" + secret
	return e
}

// teeWriter keeps a copy of a reply's body.
type teeWriter struct {
	http.ResponseWriter
	buf bytes.Buffer
}

func (w *teeWriter) Write(b []byte) (int, error) {
	w.buf.Write(b)
	return w.ResponseWriter.Write(b)
}

func (e *adminEnv) record(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		tw := &teeWriter{ResponseWriter: c.Response().Writer}
		c.Response().Writer = tw
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		if strings.HasPrefix(c.Request().URL.Path, "/v1/admin") {
			e.mu.Lock()
			e.replies = append(e.replies, adminReply{c.Request().Method, c.Path(), c.Response().Status, tw.buf.Bytes()})
			e.mu.Unlock()
		}
		return nil
	}
}

// do sends one admin request with key (none when empty) and returns the status and the
// decoded JSON body.
func (e *adminEnv) do(key, method, path, body string) (int, map[string]any) {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+"/v1/admin"+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.t.Fatalf("%s %s: body %q is not a JSON object", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

// want sends a request with the admin key and fails unless it answers status.
func (e *adminEnv) want(status int, method, path, body string) map[string]any {
	e.t.Helper()
	got, out := e.do(e.key, method, path, body)
	if got != status {
		e.t.Fatalf("%s %s %s: status %d, want %d; body %v", method, path, body, got, status, out)
	}
	return out
}

// errorOf returns the code and field of an error reply.
func errorOf(t *testing.T, out map[string]any) (code, field string) {
	t.Helper()
	errs, _ := out["errors"].([]any)
	if len(errs) != 1 {
		t.Fatalf("error reply %v has not one error", out)
	}
	e := errs[0].(map[string]any)
	code, _ = e["code"].(string)
	field, _ = e["field"].(string)
	return code, field
}

func TestAdminAPIRefusesRequestsWithoutAnAdminKey(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newAdminEnv(t, b, RateLimit{})
		revoked, k, err := e.acc.CreateAPIKey(context.Background(), "old", store.ScopeAdmin)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.acc.RevokeAPIKey(context.Background(), k.ID); err != nil {
			t.Fatal(err)
		}
		wrong := e.key[:len(e.key)-1] + map[bool]string{true: "0", false: "1"}[strings.HasSuffix(e.key, "1")]
		for _, c := range []struct {
			name   string
			key    string
			status int
			code   string
		}{
			{"A request without a key is refused with 401", "", http.StatusUnauthorized, "unauthorized"},
			{"A request with a wrong key is refused with 401", wrong, http.StatusUnauthorized, "unauthorized"},
			{"A request with a revoked key is refused with 401", revoked, http.StatusUnauthorized, "unauthorized"},
			{"A request with a key of another scope is refused with 403", e.read, http.StatusForbidden, "forbidden"},
			{"A request with the key in another scheme is refused with 401", "Basic " + e.key, http.StatusUnauthorized, "unauthorized"},
		} {
			t.Run(c.name, func(t *testing.T) {
				for _, r := range []struct{ method, path, body string }{
					{"POST", "/projects", `{"name": "sample", "owners": []}`},
					{"POST", "/users", `{"name": "mallory", "email": "m@example.org"}`},
					{"GET", "/projects", ""},
					{"GET", "/events", ""},
					{"GET", "/no-such-route", ""},
				} {
					key := c.key
					status, out := e.do(key, r.method, r.path, r.body)
					if status != c.status {
						t.Fatalf("%s %s: %d, want %d", r.method, r.path, status, c.status)
					}
					if code, _ := errorOf(t, out); code != c.code {
						t.Fatalf("%s %s: code %s, want %s", r.method, r.path, code, c.code)
					}
				}
				if _, err := e.st.ProjectByName(context.Background(), "sample"); err == nil {
					t.Fatal("a refused request created a project")
				}
				if _, err := e.st.UserByName(context.Background(), "mallory"); err == nil {
					t.Fatal("a refused request created a user")
				}
			})
		}
		t.Run("Every use of a good key is in the audit log; no key is ever logged", func(t *testing.T) {
			e.want(http.StatusCreated, "POST", "/projects", `{"name": "sample"}`)
			events, err := e.st.AuditAfter(context.Background(), 0, 1000, "")
			if err != nil {
				t.Fatal(err)
			}
			uses := 0
			for _, ev := range events {
				if ev.Action == "apikey.use" {
					uses++
					if !strings.Contains(ev.Detail, "POST /v1/admin/projects") {
						t.Fatalf("use %q does not say what was done", ev.Detail)
					}
				}
				for _, k := range []string{e.key, revoked, e.read} {
					if strings.Contains(ev.Detail, k[len(account.APIKeyPrefix):]) {
						t.Fatalf("event %+v holds a key", ev)
					}
				}
			}
			if uses != 1 {
				t.Fatalf("%d uses recorded, want the one accepted request", uses)
			}
			logs := e.log.String()
			for _, k := range []string{e.key, revoked, e.read, wrong} {
				if strings.Contains(logs, k[len(account.APIKeyPrefix)+16:]) {
					t.Fatal("a key reached the log")
				}
			}
			if !strings.Contains(logs, "admin request refused") {
				t.Fatal("refusals are not logged")
			}
		})
	})
}

func TestAdminAPIIsRateLimited(t *testing.T) {
	e := newAdminEnv(t, uitest.Backends()[0], RateLimit{Requests: 2, Per: time.Hour})
	e.want(http.StatusOK, "GET", "/projects", "")
	e.want(http.StatusOK, "GET", "/projects", "")
	status, out := e.do(e.key, "GET", "/projects", "")
	if code, _ := errorOf(t, out); status != http.StatusTooManyRequests || code != "rate-limited" {
		t.Fatalf("third request: %d %v", status, out)
	}
	e.advance(time.Hour)
	e.want(http.StatusOK, "GET", "/projects", "")
}

func TestAdminAPIManagesProjectsOwnersUsersAndGrants(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		adminScenario(t, newAdminEnv(t, b, RateLimit{}))
	})
}

// adminScenario uses every admin route with the admin key, each way it can answer short
// of the key checks and the rate limit.
func adminScenario(t *testing.T, e *adminEnv) {
	ctx := context.Background()
	user := e.want(http.StatusCreated, "POST", "/users", `{"name": "alice", "email": "alice@example.org", "issuer": "https://idp.example.org", "subject": "1"}`)
	if user["issuer"] != "https://idp.example.org" || user["subject"] != "1" {
		t.Fatalf("user %v", user)
	}
	e.want(http.StatusCreated, "POST", "/users", `{"name": "bob", "email": "bob@example.org"}`)
	p := e.want(http.StatusCreated, "POST", "/projects", `{"name": "Sample", "owners": ["alice"]}`)
	if fmt.Sprint(p["owners"]) != "[alice]" {
		t.Fatalf("project %v", p)
	}
	// Publishers come from owners; one here shows in the admin lists.
	if _, err := e.acc.EnrollTOTP(ctx, account.ViaOperator, "alice"); err != nil {
		t.Fatal(err)
	}
	pub := policy.Publisher{Kind: policy.GitHub, Issuer: "https://token.actions.githubusercontent.com", Owner: "octo-org", Name: "sample", Workflow: "release.yml"}
	if _, err := e.acc.AddPublisher(ctx, account.Actor{UserName: "alice", Via: account.ViaOperator}, "sample", pub); err != nil {
		t.Fatal(err)
	}
	got := e.want(http.StatusOK, "GET", "/projects/SAMPLE", "")
	if pubs := got["publishers"].([]any); len(pubs) != 1 || pubs[0].(map[string]any)["repository"] != "octo-org/sample" {
		t.Fatalf("project %v", got)
	}
	for _, put := range []int{1, 2} {
		out := e.want(http.StatusOK, "PUT", "/projects/sample/owners", `{"owners": ["bob"]}`)
		want := map[int]string{1: "[bob] [bob] [alice]", 2: "[bob] [] []"}[put]
		if s := fmt.Sprint(out["owners"], " ", out["added"], " ", out["removed"]); s != want {
			t.Fatalf("PUT owners #%d: %s, want %s", put, s, want)
		}
	}
	if ok, _ := e.st.IsOwner(ctx, int64(p["id"].(float64)), 1); ok {
		t.Fatal("alice still owns the project")
	}
	e.want(http.StatusOK, "PATCH", "/projects/sample", `{"name": "sample-two"}`)
	pubs := e.want(http.StatusOK, "GET", "/publishers?project=sample-two", "")["publishers"].([]any)
	if len(pubs) != 1 || pubs[0].(map[string]any)["project"] != "sample-two" {
		t.Fatalf("after the rename: %v", pubs)
	}
	e.want(http.StatusOK, "GET", "/publishers", "")
	e.want(http.StatusOK, "PUT", "/users/bob/grants/new-name", "")
	e.want(http.StatusOK, "PUT", "/users/bob/grants/new-name", "")
	grants, err := e.acc.PendingGrants(ctx, store.User{ID: 2})
	if err != nil || len(grants) != 1 {
		t.Fatalf("grants %v %v", grants, err)
	}
	e.want(http.StatusNoContent, "DELETE", "/users/bob/grants/new-name", "")
	e.want(http.StatusNoContent, "DELETE", "/projects/sample-two", "")
	inv := e.want(http.StatusCreated, "POST", "/invitations", `{"email": "carol@example.org"}`)
	if link, _ := inv["link"].(string); !strings.Contains(link, "/account/signup?invitation=") {
		t.Fatalf("invitation %v", inv)
	}
	if evs := e.want(http.StatusOK, "GET", "/events", "")["events"].([]any); len(evs) == 0 {
		t.Fatal("no events")
	}
	// An identity linked to an existing user, again (nothing changes), to another user
	// (refused); and a user deleted.
	linked := e.want(http.StatusOK, "PUT", "/users/bob/identity", `{"issuer": "https://idp.example.org", "subject": "2"}`)
	if linked["name"] != "bob" || linked["subject"] != "2" {
		t.Fatalf("link %v", linked)
	}
	e.want(http.StatusOK, "PUT", "/users/bob/identity", `{"issuer": "https://idp.example.org", "subject": "2"}`)
	if u, err := e.st.UserByIdentity(ctx, "https://idp.example.org", "2"); err != nil || u.Name != "bob" {
		t.Fatalf("bob by subject: %v %v", u, err)
	}
	e.want(http.StatusCreated, "POST", "/users", `{"name": "dave", "email": "dave@example.org"}`)
	e.want(http.StatusNoContent, "DELETE", "/users/dave", "")
	if _, err := e.st.UserByName(ctx, "dave"); err == nil {
		t.Fatal("dave is still there")
	}
	page := e.want(http.StatusOK, "GET", "/projects", "")
	if len(page["projects"].([]any)) != 0 {
		t.Fatalf("projects after the delete: %v", page)
	}

	t.Run("Bad input is refused with the field named and nothing changed", func(t *testing.T) {
		e.want(http.StatusCreated, "POST", "/projects", `{"name": "kept", "owners": ["alice"]}`)
		e.want(http.StatusCreated, "POST", "/projects", `{"name": "kept2"}`)
		for _, c := range []struct {
			method, path, body string
			status             int
			code, field        string
		}{
			{"POST", "/projects", `{"owners": []}`, 422, "invalid-field", "name"},
			{"POST", "/projects", `{"name": "bad name!"}`, 422, "invalid-field", "name"},
			{"POST", "/projects", `{"name": "x", "owners": ["nobody"]}`, 422, "unknown-user", "owners"},
			{"POST", "/projects", `{"name": "x", "owners": "alice"}`, 422, "invalid-field", "owners"},
			{"POST", "/projects", `{"name": "x", "extra": 1}`, 400, "invalid-body", ""},
			{"POST", "/projects", `{"name": "x"} {}`, 400, "invalid-body", ""},
			{"POST", "/projects", `not json`, 400, "invalid-body", ""},
			{"POST", "/users", `{"name": "carol"}`, 422, "invalid-field", "email"},
			{"POST", "/users", `{"name": "carol", "email": "not an address"}`, 422, "invalid-field", "email"},
			{"POST", "/users", `{"name": "carol", "email": "c@example.org", "issuer": "https://idp.example.org"}`, 422, "invalid-field", "subject"},
			{"POST", "/users", `{"name": "carol", "email": "c@example.org", "issuer": "https://idp.example.org", "subject": "1"}`, 409, "conflict", ""},
			{"POST", "/users", `{"name": "ALICE", "email": "c@example.org"}`, 409, "conflict", ""},
			{"PUT", "/users/nobody/grants/x", "", 422, "unknown-user", ""},
			{"PUT", "/users/bob/grants/bad name!", "", 422, "invalid-field", "name"},
			{"DELETE", "/users/bob/grants/never", "", 404, "not-found", ""},
			{"GET", "/projects?after=x", "", 422, "invalid-field", "after"},
			{"GET", "/projects?limit=1001", "", 422, "invalid-field", "limit"},
			{"GET", "/events?after=-1", "", 422, "invalid-field", "after"},
			{"GET", "/projects/nope", "", 404, "not-found", ""},
			{"PATCH", "/projects/nope", `{"name": "y"}`, 404, "not-found", ""},
			{"PUT", "/projects/nope/owners", `{"owners": []}`, 404, "not-found", ""},
			{"DELETE", "/projects/nope", "", 404, "not-found", ""},
			{"GET", "/publishers?project=nope", "", 404, "not-found", ""},
			{"POST", "/projects", `{"name": "KEPT"}`, 409, "conflict", ""},
			{"POST", "/users", `{`, 400, "invalid-body", ""},
			{"PATCH", "/projects/kept", `[]`, 400, "invalid-body", ""},
			{"PATCH", "/projects/kept", `{"name": 1}`, 422, "invalid-field", "name"},
			{"PATCH", "/projects/kept", `{"name": "bad name!"}`, 422, "invalid-field", "name"},
			{"PATCH", "/projects/kept", `{"name": "Kept2"}`, 409, "conflict", ""},
			{"PUT", "/projects/kept/owners", `{}`, 422, "invalid-field", "owners"},
			{"PUT", "/projects/kept/owners", `{"owners": ["nobody"]}`, 422, "unknown-user", "owners"},
			{"PUT", "/projects/kept/owners", `nope`, 400, "invalid-body", ""},
			{"PUT", "/users/bob/grants/kept", "", 409, "conflict", ""},
			{"DELETE", "/users/nobody/grants/x", "", 422, "unknown-user", ""},
			{"POST", "/invitations", `{}`, 422, "invalid-field", "email"},
			{"POST", "/invitations", `{"email": "not an address"}`, 422, "invalid-field", "email"},
			{"POST", "/invitations", `{"email": ["x"]}`, 422, "invalid-field", "email"},
			{"POST", "/invitations", `[`, 400, "invalid-body", ""},
			{"PUT", "/users/alice/identity", `{"issuer": "https://idp.example.org", "subject": "2"}`, 409, "conflict", ""},
			{"PUT", "/users/alice/identity", `{"issuer": "https://idp.example.org"}`, 422, "invalid-field", "subject"},
			{"PUT", "/users/alice/identity", `{"subject": "3"}`, 422, "invalid-field", "issuer"},
			{"PUT", "/users/nobody/identity", `{"issuer": "https://idp.example.org", "subject": "3"}`, 422, "unknown-user", ""},
			{"PUT", "/users/alice/identity", `{"issuer": "https://idp.example.org", "subject": "3", "x": 1}`, 400, "invalid-body", ""},
			{"DELETE", "/users/nobody", "", 422, "unknown-user", ""},
		} {
			status, out := e.do(e.key, c.method, c.path, c.body)
			code, field := errorOf(t, out)
			if status != c.status || code != c.code || field != c.field {
				t.Fatalf("%s %s %s: %d %s %q, want %d %s %q (%v)", c.method, c.path, c.body, status, code, field, c.status, c.code, c.field, out)
			}
		}
		if _, err := e.st.ProjectByName(ctx, "x"); err == nil {
			t.Fatal("a refused request created a project")
		}
		if _, err := e.st.UserByName(ctx, "carol"); err == nil {
			t.Fatal("a refused request created a user")
		}
		if _, err := e.st.UserByIdentity(ctx, "https://idp.example.org", "3"); err == nil {
			t.Fatal("a refused request linked an identity")
		}
		if kept := e.want(http.StatusOK, "GET", "/projects/kept", ""); fmt.Sprint(kept["owners"]) != "[alice]" {
			t.Fatalf("kept after refused changes: %v", kept)
		}
	})
}

// TestAdminEventsFeed: the feed hands out each committed event at once, with the names
// of its user and project, and never one twice or out of order.
func TestAdminEventsFeed(t *testing.T) {
	uitest.ForEach(t, func(t *testing.T, b uitest.Backend) {
		e := newAdminEnv(t, b, RateLimit{})
		e.want(http.StatusCreated, "POST", "/users", `{"name": "alice", "email": "alice@example.org"}`)
		e.want(http.StatusCreated, "POST", "/projects", `{"name": "sample", "owners": ["alice"]}`)
		page := e.want(http.StatusOK, "GET", "/events?limit=1", "")
		first := page["events"].([]any)
		if len(first) != 1 || first[0].(map[string]any)["action"] != "apikey.create" {
			t.Fatalf("first page %v", page)
		}
		next := int(page["next"].(float64))
		var got []string
		for {
			page = e.want(http.StatusOK, "GET", fmt.Sprintf("/events?after=%d", next), "")
			evs := page["events"].([]any)
			if len(evs) == 0 {
				break
			}
			for _, ev := range evs {
				m := ev.(map[string]any)
				got = append(got, fmt.Sprintf("%s user=%s project=%s", m["action"], m["user"], m["project"]))
			}
			next = int(page["next"].(float64))
		}
		want := "user.add user=alice project=,project.add user= project=sample"
		if strings.Join(got, ",") != want {
			t.Fatalf("events after the cursor (uses of the key left out, at once, with names):\n%s\nwant\n%s", strings.Join(got, ","), want)
		}
	})
}

// The audit log records each use of an admin key with the request's method and path, which
// the key's holder chooses: however long or strange, what is kept is bounded and one line.
func TestAdminAPIRecordsABoundedPathOfEachUse(t *testing.T) {
	e := newAdminEnv(t, uitest.Backends()[0], RateLimit{})
	for _, tc := range []struct {
		name, path string
	}{
		{"a path of 100,000 bytes", "/projects/" + strings.Repeat("a", 100_000)},
		{"a path of 50,000 multi-byte characters", "/projects/" + strings.Repeat("é", 50_000)},
		{"a path with an encoded newline and escape", "/projects/x%0Aforged%20entry%1B%5B2J" + strings.Repeat("b", 1000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := e.st.AuditAfter(context.Background(), 0, 10_000, "")
			if err != nil {
				t.Fatal(err)
			}
			e.do(e.key, "GET", tc.path, "")
			events, err := e.st.AuditAfter(context.Background(), 0, 10_000, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != len(before)+1 || events[len(events)-1].Action != "apikey.use" {
				t.Fatalf("%d events after %d, want one more use", len(events), len(before))
			}
			d := events[len(events)-1].Detail
			if !strings.Contains(d, "GET /v1/admin/projects/") || !strings.HasSuffix(d, "…") {
				t.Fatalf("detail %.300q does not name the request, cut", d)
			}
			if len(d) > account.MaxUseBytes+100 || !utf8.ValidString(d) || strings.ContainsFunc(d, unicode.IsControl) {
				t.Fatalf("detail of %d bytes, valid UTF-8 %v: %.300q", len(d), utf8.ValidString(d), d)
			}
		})
	}
}
