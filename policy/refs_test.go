package policy

import (
	"strings"
	"testing"
)

func TestRefRules(t *testing.T) {
	for _, plat := range []struct {
		name string
		pub  func() Publisher
		id   func() Identity
		fix  func(*Identity) // makes the identity's workflow agree with a changed ref
	}{
		{"GitHub", githubPublisher, githubIdentity, func(id *Identity) {
			id.WorkflowRef = "octo-org/octo-repo/.github/workflows/release.yml@" + id.Ref
		}},
		{"GitLab", gitlabPublisher, gitlabIdentity, func(id *Identity) {
			id.WorkflowRef = "gitlab.com/my-group/my-project//.gitlab-ci.yml@" + id.Ref
		}},
	} {
		t.Run(plat.name, func(t *testing.T) {
			with := func(r RefRules) func(*Publisher) { return func(p *Publisher) { p.Refs = r } }
			at := func(ref string, protected bool) func(*Identity) {
				return func(id *Identity) { id.Ref, id.RefProtected = ref, protected; plat.fix(id) }
			}
			runMatch(t, plat.pub, plat.id, []matchCase{
				{"no rule accepts a branch", with(RefRules{}), at("refs/heads/tmp", false), ""},
				{"tags only accepts a tag", with(RefRules{TagsOnly: true}), at("refs/tags/v1.2.0", false), ""},
				{"tags only refuses a branch", with(RefRules{TagsOnly: true}), at("refs/heads/tmp", false),
					"ref refs/heads/tmp is not a tag, publisher accepts tags only"},
				{"tags only refuses a branch named like a tag", with(RefRules{TagsOnly: true}), at("refs/heads/refs/tags/v1", false),
					"ref refs/heads/refs/tags/v1 is not a tag, publisher accepts tags only"},
				{"a pattern accepts a matching tag", with(RefRules{Pattern: "refs/tags/v*"}), at("refs/tags/v1.2.0", false), ""},
				{"a pattern refuses a branch", with(RefRules{Pattern: "refs/tags/v*"}), at("refs/heads/tmp", false),
					"ref refs/heads/tmp does not match refs/tags/v*"},
				{"a pattern's star does not cross a slash", with(RefRules{Pattern: "refs/tags/v*"}), at("refs/tags/v1/evil", false),
					"ref refs/tags/v1/evil does not match refs/tags/v*"},
				{"an exact pattern accepts its ref", with(RefRules{Pattern: "refs/heads/main"}), at("refs/heads/main", false), ""},
				{"an exact pattern refuses a longer ref", with(RefRules{Pattern: "refs/heads/main"}), at("refs/heads/main2", false),
					"ref refs/heads/main2 does not match refs/heads/main"},
				{"protected only accepts a protected ref", with(RefRules{Protected: true}), at("refs/heads/main", true), ""},
				{"protected only refuses an unprotected ref", with(RefRules{Protected: true}), at("refs/heads/tmp", false),
					"ref refs/heads/tmp is not protected (ref_protected), publisher accepts protected refs only"},
				{"all rules together accept a protected matching tag", with(RefRules{TagsOnly: true, Pattern: "refs/tags/v*", Protected: true}),
					at("refs/tags/v2", true), ""},
			})
		})
	}
}

func TestGlobMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, ref string
		want         bool
	}{
		{"refs/tags/v*", "refs/tags/v", true},
		{"refs/tags/v*", "refs/tags/v1.0", true},
		{"refs/tags/v*", "refs/tags/x1.0", false},
		{"refs/tags/v*", "refs/tags/v1/x", false},
		{"refs/heads/release-*-final", "refs/heads/release-2-final", true},
		{"refs/heads/release-*-final", "refs/heads/release-2-final-x", false},
		{"refs/heads/*/*", "refs/heads/a/b", true},
		{"refs/heads/*/*", "refs/heads/a", false},
		{"refs/heads/main", "refs/heads/main", true},
		{"refs/heads/main", "refs/heads/mai", false},
		{"refs/*", "refs/heads/main", false},
	} {
		if got := globMatch(tc.pattern, tc.ref); got != tc.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tc.pattern, tc.ref, got, tc.want)
		}
	}
}

func TestValidateRefRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		base  func() Publisher
		rules RefRules
		want  string // a part of the message, or "" for valid
	}{
		{"a tag pattern is valid", githubPublisher, RefRules{TagsOnly: true, Pattern: "refs/tags/v*", Protected: true}, ""},
		{"an exact branch is valid", gitlabPublisher, RefRules{Pattern: "refs/heads/main"}, ""},
		{"a regular expression is refused", githubPublisher, RefRules{Pattern: "^refs/tags/v.*$"}, "regular expressions are not supported"},
		{"a character class is refused", githubPublisher, RefRules{Pattern: "refs/tags/v[0-9]"}, "regular expressions are not supported"},
		{"a short branch name is refused", githubPublisher, RefRules{Pattern: "main"}, "whole ref"},
		{"a double star is refused", githubPublisher, RefRules{Pattern: "refs/tags/**"}, "'**'"},
		{"a pattern with .. is refused", githubPublisher, RefRules{Pattern: "refs/heads/../x"}, "whole ref"},
		{"a branch pattern with tags only could never match", githubPublisher, RefRules{TagsOnly: true, Pattern: "refs/heads/main"}, "names no tag"},
		{"a control character is refused", githubPublisher, RefRules{Pattern: "refs/tags/v\n"}, "whole ref"},
		{"an overlong pattern is refused", githubPublisher, RefRules{Pattern: "refs/tags/" + strings.Repeat("a", 250)}, "at most 255"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.base()
			p.Refs = tc.rules
			err := Validate(p)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate = %v, want valid", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate = %v, want a message with %q", err, tc.want)
			}
		})
	}
}

