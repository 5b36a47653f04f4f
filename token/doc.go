// Package token issues and checks tpx upload tokens.
//
// An upload token is "tpx_" followed by a compact JWS signed with ES256. The prefix lets
// secret scanners recognise a leaked token; the header carries the key id ("kid") and an
// explicit type ("typ": "tpx-upload+jwt") so that no other JWT signed with the same key
// can be mistaken for one. The claims (see Claims) name the projects the token may upload
// to, the publisher that matched, and the CI run that asked for it.
//
// Minter runs inside tpx. It keeps a ring of signing keys in the store, sealed at rest with
// internal/secretbox, rotates them (a new key is published in the JWKS well before it
// signs, and an old key stays published until every token it signed has expired), mints
// tokens, and serves the JWKS and discovery documents. Its Parse checks tokens with the
// same code as upload services: the format (Claims, the constants, the errors) is defined
// once in the module github.com/tpx-dev/tpx/verify, which upload services import without
// taking tpx's dependencies.
package token
