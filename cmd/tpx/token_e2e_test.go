package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/token"
	"github.com/tpx-dev/tpx/verify"
	"github.com/tpx-dev/tpx/web"
)

// getJSONBody fetches u and decodes its JSON body into v, returning the status.
func getJSONBody(t *testing.T, u string, v any) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("GET %s answered %d, not JSON: %q", u, resp.StatusCode, raw)
	}
	return resp.StatusCode
}

// tokenKid is the kid in an upload token's JOSE header.
func tokenKid(t *testing.T, tok string) string {
	t.Helper()
	seg, _, _ := strings.Cut(strings.TrimPrefix(tok, token.Prefix), ".")
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct{ Kid, Alg, Typ string }
	if err := json.Unmarshal(b, &hdr); err != nil {
		t.Fatal(err)
	}
	return hdr.Kid
}

func TestUploadTokens(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		pub := h.github("sampleproject", nil)
		// Another of alice's projects, whose only publisher wants another workflow.
		h.github("otherproject", func(p *policy.Publisher) { p.Workflow = "nightly.yml" })
		ciToken := h.gh.Sign(h.gh.GitHubClaims(nil))
		r := h.accepted(t, func() reply { return h.exchange(t, ciToken) })

		v, err := verify.New(verify.Config{Issuer: h.url})
		if err != nil {
			t.Fatal(err)
		}
		claims, err := v.Verify(context.Background(), r.Token)
		if err != nil {
			t.Fatalf("the upload token does not verify against tpx's published keys: %v", err)
		}
		t.Run("the upload token verifies against the live JWKS and names its source", func(t *testing.T) {
			if claims.Issuer != h.url || claims.Audience != token.Audience || claims.ID == "" {
				t.Fatalf("iss %q aud %q jti %q; want iss %q, aud %q and a jti", claims.Issuer, claims.Audience, claims.ID, h.url, token.Audience)
			}
			want := token.Publisher{ID: pub.ID, Kind: "github", Repository: "octo-org/octo-repo", Workflow: "release.yml"}
			if claims.Publisher != want || claims.Subject != "github:octo-org/octo-repo" || claims.Ref != "refs/heads/main" ||
				claims.SHA != "d4c3b2a1e5f60718293a4b5c6d7e8f9012345678" || claims.RunID != "8675309" {
				t.Fatalf("claims %+v do not name publisher %+v and the CI run", claims, want)
			}
		})
		t.Run("it covers exactly the matched project", func(t *testing.T) {
			if !slices.Equal(claims.Projects, []string{"sampleproject"}) || !claims.Covers("sampleproject") || claims.Covers("otherproject") {
				t.Fatalf("the upload token covers %v; want sampleproject alone, not otherproject", claims.Projects)
			}
		})
		t.Run("it lives for the configured 15 minutes, as the reply says", func(t *testing.T) {
			if ttl := claims.ExpiresAt.Sub(claims.IssuedAt); ttl != 15*time.Minute {
				t.Fatalf("exp - iat is %v, want 15m", ttl)
			}
			if r.Expires != claims.ExpiresAt.Unix() {
				t.Fatalf("the reply says it expires at %d, the token at %d", r.Expires, claims.ExpiresAt.Unix())
			}
		})
		t.Run("neither the CI token nor the upload token reaches the log", func(t *testing.T) {
			log := h.log.String()
			for name, secret := range map[string]string{"CI token": ciToken, "CI token's signature": ciToken[strings.LastIndex(ciToken, ".")+1:],
				"upload token": r.Token, "upload token's signature": r.Token[strings.LastIndex(r.Token, ".")+1:]} {
				if strings.Contains(log, secret) {
					t.Errorf("the %s is in the log", name)
				}
			}
			if !strings.Contains(log, "exchange succeeded") {
				t.Fatalf("the log has no line about the exchange, so this check proves nothing:\n%s", log)
			}
		})
		t.Run("the discovery document and the JWKS name tpx and its signing key", func(t *testing.T) {
			var doc struct {
				Issuer  string `json:"issuer"`
				JWKSURI string `json:"jwks_uri"`
			}
			if status := getJSONBody(t, h.url+"/.well-known/openid-configuration", &doc); status != http.StatusOK ||
				doc.Issuer != h.url || doc.JWKSURI != h.url+"/.well-known/jwks.json" {
				t.Fatalf("discovery answered %d %+v; want issuer %s and its jwks.json", status, doc, h.url)
			}
			var set struct {
				Keys []struct{ Kid, Kty, Crv, Alg string } `json:"keys"`
			}
			if status := getJSONBody(t, doc.JWKSURI, &set); status != http.StatusOK {
				t.Fatalf("the JWKS answered %d", status)
			}
			kid := tokenKid(t, r.Token)
			i := slices.IndexFunc(set.Keys, func(k struct{ Kid, Kty, Crv, Alg string }) bool { return k.Kid == kid })
			if i < 0 || set.Keys[i].Kty != "EC" || set.Keys[i].Crv != "P-256" {
				t.Fatalf("the JWKS %+v holds no P-256 key with the token's kid %q", set.Keys, kid)
			}
		})
	})
}

