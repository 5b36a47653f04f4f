package policy

import (
	"errors"
	"strings"
)

// GitHubIssuer is the issuer of github.com's Actions tokens.
const GitHubIssuer = "https://token.actions.githubusercontent.com"

// githubPlatform is GitHub Actions: github.com, GHE.com and GitHub Enterprise Server.
var githubPlatform = Platform{
	Kind:          GitHub,
	Label:         "GitHub",
	DefaultIssuer: GitHubIssuer,
	IssuerHint: "github.com https://token.actions.githubusercontent.com, GHE.com https://token.actions.SUB.ghe.com, " +
		"an enterprise slug https://token.actions.githubusercontent.com/SLUG, GHES https://HOST/_services/token",
	Algs: []string{"RS256"},
	Fields: append([]Field{
		repositoryField("Repository (owner/name)", "For example octo-org/sampleproject.", "OWNER/REPO"),
		workflowField("Workflow file name", "The file in .github/workflows, for example release.yml.", "FILE", true),
		environmentField("Environment (optional)", "If set, only jobs that run in this GitHub environment get tokens."),
		ownerIDField("Owner id (optional)", "Numeric; left empty, it is pinned on first use."),
		repositoryIDField("Repository id (optional)", "Numeric; left empty, it is pinned on first use."),
		calledWorkflowField("Called workflow (optional)",
			"If set, the job must run this reusable workflow: OWNER/REPO/.github/workflows/FILE, optionally @REF or @refs/tags/v*."),
	}, refFields("GitHub", "ref_protected")...),
	Refs:              true,
	ProtectedRefs:     "ref_protected",
	CalledWorkflows:   true,
	OwnerIDLabel:      "owner id",
	RepositoryIDLabel: "repository id",
	NewClaims:         func() Claims { return new(GitHubClaims) },
	validate:          validateGitHub,
	match:             matchGitHub,
}

// GitHub's limits on names (its sign-up and new-repository forms).
const (
	maxGitHubOwner = 39
	maxGitHubRepo  = 100
)

// githubWorkflowDir is where GitHub runs workflows from. workflow_ref names the file by its
// path from the repository root; owners name it by its file name alone.
const githubWorkflowDir = ".github/workflows/"

func validateGitHub(p Publisher, add func(field, msg string)) {
	if msg := githubOwnerProblem(p.Owner); msg != "" {
		add(FieldOwner, "owner "+msg)
	}
	if msg := githubRepoProblem(p.Name); msg != "" {
		add(FieldName, "repository name "+msg)
	}
	if msg := githubWorkflowProblem(p.Workflow); msg != "" {
		add(FieldWorkflow, msg)
	}
	if msg := calledWorkflowProblem(p.CalledWorkflow, githubWorkflowDirs); msg != "" {
		add(FieldCalledWorkflow, msg)
	}
}

func githubOwnerProblem(s string) string {
	switch {
	case s == "":
		return "is required"
	case strings.Contains(s, "/"):
		return "must be the user or organization name alone, without '/' (the repository name goes in its own field)"
	case len(s) > maxGitHubOwner:
		return "must be at most 39 characters"
	case strings.ContainsFunc(s, func(r rune) bool { return !asciiAlnum(r) && r != '-' }):
		return "may contain only letters, digits and hyphens"
	case s[0] == '-' || s[len(s)-1] == '-':
		return "must not start or end with a hyphen"
	case strings.Contains(s, "--"):
		return "must not contain two hyphens in a row"
	}
	return ""
}

func githubRepoProblem(s string) string {
	switch {
	case s == "":
		return "is required"
	case strings.Contains(s, "/"):
		return "must be the name alone, without the owner or '/'"
	case len(s) > maxGitHubRepo:
		return "must be at most 100 characters"
	case strings.ContainsFunc(s, func(r rune) bool { return !asciiAlnum(r) && !strings.ContainsRune("._-", r) }):
		return "may contain only letters, digits, '.', '-' and '_'"
	case s == "." || s == "..":
		return "must not be '.' or '..'"
	}
	return ""
}

