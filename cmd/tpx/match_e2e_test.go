package main

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
)

// matchCase is one token presented to one publisher. An empty code means the token must be
// accepted for the publisher's project alone; otherwise it must be refused with code, and
// then the kind's default token must still be accepted by the same publisher, so that the
// refusal is the rule's doing and not a publisher that could never match.
type matchCase struct {
	name  string
	edit  func(*policy.Publisher)
	token func() string
	code  string
}

// runMatchCases registers each case's publisher on sampleproject, removes it when the case
// ends, and checks the case over HTTP.
func runMatchCases(t *testing.T, h *harness, register func(string, func(*policy.Publisher)) store.Publisher, control func() string, cases []matchCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pub := register("sampleproject", c.edit)
			t.Cleanup(func() {
				if err := h.store.RemovePublisher(context.Background(), pub.ID); err != nil {
					t.Error(err)
				}
			})
			if c.code == "" {
				r := h.accepted(t, func() reply { return h.exchange(t, c.token()) })
				if got := h.projects(t, r.Token); !slices.Equal(got, []string{"sampleproject"}) {
					t.Fatalf("the upload token covers %v, want [sampleproject]", got)
				}
				return
			}
			tok := c.token()
			r := h.refused(t, 422, c.code, func() reply { return h.exchange(t, tok) })
			// The reply names the class of failure and the job's own facts, never the
			// publishers it was held to: the workflow may appear only as the token's own.
			_, rest, _ := strings.Cut(tok, ".")
			seg, _, _ := strings.Cut(rest, ".")
			claims, _ := base64.RawURLEncoding.DecodeString(seg)
			if strings.Contains(string(r.raw), "sampleproject") ||
				(strings.Contains(string(r.raw), pub.Workflow) && !strings.Contains(string(claims), pub.Workflow)) {
				t.Fatalf("the refusal discloses the publisher's configuration: %s", r.raw)
			}
			h.accepted(t, func() reply { return h.exchange(t, control()) })
		})
	}
}

// pinIDs registers the publisher pinned to owner and repo ids, as an owner who gave them
// would. The test issuers' default tokens carry GitHub owner 65 and repository 74, GitLab
// namespace 72 and project 20.
func pinIDs(owner, repo string) func(*policy.Publisher) {
	return func(p *policy.Publisher) { p.OwnerID, p.RepositoryID = owner, repo }
}

// requireEnvironment registers the publisher with a required environment.
func requireEnvironment(env string) func(*policy.Publisher) {
	return func(p *policy.Publisher) { p.Environment = env }
}

// githubRepoClaims is the claims of a job in another repository, with its own ids.
func githubRepoClaims(repo, repoID string) map[string]any {
	owner, _, _ := strings.Cut(repo, "/")
	ref := repo + "/.github/workflows/release.yml@refs/heads/main"
	return map[string]any{"repository": repo, "repository_owner": owner, "repository_id": repoID,
		"workflow_ref": ref, "job_workflow_ref": ref}
}

