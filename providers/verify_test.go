package providers_test

import (
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
)

func TestAGitHubTokenBecomesAnIdentity(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	iss := w.issuer()
	s := w.set(nil, github(iss))
	claims := iss.GitHubClaims(nil)
	id := mustVerify(t, s, iss.Sign(claims))
	want := policy.Identity{
		Kind:           policy.GitHub,
		Issuer:         iss.URL(),
		Repository:     "octo-org/octo-repo",
		OwnerID:        "65",
		RepositoryID:   "74",
		WorkflowRef:    "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main",
		JobWorkflowRef: "octo-org/octo-repo/.github/workflows/release.yml@refs/heads/main",
		Environment:    "prod",
		Ref:            "refs/heads/main",
		RefProtected:   true,
		SHA:            "d4c3b2a1e5f60718293a4b5c6d7e8f9012345678",
		EventName:      "push",
		RunID:          "8675309",
		RunAttempt:     "2",
		Actor:          "octocat",
		JTI:            claims["jti"].(string),
		IssuedAt:       t0,
		Expiry:         t0.Add(5 * time.Minute),
	}
	if !reflect.DeepEqual(id, want) {
		t.Fatalf("identity\n got %+v\nwant %+v", id, want)
	}
}

func TestAGitLabTokenBecomesAnIdentity(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	iss := w.issuer()
	s := w.set(nil, gitlab(iss))
	claims := iss.GitLabClaims(nil)
	id := mustVerify(t, s, iss.Sign(claims))
	want := policy.Identity{
		Kind:         policy.GitLab,
		Issuer:       iss.URL(),
		Repository:   "my-group/my-project",
		OwnerID:      "72",
		RepositoryID: "20",
		WorkflowRef:  claims["ci_config_ref_uri"].(string),
		Environment:  "release",
		Ref:          "refs/heads/main",
		RefProtected: true,
		SHA:          "714a629c0b401fdce83e847fc9589983fc6f46bc",
		EventName:    "push",
		RunID:        "574",
		RunAttempt:   "302",
		Actor:        "alice",
		JTI:          claims["jti"].(string),
		IssuedAt:     t0,
		Expiry:       t0.Add(time.Hour),
	}
	if !reflect.DeepEqual(id, want) {
		t.Fatalf("identity\n got %+v\nwant %+v", id, want)
	}
}

func TestGitHubIssuersWithPathsWork(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []oidctest.Option
	}{
		{"a GHES instance under /_services/token, over TLS", []oidctest.Option{oidctest.WithTLS(), oidctest.WithPath("/_services/token")}},
		{"an enterprise slug", []oidctest.Option{oidctest.WithPath("/octo-enterprise")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			iss := w.issuer(tc.opts...)
			s := w.set(func(c *providers.Config) { c.HTTPClient = providers.HardenedClient(oidctest.RootCAs()) }, github(iss))
			if id := mustVerify(t, s, iss.Sign(iss.GitHubClaims(nil))); id.Issuer != iss.URL() {
				t.Fatalf("identity issuer %q", id.Issuer)
			}
		})
	}
}

