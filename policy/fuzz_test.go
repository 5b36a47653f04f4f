package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzValidate checks that Validate never panics, that it answers only with well-formed
// *ValidationErrors, and that whatever it accepts can be matched: a publisher that passes
// validation but could never match its own repository would fail the owner silently.
func FuzzValidate(f *testing.F) {
	for _, p := range []Publisher{
		githubPublisher(),
		gitlabPublisher(),
		{Kind: GitLab, Issuer: "https://gitlab.example.com:8443", Owner: "a/b/c", Name: "d", Workflow: "ci/x.yaml"},
		{Kind: GitHub, Issuer: "http://localhost", Owner: "a", Name: ".", Workflow: "x.yml"},
		{Kind: GitHub, Issuer: "https://x/", Owner: "a--b", Name: "r", Workflow: ".github/workflows/x.yml", OwnerID: "01"},
		{Kind: GitLab, Issuer: "https://gitlab.com", Owner: "g//h", Name: "p.git", Workflow: "a/../b.yml@x", Environment: " "},
		{Kind: "svn"},
		{},
	} {
		f.Add(string(p.Kind), p.Issuer, p.Owner, p.Name, p.Workflow, p.Environment, p.OwnerID, p.RepositoryID)
	}
	fields := []string{FieldKind, FieldIssuer, FieldOwner, FieldName, FieldWorkflow, FieldEnvironment, FieldOwnerID, FieldRepositoryID}
	f.Fuzz(func(t *testing.T, kind, issuer, owner, name, workflow, environment, ownerID, repositoryID string) {
		p := Publisher{Kind: Kind(kind), Issuer: issuer, Owner: owner, Name: name, Workflow: workflow,
			Environment: environment, OwnerID: ownerID, RepositoryID: repositoryID}
		err := Validate(p)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) || len(ve.Fields) == 0 || err.Error() == "" {
				t.Fatalf("Validate(%+v) = %T %v, want a non-empty *ValidationError", p, err, err)
			}
			for _, fe := range ve.Fields {
				if !slices.Contains(fields, fe.Field) || fe.Message == "" || !printable(fe.Message) {
					t.Fatalf("Validate(%+v): bad field error %+v", p, fe)
				}
			}
			return
		}
		id := ownIdentity(t, p)
		if err := Match(p, id); err != nil {
			t.Fatalf("valid publisher %+v does not match its own repository's token %+v: %v", p, id, err)
		}
		id.Repository = strings.ToUpper(id.Repository)
		if err := Match(p, id); err != nil {
			t.Fatalf("valid publisher %+v does not match its repository in upper case: %v", p, err)
		}
		if w := JobWorkflow(id); w != p.Workflow {
			t.Fatalf("JobWorkflow = %q for a job running %q: the store would not read the publisher", w, p.Workflow)
		}
		if RepositoryKey(id.Repository) != p.Key() {
			t.Fatalf("keys differ for %q and %q: the store would not find the publisher", id.Repository, p.Repository())
		}
	})
}

// ownIdentity is the identity a job in p's own repository, running p's workflow in p's
// environment, would present.
func ownIdentity(t *testing.T, p Publisher) Identity {
	id := Identity{Kind: p.Kind, Issuer: p.Issuer, Repository: p.Repository(), OwnerID: p.OwnerID,
		RepositoryID: p.RepositoryID, Environment: p.Environment, Ref: "refs/heads/main", SHA: "0a1b2c", EventName: "push"}
	switch p.Kind {
	case GitHub:
		id.WorkflowRef = p.Repository() + "/.github/workflows/" + p.Workflow + "@refs/heads/main"
	case GitLab:
		host, ok := configHost(p.Issuer)
		if !ok {
			t.Fatalf("valid issuer %q has no host", p.Issuer)
		}
		id.WorkflowRef = host + "/" + p.Repository() + "//" + p.Workflow + "@refs/heads/main"
	}
	return id
}

