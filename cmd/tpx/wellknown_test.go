package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// fetch sends method to u with the headers given (name, value, …) and returns the reply
// and its body.
func fetch(t *testing.T, method, u string, headers ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func TestTheKeySetAndDiscoveryDocumentAreCacheableAndAnswerHEAD(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backend{"SQLite", openSQLite})
	for _, path := range []string{"/.well-known/jwks.json", "/.well-known/openid-configuration"} {
		t.Run(path, func(t *testing.T) {
			get, body := fetch(t, http.MethodGet, h.url+path)
			etag := get.Header.Get("ETag")
			if get.StatusCode != http.StatusOK || etag == "" || !strings.HasPrefix(get.Header.Get("Cache-Control"), "public, max-age=") {
				t.Fatalf("GET: %d, ETag %q, Cache-Control %q", get.StatusCode, etag, get.Header.Get("Cache-Control"))
			}
			t.Run("HEAD answers the same headers and no body", func(t *testing.T) {
				head, hb := fetch(t, http.MethodHead, h.url+path)
				if head.StatusCode != http.StatusOK || hb != "" || head.Header.Get("ETag") != etag ||
					head.Header.Get("Content-Length") != strconv.Itoa(len(body)) || head.Header.Get("Content-Type") != get.Header.Get("Content-Type") {
					t.Fatalf("HEAD: %d, body %q, headers %v; GET's body is %d bytes", head.StatusCode, hb, head.Header, len(body))
				}
			})
			t.Run("If-None-Match with the ETag is answered 304 without a body", func(t *testing.T) {
				for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
					resp, rb := fetch(t, http.MethodGet, h.url+path, "If-None-Match", inm)
					if resp.StatusCode != http.StatusNotModified || rb != "" || resp.Header.Get("ETag") != etag {
						t.Fatalf("If-None-Match %s: %d %q", inm, resp.StatusCode, rb)
					}
				}
				if resp, _ := fetch(t, http.MethodGet, h.url+path, "If-None-Match", `"stale"`); resp.StatusCode != http.StatusOK {
					t.Fatalf("a stale ETag got %d, want 200", resp.StatusCode)
				}
			})
		})
	}
	t.Run("a key rotation changes the key set's ETag", func(t *testing.T) {
		before, _ := fetch(t, http.MethodGet, h.url+"/.well-known/jwks.json")
		if err := h.svc.minter.Rotate(context.Background()); err != nil {
			t.Fatal(err)
		}
		after, _ := fetch(t, http.MethodGet, h.url+"/.well-known/jwks.json")
		if before.Header.Get("ETag") == after.Header.Get("ETag") {
			t.Fatal("the ETag did not change with the key set")
		}
	})
}

func TestTheDiscoveryDocumentListsOnlyEndpointsThatAreServed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backend{"SQLite", openSQLite})
	for _, tc := range []struct {
		name          string
		base          string
		introspection bool
	}{
		{"without an introspection secret, no introspection endpoint", h.url, false},
		{"with one, its endpoint", introspector(t, h, strings.Repeat("s", 32)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var doc map[string]any
			getJSONBody(t, tc.base+"/.well-known/openid-configuration", &doc)
			_, has := doc["introspection_endpoint"]
			if has != tc.introspection || doc["revocation_endpoint"] != h.url+"/v1/tokens/revoke" {
				t.Fatalf("discovery %v", doc)
			}
			for _, oidc := range []string{"response_types_supported", "subject_types_supported", "id_token_signing_alg_values_supported", "authorization_endpoint"} {
				if _, ok := doc[oidc]; ok {
					t.Errorf("discovery lists %s, which does not apply to tpx", oidc)
				}
			}
		})
	}
}

// RFC 7009: the token in a form, the token itself as the only authorisation, 200 whatever
// the token, 400 for a request without one.
func TestRevocationFollowsRFC7009(t *testing.T) {
	t.Parallel()
	h := newHarness(t, backend{"SQLite", openSQLite})
	h.github("sampleproject", nil)
	secret := strings.Repeat("s", 32)
	base := introspector(t, h, secret)
	mint := func(t *testing.T) string {
		return h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) }).Token
	}
	revoke := func(t *testing.T, query, body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(h.url+"/v1/tokens/revoke"+query, "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("revocation answered %d, not JSON: %v", resp.StatusCode, err)
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control %q, want no-store", resp.Header.Get("Cache-Control"))
		}
		return resp.StatusCode, out
	}
	active := func(t *testing.T, tok string) bool {
		t.Helper()
		status, body := postIntrospect(t, base, "Bearer "+secret, tok)
		if status != http.StatusOK {
			t.Fatalf("introspection answered %d", status)
		}
		return body["active"] == true
	}

	t.Run("a token in the form, with no other credential, is revoked", func(t *testing.T) {
		tok, other := mint(t), mint(t)
		status, _ := revoke(t, "", url.Values{"token": {tok}, "token_type_hint": {"access_token"}}.Encode())
		if status != http.StatusOK || active(t, tok) || !active(t, other) {
			t.Fatalf("revocation answered %d; revoked active %v, other active %v", status, active(t, tok), active(t, other))
		}
		if status, _ := revoke(t, "", url.Values{"token": {tok}}.Encode()); status != http.StatusOK {
			t.Fatalf("revoking it again answered %d, want 200", status)
		}
	})
	for _, tc := range []struct{ name, token string }{
		{"garbage", "garbage"},
		{"a CI token", h.gh.Sign(h.gh.GitHubClaims(nil))},
		{"a forged upload token", "tpx_eyJhbGciOiJFUzI1NiJ9.e30.c2ln"},
	} {
		t.Run("an invalid token ("+tc.name+") is answered 200, as RFC 7009 says", func(t *testing.T) {
			if status, body := revoke(t, "", url.Values{"token": {tc.token}}.Encode()); status != http.StatusOK || len(body) != 0 {
				t.Fatalf("answered %d %v", status, body)
			}
		})
	}
	t.Run("a request without a token is invalid_request", func(t *testing.T) {
		status, body := revoke(t, "", "")
		if status != http.StatusBadRequest || body["error"] != "invalid_request" {
			t.Fatalf("answered %d %v", status, body)
		}
	})
	t.Run("a token in the URL is refused and not revoked", func(t *testing.T) {
		tok := mint(t)
		status, body := revoke(t, "?token="+url.QueryEscape(tok), "")
		if status != http.StatusBadRequest || body["error"] != "invalid_request" || !active(t, tok) {
			t.Fatalf("answered %d %v", status, body)
		}
	})
}
