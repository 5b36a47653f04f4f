package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tpx-dev/tpx/internal/uitest"
)

// openAPI is the part of an OpenAPI 3.0 document the checks below read.
type openAPI struct {
	Paths      map[string]map[string]any `yaml:"paths"`
	Components struct {
		Schemas   map[string]any `yaml:"schemas"`
		Responses map[string]any `yaml:"responses"`
	} `yaml:"components"`
}

func loadOpenAPI(t *testing.T) *openAPI {
	t.Helper()
	b, err := os.ReadFile("../docs/admin-api.openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc openAPI
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("docs/admin-api.openapi.yaml: %v", err)
	}
	return &doc
}

var httpMethods = []string{"get", "put", "post", "patch", "delete"}

// operations returns "METHOD /path" → the operation's responses, keyed by status ("200",
// "default").
func (d *openAPI) operations() map[string]map[string]any {
	out := map[string]map[string]any{}
	for p, item := range d.Paths {
		for _, m := range httpMethods {
			op, ok := item[m].(map[string]any)
			if !ok {
				continue
			}
			resp, _ := op["responses"].(map[string]any)
			out[strings.ToUpper(m)+" "+p] = resp
		}
	}
	return out
}

// resolve follows a $ref within the document.
func (d *openAPI) resolve(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	ref, ok := m["$ref"].(string)
	if !ok {
		return v
	}
	switch {
	case strings.HasPrefix(ref, "#/components/schemas/"):
		return d.resolve(d.Components.Schemas[strings.TrimPrefix(ref, "#/components/schemas/")])
	case strings.HasPrefix(ref, "#/components/responses/"):
		return d.resolve(d.Components.Responses[strings.TrimPrefix(ref, "#/components/responses/")])
	}
	return nil
}

// responseSchema returns the JSON schema of a response, nil for a response without a body.
func (d *openAPI) responseSchema(resp any) (map[string]any, bool) {
	r, ok := d.resolve(resp).(map[string]any)
	if !ok {
		return nil, false
	}
	content, ok := r["content"].(map[string]any)
	if !ok {
		return nil, true
	}
	media, _ := content["application/json"].(map[string]any)
	schema, _ := d.resolve(media["schema"]).(map[string]any)
	return schema, schema != nil
}

// validate checks v against schema: types, required and undeclared properties (with
// additionalProperties: false), array items, enums and nullable.
func (d *openAPI) validate(v any, schema map[string]any, at string) error {
	if v == nil {
		if n, _ := schema["nullable"].(bool); n {
			return nil
		}
		return fmt.Errorf("%s is null", at)
	}
	if enum, ok := schema["enum"].([]any); ok && !slices.Contains(enum, v) {
		return fmt.Errorf("%s = %v is not one of %v", at, v, enum)
	}
	switch schema["type"] {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s is not an object", at)
		}
		props, _ := schema["properties"].(map[string]any)
		for _, r := range asStrings(schema["required"]) {
			if _, ok := obj[r]; !ok {
				return fmt.Errorf("%s lacks the required %q", at, r)
			}
		}
		for k, val := range obj {
			ps, ok := props[k]
			if !ok {
				if ap, set := schema["additionalProperties"].(bool); set && !ap {
					return fmt.Errorf("%s has %q, which the schema does not declare", at, k)
				}
				continue
			}
			if err := d.validate(val, d.resolve(ps).(map[string]any), at+"."+k); err != nil {
				return err
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s is not an array", at)
		}
		items, _ := d.resolve(schema["items"]).(map[string]any)
		for i, it := range arr {
			if err := d.validate(it, items, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case "string":
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s is not a string", at)
		}
		if schema["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				return fmt.Errorf("%s = %q is not a date-time", at, s)
			}
		}
	case "integer":
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			return fmt.Errorf("%s is not an integer", at)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s is not a boolean", at)
		}
	}
	return nil
}