// introspector serves the harness's store and signing keys again, as a second replica
// configured with an introspection secret, and returns its URL.
func introspector(t *testing.T, h *harness, secret string) string {
	t.Helper()
	cfg := Config{PublicURL: h.url, Audience: "tpx", TokenTTL: 15 * time.Minute, SecretKey: strings.Repeat("k", 32),
		IntrospectSecret: secret, Providers: []providers.IssuerConfig{{Kind: policy.GitHub, Issuer: h.gh.URL()}},
		// X-Forwarded-For from the test is believed, so that it can speak as several clients.
		RateLimit: web.RateLimit{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}}
	svc, err := build(context.Background(), cfg, wiring{store: h.store, log: slog.New(slog.DiscardHandler), client: providers.HardenedClient(nil)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.set.Close)
	srv := httptest.NewServer(svc.handler)
	t.Cleanup(srv.Close)
	return srv.URL
}

// postIntrospect posts token=tok with the given Authorization header ("" for none) and returns
// the status and the decoded body.
func postIntrospect(t *testing.T, base, auth, tok string) (int, map[string]any) {
	t.Helper()
	return introspectAs(t, base, "", "", "application/x-www-form-urlencoded", auth, url.Values{"token": {tok}}.Encode())
}

// introspectAs posts body, with the given content type and Authorization, to the
// introspection route with query appended, as the client address client ("" for the
// connection's).
func introspectAs(t *testing.T, base, query, client, contentType, auth, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/v1/tokens/introspect"+query, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if client != "" {
		req.Header.Set("X-Forwarded-For", client)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &answer); err != nil {
		t.Fatalf("introspection answered %d, not JSON: %q", resp.StatusCode, raw)
	}
	return resp.StatusCode, answer
}