func githubWorkflowProblem(s string) string {
	const form = "workflow must be a file name ending in .yml or .yaml, without '/'"
	switch {
	case s == "":
		return "workflow is required: the file name of the workflow in .github/workflows, e.g. release.yml"
	case strings.HasPrefix(s, githubWorkflowDir) || strings.HasPrefix(s, "/"+githubWorkflowDir):
		return "workflow must be the file name alone, e.g. release.yml, without .github/workflows/"
	case strings.ContainsAny(s, "/\\"):
		// GitHub runs no workflow from a sub-folder of .github/workflows.
		return form
	case len(s) > maxWorkflow:
		return "workflow must be at most 255 characters"
	case strings.HasPrefix(s, "."):
		return "workflow must not start with '.'"
	case !yamlFile(s):
		return form
	case strings.Contains(s, "@"):
		// '@' separates the file from the ref in workflow_ref.
		return "workflow must not contain '@'"
	case !printable(s) || strings.TrimSpace(s) != s:
		return "workflow must not contain control characters or start or end with spaces"
	}
	return ""
}

// matchGitHub applies the GitHub rules to an identity of p's kind and issuer: the
// repository without case and its pinned ids, never pull_request_target or workflow_run,
// the workflow file the run started from exactly (workflow_ref, never sub) and any called
// workflow pinned, the environment without case (ASCII letters only).
func matchGitHub(pl *Platform, p Publisher, id Identity) *Mismatch {
	if m := matchRepositoryAndEvent(pl, p, id); m != nil {
		return m
	}
	if m := matchWorkflowFile(p, id, githubWorkflowDirs); m != nil {
		return m.in("workflow")
	}
	if m := matchCalledWorkflow(p, id); m != nil {
		return m.in("workflow")
	}
	// GitHub treats environment names without case. Only ASCII letters are folded: full
	// Unicode folding would also equate look-alikes (the Kelvin sign and 'k') that GitHub
	// may keep apart as environments with different protection rules.
	return matchEnvironment(p, id, equalFoldASCII, "")
}

// matchRepositoryAndEvent checks what comes before the workflow on GitHub and on the
// platforms shaped like it (Forgejo): the repository without case, the pinned ids, and no
// event that runs trusted code for a fork.
func matchRepositoryAndEvent(pl *Platform, p Publisher, id Identity) *Mismatch {
	repo := p.Repository()
	if !equalFoldASCII(id.Repository, repo) {
		return mismatch("repository %s, publisher has %s", show(id.Repository), show(repo)).in("repository")
	}
	if m := matchPins(pl, p, id); m != nil {
		return m
	}
	// Both events run trusted workflow code with the repository's secrets and id-token
	// permission on behalf of something a stranger controls: pull_request_target is
	// triggered by pull requests from forks, workflow_run by workflows that forks can start.
	switch {
	case strings.EqualFold(id.EventName, "pull_request_target"):
		return mismatch("event pull_request_target is never trusted: it runs for pull requests from forks with this repository's privileges").in("event")
	case strings.EqualFold(id.EventName, "workflow_run"):
		return mismatch("event workflow_run is never trusted: it runs with this repository's privileges after workflows that forks can trigger").in("event")
	}
	return nil
}

