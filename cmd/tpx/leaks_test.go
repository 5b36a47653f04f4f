package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/store"
)

// fakeGitHubKeys publishes secret-scanning keys the way api.github.com does, and signs
// reports with them.
type fakeGitHubKeys struct {
	srv     *httptest.Server
	keys    map[string]*ecdsa.PrivateKey
	fetches atomic.Int64
	down    atomic.Bool
}

func newFakeGitHubKeys(t *testing.T, ids ...string) *fakeGitHubKeys {
	t.Helper()
	f := &fakeGitHubKeys{keys: map[string]*ecdsa.PrivateKey{}}
	type entry struct {
		ID      string `json:"key_identifier"`
		Key     string `json:"key"`
		Current bool   `json:"is_current"`
	}
	var doc struct {
		PublicKeys []entry `json:"public_keys"`
	}
	for _, id := range ids {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		f.keys[id] = k
		doc.PublicKeys = append(doc.PublicKeys, entry{id, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), true})
	}
	body, _ := json.Marshal(doc)
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.fetches.Add(1)
		if f.down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeGitHubKeys) url() string { return f.srv.URL + "/meta/public_keys/secret_scanning" }

// sign signs body with key as GitHub signs a report: ASN.1 ECDSA over SHA-256, base64.
func sign(t *testing.T, key *ecdsa.PrivateKey, body []byte) string {
	t.Helper()
	d := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

type scanReply struct {
	status int
	labels []struct{ TokenHash, TokenType, Label string }
	raw    string
}

func postReport(t *testing.T, base string, body []byte, headers map[string]string) scanReply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/secret-scanning/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := scanReply{status: resp.StatusCode, raw: string(raw)}
	if resp.StatusCode == http.StatusOK {
		var labels []map[string]string
		if err := json.Unmarshal(raw, &labels); err != nil {
			t.Fatalf("reply %s: %v", raw, err)
		}
		for _, l := range labels {
			r.labels = append(r.labels, struct{ TokenHash, TokenType, Label string }{l["token_hash"], l["token_type"], l["label"]})
		}
	}
	return r
}

func report(tokens ...string) []byte {
	var matches []map[string]string
	for _, tok := range tokens {
		matches = append(matches, map[string]string{"token": tok, "type": "tpx_upload_token",
			"url": "https://github.com/octo-org/octo-repo/blob/abc/ci.log", "source": "content"})
	}
	b, _ := json.Marshal(matches)
	return b
}