func TestGitHubPublisherMatching(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		tok := func(claims map[string]any) func() string {
			return func() string { return h.gh.Sign(h.gh.GitHubClaims(claims)) }
		}
		const wf = "octo-org/octo-repo/.github/workflows/"
		runMatchCases(t, h, h.github, tok(nil), []matchCase{
			{name: "the configured repository, workflow and environment are accepted",
				edit: requireEnvironment("prod"), token: tok(nil)},
			{name: "an owner id other than the pinned one is refused",
				edit: pinIDs("65", "74"), token: tok(map[string]any{"repository_owner_id": "66"}), code: "invalid-publisher"},
			{name: "a repository id other than the pinned one is refused",
				edit: pinIDs("65", "74"), token: tok(map[string]any{"repository_id": "75"}), code: "invalid-publisher"},
			{name: "the owner and repository in another case with the pinned ids are accepted",
				edit: pinIDs("65", "74"), token: tok(map[string]any{
					"repository": "Octo-Org/Octo-Repo", "repository_owner": "Octo-Org",
					"workflow_ref":     "Octo-Org/Octo-Repo/.github/workflows/release.yml@refs/heads/main",
					"job_workflow_ref": "Octo-Org/Octo-Repo/.github/workflows/release.yml@refs/heads/main"})},
			{name: "workflow release.yaml does not match release.yml",
				token: tok(map[string]any{"workflow_ref": wf + "release.yaml@refs/heads/main", "job_workflow_ref": wf + "release.yaml@refs/heads/main"}),
				code:  "invalid-publisher"},
			{name: "workflow Release.yml does not match release.yml: file names have case",
				token: tok(map[string]any{"workflow_ref": wf + "Release.yml@refs/heads/main", "job_workflow_ref": wf + "Release.yml@refs/heads/main"}),
				code:  "invalid-publisher"},
			{name: "release.yml in a sub-folder of the workflows folder does not match",
				token: tok(map[string]any{"workflow_ref": wf + "sub/release.yml@refs/heads/main", "job_workflow_ref": wf + "sub/release.yml@refs/heads/main"}),
				code:  "invalid-publisher"},
			{name: "environment Release matches a publisher's release",
				edit: requireEnvironment("release"), token: tok(map[string]any{"environment": "Release"})},
			{name: "a publisher with an environment refuses a token without one",
				edit: requireEnvironment("prod"), token: tok(map[string]any{"environment": oidctest.Omit}), code: "invalid-publisher"},
			{name: "a publisher without an environment accepts a token with one",
				token: tok(map[string]any{"environment": "staging"})},
			{name: "a pull_request_target run is refused",
				token: tok(map[string]any{"event_name": "pull_request_target"}), code: "invalid-publisher"},
			{name: "a workflow_run run is refused",
				token: tok(map[string]any{"event_name": "workflow_run"}), code: "invalid-publisher"},
			{name: "octo-org/octo-repo2, whose name extends ours, is refused",
				token: tok(githubRepoClaims("octo-org/octo-repo2", "75")), code: "invalid-publisher"},
			{name: "octo-org/octo-repo-evil, whose name extends ours, is refused",
				token: tok(githubRepoClaims("octo-org/octo-repo-evil", "76")), code: "invalid-publisher"},
			{name: "a reusable workflow of another repository called from the configured workflow is accepted",
				token: tok(map[string]any{"job_workflow_ref": "other-org/shared-workflows/.github/workflows/publish.yml@refs/heads/main"})},
			{name: "release.yml called as a reusable workflow from another workflow of the repository is refused",
				token: tok(map[string]any{"workflow_ref": wf + "ci.yml@refs/heads/main", "job_workflow_ref": wf + "release.yml@refs/heads/main"}),
				code:  "invalid-publisher"},
		})

		t.Run("the first use pins the ids and a token with other ids is then refused", func(t *testing.T) {
			pub := h.github("pinme", func(p *policy.Publisher) { p.Name = "pin-repo" })
			claims := githubRepoClaims("octo-org/pin-repo", "740")
			claims["repository_owner_id"] = "650"
			h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(claims))) })
			got, err := h.store.PublisherByID(context.Background(), pub.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.OwnerID != "650" || got.RepositoryID != "740" {
				t.Fatalf("after first use the publisher is pinned to %q/%q, want 650/740", got.OwnerID, got.RepositoryID)
			}
			// The name was deleted and registered again by someone else: same names, new ids.
			claims["repository_owner_id"], claims["repository_id"] = "651", "741"
			h.refused(t, 422, "invalid-publisher", func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(claims))) })
		})

		t.Run("a token matching publishers on several projects gets one upload token for all of them", func(t *testing.T) {
			many := func(p *policy.Publisher) { p.Name = "many-repo" }
			for _, project := range []string{"alpha", "beta", "gamma"} {
				h.github(project, many)
			}
			h.github("delta", func(p *policy.Publisher) { many(p); p.Workflow = "nightly.yml" })
			r := h.accepted(t, func() reply {
				return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(githubRepoClaims("octo-org/many-repo", "77"))))
			})
			if got := h.projects(t, r.Token); !slices.Equal(got, []string{"alpha", "beta", "gamma"}) {
				t.Fatalf("the upload token covers %v, want [alpha beta gamma]", got)
			}
		})
	})
}

