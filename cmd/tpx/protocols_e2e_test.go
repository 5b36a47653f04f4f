package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/protocol"
	"github.com/tpx-dev/tpx/verify"
)

// protocolHarness is a tpx serving protocols ps, with the naming rule they imply, over
// real HTTP with a GitHub-shaped issuer.
func protocolHarness(t *testing.T, b backend, ps []protocol.Protocol, edit func(*Config)) *harness {
	t.Helper()
	return serviceHarness(t, b, []*oidctest.Issuer{oidctest.New(t)}, func(c *Config) {
		c.Protocols = ps
		n, err := protocol.Names(ps)
		if err != nil {
			t.Fatal(err)
		}
		c.Names = n
		if edit != nil {
			edit(c)
		}
	}, nil, nil)
}

// protocolReply is a reply of an npm or cargo route: npm's {"message"} or cargo's
// {"errors": [{"detail"}]} on failure, {"token"} on success.
type protocolReply struct {
	Status  int
	Token   string `json:"token"`
	Message string `json:"message"`
	Code    string `json:"code"`
	Errors  []struct {
		Detail string `json:"detail"`
		Code   string `json:"code"`
	} `json:"errors"`
	header http.Header
	raw    []byte
}

func send(t *testing.T, method, u string, header map[string]string, body []byte) protocolReply {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := protocolReply{Status: resp.StatusCode, raw: raw, header: resp.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatalf("%s %s answered %d with something that is not JSON: %q", method, u, resp.StatusCode, raw)
		}
	}
	return r
}

// npmExchange sends what the npm CLI sends: POST to the exchange path with the package
// name as given (escaped or not), the CI token as bearer, no body.
func npmExchange(t *testing.T, h *harness, escapedName, tok string) protocolReply {
	t.Helper()
	return send(t, http.MethodPost, h.url+protocol.NPMExchangePrefix+escapedName, map[string]string{"Authorization": "Bearer " + tok, "Accept": "application/json"}, nil)
}

// cargoExchange sends what crates-io-auth-action sends: POST {"jwt"} as JSON.
func cargoExchange(t *testing.T, h *harness, tok string) protocolReply {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"jwt": tok})
	return send(t, http.MethodPost, h.url+protocol.CargoTokensPath, map[string]string{"Content-Type": "application/json"}, body)
}

// cargoRevoke sends the action's post step: DELETE with the upload token as bearer.
func cargoRevoke(t *testing.T, h *harness, tok string) protocolReply {
	t.Helper()
	return send(t, http.MethodDelete, h.url+protocol.CargoTokensPath, map[string]string{"Authorization": "Bearer " + tok}, nil)
}

// npmRefused asserts an npm refusal: status, npm's shape with the code, no token and no
// change to stored data.
func npmRefused(t *testing.T, h *harness, status int, code string, r func() protocolReply) protocolReply {
	t.Helper()
	before := h.snapshot(t)
	got := r()
	if got.Status != status || got.Code != code || got.Message == "" || got.Token != "" || got.Errors != nil {
		t.Fatalf("want %d %s in npm's shape {\"message\"}, got %d %s", status, code, got.Status, got.raw)
	}
	if after := h.snapshot(t); after != before {
		t.Fatalf("a refused exchange changed stored data:\nbefore %s\nafter  %s", before, after)
	}
	return got
}

func cargoRefused(t *testing.T, h *harness, status int, code string, r func() protocolReply) protocolReply {
	t.Helper()
	before := h.snapshot(t)
	got := r()
	if got.Status != status || len(got.Errors) != 1 || got.Errors[0].Code != code || got.Errors[0].Detail == "" || got.Token != "" {
		t.Fatalf("want %d %s in cargo's shape {\"errors\": [{\"detail\"}]}, got %d %s", status, code, got.Status, got.raw)
	}
	if after := h.snapshot(t); after != before {
		t.Fatalf("a refused exchange changed stored data:\nbefore %s\nafter  %s", before, after)
	}
	return got
}

func audiences(t *testing.T, h *harness) (npm, cargo string) {
	t.Helper()
	u, err := url.Parse(h.url)
	if err != nil {
		t.Fatal(err)
	}
	return protocol.NPMAudience(u), protocol.CargoAudience(u)
}

