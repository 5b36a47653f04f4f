package policy

import (
	"errors"
	"net/url"
	"strings"
)

// GitLabIssuer is gitlab.com's issuer.
const GitLabIssuer = "https://gitlab.com"

// gitlabPlatform is GitLab CI on gitlab.com or a self-managed instance.
var gitlabPlatform = Platform{
	Kind:          GitLab,
	Label:         "GitLab",
	DefaultIssuer: GitLabIssuer,
	IssuerHint:    "the instance URL, e.g. https://gitlab.com or https://gitlab.example.com",
	Algs:          []string{"RS256"},
	Fields: append([]Field{
		repositoryField("Project path (namespace/project)", "For example my-group/my-project; subgroups are allowed.", "NAMESPACE/PROJECT"),
		workflowField("CI configuration path", "For example .gitlab-ci.yml.", "PATH", true),
		environmentField("Environment (optional)", "If set, only jobs of this GitLab environment get tokens."),
		ownerIDField("Namespace id (optional)", "Numeric; left empty, it is pinned on first use."),
		repositoryIDField("Project id (optional)", "Numeric; left empty, it is pinned on first use."),
	}, refFields("GitLab", "ref_protected")...),
	Refs:              true,
	ProtectedRefs:     "ref_protected",
	OwnerIDLabel:      "namespace id",
	RepositoryIDLabel: "project id",
	NewClaims:         func() Claims { return new(GitLabClaims) },
	validate:          validateGitLab,
	match:             matchGitLab,
}

// maxGitLabPath is GitLab's limit on one path segment (a group, subgroup or project path).
const maxGitLabPath = 255

func validateGitLab(p Publisher, add func(field, msg string)) {
	if msg := gitlabNamespaceProblem(p.Owner); msg != "" {
		add(FieldOwner, msg)
	}
	switch {
	case p.Name == "":
		add(FieldName, "project name is required")
	case strings.Contains(p.Name, "/"):
		add(FieldName, "project name must be the last part of the path alone, without '/' (groups and subgroups go in the namespace)")
	default:
		if msg := gitlabPathProblem(p.Name); msg != "" {
			add(FieldName, "project name "+msg)
		}
	}
	if msg := gitlabConfigProblem(p.Workflow); msg != "" {
		add(FieldWorkflow, msg)
	}
}

func gitlabNamespaceProblem(s string) string {
	if s == "" {
		return "namespace is required: the group or user the project belongs to, e.g. my-group or my-group/subgroup"
	}
	for seg := range strings.SplitSeq(s, "/") {
		if seg == "" {
			return "namespace must be group and subgroup names separated by single '/', without a '/' at either end"
		}
		if msg := gitlabPathProblem(seg); msg != "" {
			return "namespace part '" + show(seg) + "' " + msg
		}
	}
	return ""
}

// gitlabPathProblem checks one segment against GitLab's path rules for groups, users and
// projects.
func gitlabPathProblem(s string) string {
	lower := strings.ToLower(s)
	switch {
	case len(s) > maxGitLabPath:
		return "must be at most 255 characters"
	case strings.ContainsFunc(s, func(r rune) bool { return !asciiAlnum(r) && !strings.ContainsRune("._-", r) }):
		return "may contain only letters, digits, '_', '-' and '.'"
	case s[0] == '-' || s[0] == '.':
		return "must not start with '-' or '.'"
	case strings.HasSuffix(s, "."):
		return "must not end with '.'"
	case strings.HasSuffix(lower, ".git") || strings.HasSuffix(lower, ".atom"):
		return "must not end with '.git' or '.atom'"
	}
	return ""
}

// gitlabConfigProblem checks a CI configuration path. GitLab writes it verbatim into
// ci_config_ref_uri between "//" and "@REF", so a path with '@' or '//' could not be found
// there again, and '.' or '..' segments would name the file in a second way.
func gitlabConfigProblem(s string) string {
	const form = "workflow must be the path of the CI configuration file in the repository ending in .yml or .yaml, e.g. .gitlab-ci.yml or ci/publish.yml"
	switch {
	case s == "":
		return "workflow is required: the path of the CI configuration file, e.g. .gitlab-ci.yml"
	case len(s) > maxWorkflow:
		return "workflow must be at most 255 characters"
	case strings.Contains(s, "@"):
		return "workflow must not contain '@': a configuration kept in another project or at a URL cannot be trusted, since the token does not say which file ran"
	case strings.HasPrefix(s, "/"):
		return "workflow must be relative to the repository root, without a leading '/'"
	case strings.Contains(s, "//"):
		return "workflow must not contain '//'"
	case strings.Contains(s, "\\"):
		return "workflow must use '/' between folders, not '\\'"
	case !printable(s):
		return "workflow must not contain control characters"
	case strings.TrimSpace(s) != s:
		return "workflow must not start or end with spaces"
	}
	for seg := range strings.SplitSeq(s, "/") {
		if seg == "." || seg == ".." {
			return "workflow must not contain '.' or '..' path segments"
		}
	}
	if base := s[strings.LastIndexByte(s, '/')+1:]; !yamlFile(base) {
		return form
	}
	return ""
}

