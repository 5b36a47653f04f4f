package oidctest_test

import (
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tpx-dev/tpx/internal/oidctest"
)

func get(t *testing.T, c *http.Client, url string) (int, []byte) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func keySet(t *testing.T, c *http.Client, iss *oidctest.Issuer) jose.JSONWebKeySet {
	t.Helper()
	code, body := get(t, c, iss.JWKSURL())
	if code != http.StatusOK {
		t.Fatalf("JWKS: status %d", code)
	}
	var ks jose.JSONWebKeySet
	if err := json.Unmarshal(body, &ks); err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestTheIssuerServesDiscoveryAndKeysThatVerifyItsTokens(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []oidctest.Option
	}{
		{"plain http at the root", nil},
		{"https below a GHES path", []oidctest.Option{oidctest.WithTLS(), oidctest.WithPath("/_services/token")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			iss := oidctest.New(t, tc.opts...)
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: oidctest.RootCAs()}}}
			code, body := get(t, c, iss.DiscoveryURL())
			if code != http.StatusOK {
				t.Fatalf("discovery: status %d", code)
			}
			var doc struct {
				Issuer  string `json:"issuer"`
				JWKSURI string `json:"jwks_uri"`
			}
			if err := json.Unmarshal(body, &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Issuer != iss.URL() || !strings.HasPrefix(doc.JWKSURI, iss.URL()+"/") {
				t.Fatalf("discovery says issuer %q, jwks_uri %q; want %q", doc.Issuer, doc.JWKSURI, iss.URL())
			}
			ks := keySet(t, c, iss)
			keys := ks.Key(iss.Kid())
			if len(keys) != 1 {
				t.Fatalf("JWKS has %d keys with kid %s", len(keys), iss.Kid())
			}
			if bits := keys[0].Key.(*rsa.PublicKey).N.BitLen(); bits != 2048 {
				t.Fatalf("key of %d bits", bits)
			}
			tok := iss.Sign(iss.GitHubClaims(nil))
			jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256})
			if err != nil {
				t.Fatal(err)
			}
			payload, err := jws.Verify(keys[0])
			if err != nil {
				t.Fatal(err)
			}
			var claims map[string]any
			if err := json.Unmarshal(payload, &claims); err != nil {
				t.Fatal(err)
			}
			if claims["iss"] != iss.URL() || claims["aud"] != "tpx" {
				t.Fatalf("claims %v", claims)
			}
			if iss.DiscoveryFetches() != 1 || iss.JWKSFetches() != 1 || iss.Requests() != 2 {
				t.Fatalf("counters: discovery %d, jwks %d, all %d", iss.DiscoveryFetches(), iss.JWKSFetches(), iss.Requests())
			}
		})
	}
}

func TestLiveIssuersNeverShareAKey(t *testing.T) {
	t.Parallel()
	a, b := oidctest.New(t), oidctest.New(t)
	if a.Kid() == b.Kid() {
		t.Fatal("two live issuers share a key")
	}
	if a.Kid() == oidctest.KeyID(&oidctest.AttackerKey().PublicKey) {
		t.Fatal("the attacker key is published")
	}
}

func TestRotateWithdrawsTheOldKeyUnlessToldToKeepIt(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	c := http.DefaultClient
	first := iss.Kid()
	iss.Rotate(oidctest.KeepPrevious())
	second := iss.Kid()
	if ks := keySet(t, c, iss); len(ks.Key(first)) != 1 || len(ks.Key(second)) != 1 {
		t.Fatalf("after a rotation keeping the previous key: %d keys", len(ks.Keys))
	}
	iss.Rotate()
	if ks := keySet(t, c, iss); len(ks.Keys) != 1 || ks.Keys[0].KeyID != iss.Kid() || iss.Kid() == second {
		t.Fatalf("after a plain rotation: %+v", ks.Keys)
	}
}

func TestStopRefusesConnectionsAndStartReopensTheSameAddress(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	c := &http.Client{Timeout: 5 * time.Second}
	iss.Stop()
	if resp, err := c.Get(iss.JWKSURL()); err == nil {
		resp.Body.Close()
		t.Fatal("a stopped issuer answered")
	}
	iss.Start()
	if code, _ := get(t, c, iss.JWKSURL()); code != http.StatusOK {
		t.Fatalf("restarted issuer: status %d", code)
	}
}

func TestHostileBodiesAndHandlersReplaceTheRealOnesUntilReset(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	c := http.DefaultClient
	iss.SetJWKSBody([]byte("<html>"), "text/html")
	if _, body := get(t, c, iss.JWKSURL()); string(body) != "<html>" {
		t.Fatalf("JWKS body %q", body)
	}
	iss.SetDiscoveryHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	if code, _ := get(t, c, iss.DiscoveryURL()); code != http.StatusServiceUnavailable {
		t.Fatalf("discovery status %d", code)
	}
	iss.SetJWKSHandler(nil)
	iss.SetDiscoveryHandler(nil)
	keySet(t, c, iss)
	if iss.JWKSFetches() != 2 || iss.DiscoveryFetches() != 1 {
		t.Fatalf("hostile answers are still counted: jwks %d, discovery %d", iss.JWKSFetches(), iss.DiscoveryFetches())
	}
}

