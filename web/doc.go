// Package web serves tpx over HTTP with echo: the token-exchange API whose paths are
// PyPI's (so pypa/gh-action-pypi-publish works unchanged), tpx's issuer documents for
// upload services, token introspection and revocation, and health probes. It is the only
// package that imports echo, and the one place that maps core errors to HTTP replies.
package web
