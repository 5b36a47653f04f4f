// Package signin is tpx's relying party at the package index's OpenID provider, so that
// owners sign in with their index account instead of a second password. It runs the
// authorization code flow with PKCE (S256), a state and a nonce that a sealed,
// short-lived cookie binds to the browser that started it, and verifies the ID token
// with go-oidc. What the provider vouched for comes back as an Identity; which tpx user
// that is, and whether one may be created, is the account service's to decide.
package signin