func hashOf(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

// leakWorld is tpx with a project, its owner, and GitHub's key server.
type leakWorld struct {
	h    *harness
	keys *fakeGitHubKeys
}

func newLeakWorld(t *testing.T) *leakWorld {
	keys := newFakeGitHubKeys(t, "key-1")
	h := serviceHarness(t, backend{"SQLite", openSQLite}, []*oidctest.Issuer{oidctest.New(t)},
		func(c *Config) { c.SecretScanningKeysURL = keys.url() }, nil, nil)
	h.github("sampleproject", nil)
	return &leakWorld{h: h, keys: keys}
}

func (w *leakWorld) mint(t *testing.T) string {
	return w.h.accepted(t, func() reply { return w.h.exchange(t, w.h.gh.Sign(w.h.gh.GitHubClaims(nil))) }).Token
}

// revoked reports whether tok's record is revoked.
func (w *leakWorld) revoked(t *testing.T, tok string) bool {
	t.Helper()
	c, err := w.h.svc.minter.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := w.h.store.UploadToken(context.Background(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return rec.RevokedAt != nil
}

func (w *leakWorld) count(t *testing.T, query string) int {
	t.Helper()
	var n int
	if err := w.h.db.QueryRow(query).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestGitHubSecretScanningReportsRevokeLeakedTokens(t *testing.T) {
	t.Parallel()
	w := newLeakWorld(t)
	key := w.keys.keys["key-1"]
	signed := func(body []byte) map[string]string {
		return map[string]string{"Github-Public-Key-Identifier": "key-1", "Github-Public-Key-Signature": sign(t, key, body)}
	}

	t.Run("a signed report of a live token revokes it at once, audits it, mails the owners and labels it a true positive", func(t *testing.T) {
		tok, other := w.mint(t), w.mint(t)
		body := report(tok, "tpx_not-a-token", "ghp_somebody-elses")
		r := postReport(t, w.h.url, body, signed(body))
		if r.status != http.StatusOK || len(r.labels) != 3 {
			t.Fatalf("answered %d %s", r.status, r.raw)
		}
		want := []string{"true_positive", "false_positive", "false_positive"}
		for i, l := range r.labels {
			if l.Label != want[i] || l.TokenType != "tpx_upload_token" || l.TokenHash == "" {
				t.Errorf("label %d: %+v, want %s", i, l, want[i])
			}
		}
		if r.labels[0].TokenHash != hashOf(tok) || strings.Contains(r.raw, tok) {
			t.Errorf("the reply does not name the token by its SHA-256, or echoes it: %s", r.raw)
		}
		if !w.revoked(t, tok) || w.revoked(t, other) {
			t.Fatalf("leaked token revoked %v, the other %v", w.revoked(t, tok), w.revoked(t, other))
		}
		if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'token.leaked' AND actor = 'github-secret-scanning' AND detail LIKE '%ci.log%'`); n != 1 {
			t.Errorf("%d audit events, want 1", n)
		}
		if n := w.count(t, `SELECT count(*) FROM outbox WHERE recipient = 'alice@example.org' AND subject LIKE '%leaked%' AND body NOT LIKE '%`+tok[len(tok)-20:]+`%'`); n != 1 {
			t.Errorf("%d mails to the owner without the token, want 1", n)
		}
		t.Run("a second report of it is a true positive again and mails nobody twice", func(t *testing.T) {
			if r := postReport(t, w.h.url, body, signed(body)); r.status != http.StatusOK || r.labels[0].Label != "true_positive" {
				t.Fatalf("answered %d %s", r.status, r.raw)
			}
			if n := w.count(t, `SELECT count(*) FROM outbox WHERE subject LIKE '%leaked%'`); n != 1 {
				t.Fatalf("%d mails after the second report, want 1", n)
			}
		})
	})

	stranger, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name    string
		headers func(body []byte) map[string]string
		status  int
	}{
		{"a report without a signature is refused", func([]byte) map[string]string { return nil }, http.StatusUnauthorized},
		{"a report without a key id is refused", func(b []byte) map[string]string {
			return map[string]string{"Github-Public-Key-Signature": sign(t, key, b)}
		}, http.StatusUnauthorized},
		{"a report signed by another key under GitHub's key id is refused", func(b []byte) map[string]string {
			return map[string]string{"Github-Public-Key-Identifier": "key-1", "Github-Public-Key-Signature": sign(t, stranger, b)}
		}, http.StatusUnauthorized},
		{"a report whose signature is over another body is refused", func([]byte) map[string]string { return signed([]byte(`[]`)) }, http.StatusUnauthorized},
		{"a report signed with a key id GitHub does not publish is refused", func(b []byte) map[string]string {
			return map[string]string{"Github-Public-Key-Identifier": "key-9", "Github-Public-Key-Signature": sign(t, stranger, b)}
		}, http.StatusUnauthorized},
		{"a signature that is not base64 is refused", func([]byte) map[string]string {
			return map[string]string{"Github-Public-Key-Identifier": "key-1", "Github-Public-Key-Signature": "!!"}
		}, http.StatusUnauthorized},
	} {
		t.Run(tc.name+" and revokes nothing", func(t *testing.T) {
			tok := w.mint(t)
			body := report(tok)
			if r := postReport(t, w.h.url, body, tc.headers(body)); r.status != tc.status {
				t.Fatalf("answered %d %s, want %d", r.status, r.raw, tc.status)
			}
			if w.revoked(t, tok) {
				t.Fatal("an unverified report revoked the token")
			}
		})
	}

	t.Run("when GitHub's keys cannot be fetched the report is answered 503 and revokes nothing", func(t *testing.T) {
		w := newLeakWorld(t)
		w.keys.down.Store(true)
		tok := w.mint(t)
		body := report(tok)
		h := map[string]string{"Github-Public-Key-Identifier": "key-1", "Github-Public-Key-Signature": sign(t, w.keys.keys["key-1"], body)}
		if r := postReport(t, w.h.url, body, h); r.status != http.StatusServiceUnavailable || w.revoked(t, tok) {
			t.Fatalf("answered %d %s; revoked %v", r.status, r.raw, w.revoked(t, tok))
		}
	})
	t.Run("unknown key ids cause at most one fetch per cooldown", func(t *testing.T) {
		before := w.keys.fetches.Load()
		for range 20 {
			body := report("x")
			postReport(t, w.h.url, body, map[string]string{"Github-Public-Key-Identifier": "made-up", "Github-Public-Key-Signature": sign(t, stranger, body)})
		}
		if n := w.keys.fetches.Load() - before; n > 1 {
			t.Fatalf("%d fetches of GitHub's keys for 20 made-up key ids", n)
		}
	})
}

func TestTheIndexReportsALeakedTokenWithItsAdminKey(t *testing.T) {
	t.Parallel()
	w := newLeakWorld(t)
	adminKey, _, err := w.h.accounts.CreateAPIKey(context.Background(), "index", store.ScopeAdmin)
	if err != nil {
		t.Fatal(err)
	}
	post := func(t *testing.T, auth string, body any) (int, map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, w.h.url+"/v1/tokens/leaked", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	t.Run("a report with the admin key revokes the token, audits it and mails the owners", func(t *testing.T) {
		tok := w.mint(t)
		status, out := post(t, adminKey, map[string]string{"token": tok, "where": "https://index.example.org/project/sampleproject/1.0/"})
		if status != http.StatusOK || out["revoked"] != true || !w.revoked(t, tok) {
			t.Fatalf("answered %d %v; revoked %v", status, out, w.revoked(t, tok))
		}
		if n := w.count(t, `SELECT count(*) FROM audit_events WHERE action = 'token.leaked' AND actor = 'admin-api'`); n != 1 {
			t.Errorf("%d audit events, want 1", n)
		}
		if n := w.count(t, `SELECT count(*) FROM outbox WHERE subject LIKE '%leaked%'`); n != 1 {
			t.Errorf("%d mails, want 1", n)
		}
	})
	t.Run("a string that is not one of this service's tokens is not revoked", func(t *testing.T) {
		if status, out := post(t, adminKey, map[string]string{"token": "tpx_forged.e30.sig"}); status != http.StatusOK || out["revoked"] != false {
			t.Fatalf("answered %d %v", status, out)
		}
	})
	t.Run("without the admin key nothing is revoked", func(t *testing.T) {
		tok := w.mint(t)
		for _, auth := range []string{"", "tpxadm_wrong", tok} {
			if status, _ := post(t, auth, map[string]string{"token": tok}); status != http.StatusUnauthorized || w.revoked(t, tok) {
				t.Fatalf("with %.12q answered %d; revoked %v", auth, status, w.revoked(t, tok))
			}
		}
	})
	t.Run("a report without a token is an invalid field", func(t *testing.T) {
		if status, out := post(t, adminKey, map[string]string{"where": "x"}); status != http.StatusUnprocessableEntity {
			t.Fatalf("answered %d %v", status, out)
		}
	})
}
