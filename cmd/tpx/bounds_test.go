package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/web"
)

// hostile sends n requests an unauthenticated caller chooses every part of: methods of
// 60 KB, random paths, CI tokens naming random issuers, random client addresses in
// X-Forwarded-For, long form fields.
func hostile(t *testing.T, base string, n int) {
	t.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	letters := func(n int) string {
		b := make([]byte, n)
		rand.Read(b)
		for i := range b {
			b[i] = 'A' + b[i]%26
		}
		return string(b)
	}
	send := func(method, path, contentType string, body []byte, header http.Header) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%.20s %.60s: %v", method, path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for i := range n {
		xff := http.Header{"X-Forwarded-For": {netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}).String()}}
		if i%2 == 1 {
			var a [16]byte
			rand.Read(a[:])
			xff.Set("X-Forwarded-For", netip.AddrFrom16(a).String())
		}
		switch i % 6 {
		case 0: // a method of 60 KB, on a real route and on a made-up one
			send(letters(60<<10), "/_/oidc/mint-token", "", nil, xff)
			send(letters(60<<10), "/"+letters(40), "", nil, xff)
		case 1: // random paths, long and short
			send(http.MethodGet, "/"+letters(8)+"/"+letters(2000), "", nil, xff)
			send(http.MethodPost, "/projects/"+letters(500)+"/publishers", "", nil, xff)
		case 2: // CI tokens naming an issuer nobody configured
			iss := "https://" + letters(30) + ".example/" + letters(3000)
			tok := b64([]byte(`{"alg":"RS256","kid":"`+letters(200)+`","typ":"JWT"}`)) + "." +
				b64([]byte(`{"iss":"`+iss+`","aud":"tpx","jti":"`+letters(500)+`"}`)) + "." + b64([]byte(letters(256)))
			body, _ := json.Marshal(map[string]string{"token": tok})
			send(http.MethodPost, "/_/oidc/mint-token", "application/json", body, xff)
		case 3: // introspection guesses with secrets of every length and tokens in the URL
			h := xff.Clone()
			h.Set("Authorization", "Bearer "+letters(1+i*37%5000))
			send(http.MethodPost, "/v1/tokens/introspect?token="+letters(3000), "application/x-www-form-urlencoded",
				[]byte(url.Values{"token": {letters(10 << 10)}}.Encode()), h)
		case 4: // log-in attempts with long user names
			send(http.MethodPost, "/account/login", "application/x-www-form-urlencoded",
				[]byte(url.Values{"username": {letters(20 << 10)}, "password": {letters(64)}}.Encode()), xff)
		case 5: // revocation with junk bearers, and a HEAD of junk
			h := xff.Clone()
			h.Set("Authorization", "Bearer tpx_"+letters(8<<10))
			send(http.MethodPost, "/v1/tokens/revoke", "", nil, h)
			send(http.MethodHead, "/"+letters(100), "", nil, xff)
		}
	}
}

// series is the set of sample names with their labels in a scrape, without the Go
// runtime's and the process's own, whose values move on their own.
func (m metricsText) series() []string {
	var out []string
	for _, line := range strings.Split(string(m), "\n") {
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "go_") || strings.HasPrefix(line, "process_") {
			continue
		}
		out = append(out, line[:strings.LastIndexByte(line, ' ')])
	}
	slices.Sort(out)
	return out
}

