package providers

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"time"

	"github.com/tpx-dev/tpx/verify/keycache"
)

// HardenedClient returns the HTTP client for discovery documents and key sets: short
// timeouts at every stage, TLS 1.2 or later with crypto/tls's own verification, HTTP/2
// where the issuer offers it, redirects only within the same scheme and host and at most
// three, and no proxy taken from the environment (issuer traffic should go where the
// operator configured it, not wherever HTTPS_PROXY points in some shell). roots, if not
// nil, are the certificate authorities trusted instead of the system's: to add a private
// CA (TPX_CA_FILE, for a GHES or self-managed GitLab), pass the system pool with it
// appended, as cmd/tpx does.
func HardenedClient(roots *x509.CertPool) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots},
		TLSHandshakeTimeout:    5 * time.Second,
		ResponseHeaderTimeout:  5 * time.Second,
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        90 * time.Second,
		MaxIdleConns:           16,
		MaxIdleConnsPerHost:    2,
		MaxResponseHeaderBytes: 64 << 10,
		// A TLSClientConfig of our own turns HTTP/2 off unless asked for.
		ForceAttemptHTTP2: true,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second, CheckRedirect: keycache.SameHostRedirects}
}
