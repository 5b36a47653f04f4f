// Package providers verifies the OIDC ID tokens that CI platforms (GitHub Actions, GitLab
// CI) issue to their jobs, and turns a verified token into a policy.Identity.
//
// A Set holds the operator's allowlist of issuers, each bound to one platform kind, and one
// key cache per issuer. Verify is the whole journey of an untrusted string: bounded shape
// checks before any parsing; an unverified peek at iss only to pick the issuer (an unknown
// one is refused with no network traffic at all); the header parsed by go-jose
// (ParseSignedCompact) under the provider's algorithm allowlist, and a required kid, before
// any key lookup; the signature checked by go-jose with the key from the cache for that kid,
// never one the token carries or points at; the claims of the payload go-jose verified (a
// single audience, iat, nbf and exp with leeway, jti); and the platform's typed claims, one
// file per platform. The JOSE parts are go-jose's; what is tpx's own is the shape checks,
// the peek, and the reading of the payload's JSON (jwt.go, claims.go: one parse, each
// member named once even ignoring case, held to encoding/json's result by FuzzClaims),
// done once in the peek and believed only when go-jose has verified those very bytes.
//
// Each issuer's keys live in a cache from the verify module's keycache package, the same
// one upload services use for tpx's own keys (go-oidc's RemoteKeySet has neither a refetch
// cooldown nor a staleness bound): an unknown kid causes at most one merged refetch per
// cooldown, a good key set is never replaced by a bad one, and keys are served stale for a
// bounded time while an issuer is down before failing closed with ErrKeysUnavailable.
// keys.go is what is particular to CI issuers: the discovery document must speak for the
// configured issuer and name a key set on the issuer's own host, read with a body cap.
//
// The sentinel errors say which class of failure happened, for the exchange to map to a
// reply; the wrapped text says precisely why, for the log. No error text contains the
// token, and strings taken from a token are quoted and clipped.
package providers