func TestHostileRequestsLeaveMetricsAndLogsBounded(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	h := serviceHarness(t, backends()[0], []*oidctest.Issuer{iss}, func(c *Config) {
		// A limit no one reaches here: the limiter's table is what is under test.
		c.RateLimit = web.RateLimit{Requests: 1000, Per: time.Minute, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
		c.IntrospectSecret = strings.Repeat("s", 40)
	}, nil, nil)
	h.github("sampleproject", nil)
	h.accepted(t, func() reply { return h.exchange(t, iss.Sign(iss.GitHubClaims(nil))) })

	scrapeMetrics(t, h.url) // so that the scrape's own series exist before the first count
	const rounds = 300
	hostile(t, h.url, rounds)
	first := scrapeMetrics(t, h.url)
	logAfterFirst := len(h.logString())
	hostile(t, h.url, rounds)
	second := scrapeMetrics(t, h.url)

	t.Run("a second round of hostile requests adds no series to /metrics", func(t *testing.T) {
		a, b := first.series(), second.series()
		if !slices.Equal(a, b) {
			for _, s := range b {
				if !slices.Contains(a, s) {
					t.Errorf("new series after the second round: %.200s", s)
				}
			}
			t.FailNow()
		}
		if grew := len(second) - len(first); grew > 2<<10 {
			t.Errorf("/metrics grew by %d bytes in the second round (%d → %d)", grew, len(first), len(second))
		}
	})
	t.Run("no label value is longer than a route pattern", func(t *testing.T) {
		for _, s := range second.series() {
			for _, v := range strings.Split(s, `"`)[1:] {
				if len(v) > 120 {
					t.Errorf("series %.200s… has a label value of %d bytes", s, len(v))
				}
			}
		}
	})
	t.Run("methods that are not HTTP's count as other, unmatched paths as one route", func(t *testing.T) {
		if _, ok := second.find("tpx_http_requests_total", "method", "other"); !ok {
			t.Error("no method=\"other\" series after 600 requests with made-up methods")
		}
		if _, ok := second.find("tpx_http_requests_total", "route", "unmatched"); !ok {
			t.Error("no route=\"unmatched\" series after requests to made-up paths")
		}
	})
	t.Run("exchanges naming unknown issuers count under none", func(t *testing.T) {
		if n := second.value(t, "tpx_exchanges_total", "issuer", "none", "outcome", "invalid-payload"); n < 2*rounds/6 {
			t.Errorf("tpx_exchanges_total{issuer=none,outcome=invalid-payload} = %v, want at least %d", n, 2*rounds/6)
		}
	})
	t.Run("the log grows by a bounded amount per request and no line is huge", func(t *testing.T) {
		log := h.logString()
		perRequest := (len(log) - logAfterFirst) / (rounds * 3 / 2)
		if perRequest > 3<<10 {
			t.Errorf("the log grew by %d bytes per hostile request", perRequest)
		}
		for _, line := range strings.Split(log, "\n") {
			if len(line) > 6<<10 {
				t.Fatalf("a log line of %d bytes: %.300s…", len(line), line)
			}
		}
	})
}

func TestDefaultAudienceNamesTheDeployment(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"an https public URL gives tpx: and its host", map[string]string{"TPX_PUBLIC_URL": "https://tpx.example.org"}, "tpx:tpx.example.org"},
		{"the host is compared without case and a trailing slash changes nothing", map[string]string{"TPX_PUBLIC_URL": "https://TPX.Example.org/"}, "tpx:tpx.example.org"},
		{"a path under the index's host is part of it", map[string]string{"TPX_PUBLIC_URL": "https://index.example.org/tpx"}, "tpx:index.example.org/tpx"},
		{"a port is part of it", map[string]string{"TPX_PUBLIC_URL": "https://tpx.example.org:8443"}, "tpx:tpx.example.org:8443"},
		{"plain http says its port", map[string]string{"TPX_PUBLIC_URL": "http://tpx.example.org"}, "tpx:tpx.example.org:80"},
		{"without a public URL the listen address names it", map[string]string{"TPX_ADDR": "127.0.0.1:9090"}, "tpx:127.0.0.1:9090"},
		{"an audience the operator set is kept", map[string]string{"TPX_PUBLIC_URL": "https://tpx.example.org", "TPX_AUDIENCE": "pypi"}, "pypi"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := loadConfig(t, c.env)
			if err != nil || cfg.Audience != c.want {
				t.Fatalf("audience %q, error %v; want %q", cfg.Audience, err, c.want)
			}
		})
	}
	t.Run("different public URLs never share a default audience", func(t *testing.T) {
		urls := []string{"https://tpx.example.org", "http://tpx.example.org", "https://tpx.example.org:8443",
			"https://tpx.example.org/staging", "https://tpx.example.org/production", "https://staging.tpx.example.org",
			"http://127.0.0.1:8080", "http://127.0.0.1:8081", "http://[::1]:8080", "https://tpx.example.com"}
		seen := map[string]string{}
		for _, u := range urls {
			cfg, err := loadConfig(t, map[string]string{"TPX_PUBLIC_URL": u})
			if err != nil {
				t.Fatal(err)
			}
			if other, ok := seen[cfg.Audience]; ok {
				t.Errorf("%s and %s share the audience %q", other, u, cfg.Audience)
			}
			seen[cfg.Audience] = u
		}
	})
}

func TestATokenForOneDeploymentIsRefusedByAnother(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		iss := oidctest.New(t)
		deployment := func() *harness {
			// The audience is left to its default, as an operator who sets only the URL does.
			h := serviceHarness(t, b, []*oidctest.Issuer{iss}, func(c *Config) {
				loaded, err := loadConfig(t, map[string]string{"TPX_PUBLIC_URL": c.PublicURL})
				if err != nil {
					t.Fatal(err)
				}
				c.Audience = loaded.Audience
			}, nil, nil)
			h.github("sampleproject", nil)
			return h
		}
		staging, production := deployment(), deployment()
		audienceOf := func(h *harness) string {
			resp, err := http.Get(h.url + "/_/oidc/audience")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var a struct{ Audience string }
			if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
				t.Fatal(err)
			}
			return a.Audience
		}
		forStaging := audienceOf(staging)
		if forStaging == audienceOf(production) || !strings.HasPrefix(forStaging, "tpx:127.0.0.1:") {
			t.Fatalf("staging's audience %q, production's %q: want two deployment names", forStaging, audienceOf(production))
		}
		tok := iss.Sign(iss.GitHubClaims(map[string]any{"aud": forStaging}))
		production.refused(t, http.StatusUnprocessableEntity, "invalid-token", func() reply { return production.exchange(t, tok) })
		staging.accepted(t, func() reply { return staging.exchange(t, tok) })
	})
}
