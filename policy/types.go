package policy

import (
	"fmt"
	"time"
)

// Kind names a CI platform whose tokens tpx accepts.
type Kind string

const (
	GitHub    Kind = "github"
	GitLab    Kind = "gitlab"
	Google    Kind = "google"
	CircleCI  Kind = "circleci"
	Buildkite Kind = "buildkite"
	Forgejo   Kind = "forgejo"
)

// Identity is what a verified CI token says about the job that presented it. Providers fill
// it from their typed claims; matching reads only this, so every rule sees the same names.
type Identity struct {
	Kind   Kind
	Issuer string
	// Repository is "owner/repo" on GitHub and "namespace/…/project" on GitLab, spelled
	// as the token spells it.
	Repository string
	// OwnerID and RepositoryID are the platform's numeric ids (GitHub repository_owner_id
	// and repository_id, GitLab namespace_id and project_id), kept as decimal strings.
	OwnerID      string
	RepositoryID string
	// WorkflowRef is the caller workflow: GitHub workflow_ref
	// ("owner/repo/.github/workflows/release.yml@refs/heads/main") or GitLab
	// ci_config_ref_uri ("gitlab.com/group/project//.gitlab-ci.yml@refs/heads/main");
	// empty when the platform sent null.
	WorkflowRef string
	// JobWorkflowRef is GitHub's job_workflow_ref (the reusable workflow that runs the
	// job); informational only.
	JobWorkflowRef string
	Environment    string
	Ref            string // GitHub ref, GitLab ref_path
	// Contexts are the CircleCI contexts the job uses (context-ids).
	Contexts []string
	// Interactive is true when someone may have a shell in the job (a CircleCI SSH
	// re-run): whoever has it can take the job's token.
	Interactive bool
	// RefProtected is the platform's word that Ref is protected (GitHub and GitLab
	// ref_protected); false where the platform does not say.
	RefProtected bool
	SHA          string
	EventName    string // GitHub event_name, GitLab pipeline_source
	RunID        string // GitHub run_id, GitLab pipeline_id
	RunAttempt   string // GitHub run_attempt, GitLab job_id
	Actor        string // GitHub actor, GitLab user_login
	// Public is true when the platform says the repository is public (GitHub
	// repository_visibility, GitLab project_visibility "public"); private, internal and a
	// missing claim are all not public.
	Public   bool
	JTI      string
	IssuedAt time.Time
	Expiry   time.Time
}

// Source says which CI run the identity is, in one line for the operator's log.
func (id Identity) Source() string {
	s := fmt.Sprintf("repository %s workflow %s ref %s sha %s run %s", id.Repository, id.WorkflowRef, id.Ref, id.SHA, id.RunID)
	if id.Environment != "" {
		s += " environment " + id.Environment
	}
	return s
}

// SourceForOwners says which CI run the identity is to the owners of a project whose
// publisher it used or tried: Source for a public repository, whose runs the platform shows
// anyone. Of any other it says nothing but that: anyone may register a publisher naming any
// repository, so a project's owners need not be people who may see the repository's refs,
// commits, runs or environments.
func (id Identity) SourceForOwners() string {
	if id.Public {
		return id.Source()
	}
	return "a job of a repository that is not public (its ref, commit, run and environment are not shown)"
}

// Publisher is a trusted-publisher configuration: the rules a CI identity must satisfy to
// receive an upload token for a project.
type Publisher struct {
	ID     int64
	Kind   Kind
	Issuer string
	// Owner is the GitHub owner or the GitLab namespace (which may contain '/').
	Owner string
	// Name is the GitHub repository or the GitLab project.
	Name string
	// Workflow is the GitHub workflow file name ("release.yml") or the GitLab CI
	// configuration path (".gitlab-ci.yml", "ci/publish.yml").
	Workflow string
	// Environment, when set, must equal the job's deployment environment.
	Environment string
	// OwnerID and RepositoryID pin the publisher to the platform's numeric ids; empty
	// until given at registration or pinned on the first successful exchange.
	OwnerID      string
	RepositoryID string
	// Refs restrict which refs may publish; the zero value accepts any.
	Refs RefRules
	// CalledWorkflow, for GitHub, pins the reusable workflow the job runs
	// (job_workflow_ref): "OWNER/REPO/.github/workflows/FILE", optionally followed by
	// "@PATTERN" for its ref, with the same pattern rules as Refs.Pattern. Empty accepts
	// any.
	CalledWorkflow string
}
