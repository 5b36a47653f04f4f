package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/tpx-dev/tpx/internal/oidctest"
)

func TestCommandLineAPIKeys(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		env := cliEnv(t, b)
		r := runTPX(t, env, "", "apikey", "create", "--name", "index", "--scope", "admin").ok(t, "apikey create")
		key := strings.TrimSpace(r.stdout)
		if !regexp.MustCompile(`^tpxadm_[0-9a-f]{16}_[0-9a-f]{64}$`).MatchString(key) {
			t.Fatalf("apikey create printed %q, want one tpxadm_ key", r.stdout)
		}
		if strings.Contains(r.stderr, key[7:]) {
			t.Fatal("the key is repeated on stderr")
		}
		list := runTPX(t, env, "", "apikey", "list").ok(t, "apikey list")
		if !strings.Contains(list.stdout, "index") || strings.Contains(list.stdout, key[7:23]) || strings.Contains(list.stdout, key[24:]) {
			t.Fatalf("apikey list printed %q: want the name, never the key", list.stdout)
		}
		for _, c := range []struct {
			name string
			args []string
			code int
		}{
			{"A scope other than admin is refused", []string{"apikey", "create", "--name", "x", "--scope", "root"}, 1},
			{"A key without a name is a usage error", []string{"apikey", "create", "--scope", "admin"}, 2},
			{"Revoking an unknown key fails", []string{"apikey", "revoke", "99"}, 1},
			{"Revoking a non-number fails", []string{"apikey", "revoke", "one"}, 1},
		} {
			t.Run(c.name, func(t *testing.T) {
				if got := runTPX(t, env, "", c.args...); got.code != c.code {
					t.Fatalf("exit %d, want %d (%s)", got.code, c.code, got.stderr)
				}
			})
		}
		runTPX(t, env, "", "apikey", "revoke", "1").ok(t, "apikey revoke")
		list = runTPX(t, env, "", "apikey", "list").ok(t, "apikey list")
		if !regexp.MustCompile(`(?m)^1\s+index\s+admin\s+\S+\s+-\s+\d{4}-`).MatchString(list.stdout) {
			t.Fatalf("after revoking, list printed %q", list.stdout)
		}
	})
}

func TestCommandLineInManagedMode(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		env := cliEnv(t, b)
		env["TPX_PROJECTS"] = "managed"
		const password = "correct horse battery staple\n"
		for _, name := range []string{"alice", "bob"} {
			runTPX(t, env, password, "user", "add", name, "--email", name+"@example.org").ok(t, "user add")
			runTPX(t, env, "", "user", "enroll-totp", name).ok(t, "enroll-totp")
		}
		// The operator still creates projects: they come from the index or the operator.
		runTPX(t, env, "", "project", "add", "sampleproject", "--owner", "alice").ok(t, "project add")
		pending := func(project string) cliRun {
			return runTPX(t, env, "", "publisher", "add", "github", "--project", project, "--repository", "octo-org/octo-repo",
				"--workflow", "release.yml", "--pending", "--by", "bob")
		}
		r := pending("newproject")
		if r.code != 1 || !strings.Contains(r.stderr, "has not granted") {
			t.Fatalf("a pending publisher for a name nobody granted: exit %d, %q", r.code, r.stderr)
		}
		if pubs := listPublishersJSON(t, env); len(pubs) != 0 {
			t.Fatalf("publishers after a refusal: %v", pubs)
		}
		env["TPX_PROJECTS"] = "open"
		pending("newproject").ok(t, "pending publisher in open mode")
		env["TPX_PROJECTS"] = "sometimes"
		if r := runTPX(t, env, "", "publisher", "list"); r.code != 1 || !strings.Contains(r.stderr, "TPX_PROJECTS") {
			t.Fatalf("a bad TPX_PROJECTS: exit %d, %q", r.code, r.stderr)
		}
		env["TPX_PROJECTS"], env["TPX_SIGNUP"] = "managed", "maybe"
		if r := runTPX(t, env, "", "publisher", "list"); r.code != 1 || !strings.Contains(r.stderr, "TPX_SIGNUP") {
			t.Fatalf("a bad TPX_SIGNUP: exit %d, %q", r.code, r.stderr)
		}
	})
}

func TestServeLogsTheProjectsMode(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, projects, signup, want string
	}{
		{"Serve says projects are open, and what that risks, by default", "", "", `"msg":"projects are open: anyone who signs up`},
		{"Serve says projects are managed by the index", "managed", "closed", `"projects":"managed","signup":"closed"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := embeddedEnv(t, oidctest.New(t))
			if c.projects != "" {
				env["TPX_PROJECTS"], env["TPX_SIGNUP"] = c.projects, c.signup
			}
			p := serveInProcess(t, env, "http")
			if !strings.Contains(p.logs(), c.want) {
				t.Fatalf("serve logged:\n%s\nwant %s", p.logs(), c.want)
			}
		})
	}
}

func TestCommandLineInvitesASignup(t *testing.T) {
	t.Parallel()
	env := cliEnv(t, backend{name: "SQLite"})
	env["TPX_PUBLIC_URL"] = "https://tpx.example.org"
	r := runTPX(t, env, "", "user", "invite", "--email", "carol@example.org").ok(t, "user invite")
	if !regexp.MustCompile(`^https://tpx\.example\.org/account/signup\?invitation=[a-z2-7]{52}\n$`).MatchString(r.stdout) {
		t.Fatalf("user invite printed %q", r.stdout)
	}
	if r := runTPX(t, env, "", "user", "invite", "--email", "not an address"); r.code != 1 {
		t.Fatalf("a bad address: exit %d", r.code)
	}
}
