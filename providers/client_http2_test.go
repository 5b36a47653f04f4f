package providers_test

import (
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/providers"
)

// TestHardenedClientVerifiesWithCryptoTLSAndSpeaksHTTP2: a real TLS server offering
// HTTP/2, trusted through a pool that holds the system roots plus its CA; refused with a
// pool of another CA, and with the system roots alone.
func TestHardenedClientVerifiesWithCryptoTLSAndSpeaksHTTP2(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"keys": []}`)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)

	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	roots.AddCert(srv.Certificate())
	resp, err := providers.HardenedClient(roots).Get(srv.URL)
	if err != nil {
		t.Fatalf("with the system roots plus the server's CA: %v", err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Errorf("spoke %s, want HTTP/2", resp.Proto)
	}

	for name, pool := range map[string]*x509.CertPool{"another CA": oidctest.RootCAs(), "the system roots alone": nil} {
		resp, err := providers.HardenedClient(pool).Get(srv.URL)
		if err == nil {
			resp.Body.Close()
			t.Errorf("with %s the server's certificate was trusted", name)
		} else if !strings.Contains(err.Error(), "certificate") {
			t.Errorf("with %s: %v, want a certificate error", name, err)
		}
	}
}
