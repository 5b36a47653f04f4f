package policy

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// githubIdentity is what providers make of a GitHub Actions token as GitHub documents it:
// a push to main running release.yml in environment "release", matching githubPublisher.
func githubIdentity() Identity {
	return Identity{
		Kind:           GitHub,
		Issuer:         "https://token.actions.githubusercontent.com",
		Repository:     "octo-org/octo-repo",
		OwnerID:        "65",
		RepositoryID:   "74",
		WorkflowRef:    "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main",
		JobWorkflowRef: "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main",
		Environment:    "release",
		Ref:            "refs/heads/main",
		SHA:            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4",
		EventName:      "push",
		RunID:          "1234",
		RunAttempt:     "2",
		Actor:          "octocat",
		JTI:            "0b6c2a6e-4f0e-4c43-9d4f-1a2b3c4d5e6f",
		IssuedAt:       time.Unix(1632493567, 0),
		Expiry:         time.Unix(1632493867, 0),
	}
}

// gitlabIdentity is what providers make of a GitLab CI id_token as GitLab documents it,
// on gitlab.com, matching gitlabPublisher.
func gitlabIdentity() Identity {
	return Identity{
		Kind:         GitLab,
		Issuer:       "https://gitlab.com",
		Repository:   "my-group/my-project",
		OwnerID:      "72",
		RepositoryID: "20",
		WorkflowRef:  "gitlab.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main",
		Environment:  "release",
		Ref:          "refs/heads/main",
		SHA:          "714a629c0b401fdce83e847fc9589983fc6f46bc",
		EventName:    "push",
		RunID:        "574",
		RunAttempt:   "302",
		JTI:          "235b3a54-b797-45c7-ae9a-f72d7bc6ef5b",
		IssuedAt:     time.Unix(1681395193, 0),
		Expiry:       time.Unix(1681398793, 0),
	}
}

type matchCase struct {
	name   string
	editP  func(*Publisher)
	editID func(*Identity)
	want   string // the exact Reason; empty when the identity must match
}

func keep[T any](*T) {}

// rules are the names Mismatch.Rule may take: words that quote no claim.
var rules = []string{"platform", "issuer", "publisher", "repository", "repository ids", "event", "ref", "workflow", "environment"}

func runMatch(t *testing.T, publisher func() Publisher, identity func() Identity, tests []matchCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, id := publisher(), identity()
			tt.editP(&p)
			tt.editID(&id)
			err := Match(p, id)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Match = %v, want a match", err)
				}
				return
			}
			var m *Mismatch
			if !errors.As(err, &m) {
				t.Fatalf("Match = %T %v, want *Mismatch %q", err, err, tt.want)
			}
			if m.Reason != tt.want || err.Error() != tt.want {
				t.Errorf("Match reason\n got: %s\nwant: %s", m.Reason, tt.want)
			}
			if !slices.Contains(rules, m.Rule) {
				t.Errorf("Match rule %q for %q is not one of %v", m.Rule, m.Reason, rules)
			}
		})
	}
}

