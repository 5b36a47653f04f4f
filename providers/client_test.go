package providers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/providers"
)

func TestHardenedClientTrustsExtraRootsWithoutLosingHostNameChecks(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t, oidctest.WithTLS())
	get := func(c *http.Client, url string) error {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(providers.HardenedClient(oidctest.RootCAs()), iss.JWKSURL()); err != nil {
		t.Fatalf("with the extra roots: %v", err)
	}
	if err := get(providers.HardenedClient(nil), iss.JWKSURL()); err == nil {
		t.Fatal("without the extra roots a private CA was trusted")
	}
	// The certificate names 127.0.0.1 and ::1 only: the name is checked too.
	localhost := strings.Replace(iss.JWKSURL(), "127.0.0.1", "localhost", 1)
	err := get(providers.HardenedClient(oidctest.RootCAs()), localhost)
	if err == nil || !strings.Contains(err.Error(), "localhost") {
		t.Fatalf("a certificate for another name was accepted: %v", err)
	}
}

func TestHardenedClientRefusesADowngradeToPlainHTTP(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t, oidctest.WithTLS())
	plain := strings.Replace(iss.JWKSURL(), "https://", "http://", 1)
	iss.SetJWKSHandler(http.RedirectHandler(plain, http.StatusFound))
	resp, err := providers.HardenedClient(oidctest.RootCAs()).Get(iss.JWKSURL())
	if err == nil {
		resp.Body.Close()
		t.Fatal("followed a redirect from https to http")
	}
	if iss.JWKSFetches() != 1 {
		t.Fatalf("%d requests reached the issuer, want only the first", iss.JWKSFetches())
	}
}

func TestHardenedClientTakesNoProxyFromTheEnvironment(t *testing.T) {
	t.Parallel()
	for _, roots := range []bool{false, true} {
		c := providers.HardenedClient(nil)
		if roots {
			c = providers.HardenedClient(oidctest.RootCAs())
		}
		tr, ok := c.Transport.(*http.Transport)
		if !ok || tr.Proxy != nil {
			t.Fatalf("transport %T with a proxy function", c.Transport)
		}
		if c.Timeout == 0 || c.CheckRedirect == nil {
			t.Fatal("no overall timeout or no redirect policy")
		}
	}
}
