package policy

import (
	"errors"
	"slices"
	"strings"
)

// circleciPlatform is CircleCI. Every organisation has an issuer of its own,
// https://oidc.circleci.com/org/ORG_ID, which the operator lists in TPX_CONFIG; its
// publishers name the organisation, project and pipeline definition by id. CircleCI's ids
// are UUIDs that are never reused, so nothing needs pinning.
var circleciPlatform = Platform{
	Kind:       CircleCI,
	Label:      "CircleCI",
	IssuerHint: "https://oidc.circleci.com/org/ORG_ID, one per organization",
	Algs:       []string{"RS256"},
	Fields: append([]Field{
		{Name: "org_id", Flag: "org-id", Label: "Organization id", Usage: "UUID", Required: true,
			Hint:   "Organization Settings, Overview: the organization's UUID (the end of its issuer).",
			Covers: []string{FieldOwner},
			Set:    func(p *Publisher, v string) { p.Owner = v },
			Get:    func(p Publisher) string { return p.Owner }},
		{Name: "project_id", Flag: "project-id", Label: "Project id", Usage: "UUID", Required: true,
			Hint:   "Project Settings, Overview: the project's UUID.",
			Covers: []string{FieldName},
			Set:    func(p *Publisher, v string) { p.Name = v },
			Get:    func(p Publisher) string { return p.Name }},
		{Name: "pipeline_definition_id", Flag: "pipeline-definition-id", Label: "Pipeline definition id", Usage: "UUID", Required: true,
			Hint:   "Project Settings, Pipelines: the UUID of the pipeline definition that publishes.",
			Covers: []string{FieldWorkflow},
			Set:    func(p *Publisher, v string) { p.Workflow = v },
			Get:    func(p Publisher) string { return p.Workflow }},
		{Name: "context_id", Flag: "context-id", Label: "Context id (optional)", Usage: "UUID",
			Hint:   "If set, only jobs that use this context (its UUID) get tokens.",
			Covers: []string{FieldEnvironment},
			Set:    func(p *Publisher, v string) { p.Environment = v },
			Get:    func(p Publisher) string { return p.Environment }},
	}, refFields("CircleCI", "")...),
	Refs:      true,
	NewClaims: func() Claims { return new(CircleCIClaims) },
	validate:  validateCircleCI,
	match:     matchCircleCI,
}

// circleciOrgIssuer is the path an issuer of an organisation ends in.
const circleciOrgPath = "/org/"

// uuid reports whether s is a UUID in the lower-case form CircleCI and Buildkite write.
func uuid(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

const uuidForm = "must be a UUID in lower case, such as 0c5b2f4e-4a8d-4e1b-9f3a-2d6c8b7e1a90"

func validateCircleCI(p Publisher, add func(field, msg string)) {
	if !uuid(p.Owner) {
		add(FieldOwner, "organization id "+uuidForm)
	} else if !strings.HasSuffix(p.Issuer, circleciOrgPath+p.Owner) {
		// Each organisation has its own issuer: a publisher bound to another's could never
		// match, or would trust an organisation the owner did not name.
		add(FieldIssuer, "issuer must be the organization's own, ending in "+circleciOrgPath+p.Owner)
	}
	if !uuid(p.Name) {
		add(FieldName, "project id "+uuidForm)
	}
	if !uuid(p.Workflow) {
		add(FieldWorkflow, "pipeline definition id "+uuidForm)
	}
	if p.Environment != "" && !uuid(p.Environment) {
		add(FieldEnvironment, "context id "+uuidForm)
	}
}

// matchCircleCI compares the organisation, project and pipeline definition ids, the
// context, and refuses SSH re-runs.
func matchCircleCI(pl *Platform, p Publisher, id Identity) *Mismatch {
	org, project, _ := strings.Cut(id.Repository, "/")
	switch {
	case !strings.HasSuffix(id.Issuer, circleciOrgPath+org):
		return mismatch("token of organization %s came from the issuer of another", show(org)).in("issuer")
	case org != p.Owner:
		return mismatch("organization %s, publisher has %s", show(org), show(p.Owner)).in("repository")
	case project != p.Name:
		return mismatch("project %s, publisher has %s", show(project), show(p.Name)).in("repository")
	case id.Interactive:
		// Whoever opened the shell could read the job's token and use it before the job
		// does.
		return mismatch("the job is an SSH re-run: its token may be used by whoever has the shell").in("event")
	case id.WorkflowRef == "":
		return mismatch("token carries no pipeline-definition-id").in("workflow")
	case id.WorkflowRef != p.Workflow:
		return mismatch("pipeline definition %s, publisher has %s", show(id.WorkflowRef), show(p.Workflow)).in("workflow")
	case p.Environment != "" && !slices.Contains(id.Contexts, p.Environment):
		return mismatch("the job uses contexts %s, publisher requires %s", show(strings.Join(id.Contexts, ",")), show(p.Environment)).in("environment")
	}
	return nil
}

// CircleCIClaims are the claims of a CircleCI OIDC token that tpx reads (all under
// oidc.circleci.com/). vcs-ref is absent for pipelines started by custom webhooks, and
// pipeline-definition-id in tokens of older pipelines; context-ids is a list of UUIDs and
// ssh-rerun a boolean.
type CircleCIClaims struct {
	Subject              string   `json:"sub"`
	OrgID                string   `json:"oidc.circleci.com/org-id"`
	ProjectID            string   `json:"oidc.circleci.com/project-id"`
	PipelineDefinitionID string   `json:"oidc.circleci.com/pipeline-definition-id"`
	PipelineID           string   `json:"oidc.circleci.com/pipeline-id"`
	JobID                string   `json:"oidc.circleci.com/job-id"`
	VCSOrigin            string   `json:"oidc.circleci.com/vcs-origin"`
	VCSRef               string   `json:"oidc.circleci.com/vcs-ref"`
	ContextIDs           []string `json:"oidc.circleci.com/context-ids"`
	SSHRerun             bool     `json:"oidc.circleci.com/ssh-rerun"`
}

// Validate requires the organisation and project ids as UUIDs, and context ids of the same
// form.
func (c *CircleCIClaims) Validate() error {
	switch {
	case !uuid(c.OrgID):
		return errors.New("oidc.circleci.com/org-id is missing or not a UUID")
	case !uuid(c.ProjectID):
		return errors.New("oidc.circleci.com/project-id is missing or not a UUID")
	case c.PipelineDefinitionID != "" && !uuid(c.PipelineDefinitionID):
		return errors.New("oidc.circleci.com/pipeline-definition-id is not a UUID")
	case len(c.ContextIDs) > 64:
		return errors.New("oidc.circleci.com/context-ids lists more than 64 contexts")
	}
	for _, ctx := range c.ContextIDs {
		if !uuid(ctx) {
			return errors.New("oidc.circleci.com/context-ids holds a value that is not a UUID")
		}
	}
	return nil
}

// Identity is the normalized form of the claims.
func (c *CircleCIClaims) Identity() Identity {
	return Identity{
		Kind:        CircleCI,
		Repository:  c.OrgID + "/" + c.ProjectID,
		WorkflowRef: c.PipelineDefinitionID,
		Ref:         c.VCSRef,
		RunID:       c.PipelineID,
		RunAttempt:  c.JobID,
		Contexts:    c.ContextIDs,
		Interactive: c.SSHRerun,
	}
}
