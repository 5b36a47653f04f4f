package providers

import (
	"errors"
	"fmt"

	"github.com/tpx-dev/tpx/policy"
)

// GitLabClaims are the claims of a GitLab CI id_token that tpx reads. GitLab sends ids as
// JSON strings; ci_config_ref_uri and ci_config_sha are null when the pipeline
// definition lives in another project, which decodes to "".
type GitLabClaims struct {
	Subject              string `json:"sub"`
	NamespaceID          string `json:"namespace_id"`
	NamespacePath        string `json:"namespace_path"`
	ProjectID            string `json:"project_id"`
	ProjectPath          string `json:"project_path"`
	ProjectVisibility    string `json:"project_visibility"`
	UserID               string `json:"user_id"`
	UserLogin            string `json:"user_login"`
	UserAccessLevel      string `json:"user_access_level"`
	PipelineID           string `json:"pipeline_id"`
	PipelineSource       string `json:"pipeline_source"`
	JobID                string `json:"job_id"`
	Ref                  string `json:"ref"`
	RefType              string `json:"ref_type"`
	RefPath              string `json:"ref_path"`
	RefProtected         string `json:"ref_protected"`
	Environment          string `json:"environment"`
	EnvironmentProtected string `json:"environment_protected"`
	DeploymentTier       string `json:"deployment_tier"`
	SHA                  string `json:"sha"`
	// CIConfigRefURI is "host/group/project//path/to/.gitlab-ci.yml@ref": what
	// publishers match.
	CIConfigRefURI    string `json:"ci_config_ref_uri"`
	CIConfigSHA       string `json:"ci_config_sha"`
	RunnerEnvironment string `json:"runner_environment"`
}

// Validate requires what matching depends on: the project path, the numeric namespace and
// project ids, the ref path and commit, and the pipeline source.
func (c *GitLabClaims) Validate() error {
	if err := ownerSlashName("project_path", c.ProjectPath, true); err != nil {
		return err
	}
	if err := numericID("namespace_id", c.NamespaceID); err != nil {
		return err
	}
	if err := numericID("project_id", c.ProjectID); err != nil {
		return err
	}
	switch {
	case c.RefPath == "":
		return errors.New("ref_path is missing")
	case c.SHA == "":
		return errors.New("sha is missing")
	case c.PipelineSource == "":
		return errors.New("pipeline_source is missing")
	}
	return nil
}

// Identity is the normalized form of the claims, as policy reads it; the caller adds the
// issuer, jti and times.
func (c *GitLabClaims) Identity() policy.Identity {
	return policy.Identity{
		Kind:         policy.GitLab,
		Repository:   c.ProjectPath,
		OwnerID:      c.NamespaceID,
		RepositoryID: c.ProjectID,
		WorkflowRef:  c.CIConfigRefURI,
		Environment:  c.Environment,
		Ref:          c.RefPath,
		SHA:          c.SHA,
		EventName:    c.PipelineSource,
		RunID:        c.PipelineID,
		RunAttempt:   c.JobID,
		Actor:        c.UserLogin,
	}
}

func gitlabIdentity(payload []byte, id *policy.Identity) error {
	var c GitLabClaims
	if err := decodeClaims(payload, &c); err != nil {
		return err
	}
	if err := c.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	fill(id, c.Identity())
	return nil
}