func TestNPMProtocol(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		h := protocolHarness(t, b, []protocol.Protocol{protocol.PyPI, protocol.NPM}, func(c *Config) { c.Names = verify.NPMNames })
		npmAud, _ := audiences(t, h)
		if npmAud != "npm:127.0.0.1" {
			t.Fatalf("npm audience of %s is %q", h.url, npmAud)
		}
		npmNames := account.New(account.Config{Store: h.store, Box: h.svc.box, Names: verify.NPMNames})
		ctx := context.Background()
		for _, name := range []string{"@acme/left-pad", "left-pad", "left.pad"} {
			if _, err := npmNames.CreateProject(ctx, account.ViaOperator, name, "alice"); err != nil {
				t.Fatal(err)
			}
		}
		// octo-org/octo-repo publishes sampleproject and the two first; left.pad's
		// publisher names another repository.
		h.github("sampleproject", nil)
		h.github("@acme/left-pad", nil)
		h.github("left-pad", nil)
		h.github("left.pad", func(p *policy.Publisher) { p.Name = "other-repo" })
		tok := func(over map[string]any) string {
			c := map[string]any{"aud": npmAud}
			for k, v := range over {
				c[k] = v
			}
			return h.gh.Sign(h.gh.GitHubClaims(c))
		}

		for _, c := range []struct{ name, path, want string }{
			{"a scoped name as the CLI escapes it gets a token for that package alone", "@acme%2fleft-pad", "@acme/left-pad"},
			{"a scoped name escaped with a capital F is the same package", "@acme%2Fleft-pad", "@acme/left-pad"},
			{"a scoped name a proxy decoded is the same package", "@acme/left-pad", "@acme/left-pad"},
			{"a plain name gets a token for that package alone", "left-pad", "left-pad"},
			{"a name in capitals is the same package (npm compares without case)", "Left-Pad", "left-pad"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := npmExchange(t, h, c.path, tok(nil))
				if r.Status != http.StatusOK || !strings.HasPrefix(r.Token, "tpx_") {
					t.Fatalf("want a token, got %d %s", r.Status, r.raw)
				}
				if got := h.projects(t, r.Token); !slices.Equal(got, []string{c.want}) {
					t.Fatalf("the token covers %v, want only %s", got, c.want)
				}
			})
		}

		t.Run("a package none of whose publishers match is refused 403, though the job publishes others", func(t *testing.T) {
			r := npmRefused(t, h, http.StatusForbidden, "invalid-publisher", func() protocolReply { return npmExchange(t, h, "left.pad", tok(nil)) })
			if !strings.Contains(r.Message, "publisher") {
				t.Fatalf("the message does not say what failed: %s", r.raw)
			}
		})
		t.Run("npm's names are not PyPI's: left.pad is not left-pad", func(t *testing.T) {
			r := npmExchange(t, h, "left-pad", tok(nil))
			claims, err := h.svc.minter.Parse(r.Token)
			if err != nil {
				t.Fatal(err)
			}
			if claims.CoversIn(verify.NPMNames, "left.pad") || !claims.CoversIn(verify.NPMNames, "left-pad") {
				t.Fatalf("a token for left-pad covers %v under npm's rule", claims.Projects)
			}
		})
		t.Run("a token from another repository is refused", func(t *testing.T) {
			npmRefused(t, h, http.StatusForbidden, "invalid-publisher", func() protocolReply {
				return npmExchange(t, h, "left-pad", tok(map[string]any{"repository": "evil/octo-repo", "repository_owner": "evil",
					"workflow_ref": "evil/octo-repo/.github/workflows/release.yml@refs/heads/main", "job_workflow_ref": "evil/octo-repo/.github/workflows/release.yml@refs/heads/main"}))
			})
		})
		t.Run("a replayed CI token is refused 401", func(t *testing.T) {
			once := tok(nil)
			if r := npmExchange(t, h, "left-pad", once); r.Status != http.StatusOK {
				t.Fatalf("first use: %d %s", r.Status, r.raw)
			}
			npmRefused(t, h, http.StatusUnauthorized, "invalid-reuse-token", func() protocolReply { return npmExchange(t, h, "left-pad", once) })
		})
		t.Run("a token for PyPI's audience is refused on npm's route", func(t *testing.T) {
			r := npmRefused(t, h, http.StatusUnauthorized, "invalid-token", func() protocolReply { return npmExchange(t, h, "left-pad", tok(map[string]any{"aud": "tpx"})) })
			if !strings.Contains(r.Message, npmAud) {
				t.Fatalf("the message does not name the audience wanted: %s", r.raw)
			}
		})
		t.Run("a token for npm's audience is refused on PyPI's route", func(t *testing.T) {
			h.refused(t, http.StatusUnprocessableEntity, "invalid-token", func() reply { return h.exchange(t, tok(nil)) })
		})
		t.Run("PyPI's route still takes PyPI's audience", func(t *testing.T) {
			h.accepted(t, func() reply { return h.exchange(t, tok(map[string]any{"aud": "tpx"})) })
		})
		for _, c := range []struct{ name, path string }{
			{"no name", ""},
			{"two slashes", "@acme%2fleft-pad%2fx"},
			{"a slash without a scope", "left%2fpad"},
			{"a double escape", "@acme%252fleft-pad"},
		} {
			t.Run("a malformed package name is refused 400: "+c.name, func(t *testing.T) {
				npmRefused(t, h, http.StatusBadRequest, "invalid-payload", func() protocolReply { return npmExchange(t, h, c.path, tok(nil)) })
			})
		}
		t.Run("a request without a bearer token is refused 400", func(t *testing.T) {
			npmRefused(t, h, http.StatusBadRequest, "invalid-payload", func() protocolReply {
				return send(t, http.MethodPost, h.url+protocol.NPMExchangePrefix+"left-pad", nil, nil)
			})
		})
		t.Run("a body over 64 KiB is refused 413", func(t *testing.T) {
			npmRefused(t, h, http.StatusRequestEntityTooLarge, "invalid-payload", func() protocolReply {
				return send(t, http.MethodPost, h.url+protocol.NPMExchangePrefix+"left-pad", map[string]string{"Authorization": "Bearer " + tok(nil)}, bytes.Repeat([]byte("x"), 65<<10))
			})
		})
		t.Run("cargo's route is not served", func(t *testing.T) {
			if r := cargoExchange(t, h, tok(nil)); r.Status != http.StatusNotFound {
				t.Fatalf("cargo's route answered %d %s", r.Status, r.raw)
			}
		})
	})
}

