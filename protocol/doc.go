// Package protocol holds what differs between the client protocols tpx speaks: PyPI's
// (pypa/gh-action-pypi-publish), npm's (the npm CLI's OIDC exchange) and crates.io's
// (rust-lang/crates-io-auth-action). Each is a front on the one exchange: it says which
// audience its clients request CI tokens for, derived from the index's URL the way those
// clients derive it, and how its requests name the token and the package. Nothing here
// does I/O; package web serves the routes.
package protocol
