package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
)

// platformCase is one platform's end-to-end table: a publisher that its test issuer's
// default token satisfies, and the ways a token must be refused.
type platformCase struct {
	kind   policy.Kind
	iss    *oidctest.Issuer
	claims func(map[string]any) map[string]any
	pub    func(issuer string) policy.Publisher
	// mismatch: each token differs from the publisher in one field.
	mismatch map[string]map[string]any
	// pinned, when set, is a token of the same names with other ids, refused once the
	// publisher pinned the first token's ids.
	pinned map[string]any
	// missing claims make the token invalid, mistyped ones malformed.
	missing  []string
	mistyped map[string]any
	// branch turns the default tag token into a branch token, for the ref rules; nil for
	// a platform whose tokens name no ref.
	branch map[string]any
}

// aliceOperator is alice, owner of the harness's projects, acting through the command line.
var aliceOperator = account.Actor{UserName: "alice", Via: account.ViaOperator}

// platformCases serves each platform's test issuer for t, at the path the platform's
// issuers have.
func platformCases(t *testing.T) []platformCase {
	google, buildkite := oidctest.New(t), oidctest.New(t)
	circleci := oidctest.New(t, oidctest.WithPath("/org/"+oidctest.CircleCIOrgID))
	forgejo := oidctest.New(t, oidctest.WithPath("/api/actions"))
	return []platformCase{
		{
			kind: policy.Google, iss: google, claims: google.GoogleClaims,
			pub: func(issuer string) policy.Publisher {
				return policy.Publisher{Kind: policy.Google, Issuer: issuer, Name: oidctest.GoogleServiceAccount}
			},
			mismatch: map[string]map[string]any{
				"another service account":       {"email": "other@my-project.iam.gserviceaccount.com"},
				"the email in other case":       {"email": strings.ToUpper(oidctest.GoogleServiceAccount)},
				"an email that extends the one": {"email": oidctest.GoogleServiceAccount + ".evil.example"},
			},
			pinned:   map[string]any{"sub": "998877665544332211009"},
			missing:  []string{"email", "sub", "email_verified"},
			mistyped: map[string]any{"email_verified": "true", "email": 42},
		},
		{
			kind: policy.CircleCI, iss: circleci, claims: circleci.CircleCIClaims,
			pub: func(issuer string) policy.Publisher {
				return policy.Publisher{Kind: policy.CircleCI, Issuer: issuer, Owner: oidctest.CircleCIOrgID, Name: oidctest.CircleCIProjectID,
					Workflow: oidctest.CircleCIPipelineDef, Environment: oidctest.CircleCIContextID}
			},
			mismatch: map[string]map[string]any{
				"another organization":        {"oidc.circleci.com/org-id": "11111111-2222-4333-8444-555555555555"},
				"another project":             {"oidc.circleci.com/project-id": "11111111-2222-4333-8444-555555555555"},
				"another pipeline definition": {"oidc.circleci.com/pipeline-definition-id": "11111111-2222-4333-8444-555555555555"},
				"no pipeline definition":      {"oidc.circleci.com/pipeline-definition-id": oidctest.Omit},
				"without the context":         {"oidc.circleci.com/context-ids": []string{oidctest.CircleCIOtherContext}},
				"an SSH re-run":               {"oidc.circleci.com/ssh-rerun": true},
			},
			missing:  []string{"oidc.circleci.com/org-id", "oidc.circleci.com/project-id"},
			mistyped: map[string]any{"oidc.circleci.com/ssh-rerun": "false", "oidc.circleci.com/context-ids": oidctest.CircleCIContextID},
			branch:   map[string]any{"oidc.circleci.com/vcs-ref": "refs/heads/tmp"},
		},
		{
			kind: policy.Buildkite, iss: buildkite, claims: buildkite.BuildkiteClaims,
			pub: func(issuer string) policy.Publisher {
				return policy.Publisher{Kind: policy.Buildkite, Issuer: issuer, Owner: "acme-inc", Name: "super-duper-app", Workflow: "publish"}
			},
			mismatch: map[string]map[string]any{
				"another organization": {"organization_slug": "acme-evil"},
				"another pipeline":     {"pipeline_slug": "super-duper-app-2"},
				"another step":         {"step_key": "test"},
				"a step without key":   {"step_key": nil},
			},
			pinned:   map[string]any{"organization_id": "11111111-2222-4333-8444-555555555555"},
			missing:  []string{"organization_slug", "pipeline_slug", "organization_id", "pipeline_id", "build_commit"},
			mistyped: map[string]any{"build_number": "5", "build_tag": 1},
			branch:   map[string]any{"build_tag": nil, "build_branch": "tmp"},
		},
		{
			kind: policy.Forgejo, iss: forgejo, claims: forgejo.ForgejoClaims,
			pub: func(issuer string) policy.Publisher {
				return policy.Publisher{Kind: policy.Forgejo, Issuer: issuer, Owner: "my-org", Name: "my-project", Workflow: "release.yml"}
			},
			mismatch: map[string]map[string]any{
				"another repository":             {"repository": "my-org/my-project2", "workflow_ref": "my-org/my-project2/.forgejo/workflows/release.yml@refs/tags/v1.0.0"},
				"another workflow":               {"workflow_ref": "my-org/my-project/.forgejo/workflows/ci.yml@refs/tags/v1.0.0"},
				"a file hiding ours before an @": {"workflow_ref": "my-org/my-project/.forgejo/workflows/release.yml@x.yml@refs/tags/v1.0.0"},
				"a workflow of another ref":      {"workflow_ref": "my-org/my-project/.forgejo/workflows/release.yml@refs/heads/other"},
				"a pull_request_target event":    {"event_name": "pull_request_target"},
			},
			pinned:   map[string]any{"repository_id": "4243"},
			missing:  []string{"repository", "repository_id", "repository_owner_id", "workflow_ref", "ref"},
			mistyped: map[string]any{"repository_id": 4.5, "repository": []string{"my-org/my-project"}},
			branch: map[string]any{"ref": "refs/heads/tmp", "ref_type": "branch",
				"workflow_ref": "my-org/my-project/.forgejo/workflows/release.yml@refs/heads/tmp"},
		},
	}
}