func TestSignBuildsTheForgeriesItIsAskedFor(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	header := func(tok string) map[string]any {
		t.Helper()
		jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.RS256, jose.RS512, jose.PS256, jose.ES256, jose.HS256})
		if err != nil {
			t.Fatalf("%s: %v", tok, err)
		}
		h := jws.Signatures[0].Protected
		return map[string]any{"alg": h.Algorithm, "kid": h.KeyID, "jku": h.ExtraHeaders["jku"]}
	}
	claims := iss.GitHubClaims(map[string]any{"jti": oidctest.Omit, "ci_config_ref_uri": nil})
	if _, ok := claims["jti"]; ok {
		t.Fatal("Omit left jti in place")
	}
	if v, ok := claims["ci_config_ref_uri"]; !ok || v != nil {
		t.Fatal("a nil override is not a JSON null")
	}
	for _, tc := range []struct {
		name    string
		opts    []oidctest.SignOption
		alg     string
		kid     string
		checkBy any
	}{
		{"RS512 with the real key", []oidctest.SignOption{oidctest.WithAlg("RS512")}, "RS512", iss.Kid(), iss.PublicKey()},
		{"PS256 with the real key", []oidctest.SignOption{oidctest.WithAlg("PS256")}, "PS256", iss.Kid(), iss.PublicKey()},
		{"ES256 with the EC key", []oidctest.SignOption{oidctest.WithAlg("ES256"), oidctest.WithKey(oidctest.ECKey())}, "ES256", iss.Kid(), &oidctest.ECKey().PublicKey},
		{"HS256 keyed with the public key", []oidctest.SignOption{oidctest.WithAlg("HS256")}, "HS256", iss.Kid(), iss.PublicKeyPEM()},
		{"RS256 by the attacker with the real kid", []oidctest.SignOption{oidctest.WithKey(oidctest.AttackerKey())}, "RS256", iss.Kid(), &oidctest.AttackerKey().PublicKey},
		{"a chosen kid", []oidctest.SignOption{oidctest.WithKid("../../etc/passwd")}, "RS256", "../../etc/passwd", iss.PublicKey()},
		{"no kid", []oidctest.SignOption{oidctest.WithoutKid()}, "RS256", "", iss.PublicKey()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := iss.Sign(claims, tc.opts...)
			h := header(tok)
			if h["alg"] != tc.alg || h["kid"] != tc.kid {
				t.Fatalf("header %v", h)
			}
			jws, _ := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(tc.alg)})
			if _, err := jws.Verify(tc.checkBy); err != nil {
				t.Fatalf("signature does not verify with the intended key: %v", err)
			}
		})
	}
	t.Run("alg none has an empty signature", func(t *testing.T) {
		tok := iss.Sign(claims, oidctest.WithAlg("none"))
		if !strings.HasSuffix(tok, ".") {
			t.Fatalf("%s", tok)
		}
	})
	t.Run("extra headers are set as given", func(t *testing.T) {
		if h := header(iss.Sign(claims, oidctest.WithHeader("jku", "https://evil.example/jwks"))); h["jku"] != "https://evil.example/jwks" {
			t.Fatalf("header %v", h)
		}
	})
}

func TestClaimsFollowTheIssuersClock(t *testing.T) {
	t.Parallel()
	clock := oidctest.NewClock(time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC))
	iss := oidctest.New(t, oidctest.WithClock(clock.Now), oidctest.WithAudience("pypi"))
	now := clock.Now().Unix()
	gh := iss.GitHubClaims(nil)
	if gh["iat"] != now || gh["nbf"] != now-600 || gh["exp"] != now+300 || gh["aud"] != "pypi" {
		t.Fatalf("GitHub times and audience: %v %v %v %v", gh["iat"], gh["nbf"], gh["exp"], gh["aud"])
	}
	clock.Advance(time.Hour)
	gl := iss.GitLabClaims(nil)
	if gl["iat"] != now+3600 || gl["exp"] != now+7200 || gl["iss"] != iss.URL() {
		t.Fatalf("GitLab times: %v %v", gl["iat"], gl["exp"])
	}
	if gh["jti"] == iss.GitHubClaims(nil)["jti"] {
		t.Fatal("jti is not fresh")
	}
}

func TestServeRunsAnIssuerOutsideATestUntilClose(t *testing.T) {
	t.Parallel()
	iss, err := oidctest.Serve(oidctest.WithPath("/_services/token"))
	if err != nil {
		t.Fatal(err)
	}
	if code, _ := get(t, http.DefaultClient, iss.DiscoveryURL()); code != http.StatusOK {
		t.Fatalf("discovery: status %d", code)
	}
	iss.Close()
	if resp, err := http.Get(iss.DiscoveryURL()); err == nil {
		resp.Body.Close()
		t.Fatal("a closed issuer answered")
	}
	if _, err := oidctest.Serve(oidctest.WithPath("no-slash")); err == nil {
		t.Fatal("Serve accepted a path without a leading slash")
	}
}
