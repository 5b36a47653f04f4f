// Package policy holds the rules of trusted publishing: which CI platforms a publisher can
// name, what an owner may register (Validate), and whether a verified CI identity satisfies
// a registered publisher (Match, Pins).
//
// Each platform is one Platform value in a file of its own (github.go, gitlab.go,
// google.go, circleci.go, buildkite.go, forgejo.go): its issuers, its typed token claims,
// its publisher fields with labels, hints and flags, its validation and its matching. The
// providers, the web forms and the command line read everything from that value, so adding
// a platform is its file, its claims in the test issuer, and one line in the list in
// platform.go.
//
// It is pure: no I/O, no clock, no configuration, nothing beyond the standard library. The
// exchange, the web UI and the command line all call the same functions, so a rule holds
// everywhere or nowhere, and every rule can be tested with plain values.
//
// Two kinds of answer leave this package. A *ValidationError speaks to the owner filling in
// a form and names the field to fix. A *Mismatch speaks to the owner of the publisher that
// did not match, in their own view or the log; it names their configuration and the token's
// claims, so it must never be shown to whoever presented the token: error replies say what
// class of failure happened, never another owner's configuration.
//
// Each publisher is bound to one issuer, compared exactly, so a self-managed GitLab or GHES
// token never matches a gitlab.com or github.com publisher. Names are compared without case because both platforms treat
// them so, but names can be given up and registered again by someone else; the numeric ids
// cannot, which is why publishers pin them. Workflow files are compared exactly: the file is
// the unit of trust, and a neighbouring file, a sub-folder or .yaml for .yml may be edited
// by people the owner never meant to trust with publishing. The subject claim `sub` is
// never read: its format is customizable per repository and has changed before.
package policy