func TestCalledWorkflow(t *testing.T) {
	pin := func(s string) func(*Publisher) { return func(p *Publisher) { p.CalledWorkflow = s } }
	calls := func(s string) func(*Identity) { return func(id *Identity) { id.JobWorkflowRef = s } }
	runMatch(t, githubPublisher, githubIdentity, []matchCase{
		{"a pinned called workflow in the same repository is accepted", pin("octo-org/octo-repo/.github/workflows/release.yml"), keep[Identity], ""},
		{"a pinned shared workflow at a matching tag is accepted", pin("octo-org/shared/.github/workflows/publish.yml@refs/tags/v*"),
			calls("octo-org/shared/.github/workflows/publish.yml@refs/tags/v2"), ""},
		{"a pinned shared workflow at an exact sha is accepted", pin("octo-org/shared/.github/workflows/publish.yml@0123456789abcdef0123456789abcdef01234567"),
			calls("octo-org/shared/.github/workflows/publish.yml@0123456789abcdef0123456789abcdef01234567"), ""},
		{"the repository of a called workflow is compared without case", pin("Octo-Org/Shared/.github/workflows/publish.yml"),
			calls("octo-org/shared/.github/workflows/publish.yml@refs/heads/main"), ""},
		{"another called workflow is refused and named", pin("octo-org/shared/.github/workflows/publish.yml"),
			calls("evil/shared/.github/workflows/publish.yml@refs/heads/main"),
			"the job ran the called workflow evil/shared/.github/workflows/publish.yml@refs/heads/main, publisher requires octo-org/shared/.github/workflows/publish.yml"},
		{"a called file hiding the pinned name before an @ is refused", pin("octo-org/shared/.github/workflows/publish.yml"),
			calls("octo-org/shared/.github/workflows/publish.yml@x.yml@refs/heads/main"),
			"the job ran the called workflow octo-org/shared/.github/workflows/publish.yml@x.yml@refs/heads/main, publisher requires octo-org/shared/.github/workflows/publish.yml"},
		{"a called workflow at a branch is refused by a tag pattern", pin("octo-org/shared/.github/workflows/publish.yml@refs/tags/v*"),
			calls("octo-org/shared/.github/workflows/publish.yml@refs/heads/tmp"),
			"the called workflow octo-org/shared/.github/workflows/publish.yml@refs/heads/tmp was read at refs/heads/tmp, which does not match refs/tags/v*"},
		{"a token without job_workflow_ref is refused by a pin", pin("octo-org/octo-repo/.github/workflows/release.yml"), calls(""),
			"token carries no job_workflow_ref, publisher requires the called workflow octo-org/octo-repo/.github/workflows/release.yml"},
	})
	for _, tc := range []struct {
		pin   string
		valid bool
	}{
		{"octo-org/shared/.github/workflows/publish.yml", true},
		{"octo-org/shared/.github/workflows/publish.yml@refs/tags/v*", true},
		{"octo-org/shared/.github/workflows/publish.yml@0123456789abcdef0123456789abcdef01234567", true},
		{"octo-org/shared/publish.yml", false},
		{"octo-org/.github/workflows/publish.yml", false},
		{"octo-org/shared/.github/workflows/publish.yml@", false},
		{"octo-org/shared/.github/workflows/publish.yml@^v.*$", false},
		{"octo-org/shared/.github/workflows/sub/publish.yml", false},
	} {
		p := githubPublisher()
		p.CalledWorkflow = tc.pin
		if err := Validate(p); (err == nil) != tc.valid {
			t.Errorf("Validate with called workflow %q = %v, want valid %v", tc.pin, err, tc.valid)
		}
	}
	p := gitlabPublisher()
	p.CalledWorkflow = "octo-org/shared/.github/workflows/publish.yml"
	if err := Validate(p); err == nil || !strings.Contains(err.Error(), "no reusable workflows") {
		t.Errorf("a GitLab publisher with a called workflow: Validate = %v", err)
	}
}

func TestGitLabRelativeURLRoot(t *testing.T) {
	const issuer = "https://example.com/gitlab"
	runMatch(t, gitlabPublisher, gitlabIdentity, []matchCase{
		{"an instance below a path matches its ci_config_ref_uri", func(p *Publisher) { p.Issuer = issuer }, func(id *Identity) {
			id.Issuer = issuer
			id.WorkflowRef = "example.com/gitlab/my-group/my-project//.gitlab-ci.yml@refs/heads/main"
		}, ""},
		{"the same instance without the path in ci_config_ref_uri is refused", func(p *Publisher) { p.Issuer = issuer }, func(id *Identity) {
			id.Issuer = issuer
			id.WorkflowRef = "example.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main"
		}, "ci_config_ref_uri example.com/my-group/my-project//.gitlab-ci.yml@refs/heads/main is not on the issuer's host example.com/gitlab"},
		{"a project whose group is named like the path is refused on the root instance", keep[Publisher], func(id *Identity) {
			id.WorkflowRef = "gitlab.com/gitlab/my-group/my-project//.gitlab-ci.yml@refs/heads/main"
		}, "CI configuration comes from project gitlab/my-group/my-project, publisher has my-group/my-project"},
	})
}