// TestPlatformsEndToEnd exchanges each platform's tokens from a test issuer over HTTP: the
// accepted token, each field mismatched, ids pinned then differing, missing and mistyped
// claims, another platform's issuer, and the ref rules both ways.
func TestPlatformsEndToEnd(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		cases := platformCases(t)
		issuers := []*oidctest.Issuer{oidctest.New(t)}
		h := serviceHarness(t, b, issuers, func(c *Config) {
			for _, pc := range cases {
				c.Providers = append(c.Providers, providers.IssuerConfig{Kind: pc.kind, Issuer: pc.iss.URL()})
			}
		}, nil, nil)
		for i, pc := range cases {
			other := cases[(i+1)%len(cases)]
			t.Run(string(pc.kind), func(t *testing.T) {
				project := "proj-" + string(pc.kind)
				sp := h.addPublisher(project, pc.pub(pc.iss.URL()))
				sign := func(over map[string]any) func() reply {
					return func() reply { return h.exchange(t, pc.iss.Sign(pc.claims(over))) }
				}
				t.Run("its token is accepted for the publisher's project", func(t *testing.T) {
					r := h.accepted(t, sign(nil))
					if got := h.projects(t, r.Token); len(got) != 1 || got[0] != project {
						t.Fatalf("token covers %v", got)
					}
				})
				for name, over := range pc.mismatch {
					t.Run("a token of "+name+" is refused", func(t *testing.T) {
						h.refused(t, http.StatusUnprocessableEntity, "invalid-publisher", sign(over))
					})
				}
				if pc.pinned != nil {
					t.Run("the first use pinned its ids, and a token of the same names with other ids is refused", func(t *testing.T) {
						p, err := h.store.PublisherByID(context.Background(), sp.ID)
						if err != nil {
							t.Fatal(err)
						}
						if p.RepositoryID == "" {
							t.Fatalf("nothing pinned: %+v", p.Publisher)
						}
						h.refused(t, http.StatusUnprocessableEntity, "invalid-publisher", sign(pc.pinned))
					})
				}
				for _, claim := range pc.missing {
					t.Run("a token without "+claim+" is invalid", func(t *testing.T) {
						h.refused(t, http.StatusUnprocessableEntity, "invalid-token", sign(map[string]any{claim: oidctest.Omit}))
					})
				}
				for claim, v := range pc.mistyped {
					t.Run("a token with a mistyped "+claim+" is malformed", func(t *testing.T) {
						h.refused(t, http.StatusUnprocessableEntity, "invalid-payload", sign(map[string]any{claim: v}))
					})
				}
				t.Run("its claims from the issuer of "+string(other.kind)+" are refused", func(t *testing.T) {
					r := h.exchange(t, other.iss.Sign(pc.claims(map[string]any{"iss": other.iss.URL()})))
					if r.Status != http.StatusUnprocessableEntity || r.Token != "" {
						t.Fatalf("got %d %s", r.Status, r.raw)
					}
				})
				if pc.branch == nil {
					t.Run("ref rules cannot be set, the tokens name no ref", func(t *testing.T) {
						p := pc.pub(pc.iss.URL())
						p.Refs.TagsOnly = true
						if err := policy.Validate(p); err == nil || !strings.Contains(err.Error(), "no git ref") {
							t.Fatalf("Validate = %v", err)
						}
					})
					return
				}
				t.Run("with tags only, a tag is accepted and a branch refused", func(t *testing.T) {
					if _, err := h.accounts.SetPublisherRules(context.Background(), aliceOperator, sp.ID, policy.RefRules{TagsOnly: true}, ""); err != nil {
						t.Fatal(err)
					}
					h.accepted(t, sign(nil))
					h.refused(t, http.StatusUnprocessableEntity, "invalid-publisher", sign(pc.branch))
				})
				t.Run("with a pattern, a matching tag is accepted and a branch refused", func(t *testing.T) {
					if _, err := h.accounts.SetPublisherRules(context.Background(), aliceOperator, sp.ID, policy.RefRules{Pattern: "refs/tags/v*"}, ""); err != nil {
						t.Fatal(err)
					}
					h.accepted(t, sign(nil))
					h.refused(t, http.StatusUnprocessableEntity, "invalid-publisher", sign(pc.branch))
				})
				t.Run("protected refs only cannot be set: the tokens do not say", func(t *testing.T) {
					_, err := h.accounts.SetPublisherRules(context.Background(), aliceOperator, sp.ID, policy.RefRules{Protected: true}, "")
					if err == nil || !strings.Contains(err.Error(), "do not say whether a ref is protected") {
						t.Fatalf("SetPublisherRules = %v", err)
					}
				})
			})
		}
	})
}

