package providers

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/policy"
)

// FuzzClaims decodes arbitrary payloads as both platforms' claims: no panic, errors of the
// two classes a verified token can still earn, the same claims (or a refusal) as
// encoding/json gives, and any identity produced holds what matching relies on.
func FuzzClaims(f *testing.F) {
	iss := oidctest.New(f)
	for _, claims := range []map[string]any{
		iss.GitHubClaims(nil),
		iss.GitLabClaims(nil),
		iss.GitLabClaims(map[string]any{"ci_config_ref_uri": nil, "project_path": "a/b/c/d"}),
		iss.GitHubClaims(map[string]any{"repository_id": 74}),
		iss.GitHubClaims(map[string]any{"repository": "a//b"}),
	} {
		b, err := json.Marshal(claims)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, seed := range []string{`{}`, `[]`, `null`, `{"project_path":null}`, `{"\u0073ub":"x","REPOSITORY":"a/b"}`,
		"{\"\u212Aey\":1,\"repo\u017Fitory\":\"a/b\",\"sha\":\"\\u00e9\",\"ref\":true,\"actor\":[1]}", `{"repository":"a/b","repository_id":"1","repository_owner_id":"2","workflow_ref":"x","event_name":"push"}`} {
		f.Add([]byte(seed))
	}
	github, _ := policy.Lookup(policy.GitHub)
	gitlab, _ := policy.Lookup(policy.GitLab)
	f.Fuzz(func(t *testing.T, payload []byte) {
		obj, err := parseObject("payload", payload)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("parse error outside the class: %v", err)
			}
			return
		}
		for _, p := range []*policy.Platform{github, gitlab} {
			d, err := newClaimDecoder(p)
			if err != nil {
				t.Fatal(err)
			}
			// Verify decodes only UTF-8 payloads; encoding/json would patch invalid bytes.
			if utf8.Valid(payload) {
				got, want := p.NewClaims(), p.NewClaims()
				derr, jerr := d.decode(obj, got), json.Unmarshal(payload, want)
				if (derr == nil) != (jerr == nil) {
					t.Fatalf("%s: decoder says %v, encoding/json %v", p.Kind, derr, jerr)
				}
				if derr == nil && !reflect.DeepEqual(got, want) {
					t.Fatalf("%s: decoder gives %+v, encoding/json %+v", p.Kind, got, want)
				}
			}
			var id policy.Identity
			err = platformIdentity(p, d, obj, &id)
			if err != nil {
				if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalidToken) {
					t.Fatalf("%s: error outside the classes: %v", p.Kind, err)
				}
				continue
			}
			if id.Kind != p.Kind {
				t.Fatalf("%s claims gave kind %q", p.Kind, id.Kind)
			}
			for _, seg := range strings.Split(id.Repository, "/") {
				if seg == "" || !strings.Contains(id.Repository, "/") {
					t.Fatalf("%s: repository %q", p.Kind, id.Repository)
				}
			}
			for _, v := range []string{id.OwnerID, id.RepositoryID} {
				if v == "" || strings.Trim(v, "0123456789") != "" {
					t.Fatalf("%s: id %q", p.Kind, v)
				}
			}
		}
	})
}