// matchWorkflowFile checks workflow_ref, the workflow the run started from: it must be
// the publisher's file, in the first of dirs it is in, in the job's own repository, read
// at the job's ref or commit.
func matchWorkflowFile(p Publisher, id Identity, dirs []string) *Mismatch {
	if id.WorkflowRef == "" {
		return mismatch("token carries no workflow_ref")
	}
	w, m := parseWorkflowRef("workflow_ref", id.WorkflowRef, dirs[0])
	if m != nil {
		return m
	}
	// The workflow must live in the repository the job runs in; a workflow_ref naming
	// another repository with our file name proves nothing about ours.
	if !equalFoldASCII(w.repository, id.Repository) {
		return mismatch("workflow_ref %s is a workflow of repository %s, not of %s", show(id.WorkflowRef), show(w.repository), show(id.Repository))
	}
	file, ok := cutDir(w.path, dirs)
	if !ok {
		return mismatch("workflow_ref %s is not in %s", show(id.WorkflowRef), strings.Join(dirs, " or "))
	}
	if file != p.Workflow {
		return mismatch("workflow %s, publisher has %s%s", show(file), show(p.Workflow), calledNote(id))
	}
	// The file must be the one of the commit that runs: a ref that differs from the job's
	// could only come from a file name that hides an '@' GitHub never wrote.
	if w.ref != id.Ref && w.ref != id.SHA {
		return mismatch("workflow_ref %s was read at %s, neither the job's ref %s nor its sha", show(id.WorkflowRef), show(w.ref), show(id.Ref))
	}
	return nil
}

// cutDir returns path without the first of dirs it starts with.
func cutDir(path string, dirs []string) (string, bool) {
	for _, d := range dirs {
		if f, ok := strings.CutPrefix(path, d); ok {
			return f, true
		}
	}
	return "", false
}

// calledNote names the reusable workflow a job ran when it is not the caller itself, so
// that a reason shows what actually ran.
func calledNote(id Identity) string {
	if id.JobWorkflowRef == "" || id.JobWorkflowRef == id.WorkflowRef {
		return ""
	}
	return " (the job ran the called workflow " + show(id.JobWorkflowRef) + ")"
}

// githubWorkflowDirs are where GitHub runs workflows from.
var githubWorkflowDirs = []string{githubWorkflowDir}

// workflowRef is a parsed workflow_ref or job_workflow_ref: the repository, the path of
// the file in it, and the ref it was read at.
type workflowRef struct{ repository, path, ref string }

// parseWorkflowRef reads "OWNER/REPO/PATH@REF" as GitHub writes it. A file name may itself
// contain '@', so the ref follows the last '@' whose left part ends in a .yml or .yaml file
// name: "release.yml@evil.yml@refs/heads/x" is the file release.yml@evil.yml at
// refs/heads/x, never release.yml.
func parseWorkflowRef(claim, v, dir string) (workflowRef, *Mismatch) {
	path, ref := "", ""
	for i := strings.LastIndexByte(v, '@'); i >= 0; i = strings.LastIndexByte(v[:i], '@') {
		if yamlFile(v[:i]) {
			path, ref = v[:i], v[i+1:]
			break
		}
	}
	form := func() *Mismatch {
		return mismatch("%s %s is not of the form OWNER/REPO/%sFILE@REF", claim, show(v), dir)
	}
	switch {
	case path == "" && strings.Contains(v, "@") && !strings.HasSuffix(v, "@"):
		return workflowRef{}, form()
	case path == "" || ref == "":
		return workflowRef{}, mismatch("%s %s has no @ref", claim, show(v))
	}
	owner, rest, _ := strings.Cut(path, "/")
	name, file, ok := strings.Cut(rest, "/")
	if !ok {
		return workflowRef{}, form()
	}
	return workflowRef{repository: owner + "/" + name, path: file, ref: ref}, nil
}

