package policy

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func githubPublisher() Publisher {
	return Publisher{
		Kind:         GitHub,
		Issuer:       "https://token.actions.githubusercontent.com",
		Owner:        "octo-org",
		Name:         "octo-repo",
		Workflow:     "release.yml",
		Environment:  "release",
		OwnerID:      "65",
		RepositoryID: "74",
	}
}

func gitlabPublisher() Publisher {
	return Publisher{
		Kind:         GitLab,
		Issuer:       "https://gitlab.com",
		Owner:        "my-group",
		Name:         "my-project",
		Workflow:     ".gitlab-ci.yml",
		Environment:  "release",
		OwnerID:      "72",
		RepositoryID: "20",
	}
}

// fieldErrors returns the field errors of err, failing the test if err is not a
// *ValidationError.
func fieldErrors(t *testing.T, err error) []FieldError {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate returned %T %v, want *ValidationError", err, err)
	}
	return ve.Fields
}

func TestValidate(t *testing.T) {
	long := func(n int, s string) string { return strings.Repeat(s, n) }
	fe := func(field, msg string) []FieldError { return []FieldError{{field, msg}} }

	tests := []struct {
		name string
		base func() Publisher
		edit func(*Publisher)
		want []FieldError
	}{
		// Common fields.
		{"a complete GitHub publisher is valid", githubPublisher, func(*Publisher) {}, nil},
		{"a complete GitLab publisher is valid", gitlabPublisher, func(*Publisher) {}, nil},
		{"a publisher without environment and ids is valid", githubPublisher, func(p *Publisher) { p.Environment, p.OwnerID, p.RepositoryID = "", "", "" }, nil},
		{"an unknown kind is refused and the platform fields are not judged", githubPublisher, func(p *Publisher) { p.Kind, p.Owner = "bitbucket", "" },
			fe(FieldKind, "kind must be "+KindNames())},
		{"a kind in other case is refused", githubPublisher, func(p *Publisher) { p.Kind = "GitHub" },
			fe(FieldKind, "kind must be "+KindNames())},
		{"a missing issuer is refused", githubPublisher, func(p *Publisher) { p.Issuer = "" },
			fe(FieldIssuer, "issuer is required")},
		{"an issuer with a trailing slash is refused", gitlabPublisher, func(p *Publisher) { p.Issuer = "https://gitlab.com/" },
			fe(FieldIssuer, "issuer must be an https:// URL without user name, query, fragment or trailing '/', e.g. https://gitlab.com")},
		{"an issuer with a query is refused", gitlabPublisher, func(p *Publisher) { p.Issuer = "https://gitlab.com?x=1" },
			fe(FieldIssuer, "issuer must be an https:// URL without user name, query, fragment or trailing '/', e.g. https://gitlab.com")},
		{"an issuer with a user name is refused", gitlabPublisher, func(p *Publisher) { p.Issuer = "https://evil@gitlab.com" },
			fe(FieldIssuer, "issuer must be an https:// URL without user name, query, fragment or trailing '/', e.g. https://gitlab.com")},
		{"an issuer without scheme is refused", gitlabPublisher, func(p *Publisher) { p.Issuer = "gitlab.com" },
			fe(FieldIssuer, "issuer must be an https:// URL without user name, query, fragment or trailing '/', e.g. https://gitlab.com")},
		{"an issuer with a space is refused", gitlabPublisher, func(p *Publisher) { p.Issuer = "https://gitlab.com /x" },
			fe(FieldIssuer, "issuer must be an https:// URL without user name, query, fragment or trailing '/', e.g. https://gitlab.com")},
		{"an http issuer elsewhere than localhost is refused", gitlabPublisher, func(p *Publisher) { p.Issuer = "http://gitlab.example.com" },
			fe(FieldIssuer, "issuer must use https:// (http:// is accepted only for localhost)")},
		{"an http issuer on localhost is valid", gitlabPublisher, func(p *Publisher) { p.Issuer = "http://127.0.0.1:8080" }, nil},
		{"a GHES issuer with a path is valid", githubPublisher, func(p *Publisher) { p.Issuer = "https://ghes.example.com/_services/token" }, nil},
		{"an issuer longer than 255 characters is refused", githubPublisher, func(p *Publisher) { p.Issuer = "https://" + long(250, "a") + ".com" },
			fe(FieldIssuer, "issuer must be at most 255 characters")},
		{"an environment with spaces inside is valid", githubPublisher, func(p *Publisher) { p.Environment = "Release to PyPI" }, nil},
		{"an environment of 255 characters is valid", githubPublisher, func(p *Publisher) { p.Environment = long(255, "é") }, nil},
		{"an environment of 256 characters is refused", githubPublisher, func(p *Publisher) { p.Environment = long(256, "e") },
			fe(FieldEnvironment, "environment must be at most 255 characters")},
		{"an environment of only spaces is refused", githubPublisher, func(p *Publisher) { p.Environment = "   " },
			fe(FieldEnvironment, "environment must not be only spaces; leave it empty to accept any environment")},
		{"an environment with a trailing space is refused", gitlabPublisher, func(p *Publisher) { p.Environment = "release " },
			fe(FieldEnvironment, "environment must not start or end with spaces")},
		{"an environment with a control character is refused", gitlabPublisher, func(p *Publisher) { p.Environment = "re\nlease" },
			fe(FieldEnvironment, "environment must not contain control or other invisible characters")},
		{"an environment with a no-break space is refused", githubPublisher, func(p *Publisher) { p.Environment = "re\u00a0lease" },
			fe(FieldEnvironment, "environment must not contain control or other invisible characters")},
		{"an environment that is not UTF-8 is refused", githubPublisher, func(p *Publisher) { p.Environment = "re\xfflease" },
			fe(FieldEnvironment, "environment must be valid UTF-8 text")},
		{"an owner id with a leading zero is refused", githubPublisher, func(p *Publisher) { p.OwnerID = "065" },
			fe(FieldOwnerID, "owner id must be a decimal number without leading zeros, at most 20 digits (or empty to pin it on first use)")},
		{"an owner id of zero is refused", githubPublisher, func(p *Publisher) { p.OwnerID = "0" },
			fe(FieldOwnerID, "owner id must be a decimal number without leading zeros, at most 20 digits (or empty to pin it on first use)")},
		{"a repository id with a sign is refused", githubPublisher, func(p *Publisher) { p.RepositoryID = "+74" },
			fe(FieldRepositoryID, "repository id must be a decimal number without leading zeros, at most 20 digits (or empty to pin it on first use)")},
		{"a repository id of 21 digits is refused", githubPublisher, func(p *Publisher) { p.RepositoryID = long(21, "1") },
			fe(FieldRepositoryID, "repository id must be a decimal number without leading zeros, at most 20 digits (or empty to pin it on first use)")},
		{"a repository id of 20 digits is valid", githubPublisher, func(p *Publisher) { p.RepositoryID = "18446744073709551615" }, nil},
		{"a namespace id that is not a number is refused", gitlabPublisher, func(p *Publisher) { p.OwnerID = "my-group" },
			fe(FieldOwnerID, "namespace id must be a decimal number without leading zeros, at most 20 digits (or empty to pin it on first use)")},
		{"a project id with a space is refused", gitlabPublisher, func(p *Publisher) { p.RepositoryID = "20 " },
			fe(FieldRepositoryID, "project id must be a decimal number without leading zeros, at most 20 digits (or empty to pin it on first use)")},

		// GitHub owner.
		{"a GitHub owner of 39 characters is valid", githubPublisher, func(p *Publisher) { p.Owner = long(39, "a") }, nil},
		{"a GitHub owner with digits and inner hyphens is valid", githubPublisher, func(p *Publisher) { p.Owner = "0ct0-0rg-1" }, nil},
		{"a missing GitHub owner is refused", githubPublisher, func(p *Publisher) { p.Owner = "" },
			fe(FieldOwner, "owner is required")},
		{"a GitHub owner of 40 characters is refused", githubPublisher, func(p *Publisher) { p.Owner = long(40, "a") },
			fe(FieldOwner, "owner must be at most 39 characters")},
		{"a GitHub owner starting with a hyphen is refused", githubPublisher, func(p *Publisher) { p.Owner = "-octo" },
			fe(FieldOwner, "owner must not start or end with a hyphen")},
		{"a GitHub owner ending with a hyphen is refused", githubPublisher, func(p *Publisher) { p.Owner = "octo-" },
			fe(FieldOwner, "owner must not start or end with a hyphen")},
		{"a GitHub owner with two hyphens in a row is refused", githubPublisher, func(p *Publisher) { p.Owner = "octo--org" },
			fe(FieldOwner, "owner must not contain two hyphens in a row")},
		{"a GitHub owner with an underscore is refused", githubPublisher, func(p *Publisher) { p.Owner = "octo_org" },
			fe(FieldOwner, "owner may contain only letters, digits and hyphens")},
		{"a GitHub owner with a non-ASCII letter is refused", githubPublisher, func(p *Publisher) { p.Owner = "octö" },
			fe(FieldOwner, "owner may contain only letters, digits and hyphens")},
		{"a GitHub owner given as owner/repo is refused with a hint", githubPublisher, func(p *Publisher) { p.Owner = "octo-org/octo-repo" },
			fe(FieldOwner, "owner must be the user or organization name alone, without '/' (the repository name goes in its own field)")},

		// GitHub repository.
		{"a GitHub repository with '.', '-' and '_' is valid", githubPublisher, func(p *Publisher) { p.Name = ".github_io-x" }, nil},
		{"a GitHub repository of 100 characters is valid", githubPublisher, func(p *Publisher) { p.Name = long(100, "r") }, nil},
		{"a missing GitHub repository is refused", githubPublisher, func(p *Publisher) { p.Name = "" },
			fe(FieldName, "repository name is required")},
		{"a GitHub repository of 101 characters is refused", githubPublisher, func(p *Publisher) { p.Name = long(101, "r") },
			fe(FieldName, "repository name must be at most 100 characters")},
		{"a GitHub repository named '.' is refused", githubPublisher, func(p *Publisher) { p.Name = "." },
			fe(FieldName, "repository name must not be '.' or '..'")},
		{"a GitHub repository named '..' is refused", githubPublisher, func(p *Publisher) { p.Name = ".." },
			fe(FieldName, "repository name must not be '.' or '..'")},
		{"a GitHub repository with a space is refused", githubPublisher, func(p *Publisher) { p.Name = "octo repo" },
			fe(FieldName, "repository name may contain only letters, digits, '.', '-' and '_'")},
		{"a GitHub repository with a slash is refused", githubPublisher, func(p *Publisher) { p.Name = "octo-org/octo-repo" },
			fe(FieldName, "repository name must be the name alone, without the owner or '/'")},

		// GitHub workflow.
		{"a GitHub workflow ending in .yaml is valid", githubPublisher, func(p *Publisher) { p.Workflow = "release.yaml" }, nil},
		{"a missing GitHub workflow is refused", githubPublisher, func(p *Publisher) { p.Workflow = "" },
			fe(FieldWorkflow, "workflow is required: the file name of the workflow in .github/workflows, e.g. release.yml")},
		{"a GitHub workflow given with its folder is refused with a hint", githubPublisher, func(p *Publisher) { p.Workflow = ".github/workflows/release.yml" },
			fe(FieldWorkflow, "workflow must be the file name alone, e.g. release.yml, without .github/workflows/")},
		{"a GitHub workflow in a sub-folder is refused", githubPublisher, func(p *Publisher) { p.Workflow = "sub/release.yml" },
			fe(FieldWorkflow, "workflow must be a file name ending in .yml or .yaml, without '/'")},
		{"a GitHub workflow with a backslash is refused", githubPublisher, func(p *Publisher) { p.Workflow = `sub\release.yml` },
			fe(FieldWorkflow, "workflow must be a file name ending in .yml or .yaml, without '/'")},
		{"a GitHub workflow with another extension is refused", githubPublisher, func(p *Publisher) { p.Workflow = "release.json" },
			fe(FieldWorkflow, "workflow must be a file name ending in .yml or .yaml, without '/'")},
		{"a GitHub workflow with an upper-case extension is refused", githubPublisher, func(p *Publisher) { p.Workflow = "release.YML" },
			fe(FieldWorkflow, "workflow must be a file name ending in .yml or .yaml, without '/'")},
		{"a GitHub workflow starting with a dot is refused", githubPublisher, func(p *Publisher) { p.Workflow = ".release.yml" },
			fe(FieldWorkflow, "workflow must not start with '.'")},
		{"a GitHub workflow with '@' is refused", githubPublisher, func(p *Publisher) { p.Workflow = "release@v1.yml" },
			fe(FieldWorkflow, "workflow must not contain '@'")},
		{"a GitHub workflow with a control character is refused", githubPublisher, func(p *Publisher) { p.Workflow = "rel\tease.yml" },
			fe(FieldWorkflow, "workflow must not contain control characters or start or end with spaces")},
		{"a GitHub workflow longer than 255 characters is refused", githubPublisher, func(p *Publisher) { p.Workflow = long(252, "w") + ".yml" },
			fe(FieldWorkflow, "workflow must be at most 255 characters")},

		// GitLab namespace and project.
		{"a GitLab namespace with subgroups is valid", gitlabPublisher, func(p *Publisher) { p.Owner = "group/sub_group/x.y" }, nil},
		{"a GitLab project starting with an underscore is valid", gitlabPublisher, func(p *Publisher) { p.Name = "_my.project-1" }, nil},
		{"a missing GitLab namespace is refused", gitlabPublisher, func(p *Publisher) { p.Owner = "" },
			fe(FieldOwner, "namespace is required: the group or user the project belongs to, e.g. my-group or my-group/subgroup")},
		{"a GitLab namespace with an empty segment is refused", gitlabPublisher, func(p *Publisher) { p.Owner = "group//sub" },
			fe(FieldOwner, "namespace must be group and subgroup names separated by single '/', without a '/' at either end")},
		{"a GitLab namespace with a trailing slash is refused", gitlabPublisher, func(p *Publisher) { p.Owner = "group/" },
			fe(FieldOwner, "namespace must be group and subgroup names separated by single '/', without a '/' at either end")},
		{"a GitLab namespace segment starting with '-' is refused", gitlabPublisher, func(p *Publisher) { p.Owner = "group/-sub" },
			fe(FieldOwner, "namespace part '-sub' must not start with '-' or '.'")},
		{"a GitLab namespace segment starting with '.' is refused", gitlabPublisher, func(p *Publisher) { p.Owner = ".group" },
			fe(FieldOwner, "namespace part '.group' must not start with '-' or '.'")},
		{"a GitLab namespace segment ending with '.' is refused", gitlabPublisher, func(p *Publisher) { p.Owner = "group./sub" },
			fe(FieldOwner, "namespace part 'group.' must not end with '.'")},
		{"a GitLab namespace segment ending with .git is refused", gitlabPublisher, func(p *Publisher) { p.Owner = "group/sub.git" },
			fe(FieldOwner, "namespace part 'sub.git' must not end with '.git' or '.atom'")},
		{"a GitLab namespace segment with a space is refused", gitlabPublisher, func(p *Publisher) { p.Owner = "my group" },
			fe(FieldOwner, "namespace part 'my group' may contain only letters, digits, '_', '-' and '.'")},
		{"a GitLab namespace segment of 256 characters is refused", gitlabPublisher, func(p *Publisher) { p.Owner = "group/" + long(256, "g") },
			fe(FieldOwner, "namespace part '"+long(200, "g")+"…' must be at most 255 characters")},
		{"a GitLab project of 255 characters is valid", gitlabPublisher, func(p *Publisher) { p.Name = long(255, "p") }, nil},
		{"a missing GitLab project is refused", gitlabPublisher, func(p *Publisher) { p.Name = "" },
			fe(FieldName, "project name is required")},
		{"a GitLab project with a slash is refused with a hint", gitlabPublisher, func(p *Publisher) { p.Name = "sub/my-project" },
			fe(FieldName, "project name must be the last part of the path alone, without '/' (groups and subgroups go in the namespace)")},
		{"a GitLab project ending with .atom is refused", gitlabPublisher, func(p *Publisher) { p.Name = "feed.ATOM" },
			fe(FieldName, "project name must not end with '.git' or '.atom'")},
		{"a GitLab project starting with '-' is refused", gitlabPublisher, func(p *Publisher) { p.Name = "-x" },
			fe(FieldName, "project name must not start with '-' or '.'")},
		{"a GitLab project with a non-ASCII letter is refused", gitlabPublisher, func(p *Publisher) { p.Name = "prøject" },
			fe(FieldName, "project name may contain only letters, digits, '_', '-' and '.'")},

		// GitLab CI configuration path.
		{"a GitLab configuration in a folder is valid", gitlabPublisher, func(p *Publisher) { p.Workflow = "ci/release/publish.yaml" }, nil},
		{"a missing GitLab configuration is refused", gitlabPublisher, func(p *Publisher) { p.Workflow = "" },
			fe(FieldWorkflow, "workflow is required: the path of the CI configuration file, e.g. .gitlab-ci.yml")},
		{"a GitLab configuration with a leading slash is refused", gitlabPublisher, func(p *Publisher) { p.Workflow = "/.gitlab-ci.yml" },
			fe(FieldWorkflow, "workflow must be relative to the repository root, without a leading '/'")},
		{"a GitLab configuration with '..' is refused", gitlabPublisher, func(p *Publisher) { p.Workflow = "ci/../.gitlab-ci.yml" },
			fe(FieldWorkflow, "workflow must not contain '.' or '..' path segments")},
		{"a GitLab configuration starting with './' is refused", gitlabPublisher, func(p *Publisher) { p.Workflow = "./.gitlab-ci.yml" },
			fe(FieldWorkflow, "workflow must not contain '.' or '..' path segments")},
		{"a GitLab configuration with '//' is refused", gitlabPublisher, func(p *Publisher) { p.Workflow = "ci//publish.yml" },
			fe(FieldWorkflow, "workflow must not contain '//'")},
		{"a GitLab configuration from another project is refused", gitlabPublisher, func(p *Publisher) { p.Workflow = "publish.yml@other-group/ci-templates" },
			fe(FieldWorkflow, "workflow must not contain '@': a configuration kept in another project or at a URL cannot be trusted, since the token does not say which file ran")},
		{"a GitLab configuration with another extension is refused", gitlabPublisher, func(p *Publisher) { p.Workflow = "ci/publish.json" },
			fe(FieldWorkflow, "workflow must be the path of the CI configuration file in the repository ending in .yml or .yaml, e.g. .gitlab-ci.yml or ci/publish.yml")},
		{"a GitLab configuration that is only an extension is refused", gitlabPublisher, func(p *Publisher) { p.Workflow = "ci/.yml" },
			fe(FieldWorkflow, "workflow must be the path of the CI configuration file in the repository ending in .yml or .yaml, e.g. .gitlab-ci.yml or ci/publish.yml")},
		{"a GitLab configuration with a backslash is refused", gitlabPublisher, func(p *Publisher) { p.Workflow = `ci\publish.yml` },
			fe(FieldWorkflow, `workflow must use '/' between folders, not '\'`)},
		{"a GitLab configuration with a control character is refused", gitlabPublisher, func(p *Publisher) { p.Workflow = "ci/\x00.yml" },
			fe(FieldWorkflow, "workflow must not contain control characters")},
		{"a GitLab configuration with a leading space is refused", gitlabPublisher, func(p *Publisher) { p.Workflow = " ci.yml" },
			fe(FieldWorkflow, "workflow must not start or end with spaces")},
		{"a GitLab configuration longer than 255 characters is refused", gitlabPublisher, func(p *Publisher) { p.Workflow = long(126, "c/") + "x.yml" },
			fe(FieldWorkflow, "workflow must be at most 255 characters")},

		// Several problems at once.
		{"every problem is reported at once, in field order", githubPublisher, func(p *Publisher) {
			*p = Publisher{Kind: GitHub, Owner: "-", Name: "..", Workflow: "x.txt", Environment: " ", OwnerID: "x", RepositoryID: "01"}
		}, []FieldError{
			{FieldIssuer, "issuer is required"},
			{FieldOwner, "owner must not start or end with a hyphen"},
			{FieldName, "repository name must not be '.' or '..'"},
			{FieldWorkflow, "workflow must be a file name ending in .yml or .yaml, without '/'"},
			{FieldEnvironment, "environment must not be only spaces; leave it empty to accept any environment"},
			{FieldOwnerID, "owner id must be a decimal number without leading zeros, at most 20 digits (or empty to pin it on first use)"},
			{FieldRepositoryID, "repository id must be a decimal number without leading zeros, at most 20 digits (or empty to pin it on first use)"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.base()
			tt.edit(&p)
			got := fieldErrors(t, Validate(p))
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Validate(%+v)\n got: %q\nwant: %q", p, got, tt.want)
			}
		})
	}
}

func TestValidationErrorJoinsMessages(t *testing.T) {
	err := Validate(Publisher{Kind: "svn"})
	want := "kind must be " + KindNames() + "; issuer is required"
	if err == nil || err.Error() != want {
		t.Fatalf("Validate error = %v, want %q", err, want)
	}
}
