package providers_test

import (
	"testing"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
)

func TestGitLabClaims(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		overrides map[string]any
		want      error
		check     func(t *testing.T, id policy.Identity)
	}{
		{"a pipeline defined in another project has no workflow ref", map[string]any{"ci_config_ref_uri": nil, "ci_config_sha": nil}, nil,
			func(t *testing.T, id policy.Identity) {
				if id.WorkflowRef != "" {
					t.Fatalf("workflow ref %q", id.WorkflowRef)
				}
			}},
		{"a project in nested subgroups keeps its whole path", map[string]any{"project_path": "my-group/sub/deeper/my-project"}, nil,
			func(t *testing.T, id policy.Identity) {
				if id.Repository != "my-group/sub/deeper/my-project" {
					t.Fatalf("repository %q", id.Repository)
				}
			}},
		{"a job without a user has an empty actor", map[string]any{"user_login": oidctest.Omit}, nil,
			func(t *testing.T, id policy.Identity) {
				if id.Actor != "" {
					t.Fatalf("actor %q", id.Actor)
				}
			}},
		{"a merge request pipeline is passed on for policy to judge", map[string]any{"pipeline_source": "merge_request_event"}, nil,
			func(t *testing.T, id policy.Identity) {
				if id.EventName != "merge_request_event" {
					t.Fatalf("event %q", id.EventName)
				}
			}},
		{"a numeric project_id is malformed", map[string]any{"project_id": 20}, providers.ErrMalformed, nil},
		{"a numeric ci_config_ref_uri is malformed", map[string]any{"ci_config_ref_uri": 1}, providers.ErrMalformed, nil},
		{"a missing namespace_id is refused", map[string]any{"namespace_id": oidctest.Omit}, providers.ErrInvalidToken, nil},
		{"a project_id that is not decimal is refused", map[string]any{"project_id": "-20"}, providers.ErrInvalidToken, nil},
		{"a project_path without a namespace is refused", map[string]any{"project_path": "my-project"}, providers.ErrInvalidToken, nil},
		{"a project_path with an empty subgroup is refused", map[string]any{"project_path": "my-group//my-project"}, providers.ErrInvalidToken, nil},
		{"a missing ref_path is refused", map[string]any{"ref_path": oidctest.Omit}, providers.ErrInvalidToken, nil},
		{"a missing sha is refused", map[string]any{"sha": oidctest.Omit}, providers.ErrInvalidToken, nil},
		{"a missing pipeline_source is refused", map[string]any{"pipeline_source": oidctest.Omit}, providers.ErrInvalidToken, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			iss := w.issuer()
			s := w.set(nil, gitlab(iss))
			raw := iss.Sign(iss.GitLabClaims(tc.overrides))
			if tc.want != nil {
				mustFail(t, s, raw, tc.want)
				return
			}
			tc.check(t, mustVerify(t, s, raw))
		})
	}
}
