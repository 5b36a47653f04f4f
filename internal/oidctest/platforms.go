package oidctest

// The test identities of the platforms beyond GitHub and GitLab, shaped as each platform's
// documentation shows its tokens. Each method returns the claims of one accepted token,
// issued by this issuer for its audience with a fresh jti; overrides replace or (with Omit)
// remove claims.

// GoogleServiceAccount and GoogleUniqueID name the service account of GoogleClaims.
const (
	GoogleServiceAccount = "publisher@my-project.iam.gserviceaccount.com"
	GoogleUniqueID       = "112233445566778899001"
)

// GoogleClaims returns the claims of a Google ID token for a service account, requested
// with the email included (as `gcloud auth print-identity-token --include-email` and the
// metadata server's format=full do): an hour's lifetime, email_verified a JSON boolean.
func (i *Issuer) GoogleClaims(overrides map[string]any) map[string]any {
	now := i.now().Unix()
	return apply(map[string]any{
		"iss":            i.URL(),
		"aud":            i.aud,
		"azp":            GoogleUniqueID,
		"sub":            GoogleUniqueID,
		"email":          GoogleServiceAccount,
		"email_verified": true,
		"jti":            newJTI(),
		"iat":            now,
		"exp":            now + 3600,
	}, overrides)
}

// The ids of CircleCIClaims' organization, project, pipeline definition and context.
const (
	CircleCIOrgID        = "0c5b2f4e-4a8d-4e1b-9f3a-2d6c8b7e1a90"
	CircleCIProjectID    = "5d3f2a1b-6c7d-4e8f-9a0b-1c2d3e4f5a6b"
	CircleCIPipelineDef  = "7e6d5c4b-3a29-4180-8f7e-6d5c4b3a2918"
	CircleCIContextID    = "a74579f1-2e7d-451e-b009-5c082ad2729e"
	CircleCIOtherContext = "cb32986e-2f6f-4f43-b2bd-d3c2fd98e903"
)

// CircleCIClaims returns the claims of a CircleCI OIDC token of a tag pipeline, its
// additional claims under oidc.circleci.com/; the issuer is meant to be served at
// WithPath("/org/"+CircleCIOrgID), as CircleCI's per-organization issuers are.
func (i *Issuer) CircleCIClaims(overrides map[string]any) map[string]any {
	now := i.now().Unix()
	return apply(map[string]any{
		"iss":                          i.URL(),
		"aud":                          i.aud,
		"sub":                          "org/" + CircleCIOrgID + "/project/" + CircleCIProjectID + "/user/9e1c2b3a-4d5e-4f60-8a7b-6c5d4e3f2a1b",
		"oidc.circleci.com/org-id":     CircleCIOrgID,
		"oidc.circleci.com/project-id": CircleCIProjectID,
		"oidc.circleci.com/pipeline-definition-id": CircleCIPipelineDef,
		"oidc.circleci.com/pipeline-id":            "b1e2d3c4-a5b6-4c7d-8e9f-0a1b2c3d4e5f",
		"oidc.circleci.com/job-id":                 "c0ffee00-1234-4abc-8def-0123456789ab",
		"oidc.circleci.com/vcs-origin":             "github.com/octo-org/octo-repo",
		"oidc.circleci.com/vcs-ref":                "refs/tags/v1.2.0",
		"oidc.circleci.com/context-ids":            []string{CircleCIContextID, CircleCIOtherContext},
		"oidc.circleci.com/ssh-rerun":              false,
		"jti":                                      newJTI(),
		"iat":                                      now,
		"exp":                                      now + 3600,
	}, overrides)
}

// The UUIDs of BuildkiteClaims' organization and pipeline.
const (
	BuildkiteOrgID      = "0184990a-4782-42b5-afc1-16715b10b8ff"
	BuildkitePipelineID = "01945ecf-80f0-41e8-9b83-a2970a9305a1"
)

// BuildkiteClaims returns the claims of a Buildkite job token for a tag build of
// acme-inc/super-duper-app, requested with --claim organization_id,pipeline_id: five
// minutes' lifetime, build_number a JSON number, step_key set.
func (i *Issuer) BuildkiteClaims(overrides map[string]any) map[string]any {
	now := i.now().Unix()
	return apply(map[string]any{
		"iss":                i.URL(),
		"aud":                i.aud,
		"sub":                "organization:acme-inc:pipeline:super-duper-app:ref:refs/tags/v1.0.0:commit:9f3182061f1e2cca4702c368cbc039b7dc9d4485:step:publish",
		"jti":                newJTI(),
		"iat":                now,
		"nbf":                now,
		"exp":                now + 300,
		"organization_slug":  "acme-inc",
		"pipeline_slug":      "super-duper-app",
		"organization_id":    BuildkiteOrgID,
		"pipeline_id":        BuildkitePipelineID,
		"build_number":       5,
		"build_branch":       "v1.0.0",
		"build_tag":          "v1.0.0",
		"build_commit":       "9f3182061f1e2cca4702c368cbc039b7dc9d4485",
		"step_key":           "publish",
		"job_id":             "0184990a-477b-4fa8-9968-496074483cee",
		"agent_id":           "0184990a-4782-42b5-afc1-16715b10b8ff",
		"build_source":       "webhook",
		"runner_environment": "buildkite-hosted",
	}, overrides)
}

// ForgejoClaims returns the claims of a Forgejo Actions ID token for a release workflow of
// my-org/my-project on a tag, GitHub-shaped with Forgejo's numeric ids; the issuer is meant
// to be served at WithPath("/api/actions"), as every Forgejo instance's is.
func (i *Issuer) ForgejoClaims(overrides map[string]any) map[string]any {
	now := i.now().Unix()
	return apply(map[string]any{
		"iss":                   i.URL(),
		"aud":                   i.aud,
		"sub":                   "repo:my-org/my-project:ref:refs/tags/v1.0.0",
		"jti":                   newJTI(),
		"iat":                   now,
		"nbf":                   now - 5,
		"exp":                   now + 300,
		"actor":                 "alice",
		"actor_id":              "7",
		"repository":            "my-org/my-project",
		"repository_owner":      "my-org",
		"repository_id":         "4242",
		"repository_owner_id":   "17",
		"repository_visibility": "private",
		"ref":                   "refs/tags/v1.0.0",
		"ref_type":              "tag",
		"sha":                   "0123456789abcdef0123456789abcdef01234567",
		"event_name":            "push",
		"run_id":                "991",
		"run_number":            "12",
		"run_attempt":           "1",
		"workflow":              "release",
		"workflow_ref":          "my-org/my-project/.forgejo/workflows/release.yml@refs/tags/v1.0.0",
	}, overrides)
}
