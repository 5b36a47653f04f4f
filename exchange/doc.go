// Package exchange turns a CI platform's OIDC token into a short-lived upload token: it
// verifies the token with the issuer's keys, finds the publishers whose rules the job's
// identity satisfies, consumes the token's jti and records the exchange in one
// transaction, and only then hands out the upload token: no token leaves the process
// without a durable record of the exchange and of its consumed jti.
//
// It defines the narrow interfaces it consumes; the store, the providers and the token
// minter implement them.
package exchange
