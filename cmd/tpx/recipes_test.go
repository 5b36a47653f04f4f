package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// recipesDir holds the verifier recipes of docs/verify.md.
var recipesDir = filepath.Join("..", "..", "docs", "recipes")

// recipe is one of docs/verify.md's verifiers, run as a program: token on stdin, issuer and
// project as arguments, one JSON line out.
type recipe struct {
	name string
	argv []string
}

// needed fails in CI, where .ci/run installs every tool the recipes need and a skip would
// hide a gap, and skips elsewhere.
func needed(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing, and CI=true: .ci/run must install it", what)
	}
	t.Skipf("%s is missing: .ci/run installs it", what)
}

// recipes finds an interpreter for each recipe: a python3 that imports jwt (Debian's
// python3-jwt lives in /usr/bin's python3, which another python3 on PATH may shadow), and
// node with jose installed next to the recipe.
func recipes(t *testing.T) []recipe {
	t.Helper()
	var out []recipe
	python := ""
	for _, p := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(p, "-c", "import jwt").Run() == nil {
			python = p
			break
		}
	}
	if python == "" {
		needed(t, "a python3 with PyJWT (Debian: python3-jwt)")
	}
	out = append(out, recipe{"Python (PyJWT)", []string{python, filepath.Join(recipesDir, "verify_upload_token.py")}})
	if _, err := exec.LookPath("node"); err != nil {
		needed(t, "node")
	}
	if _, err := os.Stat(filepath.Join(recipesDir, "node_modules", "jose")); err != nil {
		needed(t, "jose in docs/recipes/node_modules (npm install --prefix docs/recipes)")
	}
	out = append(out, recipe{"JavaScript (jose)", []string{"node", filepath.Join(recipesDir, "verify-upload-token.mjs")}})
	return out
}

type recipeAnswer struct {
	Status int            `json:"status"`
	Error  string         `json:"error"`
	Claims map[string]any `json:"claims"`
}

// run runs r; skew, if not empty, runs it under faketime with its clock moved by skew
// ("-25s"), as on a machine whose clock is off.
func (r recipe) run(t *testing.T, issuer, project, token, skew string) recipeAnswer {
	t.Helper()
	argv := append(slices.Clone(r.argv), issuer, project)
	if skew != "" {
		argv = append([]string{"faketime", "-f", skew}, argv...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(token)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, stderr.String())
	}
	var a recipeAnswer
	if err := json.Unmarshal(out, &a); err != nil {
		t.Fatalf("%s printed %q: %v", r.name, out, err)
	}
	return a
}

func TestVerifyRecipesAgainstALiveTpx(t *testing.T) {
	t.Parallel()
	rs := recipes(t)
	faketime := true
	if _, err := exec.LookPath("faketime"); err != nil {
		faketime = false
		if os.Getenv("CI") == "true" {
			t.Fatal("faketime is missing, and CI=true: .ci/run must install it")
		}
	}
	h := newHarness(t, backend{"SQLite", openSQLite})
	h.github("sampleproject", nil)
	mint := func() string {
		return h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) }).Token
	}
	fresh, other := mint(), mint()
	// fresh's header and claims under other's signature: a token whose payload was changed.
	tampered := fresh[:strings.LastIndex(fresh, ".")] + other[strings.LastIndex(other, "."):]
	ciToken := h.gh.Sign(h.gh.GitHubClaims(nil))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + l.Addr().String() // nothing answers there once closed
	l.Close()

	tests := []struct {
		name            string
		issuer, project string
		token, skew     string
		status          int
		says            string // in the reason, lower-cased
	}{
		{"a fresh token verifies for its project", h.url, "sampleproject", fresh, "", 200, ""},
		{"the project name is compared in PEP 503 form", h.url, "SampleProject", fresh, "", 200, ""},
		{"a clock 25 s behind tpx's accepts a fresh token", h.url, "sampleproject", fresh, "-25s", 200, ""},
		{"a clock 25 s ahead of tpx's accepts a fresh token", h.url, "sampleproject", fresh, "+25s", 200, ""},
		{"another project is refused", h.url, "otherproject", fresh, "", 403, "may not upload to otherproject"},
		{"a token whose payload was changed is refused", h.url, "sampleproject", tampered, "", 403, "signature"},
		{"a CI token is not an upload token", h.url, "sampleproject", ciToken, "", 403, "not a tpx upload token"},
		{"a verifier expecting another issuer refuses", h.url + "/", "sampleproject", fresh, "", 403, "iss"},
		{"a token past exp and the leeway is refused", h.url, "sampleproject", fresh, "+16m", 403, "exp"},
		{"keys that cannot be fetched are a 503, not a verdict", down, "sampleproject", fresh, "", 503, "keys cannot be fetched"},
	}
	for _, r := range rs {
		t.Run(r.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					if tt.skew != "" && !faketime {
						t.Skip("faketime is missing")
					}
					a := r.run(t, tt.issuer, tt.project, tt.token, tt.skew)
					if a.Status != tt.status || !strings.Contains(strings.ToLower(a.Error), tt.says) {
						t.Fatalf("answered %d %q, want %d saying %q", a.Status, a.Error, tt.status, tt.says)
					}
					if tt.status == 200 {
						if p, _ := a.Claims["projects"].([]any); len(p) != 1 || p[0] != "sampleproject" {
							t.Fatalf("claims %v", a.Claims)
						}
					}
				})
			}
		})
	}
}

// jose checks nbf but not iat by default, with no clock tolerance: a fresh token verifies
// on a clock 25 s behind tpx's only because tpx puts nbf 30 s before iat.
func TestJoseWithNoToleranceAcceptsAFreshTokenOnAClockBehind(t *testing.T) {
	t.Parallel()
	recipes(t)
	if _, err := exec.LookPath("faketime"); err != nil {
		needed(t, "faketime")
	}
	h := newHarness(t, backend{"SQLite", openSQLite})
	h.github("sampleproject", nil)
	tok := h.accepted(t, func() reply { return h.exchange(t, h.gh.Sign(h.gh.GitHubClaims(nil))) }).Token
	const script = `import { createRemoteJWKSet, jwtVerify } from "jose";
const [issuer, token] = process.argv.slice(1);
const keys = createRemoteJWKSet(new URL(issuer + "/.well-known/jwks.json"));
const { payload } = await jwtVerify(token.slice(4), keys, { issuer, audience: "tpx-upload" });
console.log(payload.nbf - payload.iat);`
	cmd := exec.Command("faketime", "-f", "-25s", "node", "--input-type=module", "-e", script, h.url, tok)
	cmd.Dir = recipesDir
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "-30" {
		t.Fatalf("jose with no tolerance on a clock 25 s behind: %v\n%s", err, out)
	}
}
