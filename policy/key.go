package policy

import "strings"

// RepositoryKey is the lookup key shared by publishers and identities: the repository
// path lower-cased, since both platforms compare owner and repository names without case.
// Stores index publishers by (issuer, RepositoryKey).
func RepositoryKey(repository string) string { return strings.ToLower(repository) }

// Repository is the publisher's repository path: "owner/repo" or "namespace/project"; the
// name alone for a platform without owners (a Google service account's email).
func (p Publisher) Repository() string {
	if p.Owner == "" {
		return p.Name
	}
	return p.Owner + "/" + p.Name
}

// Key is RepositoryKey of the publisher's repository.
func (p Publisher) Key() string { return RepositoryKey(p.Repository()) }

// JobWorkflow is the workflow a publisher must name to accept the job: on GitHub the file
// of workflow_ref, on GitLab the configuration path of ci_config_ref_uri, taken apart as
// Match takes them. It is "" when the token names none that way; then no publisher can
// match, since every publisher names one.
func JobWorkflow(id Identity) string {
	switch id.Kind {
	case GitHub:
		w, m := parseWorkflowRef("workflow_ref", id.WorkflowRef, githubWorkflowDir)
		if m != nil {
			return ""
		}
		file, _ := cutDir(w.path, githubWorkflowDirs)
		return file
	case GitLab:
		host, ok := configHost(id.Issuer)
		if !ok {
			return ""
		}
		rest, ok := cutPrefixFoldASCII(id.WorkflowRef, host+"/")
		if !ok {
			return ""
		}
		_, rest, _ = strings.Cut(rest, "//")
		config, _, _ := strings.Cut(rest, "@")
		return config
	}
	return ""
}