// FuzzMatch checks that Match never panics, that its reasons are printable sentences (they
// go to logs), and that whatever it accepts is consistent with the rules every caller
// relies on: same kind and issuer, a repository the store's index finds, an environment
// when one is required.
func FuzzMatch(f *testing.F) {
	type seed struct {
		p  Publisher
		id Identity
	}
	gh, ghID := githubPublisher(), githubIdentity()
	gl, glID := gitlabPublisher(), gitlabIdentity()
	evil := ghID
	evil.Repository, evil.WorkflowRef = "octo-org/octo-repo-evil", "evil/octo-repo/.github/workflows/release.yml@refs/heads/main"
	fork := glID
	fork.Repository, fork.Ref = "contributor/my-project", "refs/merge-requests/1/head"
	mr := glID
	mr.Ref = "refs/merge-requests/1/head"
	odd := glID
	odd.WorkflowRef, odd.Environment = "gitlab.com/my-group/my-project//@\x00", "\xff"
	unpinned := gh
	unpinned.OwnerID, unpinned.RepositoryID = "", ""
	for _, s := range []seed{{gh, ghID}, {gl, glID}, {gh, evil}, {gl, fork}, {gl, mr}, {gl, odd}, {unpinned, ghID}, {gh, glID}, {}} {
		f.Add(string(s.p.Kind), s.p.Issuer, s.p.Owner, s.p.Name, s.p.Workflow, s.p.Environment, s.p.OwnerID, s.p.RepositoryID,
			string(s.id.Kind), s.id.Issuer, s.id.Repository, s.id.OwnerID, s.id.RepositoryID, s.id.WorkflowRef,
			s.id.Environment, s.id.Ref, s.id.SHA, s.id.EventName)
	}
	f.Fuzz(func(t *testing.T, pKind, pIssuer, pOwner, pName, pWorkflow, pEnvironment, pOwnerID, pRepositoryID,
		kind, issuer, repository, ownerID, repositoryID, workflowRef, environment, ref, sha, event string) {
		p := Publisher{Kind: Kind(pKind), Issuer: pIssuer, Owner: pOwner, Name: pName, Workflow: pWorkflow,
			Environment: pEnvironment, OwnerID: pOwnerID, RepositoryID: pRepositoryID}
		id := Identity{Kind: Kind(kind), Issuer: issuer, Repository: repository, OwnerID: ownerID,
			RepositoryID: repositoryID, WorkflowRef: workflowRef, Environment: environment, Ref: ref, SHA: sha, EventName: event}
		err := Match(p, id)
		owner, repo, needed := Pins(p, id)
		if err != nil {
			var m *Mismatch
			if !errors.As(err, &m) || m.Reason == "" || !printable(m.Reason) || !slices.Contains(rules, m.Rule) {
				t.Fatalf("Match = %T %q (rule %q), want a *Mismatch with a printable reason and a known rule", err, err, m.Rule)
			}
			if needed || owner != p.OwnerID || repo != p.RepositoryID {
				t.Fatalf("Pins of a mismatch = (%q, %q, %v), want p's ids unchanged", owner, repo, needed)
			}
			return
		}
		switch {
		case id.Kind != p.Kind || id.Issuer != p.Issuer || p.Issuer == "":
			t.Fatalf("matched across kinds or issuers: %+v %+v", p, id)
		case RepositoryKey(id.Repository) != p.Key():
			t.Fatalf("matched %q for %q, which the store's index would not find", id.Repository, p.Repository())
		case p.Environment != "" && id.Environment == "":
			t.Fatalf("matched a job without environment for %+v", p)
		case p.OwnerID != "" && id.OwnerID != p.OwnerID, p.RepositoryID != "" && id.RepositoryID != p.RepositoryID:
			t.Fatalf("matched other ids than the pinned ones: %+v %+v", p, id)
		case id.WorkflowRef == "" || !strings.Contains(id.WorkflowRef, p.Workflow+"@"):
			t.Fatalf("matched workflow_ref %q for workflow %q", id.WorkflowRef, p.Workflow)
		case p.Kind == GitHub && (id.EventName == "pull_request_target" || id.EventName == "workflow_run"):
			t.Fatalf("matched event %q", id.EventName)
		case p.Kind == GitLab && (id.Ref == "" || id.SHA == "" || strings.HasPrefix(id.Ref, "refs/merge-requests/")):
			t.Fatalf("matched ref_path %q sha %q", id.Ref, id.SHA)
		}
		// The store reads only publishers whose workflow is the job's and whose environment
		// is none or the job's by EnvironmentKey: whatever Match accepts must pass that.
		if w := JobWorkflow(id); w != p.Workflow {
			t.Fatalf("matched workflow %q, but JobWorkflow says %q", p.Workflow, w)
		}
		if p.Environment != "" && p.Environment != id.Environment && EnvironmentKey(GitHub, p.Environment) != EnvironmentKey(GitHub, id.Environment) {
			t.Fatalf("matched environment %q for %q, which the store would not read", p.Environment, id.Environment)
		}
		if (owner != "" && owner != p.OwnerID && !validID(owner)) || (repo != "" && repo != p.RepositoryID && !validID(repo)) {
			t.Fatalf("Pins = (%q, %q), not well-formed ids", owner, repo)
		}
	})
}
