package providers

import (
	"errors"
	"fmt"

	"github.com/tpx-dev/tpx/policy"
)

// GitHubClaims are the claims of a GitHub Actions ID token that tpx reads. GitHub sends
// every one of them, ids and counters included, as a JSON string; a token that sends
// another type is refused rather than guessed at.
type GitHubClaims struct {
	// Subject is informational only: its format is customizable per repository and
	// changed in 2026, so nothing may match on it.
	Subject              string `json:"sub"`
	Repository           string `json:"repository"`
	RepositoryOwner      string `json:"repository_owner"`
	RepositoryID         string `json:"repository_id"`
	RepositoryOwnerID    string `json:"repository_owner_id"`
	RepositoryVisibility string `json:"repository_visibility"`
	Actor                string `json:"actor"`
	ActorID              string `json:"actor_id"`
	Environment          string `json:"environment"`
	Ref                  string `json:"ref"`
	RefType              string `json:"ref_type"`
	SHA                  string `json:"sha"`
	EventName            string `json:"event_name"`
	RunID                string `json:"run_id"`
	RunNumber            string `json:"run_number"`
	RunAttempt           string `json:"run_attempt"`
	RunnerEnvironment    string `json:"runner_environment"`
	Workflow             string `json:"workflow"`
	// WorkflowRef is the caller workflow, "owner/repo/.github/workflows/f.yml@ref":
	// what publishers match.
	WorkflowRef string `json:"workflow_ref"`
	WorkflowSHA string `json:"workflow_sha"`
	// JobWorkflowRef is the reusable workflow running the job, if any.
	JobWorkflowRef string `json:"job_workflow_ref"`
	JobWorkflowSHA string `json:"job_workflow_sha"`
	HeadRef        string `json:"head_ref"`
	BaseRef        string `json:"base_ref"`
	Enterprise     string `json:"enterprise"`
	EnterpriseID   string `json:"enterprise_id"`
}

// Validate requires what matching depends on: the repository as owner/name, the numeric
// owner and repository ids (names can be resurrected, ids cannot), the caller workflow and
// the event (some events are refused by policy).
func (c *GitHubClaims) Validate() error {
	if err := ownerSlashName("repository", c.Repository, false); err != nil {
		return err
	}
	if err := numericID("repository_owner_id", c.RepositoryOwnerID); err != nil {
		return err
	}
	if err := numericID("repository_id", c.RepositoryID); err != nil {
		return err
	}
	if c.WorkflowRef == "" {
		return errors.New("workflow_ref is missing")
	}
	if c.EventName == "" {
		return errors.New("event_name is missing")
	}
	return nil
}

// Identity is the normalized form of the claims, as policy reads it; the caller adds the
// issuer, jti and times.
func (c *GitHubClaims) Identity() policy.Identity {
	return policy.Identity{
		Kind:           policy.GitHub,
		Repository:     c.Repository,
		OwnerID:        c.RepositoryOwnerID,
		RepositoryID:   c.RepositoryID,
		WorkflowRef:    c.WorkflowRef,
		JobWorkflowRef: c.JobWorkflowRef,
		Environment:    c.Environment,
		Ref:            c.Ref,
		SHA:            c.SHA,
		EventName:      c.EventName,
		RunID:          c.RunID,
		RunAttempt:     c.RunAttempt,
		Actor:          c.Actor,
	}
}

func githubIdentity(payload []byte, id *policy.Identity) error {
	var c GitHubClaims
	if err := decodeClaims(payload, &c); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	fill(id, c.Identity())
	return nil
}
