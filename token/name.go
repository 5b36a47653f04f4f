package token

import "github.com/tpx-dev/tpx/verify"

// ProjectKey is the canonical form of a project name (PEP 503 folding), the one in which
// names are unique, looked up and written into upload tokens; upload services fold names
// with the same function (verify.ProjectKey).
func ProjectKey(name string) string { return verify.ProjectKey(name) }
