package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// forgejoPlatform is Forgejo Actions, Codeberg's among them. Each instance is its own
// issuer, https://HOST/api/actions, listed by the operator in TPX_CONFIG; a publisher is
// bound to one of them, so a repository of the same name on another instance never
// matches. Tokens are shaped like GitHub's, with Forgejo's own numeric ids, which are
// pinned on first use.
var forgejoPlatform = Platform{
	Kind:       Forgejo,
	Label:      "Forgejo",
	IssuerHint: "https://HOST/api/actions, e.g. https://codeberg.org/api/actions",
	Algs:       []string{"RS256"},
	Fields: append([]Field{
		repositoryField("Repository (owner/name)", "For example my-org/my-project.", "OWNER/REPO"),
		workflowField("Workflow file name", "The file in .forgejo/workflows (or .github/workflows), for example release.yml.", "FILE", true),
		environmentField("Environment (optional)", "If set, only jobs that run in this environment get tokens."),
		ownerIDField("Owner id (optional)", "Numeric; left empty, it is pinned on first use."),
		repositoryIDField("Repository id (optional)", "Numeric; left empty, it is pinned on first use."),
	}, refFields("Forgejo", "")...),
	Refs:              true,
	OwnerIDLabel:      "owner id",
	RepositoryIDLabel: "repository id",
	NewClaims:         func() Claims { return new(ForgejoClaims) },
	validate:          validateForgejo,
	match:             matchForgejo,
}

// forgejoWorkflowDirs are where Forgejo runs workflows from, the first when it exists.
var forgejoWorkflowDirs = []string{".forgejo/workflows/", ".github/workflows/"}

func validateForgejo(p Publisher, add func(field, msg string)) {
	// Forgejo's user and repository names follow GitHub's rules closely enough that the
	// same checks keep what could never match out.
	if msg := githubOwnerProblem(p.Owner); msg != "" {
		add(FieldOwner, "owner "+msg)
	}
	if msg := githubRepoProblem(p.Name); msg != "" {
		add(FieldName, "repository name "+msg)
	}
	if msg := githubWorkflowProblem(p.Workflow); msg != "" {
		add(FieldWorkflow, strings.ReplaceAll(msg, ".github/workflows", ".forgejo/workflows"))
	}
}

// matchForgejo applies GitHub's rules: repository without case, pinned ids, no event that
// runs trusted code for a fork, the caller workflow read at the job's ref, the environment.
func matchForgejo(pl *Platform, p Publisher, id Identity) *Mismatch {
	if !equalFoldASCII(id.Repository, p.Repository()) {
		return mismatch("repository %s, publisher has %s", show(id.Repository), show(p.Repository())).in("repository")
	}
	if m := matchPins(pl, p, id); m != nil {
		return m
	}
	switch {
	case strings.EqualFold(id.EventName, "pull_request_target"):
		return mismatch("event pull_request_target is never trusted: it runs for pull requests from forks with this repository's privileges").in("event")
	case strings.EqualFold(id.EventName, "workflow_run"):
		return mismatch("event workflow_run is never trusted: it runs with this repository's privileges after workflows that forks can trigger").in("event")
	}
	if id.WorkflowRef == "" {
		return mismatch("token carries no workflow_ref").in("workflow")
	}
	w, m := parseWorkflowRef("workflow_ref", id.WorkflowRef, forgejoWorkflowDirs[0])
	if m != nil {
		return m.in("workflow")
	}
	if !equalFoldASCII(w.repository, id.Repository) {
		return mismatch("workflow_ref %s is a workflow of repository %s, not of %s", show(id.WorkflowRef), show(w.repository), show(id.Repository)).in("workflow")
	}
	file, ok := cutDir(w.path, forgejoWorkflowDirs)
	switch {
	case !ok:
		return mismatch("workflow_ref %s is not in %s", show(id.WorkflowRef), strings.Join(forgejoWorkflowDirs, " or ")).in("workflow")
	case file != p.Workflow:
		return mismatch("workflow %s, publisher has %s", show(file), show(p.Workflow)).in("workflow")
	case w.ref != id.Ref && w.ref != id.SHA:
		return mismatch("workflow_ref %s was read at %s, neither the job's ref %s nor its sha", show(id.WorkflowRef), show(w.ref), show(id.Ref)).in("workflow")
	}
	return matchEnvironment(p, id, equalFoldASCII, "")
}

// flexID is a numeric id sent as a JSON string or a JSON integer; the documentation shows
// GitHub's string form, and a number is read as the same decimal text.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexID(s)
		return nil
	}
	var n json.Number
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&n); err != nil || strings.ContainsAny(string(n), ".eE-+") {
		return errors.New("an id must be a JSON string or integer")
	}
	*f = flexID(n)
	return nil
}

// ForgejoClaims are the claims of a Forgejo Actions ID token that tpx reads.
type ForgejoClaims struct {
	Subject              string `json:"sub"`
	Repository           string `json:"repository"`
	RepositoryOwner      string `json:"repository_owner"`
	RepositoryID         flexID `json:"repository_id"`
	RepositoryOwnerID    flexID `json:"repository_owner_id"`
	RepositoryVisibility string `json:"repository_visibility"`
	Actor                string `json:"actor"`
	Environment          string `json:"environment"`
	Ref                  string `json:"ref"`
	RefType              string `json:"ref_type"`
	SHA                  string `json:"sha"`
	EventName            string `json:"event_name"`
	RunID                flexID `json:"run_id"`
	RunNumber            flexID `json:"run_number"`
	RunAttempt           flexID `json:"run_attempt"`
	Workflow             string `json:"workflow"`
	WorkflowRef          string `json:"workflow_ref"`
}

// Validate requires what matching depends on, as for GitHub.
func (c *ForgejoClaims) Validate() error {
	if err := ownerSlashName("repository", c.Repository, false); err != nil {
		return err
	}
	if err := numericID("repository_owner_id", string(c.RepositoryOwnerID)); err != nil {
		return err
	}
	if err := numericID("repository_id", string(c.RepositoryID)); err != nil {
		return err
	}
	switch {
	case c.WorkflowRef == "":
		return errors.New("workflow_ref is missing")
	case c.EventName == "":
		return errors.New("event_name is missing")
	case c.Ref == "":
		return errors.New("ref is missing")
	}
	return nil
}

// Identity is the normalized form of the claims. A repository counts as public only when
// the token says so.
func (c *ForgejoClaims) Identity() Identity {
	return Identity{
		Kind:         Forgejo,
		Repository:   c.Repository,
		OwnerID:      string(c.RepositoryOwnerID),
		RepositoryID: string(c.RepositoryID),
		WorkflowRef:  c.WorkflowRef,
		Environment:  c.Environment,
		Ref:          c.Ref,
		SHA:          c.SHA,
		EventName:    c.EventName,
		RunID:        string(c.RunID),
		RunAttempt:   string(c.RunAttempt),
		Actor:        c.Actor,
		Public:       c.RepositoryVisibility == "public",
	}
}
