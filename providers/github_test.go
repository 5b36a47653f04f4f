package providers_test

import (
	"testing"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
)

func TestGitHubClaims(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		overrides map[string]any
		want      error
		check     func(t *testing.T, id policy.Identity)
	}{
		{"a job without an environment has an empty one", map[string]any{"environment": oidctest.Omit}, nil,
			func(t *testing.T, id policy.Identity) {
				if id.Environment != "" {
					t.Fatalf("environment %q", id.Environment)
				}
			}},
		{"a reusable workflow keeps caller and job workflow apart", map[string]any{
			"job_workflow_ref": "octo-org/shared/.github/workflows/publish.yml@refs/tags/v1",
		}, nil, func(t *testing.T, id policy.Identity) {
			if id.WorkflowRef != "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main" ||
				id.JobWorkflowRef != "octo-org/shared/.github/workflows/publish.yml@refs/tags/v1" {
				t.Fatalf("workflow %q, job workflow %q", id.WorkflowRef, id.JobWorkflowRef)
			}
		}},
		{"the 2026 sub format changes nothing", map[string]any{"sub": "repo:octo-org@65/octo-repo@74:environment:prod"}, nil,
			func(t *testing.T, id policy.Identity) {
				if id.Repository != "octo-org/octo-repo" || id.OwnerID != "65" || id.RepositoryID != "74" {
					t.Fatalf("identity %+v", id)
				}
			}},
		{"a pull_request_target event is passed on for policy to refuse", map[string]any{"event_name": "pull_request_target"}, nil,
			func(t *testing.T, id policy.Identity) {
				if id.EventName != "pull_request_target" {
					t.Fatalf("event %q", id.EventName)
				}
			}},
		{"a numeric repository_id is malformed", map[string]any{"repository_id": 74}, providers.ErrMalformed, nil},
		{"a numeric run_attempt is malformed", map[string]any{"run_attempt": 2}, providers.ErrMalformed, nil},
		{"a claim holding a NUL character is malformed", map[string]any{"actor": "octo\x00cat"}, providers.ErrMalformed, nil},
		{"a claim ignored but holding a NUL character is malformed", map[string]any{"x-extra\x00": "a"}, providers.ErrMalformed, nil},
		{"a repository_owner_id that is not decimal is refused", map[string]any{"repository_owner_id": "0x41"}, providers.ErrInvalidToken, nil},
		{"a missing repository_owner_id is refused", map[string]any{"repository_owner_id": oidctest.Omit}, providers.ErrInvalidToken, nil},
		{"a missing repository_id is refused", map[string]any{"repository_id": oidctest.Omit}, providers.ErrInvalidToken, nil},
		{"a repository_id too long for any integer column is refused", map[string]any{"repository_id": "12345678901234567890"}, providers.ErrInvalidToken, nil},
		{"a missing repository is refused", map[string]any{"repository": oidctest.Omit}, providers.ErrInvalidToken, nil},
		{"a repository without an owner is refused", map[string]any{"repository": "octo-repo"}, providers.ErrInvalidToken, nil},
		{"a repository with two slashes is refused", map[string]any{"repository": "octo-org/sub/octo-repo"}, providers.ErrInvalidToken, nil},
		{"a repository ending in a slash is refused", map[string]any{"repository": "octo-org/"}, providers.ErrInvalidToken, nil},
		{"a missing workflow_ref is refused", map[string]any{"workflow_ref": oidctest.Omit}, providers.ErrInvalidToken, nil},
		{"a null workflow_ref is refused", map[string]any{"workflow_ref": nil}, providers.ErrInvalidToken, nil},
		{"a missing event_name is refused", map[string]any{"event_name": oidctest.Omit}, providers.ErrInvalidToken, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			iss := w.issuer()
			s := w.set(nil, github(iss))
			raw := iss.Sign(iss.GitHubClaims(tc.overrides))
			if tc.want != nil {
				mustFail(t, s, raw, tc.want)
				return
			}
			tc.check(t, mustVerify(t, s, raw))
		})
	}
}
