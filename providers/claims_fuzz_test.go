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

// FuzzClaims decodes arbitrary payloads as GitHub's and GitLab's claims: no panic, errors
// of the two classes a verified token can still earn, the same claims (or a refusal) as
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
	fuzzPlatforms(f, policy.GitHub, policy.GitLab)
}

// FuzzGoogleClaims, FuzzCircleCIClaims, FuzzBuildkiteClaims and FuzzForgejoClaims are
// FuzzClaims for one platform each, seeded with its test issuer's tokens.
func FuzzGoogleClaims(f *testing.F) {
	iss := oidctest.New(f)
	seed(f, iss.GoogleClaims(nil), iss.GoogleClaims(map[string]any{"email_verified": "true"}), iss.GoogleClaims(map[string]any{"sub": 1}))
	fuzzPlatforms(f, policy.Google)
}

func FuzzCircleCIClaims(f *testing.F) {
	iss := oidctest.New(f)
	seed(f, iss.CircleCIClaims(nil), iss.CircleCIClaims(map[string]any{"oidc.circleci.com/context-ids": []any{1}}),
		iss.CircleCIClaims(map[string]any{"oidc.circleci.com/ssh-rerun": true, "oidc.circleci.com/vcs-ref": nil}))
	fuzzPlatforms(f, policy.CircleCI)
}

func FuzzBuildkiteClaims(f *testing.F) {
	iss := oidctest.New(f)
	seed(f, iss.BuildkiteClaims(nil), iss.BuildkiteClaims(map[string]any{"build_tag": nil, "step_key": nil}),
		iss.BuildkiteClaims(map[string]any{"build_number": -1}))
	fuzzPlatforms(f, policy.Buildkite)
}

func FuzzForgejoClaims(f *testing.F) {
	iss := oidctest.New(f)
	seed(f, iss.ForgejoClaims(nil), iss.ForgejoClaims(map[string]any{"repository_id": 4242}),
		iss.ForgejoClaims(map[string]any{"repository_owner_id": 1e300}))
	fuzzPlatforms(f, policy.Forgejo)
}

func seed(f *testing.F, claims ...map[string]any) {
	for _, c := range claims {
		b, err := json.Marshal(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{}`))
}

// fuzzPlatforms decodes each payload as the claims of the given platforms.
func fuzzPlatforms(f *testing.F, kinds ...policy.Kind) {
	var plats []*policy.Platform
	for _, k := range kinds {
		p, ok := policy.Lookup(k)
		if !ok {
			f.Fatalf("no platform %s", k)
		}
		plats = append(plats, p)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		obj, err := parseObject("payload", payload)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("parse error outside the class: %v", err)
			}
			return
		}
		for _, p := range plats {
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
			if id.Repository == "" {
				t.Fatalf("%s: repository %q", p.Kind, id.Repository)
			}
			// Every id an identity carries is one its platform could pin.
			for _, v := range []string{id.OwnerID, id.RepositoryID} {
				if v != "" && strings.ContainsAny(v, " /\n") {
					t.Fatalf("%s: id %q", p.Kind, v)
				}
			}
			// Whatever a verified token says, matching it against the platform's own
			// publisher must answer, not panic.
			_ = policy.Match(policy.Publisher{Kind: p.Kind, Issuer: "https://issuer.example", Owner: "o", Name: "n", Workflow: "w.yml"}, id)
		}
	})
}
