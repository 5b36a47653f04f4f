package policy

import "testing"

// BenchmarkMatch measures one publisher checked against one identity that satisfies it,
// pinned ids and environment included: an exchange does this once per candidate
// publisher of the repository.
func BenchmarkMatch(b *testing.B) {
	p := Publisher{Kind: GitHub, Issuer: "https://token.actions.githubusercontent.com", Owner: "Octo-Org", Name: "octo-repo",
		Workflow: "release.yml", Environment: "Release", OwnerID: "65", RepositoryID: "74"}
	id := Identity{
		Kind: GitHub, Issuer: "https://token.actions.githubusercontent.com", Repository: "octo-org/octo-repo",
		OwnerID: "65", RepositoryID: "74", Environment: "release", EventName: "push", Ref: "refs/heads/main",
		WorkflowRef: "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main",
	}
	if err := Match(p, id); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Match(p, id); err != nil {
			b.Fatal(err)
		}
	}
}
