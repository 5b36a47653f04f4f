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