func TestGitLabPublisherMatching(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		// GitLab writes the instance's host (with a port other than the scheme's default)
		// at the start of ci_config_ref_uri; policy derives the same from the issuer URL.
		host := strings.TrimPrefix(h.gl.URL(), "http://")
		tok := func(claims map[string]any) func() string {
			return func() string { return h.gl.Sign(h.gl.GitLabClaims(claims)) }
		}
		mr := "refs/merge-requests/1/head"
		runMatchCases(t, h, h.gitlab, tok(nil), []matchCase{
			{name: "the configured project, CI file and ref are accepted",
				edit: requireEnvironment("release"), token: tok(nil)},
			{name: "a project in a subgroup, split at the last slash, is accepted",
				edit: func(p *policy.Publisher) { p.Owner, p.Name = "group/sub", "proj" },
				token: tok(map[string]any{"project_path": "group/sub/proj", "namespace_path": "group/sub",
					"ci_config_ref_uri": host + "/group/sub/proj//.gitlab-ci.yml@refs/heads/main"})},
			{name: "a null ci_config_ref_uri (configuration kept in another project) is refused",
				token: tok(map[string]any{"ci_config_ref_uri": nil}), code: "invalid-publisher"},
			{name: "a token without ref_path is refused",
				token: tok(map[string]any{"ref_path": oidctest.Omit}), code: "invalid-token"},
			{name: "a token without sha is refused",
				token: tok(map[string]any{"sha": oidctest.Omit}), code: "invalid-token"},
			{name: "another CI configuration file is refused",
				token: tok(map[string]any{"ci_config_ref_uri": host + "/my-group/my-project//ci/release.yml@refs/heads/main"}),
				code:  "invalid-publisher"},
			{name: "a CI configuration read at another ref than the pipeline's is refused",
				token: tok(map[string]any{"ci_config_ref_uri": host + "/my-group/my-project//.gitlab-ci.yml@refs/heads/other"}),
				code:  "invalid-publisher"},
			{name: "a ci_config_ref_uri on another host than the issuer's is refused",
				token: tok(map[string]any{"ci_config_ref_uri": "gitlab.example.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main"}),
				code:  "invalid-publisher"},
			{name: "a fork's merge-request pipeline does not match the parent's publisher",
				token: tok(map[string]any{"project_path": "fork-user/my-project", "namespace_path": "fork-user",
					"namespace_id": "99", "project_id": "21", "pipeline_source": "merge_request_event", "ref": "1", "ref_path": mr,
					"ci_config_ref_uri": host + "/fork-user/my-project//.gitlab-ci.yml@" + mr}),
				code: "invalid-publisher"},
			{name: "a merge-request pipeline run in the parent project is refused",
				token: tok(map[string]any{"pipeline_source": "merge_request_event", "ref": "1", "ref_path": mr,
					"ci_config_ref_uri": host + "/my-group/my-project//.gitlab-ci.yml@" + mr}),
				code: "invalid-publisher"},
			{name: "a namespace id other than the pinned one is refused",
				edit: pinIDs("72", "20"), token: tok(map[string]any{"namespace_id": "73"}), code: "invalid-publisher"},
			{name: "a project id other than the pinned one is refused",
				edit: pinIDs("72", "20"), token: tok(map[string]any{"project_id": "21"}), code: "invalid-publisher"},
			{name: "environment Release does not match GitLab's case-sensitive release",
				edit: requireEnvironment("release"), token: tok(map[string]any{"environment": "Release"}), code: "invalid-publisher"},
			{name: "a self-managed GitLab's token with the same names does not match a gitlab.com publisher",
				token: func() string { return h.self.Sign(h.self.GitLabClaims(nil)) }, code: "invalid-publisher"},
		})
	})
}

func TestPendingPublishers(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		ctx := context.Background()
		alice, err := h.store.UserByName(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		addPending := func(t *testing.T, project, repo string) store.PendingPublisher {
			t.Helper()
			pp, err := h.accounts.AddPending(ctx, account.Actor{UserName: "alice", Via: account.ViaOperator}, project,
				policy.Publisher{Kind: policy.GitHub, Issuer: h.gh.URL(), Owner: "octo-org", Name: repo, Workflow: "release.yml"})
			if err != nil {
				t.Fatal(err)
			}
			return pp
		}
		pending := func(t *testing.T) []store.PendingPublisher {
			t.Helper()
			pps, err := h.store.ListPending(ctx, alice.ID)
			if err != nil {
				t.Fatal(err)
			}
			return pps
		}

		t.Run("the first exchange creates the project, owned by the registrant, with a pinned publisher", func(t *testing.T) {
			addPending(t, "newproj", "octo-repo")
			r := h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) })
			if got := h.projects(t, r.Token); !slices.Equal(got, []string{"newproj"}) {
				t.Fatalf("the upload token covers %v, want [newproj]", got)
			}
			proj, err := h.store.ProjectByName(ctx, "newproj")
			if err != nil {
				t.Fatalf("newproj was not created: %v", err)
			}
			if owner, err := h.store.IsOwner(ctx, proj.ID, alice.ID); err != nil || !owner {
				t.Fatalf("alice does not own newproj (%v)", err)
			}
			if pps := pending(t); len(pps) != 0 {
				t.Fatalf("%d pending publishers left, want none", len(pps))
			}
			pubs, err := h.store.ListPublishers(ctx, proj.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(pubs) != 1 || pubs[0].Repository() != "octo-org/octo-repo" || pubs[0].Workflow != "release.yml" ||
				pubs[0].OwnerID != "65" || pubs[0].RepositoryID != "74" {
				t.Fatalf("newproj's publishers are %+v, want octo-org/octo-repo release.yml pinned to 65/74", pubs)
			}
			h.refused(t, 422, "invalid-publisher", func() reply {
				return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(map[string]any{"repository_id": "75"})))
			})
			h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) })
		})
	})
}