// Every case is a real attack or a broken token; beforeKeys marks those that must be
// refused before any key is looked up, which the issuer proves by receiving no request.
func TestVerifyRefusesForgedAndBrokenTokens(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		token      func(iss *oidctest.Issuer) string
		want       error
		beforeKeys bool
	}{
		{"alg none with an empty signature is malformed", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithAlg("none"))
		}, providers.ErrMalformed, true},
		{"alg none with some signature is refused before any key lookup", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithAlg("none"), oidctest.WithSignature([]byte("sig")))
		}, providers.ErrInvalidToken, true},
		{"HS256 keyed with the issuer's public key is refused before any key lookup", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithAlg("HS256"))
		}, providers.ErrInvalidToken, true},
		{"RS512 with the real key is refused before any key lookup", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithAlg("RS512"))
		}, providers.ErrInvalidToken, true},
		{"PS256 with the real key is refused before any key lookup", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithAlg("PS256"))
		}, providers.ErrInvalidToken, true},
		{"ES256 with the real kid is refused before any key lookup", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithAlg("ES256"), oidctest.WithKey(oidctest.ECKey()))
		}, providers.ErrInvalidToken, true},
		{"an alg spelled in lower case is refused before any key lookup", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithAlg("rs256"))
		}, providers.ErrInvalidToken, true},
		{"a missing alg is refused before any key lookup", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithHeader("alg", oidctest.Omit))
		}, providers.ErrInvalidToken, true},
		{"a missing kid is refused before any key lookup", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithoutKid())
		}, providers.ErrInvalidToken, true},
		{"an empty kid is refused before any key lookup", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithKid(""))
		}, providers.ErrInvalidToken, true},
		{"a numeric kid is refused before any key lookup", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithHeader("kid", 7))
		}, providers.ErrInvalidToken, true},
		{"a 10 KB junk kid is refused before any key lookup", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithKid(strings.Repeat("A", 10<<10)))
		}, providers.ErrInvalidToken, true},
		{"a crit header is refused before any key lookup", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithHeader("crit", []string{"exp"}), oidctest.WithHeader("exp", 1))
		}, providers.ErrInvalidToken, true},
		{"a b64 header is refused before any key lookup", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithHeader("b64", false))
		}, providers.ErrInvalidToken, true},
		{"a nonce that is not a string is refused before any key lookup", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithHeader("nonce", 7))
		}, providers.ErrInvalidToken, true},
		{"a jwk header holding a private key is refused before any key lookup", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithHeader("jwk", jose.JSONWebKey{Key: oidctest.AttackerKey(), KeyID: iss.Kid(), Algorithm: "RS256"}))
		}, providers.ErrInvalidToken, true},
		{"a header that is JSON null is malformed", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithRawHeader([]byte(`null`)))
		}, providers.ErrMalformed, true},
		{"a header that is a JSON array is malformed", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithRawHeader([]byte(`["RS256"]`)))
		}, providers.ErrMalformed, true},
		{"a header naming alg twice is malformed", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithRawHeader([]byte(`{"alg":"none","alg":"RS256","kid":"`+iss.Kid()+`"}`)))
		}, providers.ErrMalformed, true},
		{"a header that is not JSON is malformed", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithRawHeader([]byte(`alg=RS256`)))
		}, providers.ErrMalformed, true},
		{"RS256 signed by an attacker's key under the real kid is refused", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithKey(oidctest.AttackerKey()))
		}, providers.ErrInvalidToken, false},
		{"a 5 KB x5c of junk beside the real kid is refused", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithHeader("x5c", []string{strings.Repeat("A", 5<<10)}))
		}, providers.ErrInvalidToken, false},
		{"a kid of SQL is refused", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithKid("' OR '1'='1'; DROP TABLE keys; --"))
		}, providers.ErrInvalidToken, false},
		{"a kid that is a path is refused", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(nil), oidctest.WithKid("../../../../etc/passwd"))
		}, providers.ErrInvalidToken, false},
		{"a payload swapped after signing is refused", func(iss *oidctest.Issuer) string {
			genuine := strings.Split(iss.Sign(iss.GitHubClaims(nil)), ".")
			other := strings.Split(iss.Sign(iss.GitHubClaims(map[string]any{"repository": "evil/repo"})), ".")
			return genuine[0] + "." + other[1] + "." + genuine[2]
		}, providers.ErrInvalidToken, false},
		{"a payload without iss is malformed", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(map[string]any{"iss": oidctest.Omit}))
		}, providers.ErrMalformed, true},
		{"an iss that is not a string is malformed", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(map[string]any{"iss": []string{iss.URL()}}))
		}, providers.ErrMalformed, true},
		{"a payload naming iss twice, in two cases, is malformed", func(iss *oidctest.Issuer) string {
			return iss.Sign(nil, oidctest.WithPayload([]byte(`{"iss":"`+iss.URL()+`","ISS":"https://evil.example"}`)))
		}, providers.ErrMalformed, true},
		{"a payload naming iss twice, through a Unicode case fold, is malformed", func(iss *oidctest.Issuer) string {
			return iss.Sign(nil, oidctest.WithPayload([]byte(`{"iss":"`+iss.URL()+`","i\u017fs":"https://evil.example"}`)))
		}, providers.ErrMalformed, true},
		{"a payload that is not JSON is malformed", func(iss *oidctest.Issuer) string {
			return iss.Sign(nil, oidctest.WithPayload([]byte(`iss=`+iss.URL())))
		}, providers.ErrMalformed, true},
		{"a payload that is a JSON array is malformed", func(iss *oidctest.Issuer) string {
			return iss.Sign(nil, oidctest.WithPayload([]byte(`["`+iss.URL()+`"]`)))
		}, providers.ErrMalformed, true},
		{"a payload with data after the object is malformed", func(iss *oidctest.Issuer) string {
			return iss.Sign(nil, oidctest.WithPayload([]byte(`{"iss":"`+iss.URL()+`"}{}`)))
		}, providers.ErrMalformed, true},
		{"a payload that is not UTF-8 is malformed", func(iss *oidctest.Issuer) string {
			return iss.Sign(nil, oidctest.WithPayload([]byte("{\"iss\":\""+iss.URL()+"\",\"x\":\"\xff\"}")))
		}, providers.ErrMalformed, true},
		{"a payload with stray bits in its last base64 character is malformed", func(iss *oidctest.Issuer) string {
			parts := strings.Split(iss.Sign(iss.GitHubClaims(nil)), ".")
			return parts[0] + "." + strayBits([]byte(`{"iss":"`+iss.URL()+`"}`)) + "." + parts[2]
		}, providers.ErrMalformed, true},
		{"a missing aud is refused", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(map[string]any{"aud": oidctest.Omit}))
		}, providers.ErrInvalidToken, false},
		{"another aud is refused", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(map[string]any{"aud": "sigstore"}))
		}, providers.ErrInvalidToken, false},
		{"an aud listing ours and another is refused", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(map[string]any{"aud": []string{"tpx", "sigstore"}}))
		}, providers.ErrInvalidToken, false},
		{"an empty aud list is refused", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(map[string]any{"aud": []string{}}))
		}, providers.ErrInvalidToken, false},
		{"a numeric aud is refused", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(map[string]any{"aud": 1}))
		}, providers.ErrInvalidToken, false},
		{"an exp two minutes past, beyond the leeway, is refused", func(iss *oidctest.Issuer) string {
			now := t0.Unix()
			return iss.Sign(iss.GitHubClaims(map[string]any{"iat": now - 420, "nbf": now - 420, "exp": now - 120}))
		}, providers.ErrInvalidToken, false},
		{"a missing exp is refused", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(map[string]any{"exp": oidctest.Omit}))
		}, providers.ErrInvalidToken, false},
		{"an exp given as a string is refused", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(map[string]any{"exp": "9999999999"}))
		}, providers.ErrInvalidToken, false},
		{"an nbf two minutes ahead, beyond the leeway, is refused", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(map[string]any{"nbf": t0.Unix() + 120}))
		}, providers.ErrInvalidToken, false},
		{"an iat two minutes ahead, beyond the leeway, is refused", func(iss *oidctest.Issuer) string {
			now := t0.Unix()
			return iss.Sign(iss.GitHubClaims(map[string]any{"iat": now + 120, "exp": now + 600}))
		}, providers.ErrInvalidToken, false},
		{"a missing iat is refused", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(map[string]any{"iat": oidctest.Omit}))
		}, providers.ErrInvalidToken, false},
		{"an iat given as a string is refused", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(map[string]any{"iat": "1772443800"}))
		}, providers.ErrInvalidToken, false},
		{"an exp before iat is refused", func(iss *oidctest.Issuer) string {
			now := t0.Unix()
			return iss.Sign(iss.GitHubClaims(map[string]any{"iat": now + 30, "exp": now + 10}))
		}, providers.ErrInvalidToken, false},
		{"a missing jti is refused", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(map[string]any{"jti": oidctest.Omit}))
		}, providers.ErrInvalidToken, false},
		{"an empty jti is refused", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(map[string]any{"jti": ""}))
		}, providers.ErrInvalidToken, false},
		{"a numeric jti is refused", func(iss *oidctest.Issuer) string {
			return iss.Sign(iss.GitHubClaims(map[string]any{"jti": 42}))
		}, providers.ErrInvalidToken, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			iss := w.issuer()
			s := w.set(nil, github(iss))
			raw := iss.Sign(iss.GitHubClaims(nil))
			if !tc.beforeKeys {
				mustVerify(t, s, raw) // warm, so that the refusal is not for want of keys
			}
			err := mustFail(t, s, tc.token(iss), tc.want)
			if len(err.Error()) > 1024 {
				t.Fatalf("an error of %d bytes is too long for a log line", len(err.Error()))
			}
			if tc.beforeKeys {
				noRequests(t, iss)
			}
		})
	}
}