func TestIntrospectionAndRevocation(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		h := newHarness(t, b)
		h.github("sampleproject", nil)
		const secret = "introspection-secret-of-the-upload-service"
		base := introspector(t, h, secret)
		bearer := "Bearer " + secret
		mint := func(t *testing.T) string {
			return h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) }).Token
		}
		tok := mint(t)

		t.Run("a fresh upload token is active, with its claims", func(t *testing.T) {
			status, body := postIntrospect(t, base, bearer, tok)
			want, err := h.svc.minter.Parse(tok)
			if err != nil {
				t.Fatal(err)
			}
			projects, _ := body["projects"].([]any)
			if status != http.StatusOK || body["active"] != true || body["jti"] != want.ID || body["iss"] != h.url ||
				len(projects) != 1 || projects[0] != "sampleproject" {
				t.Fatalf("introspection answered %d %v; want active, jti %s, projects [sampleproject]", status, body, want.ID)
			}
		})
		for _, c := range []struct{ name, auth string }{
			{"a wrong secret is refused with 401", "Bearer not-the-secret"},
			{"a missing secret is refused with 401", ""},
			{"the secret without the Bearer scheme is refused with 401", secret},
		} {
			t.Run(c.name, func(t *testing.T) {
				status, body := postIntrospect(t, base, c.auth, tok)
				if _, told := body["active"]; status != http.StatusUnauthorized || told {
					t.Fatalf("introspection answered %d %v; want 401 and nothing about the token", status, body)
				}
			})
		}
		t.Run("the token is read from the form body only", func(t *testing.T) {
			status, body := introspectAs(t, base, "?token="+url.QueryEscape(tok), "", "application/x-www-form-urlencoded", bearer, "")
			if _, told := body["active"]; status != http.StatusBadRequest || told {
				t.Fatalf("a token in the URL answered %d %v; want 400 and nothing about the token", status, body)
			}
			status, body = introspectAs(t, base, "", "", "application/json", bearer, `{"token": "`+tok+`"}`)
			if _, told := body["active"]; status != http.StatusBadRequest || told {
				t.Fatalf("a JSON body answered %d %v; want 400", status, body)
			}
		})
		t.Run("secrets of any length are compared without telling their length", func(t *testing.T) {
			for _, guess := range []string{"", "x", secret[:len(secret)-1], secret + "x", strings.Repeat(secret, 100)} {
				status, body := introspectAs(t, base, "", "198.18.0.1", "application/x-www-form-urlencoded", "Bearer "+guess, url.Values{"token": {tok}}.Encode())
				if _, told := body["active"]; status != http.StatusUnauthorized || told {
					t.Fatalf("a secret of %d bytes answered %d %v", len(guess), status, body)
				}
			}
		})
		t.Run("an address with ten failures a minute is refused, even with the secret; others are not", func(t *testing.T) {
			form := url.Values{"token": {tok}}.Encode()
			for i := range 10 {
				if status, _ := introspectAs(t, base, "", "198.18.0.2", "application/x-www-form-urlencoded", "Bearer wrong", form); status != http.StatusUnauthorized {
					t.Fatalf("failure %d answered %d, want 401", i+1, status)
				}
			}
			status, body := introspectAs(t, base, "", "198.18.0.2", "application/x-www-form-urlencoded", bearer, form)
			if _, told := body["active"]; status != http.StatusTooManyRequests || told {
				t.Fatalf("the guessing address with the right secret answered %d %v; want 429", status, body)
			}
			if status, body := introspectAs(t, base, "", "198.18.0.3", "application/x-www-form-urlencoded", bearer, form); status != http.StatusOK || body["active"] != true {
				t.Fatalf("another address answered %d %v; want the token active", status, body)
			}
		})
		t.Run("garbage is inactive", func(t *testing.T) {
			for _, g := range []string{"", "garbage", token.Prefix + "a.b.c", h.gh.Sign(h.gh.GitHubClaims(nil))} {
				if status, body := postIntrospect(t, base, bearer, g); status != http.StatusOK || body["active"] != false || len(body) != 1 {
					t.Fatalf("introspecting %.20q answered %d %v; want 200 {\"active\": false}", g, status, body)
				}
			}
		})
		t.Run("a token revoked with itself as bearer is inactive", func(t *testing.T) {
			revoked := mint(t)
			req, err := http.NewRequest(http.MethodPost, h.url+"/v1/tokens/revoke", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+revoked)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("revocation answered %d", resp.StatusCode)
			}
			if status, body := postIntrospect(t, base, bearer, revoked); status != http.StatusOK || body["active"] != false {
				t.Fatalf("a revoked token introspects as %d %v; want inactive", status, body)
			}
			if status, body := postIntrospect(t, base, bearer, tok); status != http.StatusOK || body["active"] != true {
				t.Fatalf("revoking one token made another %d %v", status, body)
			}
		})
		t.Run("without an introspection secret the route is not served", func(t *testing.T) {
			if status, body := postIntrospect(t, h.url, bearer, tok); status != http.StatusNotFound {
				t.Fatalf("the harness, which has no secret, answered %d %v", status, body)
			}
		})
	})
}
