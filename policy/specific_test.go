package policy

import "testing"

func TestSameRules(t *testing.T) {
	gh := Publisher{Kind: GitHub, Issuer: "https://token.actions.githubusercontent.com", Owner: "octo-org", Name: "octo-repo", Workflow: "release.yml", Environment: "prod"}
	gl := Publisher{Kind: GitLab, Issuer: "https://gitlab.com", Owner: "my-group", Name: "my-project", Workflow: ".gitlab-ci.yml", Environment: "prod"}
	for _, c := range []struct {
		name string
		a    Publisher
		edit func(*Publisher)
		want bool
	}{
		{"a publisher has its own rules", gh, func(*Publisher) {}, true},
		{"GitHub environments differing in case are one environment", gh, func(p *Publisher) { p.Environment = "PROD" }, true},
		{"GitHub repositories differing in case are one repository", gh, func(p *Publisher) { p.Owner, p.Name = "Octo-Org", "Octo-Repo" }, true},
		{"pinned ids do not make rules differ", gh, func(p *Publisher) { p.OwnerID, p.RepositoryID = "65", "74" }, true},
		{"GitLab environments differing in case are two environments", gl, func(p *Publisher) { p.Environment = "Prod" }, false},
		{"GitLab project paths differing in case are one project", gl, func(p *Publisher) { p.Owner = "My-Group" }, true},
		{"another workflow is another rule", gh, func(p *Publisher) { p.Workflow = "Release.yml" }, false},
		{"no environment differs from one", gh, func(p *Publisher) { p.Environment = "" }, false},
		{"another issuer is another rule", gh, func(p *Publisher) { p.Issuer = "https://ghes.example.org/_services/token" }, false},
		{"another kind is another rule", gh, func(p *Publisher) { p.Kind = GitLab }, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := c.a
			c.edit(&b)
			if got := SameRules(c.a, b); got != c.want {
				t.Fatalf("SameRules(%+v, %+v) = %v, want %v", c.a, b, got, c.want)
			}
			if SameRules(b, c.a) != c.want {
				t.Fatal("SameRules is not symmetric")
			}
		})
	}
}

func TestSpecificity(t *testing.T) {
	bound := Publisher{Kind: GitHub, Environment: "prod"}
	if Specificity(bound) <= Specificity(Publisher{Kind: GitHub}) {
		t.Fatal("a publisher bound to an environment does not rank above an unbound one")
	}
}

func TestEnvironmentKey(t *testing.T) {
	if EnvironmentKey(GitHub, "Pr\u212aD") != "pr\u212ad" {
		t.Error("GitHub environment keys must fold ASCII letters only, as matching does")
	}
	if EnvironmentKey(GitLab, "Prod") != "Prod" {
		t.Error("GitLab environment keys must keep case, as matching does")
	}
}
