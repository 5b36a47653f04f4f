package policy

import "strings"

// RepositoryKey is the lookup key shared by publishers and identities: the repository
// path lower-cased, since both platforms compare owner and repository names without case.
// Stores index publishers by (issuer, RepositoryKey).
func RepositoryKey(repository string) string { return strings.ToLower(repository) }

// Repository is the publisher's repository path: "owner/repo" or "namespace/project".
func (p Publisher) Repository() string { return p.Owner + "/" + p.Name }

// Key is RepositoryKey of the publisher's repository.
func (p Publisher) Key() string { return RepositoryKey(p.Repository()) }
