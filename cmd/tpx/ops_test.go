package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store/sqlite"
	"github.com/tpx-dev/tpx/web"
)

// metricsText is a scrape of /metrics in the Prometheus text format.
type metricsText string

func scrapeMetrics(t *testing.T, base string) metricsText {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	return metricsText(b)
}

// value is the value of the series name whose labels include the pairs given.
func (m metricsText) value(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	v, ok := m.find(name, labels...)
	if !ok {
		t.Fatalf("no series %s%v in /metrics", name, labels)
	}
	return v
}

func (m metricsText) find(name string, labels ...string) (float64, bool) {
	for _, line := range strings.Split(string(m), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		series, value := line[:i], line[i+1:]
		n, set, _ := strings.Cut(series, "{")
		if n != name {
			continue
		}
		match := true
		for j := 0; j+1 < len(labels); j += 2 {
			if !strings.Contains(set, labels[j]+`="`+labels[j+1]+`"`) {
				match = false
			}
		}
		if match {
			v, err := strconv.ParseFloat(value, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// loadConfig reads the configuration the way tpx does, from env.
func loadConfig(t *testing.T, env map[string]string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	load := configFlags(fs, func(k string) string { return env[k] }, allSettings)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	return load()
}

func writeTestFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestIssuerKillSwitchAnswersNotEnabled(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		on, off := oidctest.New(t), oidctest.New(t)
		file := writeTestFile(t, "tpx.yaml", fmt.Sprintf("providers:\n  - {kind: github, issuer: %q}\n  - {kind: github, issuer: %q, enabled: false}\n", on.URL(), off.URL()))
		loaded, err := loadConfig(t, map[string]string{"TPX_CONFIG": file})
		if err != nil {
			t.Fatal(err)
		}
		h := serviceHarness(t, b, []*oidctest.Issuer{on, off}, func(c *Config) { c.Providers = loaded.Providers }, nil, nil)
		h.github("sampleproject", nil)
		// The same repository on the switched-off issuer: registering it is allowed, so
		// that switching the issuer back on needs no owner to act.
		h.addPublisher("sampleproject", policy.Publisher{Kind: policy.GitHub, Issuer: off.URL(), Owner: "octo-org", Name: "octo-repo", Workflow: "release.yml"})

		t.Run("A token of the switched-off issuer is refused not-enabled, with no request to it", func(t *testing.T) {
			h.refused(t, http.StatusUnprocessableEntity, "not-enabled", func() reply { return h.exchange(t, off.Sign(off.GitHubClaims(nil))) })
			if n := off.Requests(); n != 0 {
				t.Fatalf("tpx made %d requests to the switched-off issuer", n)
			}
		})
		t.Run("A token of an enabled issuer is exchanged", func(t *testing.T) {
			h.accepted(t, func() reply { return h.exchange(t, on.Sign(on.GitHubClaims(nil))) })
		})
		t.Run("The refusals are counted under the issuer, which has no key cache", func(t *testing.T) {
			m := scrapeMetrics(t, h.url)
			if n := m.value(t, "tpx_exchanges_total", "issuer", off.URL(), "outcome", "not-enabled"); n != 1 {
				t.Fatalf("tpx_exchanges_total{outcome=not-enabled} is %v", n)
			}
			if _, ok := m.find("tpx_issuer_keys", "issuer", off.URL()); ok {
				t.Fatal("the switched-off issuer has a key cache")
			}
		})
	})
}

// postFrom posts a junk exchange body as a client that a trusted proxy names in
// X-Forwarded-For (none if forwardedFor is "").
func postFrom(t *testing.T, base, forwardedFor string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/_/oidc/mint-token", strings.NewReader(`{"token": "not a jwt"}`))
	if err != nil {
		t.Fatal(err)
	}
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestExchangeRateLimitPerClientAddress(t *testing.T) {
	t.Parallel()
	limited := func(proxies ...netip.Prefix) func(*Config) {
		return func(c *Config) {
			c.RateLimit = web.RateLimit{Requests: 3, Per: time.Minute, TrustedProxies: proxies}
		}
	}
	b := backends()[0]
	cases := []struct {
		name  string
		edit  func(*Config)
		sends []string // X-Forwarded-For of each request in turn
		want  []int    // 429 or 422 (the junk body, let through)
	}{
		{"Without a limit nothing is refused", nil,
			[]string{"", "", "", "", "", "", "", ""}, []int{422, 422, 422, 422, 422, 422, 422, 422}},
		{"A client past its limit is refused 429 and other clients are not", limited(netip.MustParsePrefix("127.0.0.1/32")),
			[]string{"203.0.113.7", "203.0.113.7", "203.0.113.7", "203.0.113.7", "203.0.113.8", "203.0.113.7"}, []int{422, 422, 422, 429, 422, 429}},
		{"IPv6 clients are counted by their /64", limited(netip.MustParsePrefix("127.0.0.1/32")),
			[]string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3", "2001:db8:1:2::4", "2001:db8:1:3::1"}, []int{422, 422, 422, 429, 422}},
		{"X-Forwarded-For from an untrusted address changes nothing", limited(),
			[]string{"203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"}, []int{422, 422, 422, 429}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := serviceHarness(t, b, []*oidctest.Issuer{oidctest.New(t)}, c.edit, nil, nil)
			for i, xff := range c.sends {
				resp := postFrom(t, h.url, xff)
				if resp.StatusCode != c.want[i] {
					t.Fatalf("request %d (from %q): %d, want %d", i, xff, resp.StatusCode, c.want[i])
				}
				if resp.StatusCode == http.StatusTooManyRequests {
					s, err := strconv.Atoi(resp.Header.Get("Retry-After"))
					if err != nil || s < 1 || s > 60 {
						t.Fatalf("Retry-After %q, want 1 to 60 seconds", resp.Header.Get("Retry-After"))
					}
				}
			}
		})
	}
	t.Run("A 429 is in the error shape, with the request id", func(t *testing.T) {
		h := serviceHarness(t, b, []*oidctest.Issuer{oidctest.New(t)}, limited(), nil, nil)
		for range 3 {
			postFrom(t, h.url, "")
		}
		r := h.post(t, []byte(`{"token": "x"}`))
		if r.Status != http.StatusTooManyRequests || r.code() != "rate-limited" || r.Message != "Token request failed" || r.RequestID == "" {
			t.Fatalf("got %d %s", r.Status, r.raw)
		}
	})
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns their paths
// and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tpx test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AddCert(cert)
	return certFile, keyFile, roots
}

// inProcess is `tpx serve` run in this process, as main runs it, on the embedded store.
type inProcess struct {
	url    string
	log    *lockedWriter
	buf    *bytes.Buffer
	cancel context.CancelFunc
	exit   chan int
}

// serveInProcess runs serve with env until the test ends or stop; scheme is http or https.
func serveInProcess(t *testing.T, env map[string]string, scheme string) *inProcess {
	t.Helper()
	buf := &bytes.Buffer{}
	p := &inProcess{log: &lockedWriter{w: buf}, buf: buf, exit: make(chan int, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() {
		p.exit <- run(ctx, []string{"serve"}, strings.NewReader(""), io.Discard, p.log, func(k string) string { return env[k] })
	}()
	t.Cleanup(p.stop)
	addr := regexp.MustCompile(`"msg":"tpx serving","addr":"([^"]+)"`)
	waitUntil(t, "serve to listen", func() bool {
		select {
		case code := <-p.exit:
			p.exit <- code
			t.Fatalf("serve exited %d:\n%s", code, p.logs())
		default:
		}
		if m := addr.FindStringSubmatch(p.logs()); m != nil {
			p.url = scheme + "://" + m[1]
			return true
		}
		return false
	})
	return p
}

func (p *inProcess) logs() string {
	p.log.mu.Lock()
	defer p.log.mu.Unlock()
	return p.buf.String()
}

// stop cancels serve, as SIGTERM does.
func (p *inProcess) stop() { p.cancel() }

// wait stops serve and returns its exit status.
func (p *inProcess) wait(t *testing.T) int {
	t.Helper()
	p.cancel()
	select {
	case code := <-p.exit:
		return code
	case <-time.After(time.Minute):
		t.Fatal("serve did not return within a minute of being stopped")
		return -1
	}
}

// embeddedEnv is the environment of tpx on a fresh embedded store trusting iss. Its
// port is picked at start, so the audience is set rather than derived from the URL.
func embeddedEnv(t *testing.T, iss *oidctest.Issuer) map[string]string {
	t.Helper()
	return map[string]string{
		"TPX_ADDR":       "127.0.0.1:0",
		"TPX_AUDIENCE":   "tpx",
		"TPX_DATA_DIR":   t.TempDir(),
		"TPX_SECRET_KEY": strings.Repeat("s", 32),
		"TPX_LOG_FORMAT": "json",
		"TPX_CONFIG":     writeTestFile(t, "tpx.yaml", fmt.Sprintf("providers:\n  - {kind: github, issuer: %q}\n", iss.URL())),
	}
}

func TestServeOverTLS(t *testing.T) {
	t.Parallel()
	cert, key, roots := selfSigned(t)
	env := embeddedEnv(t, oidctest.New(t))
	env["TPX_TLS_CERT"], env["TPX_TLS_KEY"] = cert, key
	p := serveInProcess(t, env, "https")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	for _, path := range []string{"/healthz", "/readyz", "/_/oidc/audience"} {
		resp, err := client.Get(p.url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.TLS == nil {
			t.Fatalf("GET %s over TLS: %d", path, resp.StatusCode)
		}
	}
	resp, err := http.Get(strings.Replace(p.url, "https://", "http://", 1) + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("plain HTTP to the TLS port got %d, want Go's 400", resp.StatusCode)
	}
	if code := p.wait(t); code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, p.logs())
	}
	if !strings.Contains(p.logs(), `"tls":true`) {
		t.Fatalf("the start line does not say TLS:\n%s", p.logs())
	}
}

// TestServeSendsRefusedConnectionsToTakeTurns: tpx serve tells connections apart, so that
// the requests of a connection whose last exchange was refused wait for turns, and a
// new connection's do not.
func TestServeSendsRefusedConnectionsToTakeTurns(t *testing.T) {
	t.Parallel()
	p := serveInProcess(t, embeddedEnv(t, oidctest.New(t)), "http")
	tr := &http.Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	one := &http.Client{Transport: tr}
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	post := func(c *http.Client) {
		t.Helper()
		resp, err := c.Post(p.url+"/_/oidc/mint-token", "application/json", strings.NewReader(`{"token":"not.a.jwt"}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnprocessableEntity {
			t.Fatalf("a malformed token got %d, want 422", resp.StatusCode)
		}
	}
	served := func() float64 {
		return scrapeMetrics(t, p.url).value(t, "tpx_refused_connection_requests_total", "result", "served")
	}
	for range 3 {
		post(fresh)
	}
	if n := served(); n != 0 {
		t.Fatalf("%v requests on new connections waited for turns, want none", n)
	}
	for range 3 {
		post(one)
	}
	if n := served(); n != 2 {
		t.Fatalf("%v requests of one connection, after its first was refused, waited for turns; want 2", n)
	}
}

func TestConfigurationErrorsAreSentencesNotCrashes(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	cert, key, _ := selfSigned(t)
	_, otherKey, _ := selfSigned(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cases := []struct {
		name string
		set  map[string]string
		want string
	}{
		{"An introspection secret short enough to guess", map[string]string{"TPX_INTROSPECT_SECRET": "hunter2"}, "TPX_INTROSPECT_SECRET has 7 characters"},
		{"A rate limit that is not REQUESTS/DURATION", map[string]string{"TPX_RATE_LIMIT": "lots"}, "TPX_RATE_LIMIT"},
		{"A rate limit over a period shorter than a second", map[string]string{"TPX_RATE_LIMIT": "10/1ms"}, "between 1s and 24h"},
		{"A trusted proxy that is a name, not an address", map[string]string{"TPX_TRUSTED_PROXIES": "lb.internal"}, "TPX_TRUSTED_PROXIES"},
		{"Exchange records kept less than a day", map[string]string{"TPX_EXCHANGE_RETENTION": "1h"}, "at least a day"},
		{"Exchange records kept for a number that is not days", map[string]string{"TPX_EXCHANGE_RETENTION": "forever"}, "TPX_EXCHANGE_RETENTION"},
		{"A kill switch that is not a boolean", map[string]string{"TPX_CONFIG": writeTestFile(t, "bad.yaml",
			fmt.Sprintf("providers:\n  - {kind: github, issuer: %q, enabled: maybe}\n", iss.URL()))}, "TPX_CONFIG"},
		{"A misspelt setting in the file", map[string]string{"TPX_CONFIG": writeTestFile(t, "typo.yaml",
			fmt.Sprintf("providers:\n  - {kind: github, issuer: %q, enable: false}\n", iss.URL()))}, "unknown field enable"},
		{"Every issuer switched off", map[string]string{"TPX_CONFIG": writeTestFile(t, "off.yaml",
			fmt.Sprintf("providers:\n  - {kind: github, issuer: %q, enabled: false}\n", iss.URL()))}, "every provider has enabled: false"},
		{"A TLS certificate that does not exist", map[string]string{"TPX_TLS_CERT": cert + ".missing", "TPX_TLS_KEY": key}, "TPX_TLS_CERT and TPX_TLS_KEY"},
		{"A TLS key that is not the certificate's", map[string]string{"TPX_TLS_CERT": cert, "TPX_TLS_KEY": otherKey}, "TPX_TLS_CERT and TPX_TLS_KEY"},
		{"An address someone listens on already", map[string]string{"TPX_ADDR": busy.Addr().String()}, "TPX_ADDR"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := embeddedEnv(t, iss)
			for k, v := range c.set {
				env[k] = v
			}
			var stderr bytes.Buffer
			log := &lockedWriter{w: &stderr}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			code := run(ctx, []string{"serve"}, strings.NewReader(""), io.Discard, log, func(k string) string { return env[k] })
			log.mu.Lock()
			msg := stderr.String()
			log.mu.Unlock()
			if code != 1 || !strings.Contains(msg, "tpx: ") || !strings.Contains(msg, c.want) || strings.Contains(msg, "panic") {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 and a sentence mentioning %q", code, msg, c.want)
			}
		})
	}
}

// TestLogsCarryNoSecretsAndRequestIDs runs the flows of the whole suite once, the
// command line and the service on one embedded store, and reads everything they logged:
// no password, TOTP secret or code, secret key, introspection secret, CI token or upload
// token may appear, and every line about a request carries that request's id.
func TestLogsCarryNoSecretsAndRequestIDs(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	env := embeddedEnv(t, iss)
	env["TPX_INTROSPECT_SECRET"] = "the introspection secret of the log test"
	var cliLog bytes.Buffer
	secrets := []string{env["TPX_SECRET_KEY"], env["TPX_INTROSPECT_SECRET"]}
	cli := func(stdin string, args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if code := run(context.Background(), args, strings.NewReader(stdin), &out, &cliLog, func(k string) string { return env[k] }); code != 0 {
			t.Fatalf("tpx %s: exit %d\n%s", strings.Join(args, " "), code, cliLog.String())
		}
		return out.String()
	}
	const password = "a passphrase of the log test, not to be logged"
	secrets = append(secrets, password)
	cli(password+"\n", "user", "add", "alice", "--email", "alice@example.org")
	uri, err := url.Parse(strings.TrimSpace(cli("", "user", "enroll-totp", "alice")))
	if err != nil {
		t.Fatal(err)
	}
	totpSecret := uri.Query().Get("secret")
	secrets = append(secrets, totpSecret)
	cli("", "project", "add", "sampleproject", "--owner", "alice")
	cli("", "publisher", "add", "github", "--project", "sampleproject", "--repository", "octo-org/octo-repo",
		"--workflow", "release.yml", "--issuer", iss.URL(), "--by", "alice")

	// The second factor, as the web UI checks it, logging to the same place.
	var accountLog bytes.Buffer
	st, err := sqlite.Open(context.Background(), env["TPX_DATA_DIR"])
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	box, err := secretbox.New(env["TPX_SECRET_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	accounts := account.New(account.Config{Store: st, Box: box, Logger: jsonLogger(&accountLog)})
	code, err := totp.GenerateCode(totpSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	wrong := fmt.Sprintf("%06d", (mustAtoi(t, code)+500000)%1000000)
	if err := accounts.CheckTOTP(context.Background(), "alice", code); err != nil {
		t.Fatalf("the right TOTP code was refused: %v", err)
	}
	if err := accounts.CheckTOTP(context.Background(), "alice", wrong); err == nil {
		t.Fatal("a wrong TOTP code was accepted")
	}

	p := serveInProcess(t, env, "http")
	var requestIDs []string
	send := func(body []byte) mintAnswer {
		resp, err := http.Post(p.url+"/_/oidc/mint-token", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		a := readAnswer(resp)
		requestIDs = append(requestIDs, resp.Header.Get("X-Request-Id"))
		return a
	}
	exchange := func(tok string) mintAnswer {
		secrets = append(secrets, tok)
		body, _ := json.Marshal(map[string]string{"token": tok})
		return send(body)
	}
	good := iss.Sign(iss.GitHubClaims(nil))
	up := exchange(good)
	if up.status != http.StatusOK {
		t.Fatalf("exchange: %d %s", up.status, up.raw)
	}
	secrets = append(secrets, up.token)
	parts := strings.Split(good, ".")
	for _, c := range []struct {
		tok  string
		code string
	}{
		{good, "invalid-reuse-token"},
		{parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), "invalid-token"},
		{iss.Sign(iss.GitHubClaims(map[string]any{"aud": "someone-else"})), "invalid-token"},
		{iss.Sign(iss.GitHubClaims(map[string]any{"repository": "evil-org/octo-repo"})), "invalid-publisher"},
		{"eyJhbGciOiJub25lIn0." + strings.Repeat("x", 80) + ".", "invalid-payload"},
	} {
		if got := exchange(c.tok); got.code != c.code {
			t.Fatalf("want %s, got %d %s", c.code, got.status, got.raw)
		}
	}
	if got := send([]byte(`{"token": "` + strings.Repeat("s3cr3t", 20) + `", "extra": 1}`)); got.status != http.StatusUnprocessableEntity {
		t.Fatalf("a malformed body got %d", got.status)
	}
	secrets = append(secrets, strings.Repeat("s3cr3t", 20))
	introspect := func(bearer string) int {
		req, _ := http.NewRequest(http.MethodPost, p.url+"/v1/tokens/introspect", strings.NewReader(url.Values{"token": {up.token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	const guess = "a guessed introspection secret"
	secrets = append(secrets, guess)
	if introspect(env["TPX_INTROSPECT_SECRET"]) != http.StatusOK || introspect(guess) != http.StatusUnauthorized {
		t.Fatal("introspection did not mintAnswer as expected")
	}
	req, _ := http.NewRequest(http.MethodPost, p.url+"/v1/tokens/revoke", nil)
	req.Header.Set("Authorization", "Bearer "+up.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	t.Run("The metrics count what happened", func(t *testing.T) {
		m := scrapeMetrics(t, p.url)
		for _, c := range []struct {
			name   string
			labels []string
			least  float64
		}{
			{"tpx_exchanges_total", []string{"issuer", iss.URL(), "outcome", "success"}, 1},
			{"tpx_exchanges_total", []string{"issuer", iss.URL(), "outcome", "invalid-reuse-token"}, 1},
			{"tpx_exchanges_total", []string{"issuer", iss.URL(), "outcome", "invalid-token"}, 2},
			{"tpx_exchanges_total", []string{"issuer", iss.URL(), "outcome", "invalid-publisher"}, 1},
			{"tpx_exchanges_total", []string{"issuer", "none", "outcome", "invalid-payload"}, 2},
			{"tpx_exchange_duration_seconds_count", []string{"outcome", "success"}, 1},
			{"tpx_issuer_key_fetches_total", []string{"issuer", iss.URL(), "result", "success"}, 1},
			{"tpx_issuer_keys", []string{"issuer", iss.URL()}, 1},
			{"tpx_issuer_keys_age_seconds", []string{"issuer", iss.URL()}, 0},
			{"tpx_db_connections_max", nil, 1},
			{"tpx_db_connections_open", nil, 1},
			{"tpx_db_connections", []string{"state", "idle"}, 0},
			{"tpx_db_connection_waits_total", nil, 0},
			{"tpx_db_commit_groups_total", nil, 0},
			{"tpx_db_commit_groups_rolled_back_total", nil, 0},
			{"tpx_db_conflicts_total", nil, 0},
			{"tpx_db_commit_queue", nil, 0},
			{"tpx_http_requests_total", []string{"route", "/_/oidc/mint-token", "method", "POST", "status", "200"}, 1},
			{"tpx_http_requests_total", []string{"route", "/v1/tokens/introspect", "method", "POST", "status", "401"}, 1},
			{"tpx_http_request_duration_seconds_count", []string{"route", "/_/oidc/mint-token"}, 7},
			{"tpx_retention_runs_total", []string{"result", "success"}, 1},
			{"tpx_retention_last_success_timestamp_seconds", nil, 1},
			{"go_goroutines", nil, 1},
			{"process_open_fds", nil, 1},
		} {
			if v := m.value(t, c.name, c.labels...); v < c.least {
				t.Errorf("%s%v is %v, want at least %v", c.name, c.labels, v, c.least)
			}
		}
	})
	if code := p.wait(t); code != 0 {
		t.Fatalf("serve exited %d", code)
	}

	logs := cliLog.String() + accountLog.String() + p.logs()
	t.Run("No secret is logged", func(t *testing.T) {
		assertNoSecrets(t, logs, secrets)
		for _, c := range []string{code, wrong} {
			if regexp.MustCompile(`(^|[^0-9])` + c + `([^0-9]|$)`).MatchString(logs) {
				t.Errorf("a TOTP code appears in the log")
			}
		}
	})
	t.Run("Every line about a request carries its id, and every reply's id is in the log", func(t *testing.T) {
		seen := map[string]bool{}
		for _, line := range strings.Split(p.logs(), "\n") {
			var l map[string]any
			if json.Unmarshal([]byte(line), &l) != nil {
				continue
			}
			id, _ := l["request_id"].(string)
			msg, _ := l["msg"].(string)
			if id != "" {
				seen[id] = true
			}
			if _, ok := l["route"]; (ok || strings.HasPrefix(msg, "exchange") || strings.Contains(msg, "revoked")) && id == "" {
				t.Errorf("a line about a request has no request id: %s", line)
			}
		}
		for _, id := range requestIDs {
			if !seen[id] {
				t.Errorf("reply with request id %q: not in the log", id)
			}
		}
	})
}

func jsonLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewJSONHandler(w, nil)) }

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
