package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
)

// cliRun is one in-process invocation of the command line.
type cliRun struct {
	code           int
	stdout, stderr string
}

// runTPX runs the command line with args, stdin and env, as the binary would.
func runTPX(t *testing.T, env map[string]string, stdin string, args ...string) cliRun {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, func(k string) string { return env[k] })
	return cliRun{code, out.String(), errOut.String()}
}

// ok fails the test unless the invocation succeeded.
func (r cliRun) ok(t *testing.T, what string) cliRun {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", what, r.code, r.stdout, r.stderr)
	}
	return r
}

// cliEnv is the environment of a command line acting on a fresh store of backend b:
// embedded SQLite in a temporary directory, or a database of its own on PostgreSQL.
func cliEnv(t *testing.T, b backend) map[string]string {
	t.Helper()
	env := map[string]string{"TPX_DATA_DIR": t.TempDir(), "TPX_SECRET_KEY": strings.Repeat("s", 32)}
	if b.name == "Postgres" {
		_, db := b.open(t)
		var name string
		if err := db.QueryRow("SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(os.Getenv("TPX_TEST_DATABASE_URL"))
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + name
		env["TPX_DATABASE_URL"] = u.String()
	}
	return env
}

// listPublishersJSON is what `tpx publisher list --json` prints.
func listPublishersJSON(t *testing.T, env map[string]string) []publisherJSON {
	t.Helper()
	r := runTPX(t, env, "", "publisher", "list", "--json").ok(t, "publisher list --json")
	var pubs []publisherJSON
	if err := json.Unmarshal([]byte(r.stdout), &pubs); err != nil || pubs == nil {
		t.Fatalf("publisher list --json printed %q, not a JSON array (%v)", r.stdout, err)
	}
	return pubs
}

func TestCommandLineManagesPublishersBehindTheSecondFactor(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		env := cliEnv(t, b)
		const password = "correct horse battery staple\n"
		for _, name := range []string{"alice", "carol"} {
			r := runTPX(t, env, password, "user", "add", name, "--email", name+"@example.org").ok(t, "user add "+name)
			if !strings.Contains(r.stdout, "user "+name+" created") {
				t.Fatalf("user add printed %q", r.stdout)
			}
		}
		t.Run("enroll-totp prints an otpauth URI", func(t *testing.T) {
			r := runTPX(t, env, "", "user", "enroll-totp", "carol").ok(t, "enroll-totp carol")
			if u, err := url.Parse(strings.TrimSpace(r.stdout)); err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("secret") == "" {
				t.Fatalf("enroll-totp printed %q, not an otpauth://totp/ URI with a secret", r.stdout)
			}
		})
		runTPX(t, env, "", "project", "add", "sampleproject", "--owner", "alice").ok(t, "project add")

		add := func(by string, extra ...string) cliRun {
			args := append([]string{"publisher", "add", "github", "--project", "sampleproject", "--repository", "octo-org/octo-repo",
				"--workflow", "release.yml", "--by", by}, extra...)
			return runTPX(t, env, "", args...)
		}
		refused := func(t *testing.T, r cliRun, want string) {
			t.Helper()
			if r.code == 0 || !strings.Contains(r.stderr, want) {
				t.Fatalf("want a non-zero exit and %q on stderr, got exit %d\nstdout: %s\nstderr: %s", want, r.code, r.stdout, r.stderr)
			}
			if pubs := listPublishersJSON(t, env); len(pubs) != 0 {
				t.Fatalf("a refused command stored publishers: %+v", pubs)
			}
		}
		t.Run("an owner without a second factor cannot add a publisher", func(t *testing.T) {
			refused(t, add("alice"), "second factor")
		})
		runTPX(t, env, "", "user", "enroll-totp", "alice").ok(t, "enroll-totp alice")
		t.Run("a user with TOTP who does not own the project cannot add a publisher", func(t *testing.T) {
			refused(t, add("carol"), "does not own")
		})
		t.Run("a bad workflow name is refused with the policy's message", func(t *testing.T) {
			r := runTPX(t, env, "", "publisher", "add", "github", "--project", "sampleproject", "--repository", "octo-org/octo-repo",
				"--workflow", ".github/workflows/release.yml", "--by", "alice")
			err := policy.Validate(policy.Publisher{Kind: policy.GitHub, Issuer: providers.GitHubIssuer, Owner: "octo-org", Name: "octo-repo",
				Workflow: ".github/workflows/release.yml"})
			if err == nil {
				t.Fatal("policy accepts the workflow this case needs refused")
			}
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\nstderr: %s", r.code, r.stderr)
			}
			refused(t, r, err.Error())
		})

		var id int64
		t.Run("the owner with TOTP adds a publisher and publisher list shows it", func(t *testing.T) {
			add("alice", "--environment", "release").ok(t, "publisher add by alice")
			pubs := listPublishersJSON(t, env)
			if len(pubs) != 1 {
				t.Fatalf("publisher list --json shows %+v, want one publisher", pubs)
			}
			p := pubs[0]
			if p.Project != "sampleproject" || p.Kind != "github" || p.Issuer != providers.GitHubIssuer || p.Repository != "octo-org/octo-repo" ||
				p.Workflow != "release.yml" || p.Environment != "release" || p.ID <= 0 {
				t.Fatalf("publisher list --json shows %+v", p)
			}
			id = p.ID
		})
		if id == 0 {
			t.FailNow()
		}
		remove := func(by string) cliRun {
			return runTPX(t, env, "", "publisher", "remove", strconv.FormatInt(id, 10), "--by", by)
		}
		t.Run("a non-owner cannot remove the publisher", func(t *testing.T) {
			r := remove("carol")
			if r.code == 0 || !strings.Contains(r.stderr, "does not own") {
				t.Fatalf("want a non-zero exit and a refusal on stderr, got exit %d, stderr %q", r.code, r.stderr)
			}
			if pubs := listPublishersJSON(t, env); len(pubs) != 1 || pubs[0].ID != id {
				t.Fatalf("after a refused removal the publishers are %+v", pubs)
			}
		})
		t.Run("the owner removes the publisher", func(t *testing.T) {
			remove("alice").ok(t, "publisher remove by alice")
			if pubs := listPublishersJSON(t, env); len(pubs) != 0 {
				t.Fatalf("after removal the publishers are %+v", pubs)
			}
		})
	})
}

func TestCommandLineUsage(t *testing.T) {
	env := map[string]string{"TPX_DATA_DIR": t.TempDir()}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"an unknown command exits 2 with the usage", []string{"frobnicate"}},
		{"no command exits 2 with the usage", nil},
		{"an unknown subcommand exits 2 with the usage", []string{"publisher", "frobnicate"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runTPX(t, env, "", c.args...)
			if r.code != 2 || !strings.Contains(r.stderr, usage) {
				t.Fatalf("exit %d, stderr %q; want 2 and the usage", r.code, r.stderr)
			}
		})
	}
}

func TestDemoPassesEveryStep(t *testing.T) {
	r := runTPX(t, map[string]string{}, "", "demo")
	if r.code != 0 || !strings.Contains(r.stdout, "every step passed") {
		t.Fatalf("tpx demo exited %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}
