// Package oidctest runs a real OpenID Connect issuer for tests: an HTTP (or HTTPS) server on
// loopback that serves a discovery document and a JWKS, and signs GitHub- and GitLab-shaped
// ID tokens with RSA keys it publishes there.
//
// It exists so that the code which verifies CI tokens is exercised end to end, over real
// HTTP and against real signatures, instead of against mocks that agree with whatever the
// verifier expects. The same issuer can turn hostile on demand: it serves empty, oversized,
// non-JSON or redirecting key sets, goes down and comes back on the same address, rotates
// keys, and signs tokens with forged headers, foreign keys or algorithms a verifier must
// refuse. Counters of the requests it received let a test prove that an attack caused no
// network traffic at all.
//
// New is for tests: the issuer stops when the test ends. Serve starts the same issuer
// outside a test, for `tpx demo`, and Close stops it.
//
// RSA-2048 key generation is slow, so keys are generated once per process and leased to
// issuers: issuers alive at the same time never share a key, and a key returns to the pool
// when its issuer is closed.
package oidctest