func TestCargoProtocol(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		h := protocolHarness(t, b, []protocol.Protocol{protocol.Cargo}, nil)
		npmAud, cargoAud := audiences(t, h)
		if want := strings.TrimPrefix(h.url, "http://"); cargoAud != want {
			t.Fatalf("cargo audience of %s is %q, want %q", h.url, cargoAud, want)
		}
		cargoNames := account.New(account.Config{Store: h.store, Box: h.svc.box, Names: verify.CargoNames})
		ctx := context.Background()
		if _, err := cargoNames.CreateProject(ctx, account.ViaOperator, "serde_json", "alice"); err != nil {
			t.Fatal(err)
		}
		h.github("sampleproject", nil)
		h.github("serde_json", nil)
		tok := func(over map[string]any) string {
			c := map[string]any{"aud": cargoAud}
			for k, v := range over {
				c[k] = v
			}
			return h.gh.Sign(h.gh.GitHubClaims(c))
		}

		var upload string
		t.Run("a job gets one token for every crate its publishers cover", func(t *testing.T) {
			r := cargoExchange(t, h, tok(nil))
			if r.Status != http.StatusOK || !strings.HasPrefix(r.Token, "tpx_") || r.Message != "" {
				t.Fatalf("want {\"token\"}, got %d %s", r.Status, r.raw)
			}
			if got := h.projects(t, r.Token); !slices.Equal(got, []string{"sampleproject", "serde-json"}) {
				t.Fatalf("the token covers %v", got)
			}
			claims, _ := h.svc.minter.Parse(r.Token)
			if !claims.CoversIn(verify.CargoNames, "serde_json") || !claims.CoversIn(verify.CargoNames, "Serde-JSON") {
				t.Fatalf("a token for %v does not cover serde_json as crates.io spells it", claims.Projects)
			}
			upload = r.Token
		})
		t.Run("the post step's DELETE revokes the token: 204, and introspection says inactive", func(t *testing.T) {
			r := cargoRevoke(t, h, upload)
			if r.Status != http.StatusNoContent {
				t.Fatalf("DELETE answered %d %s", r.Status, r.raw)
			}
			claims, _ := h.svc.minter.Parse(upload)
			rec, err := h.store.UploadToken(ctx, claims.ID)
			if err != nil || rec.RevokedAt == nil {
				t.Fatalf("the token's record after DELETE: %+v, %v", rec, err)
			}
		})
		t.Run("a DELETE without a valid upload token is refused 401 and revokes nothing", func(t *testing.T) {
			cargoRefused(t, h, http.StatusUnauthorized, "unauthorized", func() protocolReply { return cargoRevoke(t, h, "tpx_not.a.token") })
			cargoRefused(t, h, http.StatusUnauthorized, "unauthorized", func() protocolReply {
				return send(t, http.MethodDelete, h.url+protocol.CargoTokensPath, nil, nil)
			})
		})
		t.Run("a token for npm's audience is refused on cargo's route", func(t *testing.T) {
			cargoRefused(t, h, http.StatusUnauthorized, "invalid-token", func() protocolReply { return cargoExchange(t, h, tok(map[string]any{"aud": npmAud})) })
		})
		t.Run("a token for PyPI's audience is refused on cargo's route", func(t *testing.T) {
			cargoRefused(t, h, http.StatusUnauthorized, "invalid-token", func() protocolReply { return cargoExchange(t, h, tok(map[string]any{"aud": "tpx"})) })
		})
		t.Run("a replayed CI token is refused 401", func(t *testing.T) {
			once := tok(nil)
			if r := cargoExchange(t, h, once); r.Status != http.StatusOK {
				t.Fatalf("first use: %d %s", r.Status, r.raw)
			}
			cargoRefused(t, h, http.StatusUnauthorized, "invalid-reuse-token", func() protocolReply { return cargoExchange(t, h, once) })
		})
		t.Run("a token from another repository is refused 403", func(t *testing.T) {
			cargoRefused(t, h, http.StatusForbidden, "invalid-publisher", func() protocolReply {
				return cargoExchange(t, h, tok(map[string]any{"repository": "evil/octo-repo", "repository_owner": "evil",
					"workflow_ref": "evil/octo-repo/.github/workflows/release.yml@refs/heads/main", "job_workflow_ref": "evil/octo-repo/.github/workflows/release.yml@refs/heads/main"}))
			})
		})
		for _, body := range []string{`{}`, `{"token": "x"}`, `{"jwt": ""}`, `not json`} {
			t.Run("a body that is not {\"jwt\"} is refused 400: "+body, func(t *testing.T) {
				cargoRefused(t, h, http.StatusBadRequest, "invalid-payload", func() protocolReply {
					return send(t, http.MethodPost, h.url+protocol.CargoTokensPath, map[string]string{"Content-Type": "application/json"}, []byte(body))
				})
			})
		}
		t.Run("PyPI's routes are not served when TPX_PROTOCOLS leaves them out", func(t *testing.T) {
			if r := h.exchange(t, tok(map[string]any{"aud": "tpx"})); r.Status != http.StatusNotFound {
				t.Fatalf("PyPI's route answered %d %s", r.Status, r.raw)
			}
		})
	})
}

// TestProtocolsShareTheRateLimit: one client's requests count together on every
// protocol's route, and the refusal takes the route's shape.
func TestProtocolsShareTheRateLimit(t *testing.T) {
	t.Parallel()
	h := protocolHarness(t, backends()[0], []protocol.Protocol{protocol.PyPI, protocol.NPM}, func(c *Config) {
		rl, err := parseRateLimit("1/1h", "")
		if err != nil {
			t.Fatal(err)
		}
		c.RateLimit = rl
	})
	h.github("sampleproject", nil)
	npmAud, _ := audiences(t, h)
	h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(map[string]any{"aud": "tpx"}))) })
	r := npmRefused(t, h, http.StatusTooManyRequests, "rate-limited", func() protocolReply {
		return npmExchange(t, h, "sampleproject", h.gh.Sign(h.gh.GitHubClaims(map[string]any{"aud": npmAud})))
	})
	if r.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
}