// matchGitLab applies the GitLab rules to an identity of p's kind and issuer: the project
// path without case and its pinned ids, the pipeline definition's path and file from
// ci_config_ref_uri (so a fork's merge-request pipeline never matches the parent's
// publisher), ref_path and sha present, the environment exactly.
func matchGitLab(pl *Platform, p Publisher, id Identity) *Mismatch {
	repo := p.Repository()
	// project_path is the project the pipeline runs in. A fork's pipeline carries the
	// fork's path here whatever else it names, so this alone keeps forks out.
	if !equalFoldASCII(id.Repository, repo) {
		return mismatch("project path %s, publisher has %s", show(id.Repository), show(repo)).in("repository")
	}
	if m := matchPins(pl, p, id); m != nil {
		return m
	}
	if id.Ref == "" {
		return mismatch("token carries no ref_path").in("ref")
	}
	if id.SHA == "" {
		return mismatch("token carries no sha").in("ref")
	}
	// A merge request from a fork can have its pipeline run in this project (a maintainer
	// starts it, or the project allows it), with this project's path and ids but the
	// fork's code. Nothing in the token tells such a pipeline from a member's merge
	// request, so no merge-request pipeline publishes.
	// GitLab's pipelines for external (GitHub) pull requests carry the same risk.
	const why = "which may run a fork's code in this project; publish from a branch or tag pipeline"
	switch {
	case strings.HasPrefix(id.Ref, "refs/merge-requests/"):
		return mismatch("ref_path %s is a merge-request pipeline, %s", show(id.Ref), why).in("event")
	case id.EventName == "merge_request_event" || id.EventName == "external_pull_request_event":
		return mismatch("pipeline source %s is a merge- or pull-request pipeline, %s", show(id.EventName), why).in("event")
	}
	if m := matchGitLabConfig(p, id); m != nil {
		return m.in("workflow")
	}
	return matchEnvironment(p, id, func(a, b string) bool { return a == b }, " (GitLab environment names are case-sensitive)")
}

// matchGitLabConfig checks ci_config_ref_uri, "HOST/PROJECTPATH//CONFIGPATH@REF": the file
// that defined the pipeline, and where it came from.
func matchGitLabConfig(p Publisher, id Identity) *Mismatch {
	uri := id.WorkflowRef
	if uri == "" {
		return mismatch("token carries no ci_config_ref_uri: the pipeline definition lives in another project or outside the repository")
	}
	host, ok := configHost(p.Issuer)
	if !ok {
		return mismatch("publisher issuer %s is not a URL with a host", show(p.Issuer))
	}
	rest, ok := cutPrefixFoldASCII(uri, host+"/")
	if !ok {
		return mismatch("ci_config_ref_uri %s is not on the issuer's host %s", show(uri), show(host))
	}
	// Project paths never contain "//", and accepted configuration paths never contain '@'.
	project, rest, ok := strings.Cut(rest, "//")
	if !ok {
		return mismatch("ci_config_ref_uri %s is not of the form HOST/PROJECT//PATH@REF", show(uri))
	}
	if !equalFoldASCII(project, p.Repository()) {
		return mismatch("CI configuration comes from project %s, publisher has %s", show(project), show(p.Repository()))
	}
	config, ref, found := strings.Cut(rest, "@")
	if !found || ref == "" {
		return mismatch("ci_config_ref_uri %s has no @ref", show(uri))
	}
	if config != p.Workflow {
		return mismatch("CI configuration %s, publisher has %s", show(config), show(p.Workflow))
	}
	// The configuration must be the one of the commit that runs, not one read from some
	// other branch or tag.
	if ref != id.Ref && ref != id.SHA {
		return mismatch("CI configuration was read at %s, neither the pipeline's ref_path %s nor its sha", show(ref), show(id.Ref))
	}
	return nil
}

// configHost is what GitLab writes at the start of ci_config_ref_uri: the instance's host
// name, with the port only when it is not the scheme's default, followed by the relative
// URL root of an instance served below a path (https://host/gitlab).
func configHost(issuer string) (string, bool) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return "", false
	}
	host := u.Host
	if port := u.Port(); (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		host = strings.TrimSuffix(host, ":"+port)
	}
	return host + strings.TrimSuffix(u.Path, "/"), true
}

// cutPrefixFoldASCII is strings.CutPrefix with the prefix compared as equalFoldASCII does:
// host names and project paths have no case.
func cutPrefixFoldASCII(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !equalFoldASCII(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

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

// Identity is the normalized form of the claims.
func (c *GitLabClaims) Identity() Identity {
	return Identity{
		Kind:         GitLab,
		Repository:   c.ProjectPath,
		OwnerID:      c.NamespaceID,
		RepositoryID: c.ProjectID,
		WorkflowRef:  c.CIConfigRefURI,
		Environment:  c.Environment,
		Ref:          c.RefPath,
		RefProtected: c.RefProtected == "true",
		SHA:          c.SHA,
		EventName:    c.PipelineSource,
		RunID:        c.PipelineID,
		RunAttempt:   c.JobID,
		Actor:        c.UserLogin,
		Public:       c.ProjectVisibility == "public",
	}
}
