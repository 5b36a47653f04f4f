// Package uitest drives the owner web UI in tests without a browser: a Client that keeps
// cookies and sends forms with their CSRF token as a browser would, and a software
// WebAuthn authenticator that answers registration and login challenges with a real
// P-256 key, so that the server's checks run on real signatures.
package uitest