func TestMatchGitHub(t *testing.T) {
	// A reason about the caller names the called workflow when the job ran another one.
	const called = " (the job ran the called workflow octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main)"
	runMatch(t, githubPublisher, githubIdentity, []matchCase{
		{"the token of the configured repository, workflow and environment is accepted", keep[Publisher], keep[Identity], ""},
		{"owner and repository in other case with the same ids are accepted", keep[Publisher], func(id *Identity) {
			id.Repository = "Octo-Org/Octo-Repo"
			id.WorkflowRef = "Octo-Org/Octo-Repo/.github/workflows/release.yml@refs/heads/main"
		}, ""},
		{"a publisher spelled in other case than the token is accepted", func(p *Publisher) { p.Owner, p.Name = "OCTO-ORG", "OCTO-REPO" }, keep[Identity], ""},
		{"a workflow_ref in other case than the repository claim is accepted", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "OCTO-ORG/octo-REPO/.github/workflows/release.yml@refs/heads/main"
		}, ""},
		{"a tag ref in workflow_ref is accepted", keep[Publisher], func(id *Identity) {
			id.Ref = "refs/tags/v1.0.0"
			id.WorkflowRef = "octo-org/octo-repo/.github/workflows/release.yml@refs/tags/v1.0.0"
		}, ""},
		{"a workflow_ref read at the job's sha is accepted", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "octo-org/octo-repo/.github/workflows/release.yml@" + id.SHA
		}, ""},
		{"a workflow file whose name contains @ and a .yml part is accepted when registered whole", func(p *Publisher) { p.Workflow = "release.yml@x.yml" }, func(id *Identity) {
			id.WorkflowRef = "octo-org/octo-repo/.github/workflows/release.yml@x.yml@refs/heads/main"
		}, ""},
		{"a branch name with @ and .yml keeps the whole branch as the ref", keep[Publisher], func(id *Identity) {
			id.Ref = "refs/heads/a@b.yml"
			id.WorkflowRef = "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/a@b.yml"
		}, ""},

		{"a file release.yml@evil.yml is not release.yml", keep[Publisher], func(id *Identity) {
			id.Ref = "refs/heads/x"
			id.WorkflowRef = "octo-org/octo-repo/.github/workflows/release.yml@evil.yml@refs/heads/x"
		}, "workflow release.yml@evil.yml, publisher has release.yml (the job ran the called workflow octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main)"},
		{"a workflow_ref read at another ref than the job's is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/other"
		}, "workflow_ref octo-org/octo-repo/.github/workflows/release.yml@refs/heads/other was read at refs/heads/other, neither the job's ref refs/heads/main nor its sha"},
		{"a file smuggling the job's ref inside its name is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main.yml@refs/heads/evil"
		}, "workflow release.yml@refs/heads/main.yml, publisher has release.yml (the job ran the called workflow octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main)"},
		{"an unpinned publisher accepts the repository's ids", func(p *Publisher) { p.OwnerID, p.RepositoryID = "", "" }, keep[Identity], ""},
		{"an unpinned publisher accepts a token without ids", func(p *Publisher) { p.OwnerID, p.RepositoryID = "", "" }, func(id *Identity) { id.OwnerID, id.RepositoryID = "", "" }, ""},
		{"a reusable workflow called from the configured workflow is accepted", keep[Publisher], func(id *Identity) {
			id.JobWorkflowRef = "octo-org/shared-workflows/.github/workflows/publish.yml@refs/tags/v2"
		}, ""},
		{"environment Release for publisher release is accepted", keep[Publisher], func(id *Identity) { id.Environment = "Release" }, ""},
		{"a publisher without environment accepts a job with one", func(p *Publisher) { p.Environment = "" }, func(id *Identity) { id.Environment = "staging" }, ""},
		{"a publisher without environment accepts a job without one", func(p *Publisher) { p.Environment = "" }, func(id *Identity) { id.Environment = "" }, ""},
		{"a workflow named .yaml in publisher and token is accepted", func(p *Publisher) { p.Workflow = "release.yaml" }, func(id *Identity) {
			id.WorkflowRef = "octo-org/octo-repo/.github/workflows/release.yaml@refs/heads/main"
		}, ""},
		{"events other than the two refused ones are accepted", keep[Publisher], func(id *Identity) { id.EventName = "release" }, ""},

		{"a gitlab token is rejected", keep[Publisher], func(id *Identity) { id.Kind = GitLab },
			"token is from gitlab, publisher is for github"},
		{"a GHES token with equal names is rejected", keep[Publisher], func(id *Identity) { id.Issuer = "https://ghes.example.com/_services/token" },
			"issuer https://ghes.example.com/_services/token differs from the publisher's https://token.actions.githubusercontent.com"},
		{"an issuer differing only by a trailing slash is rejected", keep[Publisher], func(id *Identity) { id.Issuer += "/" },
			"issuer https://token.actions.githubusercontent.com/ differs from the publisher's https://token.actions.githubusercontent.com"},
		{"a repository whose name extends ours is rejected", keep[Publisher], func(id *Identity) {
			id.Repository = "octo-org/octo-repo-evil"
			id.WorkflowRef = "octo-org/octo-repo-evil/.github/workflows/release.yml@refs/heads/main"
		}, "repository octo-org/octo-repo-evil, publisher has octo-org/octo-repo"},
		{"a repository whose name extends ours and whose workflow_ref names ours is rejected", keep[Publisher], func(id *Identity) {
			id.Repository = "octo-org/octo-repo2"
		}, "repository octo-org/octo-repo2, publisher has octo-org/octo-repo"},
		{"an owner whose name extends ours is rejected", keep[Publisher], func(id *Identity) {
			id.Repository = "octo-org-evil/octo-repo"
			id.WorkflowRef = "octo-org-evil/octo-repo/.github/workflows/release.yml@refs/heads/main"
		}, "repository octo-org-evil/octo-repo, publisher has octo-org/octo-repo"},
		{"a repository claim without owner is rejected", keep[Publisher], func(id *Identity) { id.Repository = "octo-repo" },
			"repository octo-repo, publisher has octo-org/octo-repo"},
		{"a workflow_ref smuggling our file from another repository is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "evil/octo-repo/.github/workflows/release.yml@refs/heads/main"
		}, "workflow_ref evil/octo-repo/.github/workflows/release.yml@refs/heads/main is a workflow of repository evil/octo-repo, not of octo-org/octo-repo"},
		{"a workflow_ref smuggling our path behind another repository is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "evil/x/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main"
		}, "workflow_ref evil/x/octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main is a workflow of repository evil/x, not of octo-org/octo-repo"},
		{"an owner id differing from the pinned one is rejected", keep[Publisher], func(id *Identity) { id.OwnerID = "66" },
			"owner id 66 differs from pinned 65"},
		{"a repository id differing from the pinned one is rejected", keep[Publisher], func(id *Identity) { id.RepositoryID = "75" },
			"repository id 75 differs from pinned 74"},
		{"a resurrected repository with our names and a new id is rejected", keep[Publisher], func(id *Identity) { id.OwnerID, id.RepositoryID = "9001", "9002" },
			"owner id 9001 differs from pinned 65"},
		{"a token without owner id is rejected by a pinned publisher", keep[Publisher], func(id *Identity) { id.OwnerID = "" },
			"token carries no owner id, publisher is pinned to 65"},
		{"a token without repository id is rejected by a pinned publisher", keep[Publisher], func(id *Identity) { id.RepositoryID = "" },
			"token carries no repository id, publisher is pinned to 74"},
		{"a repository id with a leading zero is rejected", keep[Publisher], func(id *Identity) { id.RepositoryID = "074" },
			"repository id 074 differs from pinned 74"},
		{"release.yaml is rejected by a publisher of release.yml", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "octo-org/octo-repo/.github/workflows/release.yaml@refs/heads/main"
		}, "workflow release.yaml, publisher has release.yml" + called},
		{"a workflow file in other case is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "octo-org/octo-repo/.github/workflows/Release.yml@refs/heads/main"
		}, "workflow Release.yml, publisher has release.yml" + called},
		{"a workflow of the same name in a sub-folder is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "octo-org/octo-repo/.github/workflows/sub/release.yml@refs/heads/main"
		}, "workflow sub/release.yml, publisher has release.yml" + called},
		{"a workflow of the same name outside .github/workflows is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "octo-org/octo-repo/release.yml@refs/heads/main"
		}, "workflow_ref octo-org/octo-repo/release.yml@refs/heads/main is not in .github/workflows/"},
		{"another workflow calling ours as a reusable workflow is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "octo-org/octo-repo/.github/workflows/ci.yml@refs/heads/main"
		}, "workflow ci.yml, publisher has release.yml" + called},
		{"a workflow_ref without @ref is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "octo-org/octo-repo/.github/workflows/release.yml"
		}, "workflow_ref octo-org/octo-repo/.github/workflows/release.yml has no @ref"},
		{"a workflow_ref with an empty ref is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "octo-org/octo-repo/.github/workflows/release.yml@"
		}, "workflow_ref octo-org/octo-repo/.github/workflows/release.yml@ has no @ref"},
		{"a workflow_ref without a path is rejected", keep[Publisher], func(id *Identity) { id.WorkflowRef = "octo-org/octo-repo@refs/heads/main" },
			"workflow_ref octo-org/octo-repo@refs/heads/main is not of the form OWNER/REPO/.github/workflows/FILE@REF"},
		{"a token without workflow_ref is rejected", keep[Publisher], func(id *Identity) { id.WorkflowRef = "" },
			"token carries no workflow_ref"},
		{"event pull_request_target is rejected", keep[Publisher], func(id *Identity) { id.EventName = "pull_request_target" },
			"event pull_request_target is never trusted: it runs for pull requests from forks with this repository's privileges"},
		{"event workflow_run is rejected", keep[Publisher], func(id *Identity) { id.EventName = "workflow_run" },
			"event workflow_run is never trusted: it runs with this repository's privileges after workflows that forks can trigger"},
		{"a publisher with environment rejects a job without one", keep[Publisher], func(id *Identity) { id.Environment = "" },
			"job has no environment, publisher requires 'release'"},
		{"a publisher with environment rejects another environment", keep[Publisher], func(id *Identity) { id.Environment = "staging" },
			"environment was 'staging', publisher requires 'release'"},
		{"an environment that extends ours is rejected", keep[Publisher], func(id *Identity) { id.Environment = "release-candidate" },
			"environment was 'release-candidate', publisher requires 'release'"},
		{"an environment with a Kelvin sign for k is rejected", func(p *Publisher) { p.Environment = "pk" }, func(id *Identity) { id.Environment = "p\u212a" },
			"environment was 'p\u212a', publisher requires 'pk'"},
		{"a repository with a Kelvin sign for k is rejected", func(p *Publisher) { p.Name = "kit" }, func(id *Identity) { id.Repository = "octo-org/\u212ait" },
			"repository octo-org/\u212ait, publisher has octo-org/kit"},
		{"a publisher without workflow never matches", func(p *Publisher) { p.Workflow = "" }, func(id *Identity) {
			id.WorkflowRef = "octo-org/octo-repo/.github/workflows/@refs/heads/main"
		}, "publisher is incomplete: repository and workflow are required"},
		{"a publisher and token without issuer never match", func(p *Publisher) { p.Issuer = "" }, func(id *Identity) { id.Issuer = "" },
			"publisher has no issuer"},
		{"a reason quotes control characters instead of printing them", keep[Publisher], func(id *Identity) { id.Environment = "x\n2026 INFO forged" },
			`environment was '"x\n2026 INFO forged"', publisher requires 'release'`},
	})
}

