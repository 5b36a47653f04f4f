package policy

import (
	"errors"
	"strconv"
	"strings"
)

// BuildkiteIssuer is the issuer of every Buildkite organisation's job tokens.
const BuildkiteIssuer = "https://agent.buildkite.com"

// buildkitePlatform is Buildkite Pipelines. All organisations share one issuer, so a
// publisher names the organisation and pipeline by slug and is pinned to their UUIDs
// (organization_id, pipeline_id) on first use: a slug given up can be taken by another
// organisation. Buildkite tokens do not say whether a branch is protected.
var buildkitePlatform = Platform{
	Kind:          Buildkite,
	Label:         "Buildkite",
	DefaultIssuer: BuildkiteIssuer,
	IssuerHint:    "https://agent.buildkite.com",
	Algs:          []string{"RS256"},
	Fields: append([]Field{
		{Name: "repository", Flag: "pipeline", Label: "Pipeline (organization/pipeline)", Usage: "ORG/PIPELINE", Required: true,
			Hint:   "The organization and pipeline slugs, as in buildkite.com/ORG/PIPELINE.",
			Covers: []string{FieldOwner, FieldName},
			Set: func(p *Publisher, v string) {
				p.Owner, p.Name, _ = strings.Cut(v, "/")
			},
			Get: func(p Publisher) string { return p.Repository() }},
		{Name: "workflow", Flag: "step-key", Label: "Step key (optional)", Usage: "KEY",
			Hint:   "If set, only the step with this key gets tokens.",
			Covers: []string{FieldWorkflow},
			Set:    func(p *Publisher, v string) { p.Workflow = v },
			Get:    func(p Publisher) string { return p.Workflow }},
		ownerIDField("Organization id (optional)", "The organization's UUID; left empty, it is pinned on first use."),
		repositoryIDField("Pipeline id (optional)", "The pipeline's UUID; left empty, it is pinned on first use."),
	}, refFields("Buildkite", "")...),
	Refs:              true,
	OwnerIDLabel:      "organization id",
	RepositoryIDLabel: "pipeline id",
	NewClaims:         func() Claims { return new(BuildkiteClaims) },
	validate:          validateBuildkite,
	match:             matchBuildkite,
	validID:           uuid,
	idProblem:         uuidForm,
}

const maxSlug = 100

// slugProblem checks an organisation or pipeline slug: lower-case letters, digits and '-'.
func slugProblem(s string) string {
	switch {
	case s == "":
		return "is required"
	case len(s) > maxSlug:
		return "must be at most 100 characters"
	case strings.Trim(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != "":
		return "may contain only lower-case letters, digits and '-', as in the pipeline's URL"
	}
	return ""
}

func validateBuildkite(p Publisher, add func(field, msg string)) {
	if msg := slugProblem(p.Owner); msg != "" {
		add(FieldOwner, "organization slug "+msg)
	}
	if msg := slugProblem(p.Name); msg != "" {
		add(FieldName, "pipeline slug "+msg)
	}
	if p.Workflow != "" && (len(p.Workflow) > maxWorkflow || !visibleASCII(p.Workflow)) {
		add(FieldWorkflow, "step key must be at most 255 visible ASCII characters")
	}
}

// matchBuildkite compares the slugs, the pinned UUIDs and the step key.
func matchBuildkite(pl *Platform, p Publisher, id Identity) *Mismatch {
	if !equalFoldASCII(id.Repository, p.Repository()) {
		return mismatch("pipeline %s, publisher has %s", show(id.Repository), show(p.Repository())).in("repository")
	}
	if m := matchPins(pl, p, id); m != nil {
		return m
	}
	if p.Workflow != "" && id.WorkflowRef != p.Workflow {
		return mismatch("step key %s, publisher requires %s", show(id.WorkflowRef), show(p.Workflow)).in("workflow")
	}
	return nil
}

// BuildkiteClaims are the claims of a Buildkite job token that tpx reads. build_tag and
// step_key are null when the build has no tag or the step no key; build_number is a JSON
// number. organization_id and pipeline_id are optional claims the job must ask for
// (--claim organization_id,pipeline_id): tpx requires them, to pin the publisher.
type BuildkiteClaims struct {
	Subject           string `json:"sub"`
	OrganizationSlug  string `json:"organization_slug"`
	PipelineSlug      string `json:"pipeline_slug"`
	OrganizationID    string `json:"organization_id"`
	PipelineID        string `json:"pipeline_id"`
	BuildNumber       uint64 `json:"build_number"`
	BuildBranch       string `json:"build_branch"`
	BuildTag          string `json:"build_tag"`
	BuildCommit       string `json:"build_commit"`
	BuildSource       string `json:"build_source"`
	StepKey           string `json:"step_key"`
	JobID             string `json:"job_id"`
	AgentID           string `json:"agent_id"`
	RunnerEnvironment string `json:"runner_environment"`
}

// Validate requires the slugs, the UUIDs that pin them, and the commit.
func (c *BuildkiteClaims) Validate() error {
	switch {
	case slugProblem(c.OrganizationSlug) != "":
		return errors.New("organization_slug is missing or malformed")
	case slugProblem(c.PipelineSlug) != "":
		return errors.New("pipeline_slug is missing or malformed")
	case !uuid(c.OrganizationID):
		return errors.New("organization_id is missing or not a UUID (request it with --claim organization_id,pipeline_id)")
	case !uuid(c.PipelineID):
		return errors.New("pipeline_id is missing or not a UUID (request it with --claim organization_id,pipeline_id)")
	case c.BuildCommit == "":
		return errors.New("build_commit is missing")
	}
	return nil
}

// Identity is the normalized form of the claims: the tag or branch as a full ref.
func (c *BuildkiteClaims) Identity() Identity {
	ref := ""
	switch {
	case c.BuildTag != "":
		ref = "refs/tags/" + c.BuildTag
	case c.BuildBranch != "":
		ref = "refs/heads/" + c.BuildBranch
	}
	return Identity{
		Kind:         Buildkite,
		Repository:   c.OrganizationSlug + "/" + c.PipelineSlug,
		OwnerID:      c.OrganizationID,
		RepositoryID: c.PipelineID,
		WorkflowRef:  c.StepKey,
		Ref:          ref,
		SHA:          c.BuildCommit,
		EventName:    c.BuildSource,
		RunID:        strconv.FormatUint(c.BuildNumber, 10),
		RunAttempt:   c.JobID,
	}
}
