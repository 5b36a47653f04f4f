package token

import "github.com/tpx-dev/tpx/verify"

// The token format is defined once, in the verify module that upload services import;
// tpx mints and parses tokens with the same definitions.

// Claims is the payload of an upload token.
type Claims = verify.Claims

// Publisher identifies the trusted-publisher configuration that matched.
type Publisher = verify.Publisher

// Constants of the token format; see the verify package.
const (
	Prefix        = verify.Prefix
	Audience      = verify.Audience
	Type          = verify.Type
	Algorithm     = verify.Algorithm
	JWKSPath      = verify.JWKSPath
	DiscoveryPath = verify.DiscoveryPath
)

// Errors of Minter.Parse; the same values verify.Verifier returns.
var (
	ErrMalformed   = verify.ErrMalformed
	ErrUnknownKey  = verify.ErrUnknownKey
	ErrSignature   = verify.ErrSignature
	ErrIssuer      = verify.ErrIssuer
	ErrAudience    = verify.ErrAudience
	ErrExpired     = verify.ErrExpired
	ErrNotYetValid = verify.ErrNotYetValid
)