// TestProtectedRefsEndToEnd: a publisher for protected refs only accepts a GitHub or
// GitLab job on a protected ref and refuses one on another, naming the ref in the reason
// its owners see.
func TestProtectedRefsEndToEnd(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		ctx := context.Background()
		gh := h.github("ghproj", func(p *policy.Publisher) { p.Refs.Protected = true })
		h.gitlab("glproj", func(p *policy.Publisher) { p.Refs = policy.RefRules{Protected: true, Pattern: "refs/heads/main"} })
		h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) })
		h.accepted(t, func() reply { return h.exchange(t, h.gl.Sign(h.gl.GitLabClaims(nil))) })
		h.refused(t, http.StatusUnprocessableEntity, "invalid-publisher", func() reply {
			return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(map[string]any{"ref_protected": "false", "repository_visibility": "public"})))
		})
		h.refused(t, http.StatusUnprocessableEntity, "invalid-publisher", func() reply {
			return h.exchange(t, h.gl.Sign(h.gl.GitLabClaims(map[string]any{"ref_protected": "false"})))
		})
		t.Run("the owners see the ref rule that failed for a public repository", func(t *testing.T) {
			const want = "ref refs/heads/main is not protected (ref_protected), publisher accepts protected refs only"
			deadline := time.Now().Add(5 * time.Second)
			for {
				fails, err := h.store.FailedExchanges(ctx, gh.ProjectID)
				if err != nil {
					t.Fatal(err)
				}
				if len(fails) > 0 && fails[0].Reason == want {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("failures %+v, want the reason %q", fails, want)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	})
}