func TestVerifyAcceptsWhatThePlatformsReallySend(t *testing.T) {
	t.Parallel()
	now := t0.Unix()
	for _, tc := range []struct {
		name      string
		overrides map[string]any
	}{
		{"an nbf ten minutes before iat, as GitHub sends", map[string]any{"nbf": now - 600, "iat": now}},
		{"no nbf at all", map[string]any{"nbf": oidctest.Omit}},
		{"an exp thirty seconds past, within the leeway", map[string]any{"iat": now - 330, "nbf": now - 330, "exp": now - 30}},
		{"an iat thirty seconds ahead, within the leeway", map[string]any{"iat": now + 30, "nbf": now + 30, "exp": now + 330}},
		{"an aud given as a list of ours alone", map[string]any{"aud": []string{"tpx"}}},
		{"fractional times", map[string]any{"iat": float64(now) + 0.5, "exp": float64(now) + 300.25}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			iss := w.issuer()
			s := w.set(nil, github(iss))
			mustVerify(t, s, iss.Sign(iss.GitHubClaims(tc.overrides)))
		})
	}
}

func TestKeyURLsInTheHeaderAreNeverFetched(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	iss, trap := w.issuer(), w.issuer()
	s := w.set(nil, github(iss))
	attacker := oidctest.AttackerKey()
	pointers := []oidctest.SignOption{
		oidctest.WithHeader("jku", trap.JWKSURL()),
		oidctest.WithHeader("x5u", trap.URL()+"/cert.pem"),
		oidctest.WithHeader("jwk", oidctest.PublicJWK(&attacker.PublicKey, iss.Kid())),
	}
	t.Run("a forgery that brings its own key is refused", func(t *testing.T) {
		mustFail(t, s, iss.Sign(iss.GitHubClaims(nil), append(pointers, oidctest.WithKey(attacker))...), providers.ErrInvalidToken)
		mustFail(t, s, iss.Sign(iss.GitHubClaims(nil), append(pointers, oidctest.WithKey(attacker),
			oidctest.WithKid(oidctest.KeyID(&attacker.PublicKey)))...), providers.ErrInvalidToken)
	})
	t.Run("a genuine token carrying the same headers verifies with the issuer's key", func(t *testing.T) {
		mustVerify(t, s, iss.Sign(iss.GitHubClaims(nil), pointers...))
	})
	noRequests(t, trap)
}