func asStrings(v any) []string {
	var out []string
	for _, x := range asSlice(v) {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

var echoParam = regexp.MustCompile(`:([a-z]+)`)

// specPath turns an echo route under /v1/admin into the document's path.
func specPath(route string) string {
	return echoParam.ReplaceAllString(strings.TrimPrefix(route, "/v1/admin"), "{$1}")
}

// samplePath fills a document path's parameters for a request.
func samplePath(p string) string {
	return strings.NewReplacer("{project}", "sample", "{user}", "alice", "{name}", "new-name").Replace(p)
}

// TestAdminAPIMatchesOpenAPI holds the server and docs/admin-api.openapi.yaml to each
// other: every admin route the server has is in the document and every operation of the
// document is a route; every reply the server gave in a run over every route has a status
// the document lists for that operation (or its default) and a body its schema accepts;
// and every status the document lists was seen.
func TestAdminAPIMatchesOpenAPI(t *testing.T) {
	doc := loadOpenAPI(t)
	ops := doc.operations()
	e := newAdminEnv(t, uitest.Backends()[0], RateLimit{})
	limited := newAdminEnv(t, uitest.Backends()[0], RateLimit{Requests: 1, Per: time.Hour})

	t.Run("Every admin route is in the document, and every operation is a route", func(t *testing.T) {
		var served []string
		for _, r := range e.e.Routes() {
			if !strings.HasPrefix(r.Path, "/v1/admin/") || r.Path == "/v1/admin/*" {
				continue
			}
			served = append(served, r.Method+" "+specPath(r.Path))
		}
		for _, s := range served {
			if _, ok := ops[s]; !ok {
				t.Errorf("the server serves %s, which the document lacks", s)
			}
		}
		for op := range ops {
			if !slices.Contains(served, op) {
				t.Errorf("the document has %s, which the server does not serve", op)
			}
		}
	})

	// Each operation without a key, with a key of another scope, and past the limit.
	for op := range ops {
		method, p, _ := strings.Cut(op, " ")
		body := ""
		if method == "POST" || method == "PUT" || method == "PATCH" {
			body = "{}"
		}
		e.do("", method, samplePath(p), body)
		e.do(e.read, method, samplePath(p), body)
		limited.do("", method, samplePath(p), body)
		limited.do("", method, samplePath(p), body)
	}
	adminScenario(t, e)
	e.do(e.key, "GET", "/no-such-route", "")

	seen := map[string]bool{}
	for _, r := range append(e.replies, limited.replies...) {
		if r.route == "/v1/admin/*" {
			// No route: the 404 of any path, in the error shape.
			if err := doc.validate(decodeJSON(t, r.body), doc.resolve(doc.Components.Schemas["ErrorReply"]).(map[string]any), "body"); err != nil || r.status != http.StatusNotFound && r.status != http.StatusUnauthorized && r.status != http.StatusForbidden && r.status != http.StatusTooManyRequests {
				t.Errorf("%s %s: %d %v", r.method, r.route, r.status, err)
			}
			continue
		}
		op := r.method + " " + specPath(r.route)
		responses, ok := ops[op]
		if !ok {
			t.Errorf("%s answered, but the document lacks it", op)
			continue
		}
		status := strconv.Itoa(r.status)
		resp, ok := responses[status]
		if !ok {
			if resp, ok = responses["default"]; !ok {
				t.Errorf("%s answered %s, which the document does not list", op, status)
				continue
			}
		} else {
			seen[op+" "+status] = true
		}
		schema, ok := doc.responseSchema(resp)
		switch {
		case !ok:
			t.Errorf("%s %s: the document's response cannot be read", op, status)
		case schema == nil && len(r.body) > 0:
			t.Errorf("%s %s: body %q, the document says none", op, status, r.body)
		case schema != nil:
			if err := doc.validate(decodeJSON(t, r.body), schema, "body"); err != nil {
				t.Errorf("%s %s: %v\n%s", op, status, err, r.body)
			}
		}
	}
	var missing []string
	for op, responses := range ops {
		for status := range responses {
			if status != "default" && !seen[op+" "+status] {
				missing = append(missing, op+" "+status)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("the document lists replies the run never saw: %v", missing)
	}
}

func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("reply %q is not JSON", b)
	}
	return v
}
