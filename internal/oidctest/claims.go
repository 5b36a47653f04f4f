package oidctest

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

type omitted string

// Omit, as a value in claim overrides or WithHeader, removes that name, so that a test can
// build a token without iat, jti or kid. (A nil value stays: it is JSON null, which
// GitLab sends for ci_config_ref_uri.)
const Omit omitted = "\x00oidctest: omit"

// GitHubClaims returns the claims of a GitHub Actions ID token for a release workflow of
// octo-org/octo-repo, as documented by GitHub, issued by this issuer for its audience,
// with a fresh jti; iat is the issuer's now, nbf ten minutes earlier (as GitHub does) and
// exp five minutes later. overrides replace or (with Omit) remove claims.
func (i *Issuer) GitHubClaims(overrides map[string]any) map[string]any {
	now := i.now().Unix()
	c := map[string]any{
		"jti":                   newJTI(),
		"sub":                   "repo:octo-org/octo-repo:environment:prod",
		"environment":           "prod",
		"aud":                   i.aud,
		"ref":                   "refs/heads/main",
		"ref_type":              "branch",
		"ref_protected":         "true",
		"sha":                   "d4c3b2a1e5f60718293a4b5c6d7e8f9012345678",
		"repository":            "octo-org/octo-repo",
		"repository_owner":      "octo-org",
		"repository_id":         "74",
		"repository_owner_id":   "65",
		"repository_visibility": "private",
		"actor":                 "octocat",
		"actor_id":              "12",
		"run_id":                "8675309",
		"run_number":            "10",
		"run_attempt":           "2",
		"runner_environment":    "github-hosted",
		"workflow":              "release",
		"event_name":            "push",
		"workflow_ref":          "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main",
		"workflow_sha":          "d4c3b2a1e5f60718293a4b5c6d7e8f9012345678",
		"job_workflow_ref":      "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main",
		"job_workflow_sha":      "d4c3b2a1e5f60718293a4b5c6d7e8f9012345678",
		"iss":                   i.URL(),
		"nbf":                   now - 600,
		"iat":                   now,
		"exp":                   now + 300,
	}
	return apply(c, overrides)
}

// GitLabClaims returns the claims of a GitLab CI id_token for my-group/my-project, as
// documented by GitLab, issued by this issuer for its audience, with a fresh jti; iat is
// the issuer's now, nbf five seconds earlier and exp an hour later (GitLab's default).
// overrides replace or (with Omit) remove claims.
func (i *Issuer) GitLabClaims(overrides map[string]any) map[string]any {
	now := i.now().Unix()
	host := strings.TrimPrefix(strings.TrimPrefix(i.URL(), "https://"), "http://")
	c := map[string]any{
		"namespace_id":          "72",
		"namespace_path":        "my-group",
		"project_id":            "20",
		"project_path":          "my-group/my-project",
		"project_visibility":    "private",
		"user_id":               "1",
		"user_login":            "alice",
		"user_access_level":     "maintainer",
		"pipeline_id":           "574",
		"pipeline_source":       "push",
		"job_id":                "302",
		"ref":                   "main",
		"ref_type":              "branch",
		"ref_path":              "refs/heads/main",
		"ref_protected":         "true",
		"environment":           "release",
		"environment_protected": "true",
		"deployment_tier":       "production",
		"sha":                   "714a629c0b401fdce83e847fc9589983fc6f46bc",
		"ci_config_ref_uri":     host + "/my-group/my-project//.gitlab-ci.yml@refs/heads/main",
		"ci_config_sha":         "714a629c0b401fdce83e847fc9589983fc6f46bc",
		"runner_id":             27,
		"runner_environment":    "gitlab-hosted",
		"jti":                   newJTI(),
		"iss":                   i.URL(),
		"iat":                   now,
		"nbf":                   now - 5,
		"exp":                   now + 3600,
		"sub":                   "project_path:my-group/my-project:ref_type:branch:ref:main",
		"aud":                   i.aud,
	}
	return apply(c, overrides)
}

func apply(c, overrides map[string]any) map[string]any {
	for k, v := range overrides {
		if v == Omit {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// newJTI is a random UUID-shaped string, as both platforms send.
func newJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
