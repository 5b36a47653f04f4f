// Package token issues and checks tpx upload tokens.
//
// An upload token is "tpx_" followed by a compact JWS signed with ES256. The prefix lets
// secret scanners recognise a leaked token; the header carries the key id ("kid") and an
// explicit type ("typ": "tpx-upload+jwt") so that no other JWT signed with the same key
// can be mistaken for one. The claims (see Claims) name the projects the token may upload
// to, the publisher that matched, and the CI run that asked for it.
//
// The package has two halves with different audiences:
//
//   - Minter runs inside tpx. It keeps a ring of signing keys in the store, sealed at rest
//     with internal/secretbox, rotates them (a new key is published in the JWKS well before
//     it signs, and an old key stays published until every token it signed has expired),
//     mints tokens, and serves the JWKS and discovery documents.
//   - Verifier runs inside an upload service. It fetches tpx's JWKS over HTTPS, caches it,
//     and checks tokens offline. Its files (claims.go, verifier.go) import only the standard
//     library and go-jose, so that an upload service pays for little beyond what it uses;
//     the package as a whole also imports tpx's store contract and secretbox for the
//     Minter, both of which are small and free of drivers.
package token