func TestMatchGitLab(t *testing.T) {
	runMatch(t, gitlabPublisher, gitlabIdentity, []matchCase{
		{"the token of the configured project, configuration and environment is accepted", keep[Publisher], keep[Identity], ""},
		{"a project in a subgroup is accepted", func(p *Publisher) { p.Owner, p.Name = "group/sub", "proj" }, func(id *Identity) {
			id.Repository = "group/sub/proj"
			id.WorkflowRef = "gitlab.com/group/sub/proj//.gitlab-ci.yml@refs/heads/main"
		}, ""},
		{"a project path in other case with the same ids is accepted", keep[Publisher], func(id *Identity) {
			id.Repository = "My-Group/My-Project"
			id.WorkflowRef = "gitlab.com/My-Group/My-Project//.gitlab-ci.yml@refs/heads/main"
		}, ""},
		{"a configuration in a folder is accepted", func(p *Publisher) { p.Workflow = "ci/publish.yml" }, func(id *Identity) {
			id.WorkflowRef = "gitlab.com/my-group/my-project//ci/publish.yml@refs/heads/main"
		}, ""},
		{"a configuration read at the pipeline's sha is accepted", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "gitlab.com/my-group/my-project//.gitlab-ci.yml@" + id.SHA
		}, ""},
		{"a tag pipeline is accepted", keep[Publisher], func(id *Identity) {
			id.Ref = "refs/tags/v1.0.0"
			id.WorkflowRef = "gitlab.com/my-group/my-project//.gitlab-ci.yml@refs/tags/v1.0.0"
		}, ""},
		{"a self-managed instance on its issuer's host is accepted", func(p *Publisher) { p.Issuer = "https://gitlab.example.com" }, func(id *Identity) {
			id.Issuer = "https://gitlab.example.com"
			id.WorkflowRef = "gitlab.example.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main"
		}, ""},
		{"a self-managed instance on another port names the port", func(p *Publisher) { p.Issuer = "https://gitlab.example.com:8443" }, func(id *Identity) {
			id.Issuer = "https://gitlab.example.com:8443"
			id.WorkflowRef = "gitlab.example.com:8443/my-group/my-project//.gitlab-ci.yml@refs/heads/main"
		}, ""},
		{"an issuer naming the default port matches a host without it", func(p *Publisher) { p.Issuer = "https://gitlab.example.com:443" }, func(id *Identity) {
			id.Issuer = "https://gitlab.example.com:443"
			id.WorkflowRef = "gitlab.example.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main"
		}, ""},
		{"a publisher without environment accepts a job with one", func(p *Publisher) { p.Environment = "" }, func(id *Identity) { id.Environment = "staging" }, ""},
		{"a publisher without environment accepts a job without one", func(p *Publisher) { p.Environment = "" }, func(id *Identity) { id.Environment = "" }, ""},
		{"an unpinned publisher accepts the project's ids", func(p *Publisher) { p.OwnerID, p.RepositoryID = "", "" }, keep[Identity], ""},

		{"a self-managed token with names equal to a gitlab.com publisher is rejected", keep[Publisher], func(id *Identity) {
			id.Issuer = "https://gitlab.example.com"
			id.WorkflowRef = "gitlab.example.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main"
		}, "issuer https://gitlab.example.com differs from the publisher's https://gitlab.com"},
		{"a github token is rejected", keep[Publisher], func(id *Identity) { id.Kind = GitHub },
			"token is from github, publisher is for gitlab"},
		{"another project whose path extends ours is rejected", keep[Publisher], func(id *Identity) {
			id.Repository = "my-group/my-project2"
			id.WorkflowRef = "gitlab.com/my-group/my-project2//.gitlab-ci.yml@refs/heads/main"
		}, "project path my-group/my-project2, publisher has my-group/my-project"},
		{"a project in a subgroup of ours with our project name is rejected", keep[Publisher], func(id *Identity) {
			id.Repository = "my-group/sub/my-project"
			id.WorkflowRef = "gitlab.com/my-group/sub/my-project//.gitlab-ci.yml@refs/heads/main"
		}, "project path my-group/sub/my-project, publisher has my-group/my-project"},
		{"a subgroup publisher split elsewhere still matches the same path", func(p *Publisher) { p.Owner, p.Name = "my-group", "sub/proj" }, func(id *Identity) {
			id.Repository = "my-group/sub/proj"
			id.WorkflowRef = "gitlab.com/my-group/sub/proj//.gitlab-ci.yml@refs/heads/main"
		}, ""},
		{"a fork's merge-request pipeline does not match the parent's publisher", keep[Publisher], func(id *Identity) {
			id.Repository = "contributor/my-project"
			id.OwnerID, id.RepositoryID = "900", "901"
			id.WorkflowRef = "gitlab.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main"
			id.Ref = "refs/merge-requests/5/head"
			id.EventName = "merge_request_event"
		}, "project path contributor/my-project, publisher has my-group/my-project"},
		{"a merge-request pipeline run in the parent project is rejected", keep[Publisher], func(id *Identity) {
			id.Ref = "refs/merge-requests/5/head"
			id.WorkflowRef = "gitlab.com/my-group/my-project//.gitlab-ci.yml@refs/merge-requests/5/head"
			id.EventName = "merge_request_event"
		}, "ref_path refs/merge-requests/5/head is a merge-request pipeline, which may run a fork's code in this project; publish from a branch or tag pipeline"},
		{"a merged-results pipeline is rejected", keep[Publisher], func(id *Identity) {
			id.Ref = "refs/merge-requests/5/merge"
			id.WorkflowRef = "gitlab.com/my-group/my-project//.gitlab-ci.yml@refs/merge-requests/5/merge"
		}, "ref_path refs/merge-requests/5/merge is a merge-request pipeline, which may run a fork's code in this project; publish from a branch or tag pipeline"},
		{"a merge-request pipeline on a branch ref is rejected by its source", keep[Publisher], func(id *Identity) { id.EventName = "merge_request_event" },
			"pipeline source merge_request_event is a merge- or pull-request pipeline, which may run a fork's code in this project; publish from a branch or tag pipeline"},
		{"an external pull-request pipeline is rejected", keep[Publisher], func(id *Identity) { id.EventName = "external_pull_request_event" },
			"pipeline source external_pull_request_event is a merge- or pull-request pipeline, which may run a fork's code in this project; publish from a branch or tag pipeline"},
		{"a namespace id differing from the pinned one is rejected", keep[Publisher], func(id *Identity) { id.OwnerID = "73" },
			"namespace id 73 differs from pinned 72"},
		{"a project id differing from the pinned one is rejected", keep[Publisher], func(id *Identity) { id.RepositoryID = "21" },
			"project id 21 differs from pinned 20"},
		{"a token without project id is rejected by a pinned publisher", keep[Publisher], func(id *Identity) { id.RepositoryID = "" },
			"token carries no project id, publisher is pinned to 20"},
		{"an empty ci_config_ref_uri is rejected", keep[Publisher], func(id *Identity) { id.WorkflowRef = "" },
			"token carries no ci_config_ref_uri: the pipeline definition lives in another project or outside the repository"},
		{"a token without ref_path is rejected", keep[Publisher], func(id *Identity) { id.Ref = "" },
			"token carries no ref_path"},
		{"a token without sha is rejected", keep[Publisher], func(id *Identity) { id.SHA = "" },
			"token carries no sha"},
		{"another configuration file is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "gitlab.com/my-group/my-project//ci/other.yml@refs/heads/main"
		}, "CI configuration ci/other.yml, publisher has .gitlab-ci.yml"},
		{"the configuration as .yaml instead of .yml is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "gitlab.com/my-group/my-project//.gitlab-ci.yaml@refs/heads/main"
		}, "CI configuration .gitlab-ci.yaml, publisher has .gitlab-ci.yml"},
		{"the configuration of the same name in a folder is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "gitlab.com/my-group/my-project//sub/.gitlab-ci.yml@refs/heads/main"
		}, "CI configuration sub/.gitlab-ci.yml, publisher has .gitlab-ci.yml"},
		{"a configuration from another project is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "gitlab.com/other-group/ci-templates//.gitlab-ci.yml@refs/heads/main"
		}, "CI configuration comes from project other-group/ci-templates, publisher has my-group/my-project"},
		{"a configuration from a project whose path extends ours is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "gitlab.com/my-group/my-project-evil//.gitlab-ci.yml@refs/heads/main"
		}, "CI configuration comes from project my-group/my-project-evil, publisher has my-group/my-project"},
		{"a configuration on another host is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "gitlab.example.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main"
		}, "ci_config_ref_uri gitlab.example.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main is not on the issuer's host gitlab.com"},
		{"a configuration on a host that extends the issuer's is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "gitlab.com.evil/my-group/my-project//.gitlab-ci.yml@refs/heads/main"
		}, "ci_config_ref_uri gitlab.com.evil/my-group/my-project//.gitlab-ci.yml@refs/heads/main is not on the issuer's host gitlab.com"},
		{"a configuration read at another branch is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "gitlab.com/my-group/my-project//.gitlab-ci.yml@refs/heads/feature"
		}, "CI configuration was read at refs/heads/feature, neither the pipeline's ref_path refs/heads/main nor its sha"},
		{"a ci_config_ref_uri without '//' is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "gitlab.com/my-group/my-project/.gitlab-ci.yml@refs/heads/main"
		}, "ci_config_ref_uri gitlab.com/my-group/my-project/.gitlab-ci.yml@refs/heads/main is not of the form HOST/PROJECT//PATH@REF"},
		{"a ci_config_ref_uri without @ref is rejected", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "gitlab.com/my-group/my-project//.gitlab-ci.yml"
		}, "ci_config_ref_uri gitlab.com/my-group/my-project//.gitlab-ci.yml has no @ref"},
		{"a publisher with environment rejects a job without one", keep[Publisher], func(id *Identity) { id.Environment = "" },
			"job has no environment, publisher requires 'release'"},
		{"environment Release for publisher release is rejected", keep[Publisher], func(id *Identity) { id.Environment = "Release" },
			"environment was 'Release', publisher requires 'release' (GitLab environment names are case-sensitive)"},
		{"a publisher whose issuer is not a URL never matches", func(p *Publisher) { p.Issuer = "gitlab" }, func(id *Identity) { id.Issuer = "gitlab" },
			"publisher issuer gitlab is not a URL with a host"},
	})
}