func TestAnIssuerNotConfiguredExactlyCausesNoRequest(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	iss := w.issuer(oidctest.WithPath("/_services/token"))
	trap := w.issuer()
	s := w.set(nil, github(iss))
	u := iss.URL()
	host := strings.TrimPrefix(u, "http://")
	for _, tc := range []struct{ name, iss string }{
		{"with a trailing slash", u + "/"},
		{"with an upper-case scheme", "HTTP://" + host},
		{"with its path in another case", strings.Replace(u, "/_services/token", "/_services/Token", 1)},
		{"with an extra path segment", u + "/extra"},
		{"without its path", strings.TrimSuffix(u, "/_services/token")},
		{"on a lookalike host", strings.Replace(u, "127.0.0.1", "127.0.0.1.nip.io", 1)},
		{"on localhost instead of 127.0.0.1", strings.Replace(u, "127.0.0.1", "localhost", 1)},
		{"over https", "https://" + host},
		{"with a fragment", u + "#"},
		{"with a query", u + "?"},
		{"with surrounding space", " " + u},
		{"another issuer's URL", trap.URL()},
		{"empty", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := mustFail(t, s, iss.Sign(iss.GitHubClaims(map[string]any{"iss": tc.iss})), providers.ErrUnknownIssuer)
			if strings.Contains(err.Error(), "eyJ") {
				t.Fatalf("the error quotes the token: %v", err)
			}
		})
	}
	noRequests(t, iss, trap)
}

func TestATokenSignedByOneIssuerCannotPassForAnother(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	a, b := w.issuer(), w.issuer()
	s := w.set(nil, github(a), github(b))
	mustVerify(t, s, a.Sign(a.GitHubClaims(nil)))
	mustVerify(t, s, b.Sign(b.GitHubClaims(nil)))
	claimsB := b.GitHubClaims(nil)
	t.Run("with the signer's own kid", func(t *testing.T) {
		mustFail(t, s, a.Sign(claimsB), providers.ErrInvalidToken)
	})
	t.Run("with the claimed issuer's kid", func(t *testing.T) {
		mustFail(t, s, a.Sign(claimsB, oidctest.WithKid(b.Kid())), providers.ErrInvalidToken)
	})
}

func TestAGitLabTokenFromAGitHubIssuerIsReadAsGitHub(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	iss := w.issuer()
	s := w.set(nil, github(iss))
	// The kind comes from the operator's configuration of the issuer, never from the
	// token: GitLab-shaped claims lack what a GitHub identity needs.
	mustFail(t, s, iss.Sign(iss.GitLabClaims(nil)), providers.ErrInvalidToken)
}

// strayBits encodes b in base64url with a non-zero bit where the encoding has only
// padding bits: lenient decoders read the same bytes, so one token would have two
// spellings.
func strayBits(b []byte) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for len(b)%3 != 1 { // one byte left over: the last character carries 4 padding bits
		b = append(b, ' ')
	}
	s := base64.RawURLEncoding.EncodeToString(b)
	last := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[last|1])
}