// matchCalledWorkflow checks the reusable workflow the job runs (job_workflow_ref) against
// the publisher's pin "OWNER/REPO/DIR/FILE[@PATTERN]". Without a pin any called workflow
// may run: the caller, which the owner trusts, chose it.
func matchCalledWorkflow(p Publisher, id Identity) *Mismatch {
	if p.CalledWorkflow == "" {
		return nil
	}
	if id.JobWorkflowRef == "" {
		return mismatch("token carries no job_workflow_ref, publisher requires the called workflow %s", show(p.CalledWorkflow))
	}
	w, m := parseWorkflowRef("job_workflow_ref", id.JobWorkflowRef, githubWorkflowDir)
	if m != nil {
		return m
	}
	pin, pattern, _ := strings.Cut(p.CalledWorkflow, "@")
	owner, rest, _ := strings.Cut(pin, "/")
	name, path, _ := strings.Cut(rest, "/")
	if !equalFoldASCII(w.repository, owner+"/"+name) || w.path != path {
		return mismatch("the job ran the called workflow %s, publisher requires %s", show(id.JobWorkflowRef), show(p.CalledWorkflow))
	}
	if pattern != "" && pattern != w.ref && !globMatch(pattern, w.ref) {
		return mismatch("the called workflow %s was read at %s, which does not match %s", show(id.JobWorkflowRef), show(w.ref), show(pattern))
	}
	return nil
}

// calledWorkflowProblem checks a called-workflow pin as an owner typed it.
func calledWorkflowProblem(s string, dirs []string) string {
	form := "called workflow must be OWNER/REPO/" + dirs[0] + "FILE, optionally followed by @REF (a ref, a pattern such as refs/tags/v* or a commit sha)"
	if s == "" {
		return ""
	}
	if len(s) > 2*maxWorkflow {
		return "called workflow must be at most 510 characters"
	}
	pin, pattern, hasRef := strings.Cut(s, "@")
	owner, rest, _ := strings.Cut(pin, "/")
	name, path, ok := strings.Cut(rest, "/")
	if !ok || githubOwnerProblem(owner) != "" || githubRepoProblem(name) != "" {
		return form
	}
	file, ok := cutDir(path, dirs)
	if !ok || githubWorkflowProblem(file) != "" {
		return form
	}
	if hasRef && !commitSHA(pattern) && (pattern == "" || refPatternProblem(pattern) != "") {
		return form
	}
	return ""
}

// commitSHA reports whether s is a full hexadecimal commit id (SHA-1 or SHA-256).
func commitSHA(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	return strings.Trim(s, "0123456789abcdef") == ""
}

func asciiAlnum(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
}

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
	// RefProtected is "true" when protections or rulesets are active on the ref.
	RefProtected      string `json:"ref_protected"`
	SHA               string `json:"sha"`
	EventName         string `json:"event_name"`
	RunID             string `json:"run_id"`
	RunNumber         string `json:"run_number"`
	RunAttempt        string `json:"run_attempt"`
	RunnerEnvironment string `json:"runner_environment"`
	Workflow          string `json:"workflow"`
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
	return requireGitHubShaped(c.Repository, c.RepositoryOwnerID, c.RepositoryID, c.WorkflowRef, c.EventName)
}

// requireGitHubShaped requires the claims GitHub's rules read, on GitHub and on the
// platforms shaped like it (Forgejo).
func requireGitHubShaped(repository, ownerID, repositoryID, workflowRef, eventName string) error {
	if err := ownerSlashName("repository", repository, false); err != nil {
		return err
	}
	if err := numericID("repository_owner_id", ownerID); err != nil {
		return err
	}
	if err := numericID("repository_id", repositoryID); err != nil {
		return err
	}
	if workflowRef == "" {
		return errors.New("workflow_ref is missing")
	}
	if eventName == "" {
		return errors.New("event_name is missing")
	}
	return nil
}

// Identity is the normalized form of the claims.
func (c *GitHubClaims) Identity() Identity {
	return Identity{
		Kind:           GitHub,
		Repository:     c.Repository,
		OwnerID:        c.RepositoryOwnerID,
		RepositoryID:   c.RepositoryID,
		WorkflowRef:    c.WorkflowRef,
		JobWorkflowRef: c.JobWorkflowRef,
		Environment:    c.Environment,
		Ref:            c.Ref,
		RefProtected:   c.RefProtected == "true",
		SHA:            c.SHA,
		EventName:      c.EventName,
		RunID:          c.RunID,
		RunAttempt:     c.RunAttempt,
		Actor:          c.Actor,
		Public:         c.RepositoryVisibility == "public",
	}
}
