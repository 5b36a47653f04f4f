package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/verify"
)

// nginxConf is docs/deploy.md's nginx configuration with the addresses of the test: the
// index's host sends the exchange routes and tpx's keys to tpx, everything else to the
// index. TestDeployDocShowsTheTestedNginxConfiguration holds docs/deploy.md to it.
const nginxConf = `    location /_/oidc/ {
        proxy_pass http://TPX;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
    }
    location = /.well-known/jwks.json {
        proxy_pass http://TPX;
    }
    location = /.well-known/openid-configuration {
        proxy_pass http://TPX;
    }
    location / {
        proxy_pass http://INDEX;
        proxy_set_header Host $host;
        client_max_body_size 100m;
    }
`

// freeAddr returns a loopback address nothing listens on yet.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startNginx runs Debian's nginx on listen with server block body, in a directory of its
// own, until the test ends.
func startNginx(t *testing.T, listen, body string) {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			needed(t, "nginx (Debian: nginx)")
		}
		bin = "/usr/sbin/nginx"
	}
	dir := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		// Workers would otherwise run as nobody, who cannot enter the test's directory.
		user = "user root;"
	}
	conf := fmt.Sprintf(`%s
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log;
events {}
http {
    access_log %[2]s/access.log;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    server {
        listen %[3]s;
%[4]s    }
}
`, user, dir, listen, body)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-p", dir, "-c", path, "-e", filepath.Join(dir, "error.log"))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", listen)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not start: %s\n%s", out.String(), log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAPyPIClientPublishesThroughNginxOnTheIndexHost does what pypa/gh-action-pypi-publish
// does, against one host: nginx in front of tpx and an upload service, routed as
// docs/deploy.md says. The client knows only the upload URL; it asks that host for the
// audience, exchanges its CI token on that host, and uploads there with the token.
func TestAPyPIClientPublishesThroughNginxOnTheIndexHost(t *testing.T) {
	t.Parallel()
	front := freeAddr(t)
	index := "http://" + front // the index's public URL, and tpx's (TPX_PUBLIC_URL)
	h := serviceHarness(t, backend{"SQLite", openSQLite}, []*oidctest.Issuer{oidctest.New(t)}, func(c *Config) {
		c.PublicURL = index
	}, nil, nil)
	h.github("sampleproject", nil)

	v, err := verify.New(verify.Config{Issuer: index})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var uploaded []string
	upload := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, password, _ := r.BasicAuth()
		claims, err := v.Verify(r.Context(), password)
		switch {
		case user != "__token__" || r.URL.Path != "/legacy/":
			http.Error(w, "not the upload endpoint", http.StatusNotFound)
		case errors.Is(err, verify.ErrKeysUnavailable):
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		case err != nil:
			http.Error(w, err.Error(), http.StatusForbidden)
		case !claims.Covers(r.FormValue("name")):
			http.Error(w, "not this token's project", http.StatusForbidden)
		default:
			mu.Lock()
			uploaded = append(uploaded, r.FormValue("name")+" "+r.FormValue("version"))
			mu.Unlock()
			fmt.Fprintln(w, "OK")
		}
	}))
	t.Cleanup(upload.Close)
	tpxAddr := strings.TrimPrefix(h.url, "http://")
	startNginx(t, front, strings.NewReplacer("TPX", tpxAddr, "INDEX", strings.TrimPrefix(upload.URL, "http://")).Replace(nginxConf))

	// What the client derives from the upload URL https://HOST/legacy/: HOST's routes.
	var aud struct{ Audience string }
	if code := getJSONBody(t, index+"/_/oidc/audience", &aud); code != http.StatusOK {
		t.Fatalf("audience through the proxy: %d", code)
	}
	if aud.Audience == "" {
		t.Fatal("no audience through the proxy")
	}
	ciToken := h.gh.Sign(h.gh.GitHubClaims(map[string]any{"aud": aud.Audience}))
	body, _ := json.Marshal(map[string]string{"token": ciToken})
	resp, err := http.Post(index+"/_/oidc/mint-token", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var minted struct {
		Success bool
		Token   string
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(raw, &minted); err != nil || !minted.Success {
		t.Fatalf("mint-token through the proxy: %d %s", resp.StatusCode, raw)
	}

	for _, tc := range []struct {
		name, project string
		status        int
	}{
		{"an upload to the token's project is accepted", "sampleproject", 200},
		{"an upload to another project is refused", "otherproject", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, reply := twineUpload(t, index+"/legacy/", minted.Token, tc.project); got != tc.status {
				t.Fatalf("upload answered %d %s, want %d", got, reply, tc.status)
			}
		})
	}
	mu.Lock()
	if len(uploaded) != 1 || uploaded[0] != "sampleproject 1.0" {
		t.Fatalf("uploads stored: %v", uploaded)
	}
	mu.Unlock()
	t.Run("the discovery document names the index's host as the issuer", func(t *testing.T) {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		getJSONBody(t, index+"/.well-known/openid-configuration", &doc)
		if doc.Issuer != index || doc.JWKSURI != index+"/.well-known/jwks.json" {
			t.Fatalf("discovery through the proxy: %+v", doc)
		}
	})
	t.Run("the index's other routes do not reach tpx", func(t *testing.T) {
		resp, err := http.Get(index + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("/healthz on the index's host answered %d: it reached tpx", resp.StatusCode)
		}
	})
}

// twineUpload posts a distribution as twine does: multipart form, __token__ basic auth.
func twineUpload(t *testing.T, url, token, project string) (int, string) {
	t.Helper()
	var body bytes.Buffer
	form := multipart.NewWriter(&body)
	for k, v := range map[string]string{":action": "file_upload", "protocol_version": "1", "name": project, "version": "1.0"} {
		form.WriteField(k, v)
	}
	f, _ := form.CreateFormFile("content", project+"-1.0.tar.gz")
	f.Write([]byte("a distribution"))
	form.Close()
	req, _ := http.NewRequest(http.MethodPost, url, &body)
	req.Header.Set("Content-Type", form.FormDataContentType())
	req.SetBasicAuth("__token__", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func TestDeployDocShowsTheTestedNginxConfiguration(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	want := strings.NewReplacer("http://TPX", "http://tpx", "http://INDEX", "http://index").Replace(nginxConf)
	if !strings.Contains(string(doc), want) {
		t.Fatalf("docs/deploy.md does not show the locations the nginx test runs:\n%s", want)
	}
}
