// Package verify checks tpx upload tokens inside an upload service.
//
// An upload token is "tpx_" followed by a compact JWS signed with ES256. The prefix lets
// secret scanners recognise a leaked token; the header carries the key id ("kid") and an
// explicit type ("typ": "tpx-upload+jwt") so that no other JWT signed with the same key
// can be mistaken for one. The claims (see Claims) name the projects the token may upload
// to, the publisher that matched, and the CI run that asked for it.
//
// A Verifier fetches tpx's key set from TPX_PUBLIC_URL + "/.well-known/jwks.json", caches
// it (package keycache) and checks tokens offline. An upload service then:
//
//  1. takes the token from the request (PyPI clients send it as the password of the user
//     "__token__");
//  2. calls Verify; ErrKeysUnavailable means "try again later" (503), any other error
//     means the token is refused (401 or 403);
//  3. calls Claims.Covers with the project being uploaded to;
//  4. optionally asks tpx's introspection endpoint whether the token was revoked.
//
// Clock skew: tpx sets "nbf" NotBeforeSkew (30 s) before "iat", and the Verifier forgives
// DefaultLeeway (30 s) on "exp", "nbf" and "iat", so clocks that differ by up to 30 s do
// not matter.
//
// This module imports the standard library and go-jose only, so that an upload service
// that uses it pulls in nothing else of tpx.
package verify
