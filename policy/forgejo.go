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
// runs trusted code for a fork, the caller workflow (in .forgejo/workflows or
// .github/workflows) read at the job's ref, the environment without case.
func matchForgejo(pl *Platform, p Publisher, id Identity) *Mismatch {
	if m := matchRepositoryAndEvent(pl, p, id); m != nil {
		return m
	}
	if m := matchWorkflowFile(p, id, forgejoWorkflowDirs); m != nil {
		return m.in("workflow")
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

// Validate requires what matching depends on, as for GitHub, and the ref the workflow
// must have been read at.
func (c *ForgejoClaims) Validate() error {
	if err := requireGitHubShaped(c.Repository, string(c.RepositoryOwnerID), string(c.RepositoryID), c.WorkflowRef, c.EventName); err != nil {
		return err
	}
	if c.Ref == "" {
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
