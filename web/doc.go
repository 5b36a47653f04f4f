// Package web serves tpx over HTTP with echo: the token-exchange API whose paths are
// PyPI's (so pypa/gh-action-pypi-publish works unchanged), tpx's issuer documents for
// upload services, token introspection and revocation, and health probes. It is the only
// package that imports echo, and the one place that maps core errors to HTTP replies.
//
// The owner web UI (ui*.go, templates/, static/) is server-rendered html/template pages with
// sessions in the store, CSRF tokens, a nonce-based Content-Security-Policy and in-process
// rate limits; its rules (second factor, recent authentication, ownership) live in package
// account, which it calls.
package web