func TestMatchNeedsAKnownKind(t *testing.T) {
	p, id := githubPublisher(), githubIdentity()
	p.Kind, id.Kind = "bitbucket", "bitbucket"
	want := "publisher kind bitbucket is not supported"
	if err := Match(p, id); err == nil || err.Error() != want {
		t.Fatalf("Match = %v, want %q", err, want)
	}
}

func TestPins(t *testing.T) {
	tests := []struct {
		name                string
		base                func() Publisher
		identity            func() Identity
		editP               func(*Publisher)
		editID              func(*Identity)
		wantOwner, wantRepo string
		wantNeeded          bool
	}{
		{"a pinned publisher needs no pins", githubPublisher, githubIdentity, keep[Publisher], keep[Identity], "65", "74", false},
		{"an unpinned GitHub publisher is pinned to the token's ids on first use", githubPublisher, githubIdentity,
			func(p *Publisher) { p.OwnerID, p.RepositoryID = "", "" }, keep[Identity], "65", "74", true},
		{"an unpinned GitLab publisher is pinned to the namespace and project ids", gitlabPublisher, gitlabIdentity,
			func(p *Publisher) { p.OwnerID, p.RepositoryID = "", "" }, keep[Identity], "72", "20", true},
		{"a publisher with only an owner id keeps it and gains the repository id", githubPublisher, githubIdentity,
			func(p *Publisher) { p.RepositoryID = "" }, keep[Identity], "65", "74", true},
		{"a token without ids pins nothing", githubPublisher, githubIdentity,
			func(p *Publisher) { p.OwnerID, p.RepositoryID = "", "" }, func(id *Identity) { id.OwnerID, id.RepositoryID = "", "" }, "", "", false},
		{"a malformed id in the token is not pinned", githubPublisher, githubIdentity,
			func(p *Publisher) { p.OwnerID, p.RepositoryID = "", "" }, func(id *Identity) { id.OwnerID = "065" }, "", "74", true},
		{"a token that does not match pins nothing", githubPublisher, githubIdentity,
			func(p *Publisher) { p.OwnerID, p.RepositoryID = "", "" }, func(id *Identity) { id.Repository = "evil/octo-repo" }, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, id := tt.base(), tt.identity()
			tt.editP(&p)
			tt.editID(&id)
			owner, repo, needed := Pins(p, id)
			if owner != tt.wantOwner || repo != tt.wantRepo || needed != tt.wantNeeded {
				t.Errorf("Pins = (%q, %q, %v), want (%q, %q, %v)", owner, repo, needed, tt.wantOwner, tt.wantRepo, tt.wantNeeded)
			}
		})
	}
}

func TestPinnedPublisherMatchesItsFirstUserOnly(t *testing.T) {
	p := githubPublisher()
	p.OwnerID, p.RepositoryID = "", ""
	first := githubIdentity()
	p.OwnerID, p.RepositoryID, _ = Pins(p, first)
	if err := Match(p, first); err != nil {
		t.Fatalf("the first user no longer matches after pinning: %v", err)
	}
	resurrected := githubIdentity()
	resurrected.OwnerID, resurrected.RepositoryID = "9001", "9002"
	if err := Match(p, resurrected); err == nil {
		t.Fatal("a repository re-created under the same names matched the pinned publisher")
	}
}
