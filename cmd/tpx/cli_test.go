package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
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
	t.Parallel()
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

		t.Run("a publisher for an issuer TPX_CONFIG does not list is refused", func(t *testing.T) {
			refused(t, add("alice", "--issuer", "https://ghes.example.org/_services/token"), "not one this service trusts")
			refused(t, add("alice", "--issuer", "https://ghes.example.org/_services/token", "--pending", "--project", "newproject"), "not one this service trusts")
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
	t.Parallel()
	env := map[string]string{"TPX_DATA_DIR": t.TempDir()}
	overview := runTPX(t, env, "", "help").ok(t, "tpx help").stdout
	for _, cmd := range commands() {
		if !strings.Contains(overview, cmd.synopsis()) {
			t.Errorf("tpx help does not list %q:\n%s", cmd.synopsis(), overview)
		}
	}
	for _, c := range []struct {
		name   string
		args   []string
		stderr []string // each must appear on stderr
	}{
		{"no command exits 2 with the overview", nil, []string{overview, "no command given"}},
		{"an unknown command exits 2 with one line and where to look", []string{"frobnicate"},
			[]string{`tpx: unknown command "frobnicate"`, "tpx help"}},
		{"an unknown subcommand exits 2 naming it", []string{"publisher", "frobnicate"},
			[]string{`tpx: unknown command "publisher frobnicate"`, "tpx help publisher"}},
		{"a group without its subcommand exits 2 listing the group", []string{"user"},
			[]string{"tpx user add NAME --email EMAIL", "tpx user enroll-totp NAME", `"user" needs one of the commands above`}},
		{"a flag the command does not have prints one line and the command's usage", []string{"user", "add", "alice", "--frobnicate"},
			[]string{"tpx user add: flag provided but not defined: -frobnicate", "usage: tpx user add NAME --email EMAIL", "tpx help user add"}},
		{"a server flag given to a store command is not one of its flags", []string{"project", "add", "p", "--owner", "alice", "--addr", ":1"},
			[]string{"tpx project add: flag provided but not defined: -addr", "usage: tpx project add NAME --owner NAME"}},
		{"a missing argument prints one line and the command's usage", []string{"user", "enroll-totp"},
			[]string{"tpx user enroll-totp: takes 1 argument(s), got 0", "usage: tpx user enroll-totp NAME"}},
		{"a missing required flag of publisher add prints one line and its usage", []string{"publisher", "add", "github", "--project", "p"},
			[]string{"tpx publisher add github: --project, --repository, --workflow and --by are required", "usage: tpx publisher add github"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runTPX(t, env, "", c.args...)
			if r.code != 2 || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q; want 2 and nothing on stdout", r.code, r.stdout)
			}
			for _, want := range c.stderr {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			if c.args != nil && strings.Count(r.stderr, "\n") > 4 {
				t.Errorf("stderr has %d lines, want a short message:\n%s", strings.Count(r.stderr, "\n"), r.stderr)
			}
		})
	}
}

func TestEveryCommandHasHelpListingOnlyItsOwnFlags(t *testing.T) {
	t.Parallel()
	env := map[string]string{"TPX_DATA_DIR": t.TempDir()}
	serverOnly := []string{"--addr", "--tls-cert", "--rate-limit", "--token-ttl", "--smtp-url"}
	cases := []struct {
		command string
		want    []string // flags the help must list
		not     []string // flags it must not list
	}{
		{"serve", []string{"--addr", "--public-url", "--audience", "--database-url", "--config", "--tls-cert", "TPX_SECRET_KEY", "TPX_INTROSPECT_SECRET"}, nil},
		{"migrate", []string{"--database-url", "--data-dir", "TPX_SECRET_KEY"}, append(serverOnly, "--config")},
		{"user add", []string{"--email", "--database-url"}, append(serverOnly, "--config", "--owner")},
		{"user enroll-totp", []string{"--database-url"}, append(serverOnly, "--email")},
		{"user invite", []string{"--email", "--database-url"}, append(serverOnly, "--owner")},
		{"project add", []string{"--owner", "--database-url"}, append(serverOnly, "--email")},
		{"project delete", []string{"--database-url"}, append(serverOnly, "--owner", "--email")},
		{"publisher list", []string{"--project", "--json", "--database-url"}, append(serverOnly, "--by")},
		{"publisher rules", []string{"--tags-only", "--ref", "--protected-only", "--called-workflow", "--by", "--database-url"}, append(serverOnly, "--project")},
		{"publisher remove", []string{"--by", "--database-url"}, append(serverOnly, "--project")},
		{"apikey create", []string{"--name", "--scope", "--database-url"}, append(serverOnly, "--config")},
		{"apikey list", []string{"--database-url"}, append(serverOnly, "--name")},
		{"apikey revoke", []string{"--database-url"}, append(serverOnly, "--name")},
		{"demo", nil, append(serverOnly, "--database-url")},
		{"version", nil, append(serverOnly, "--database-url")},
	}
	// Every platform's add command lists the platform's own fields and the common ones.
	for _, pl := range policy.Platforms() {
		want := []string{"--project", "--issuer", "--pending", "--by", "--config", "--database-url"}
		for _, f := range pl.Fields {
			if !f.Disabled {
				want = append(want, "--"+f.Flag)
			}
		}
		cases = append(cases, struct {
			command string
			want    []string
			not     []string
		}{"publisher add " + string(pl.Kind), want, serverOnly})
	}
	if len(cases) != len(commands())-1 { // all but help itself
		t.Fatalf("%d cases for %d commands: a command was added without a help case", len(cases), len(commands())-1)
	}
	for _, c := range cases {
		t.Run("tpx "+c.command+" --help", func(t *testing.T) {
			words := strings.Fields(c.command)
			r := runTPX(t, env, "", append(words, "--help")...).ok(t, c.command+" --help")
			if !strings.HasPrefix(r.stdout, "usage: tpx "+c.command) || r.stderr != "" {
				t.Fatalf("stdout:\n%s\nstderr:\n%s\nwant the usage on stdout only", r.stdout, r.stderr)
			}
			for _, f := range c.want {
				if !strings.Contains(r.stdout, f+" ") && !strings.Contains(r.stdout, f+"\n") && !strings.Contains(r.stdout, f+",") {
					t.Errorf("help lacks %s:\n%s", f, r.stdout)
				}
			}
			for _, f := range c.not {
				if strings.Contains(r.stdout, f+" ") {
					t.Errorf("help lists %s, which this command does not take:\n%s", f, r.stdout)
				}
			}
			for _, alt := range [][]string{append([]string{"help"}, words...), append(words, "-h")} {
				if again := runTPX(t, env, "", alt...).ok(t, strings.Join(alt, " ")); again.stdout != r.stdout {
					t.Errorf("tpx %s prints another help:\n%s", strings.Join(alt, " "), again.stdout)
				}
			}
		})
	}
	for _, group := range []string{"user", "project", "publisher", "publisher add", "apikey"} {
		t.Run("tpx "+group+" --help lists the group's commands and no others", func(t *testing.T) {
			words := strings.Fields(group)
			r := runTPX(t, env, "", append(words, "--help")...).ok(t, group+" --help")
			for _, cmd := range commands() {
				listed := strings.Contains(r.stdout, cmd.synopsis())
				if in := strings.HasPrefix(cmd.name, group+" "); in != listed {
					t.Errorf("%q listed: %v, in the group: %v\n%s", cmd.name, listed, in, r.stdout)
				}
			}
			if again := runTPX(t, env, "", append([]string{"help"}, words...)...).ok(t, "help "+group); again.stdout != r.stdout {
				t.Errorf("tpx help %s prints another list:\n%s", group, again.stdout)
			}
		})
	}
	t.Run("help for a command that does not exist exits 2", func(t *testing.T) {
		if r := runTPX(t, env, "", "help", "frobnicate"); r.code != 2 || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("--help and -h alone print the overview", func(t *testing.T) {
		overview := runTPX(t, env, "", "help").stdout
		for _, arg := range []string{"--help", "-h"} {
			if r := runTPX(t, env, "", arg).ok(t, arg); r.stdout != overview {
				t.Errorf("tpx %s printed %q", arg, r.stdout)
			}
		}
	})
}

// The first line of tpx version names what the toolchain recorded, and never the bare
// "(devel)" it records for a binary built without a version.
func TestVersionNamesWhatTheBuildRecorded(t *testing.T) {
	t.Parallel()
	const rev = "4624113a034223a8525d2b8e40d0c14ef91df7e7"
	vcs := func(modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: "2026-11-27T12:14:19Z"}, {Key: "vcs.modified", Value: modified}}
	}
	for _, tc := range []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{"a binary installed at a release shows the release", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, "v1.4.0"},
		{"a binary built in a clone shows the pseudo-version naming its commit",
			&debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261127121419-4624113a0342+dirty"}, Settings: vcs("true")}, "v0.0.0-20261127121419-4624113a0342+dirty"},
		{"a binary with a revision but no version shows the revision", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("false")}, "devel at revision 4624113a0342"},
		{"a binary with a revision and uncommitted changes says so", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("true")}, "devel at revision 4624113a0342+dirty"},
		{"a binary built from a copy without history says that nothing was recorded", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
			"devel (no version or revision recorded: built from a copy of the source without its git history)"},
		{"a test binary, whose main module has no version, says the same", &debug.BuildInfo{}, "devel (no version or revision recorded: built from a copy of the source without its git history)"},
		{"a binary without build information says so", nil, "unknown (built without module information)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := buildVersion(tc.info); got != tc.want {
				t.Errorf("buildVersion = %q, want %q", got, tc.want)
			}
		})
	}
	if r := runTPX(t, nil, "", "version").ok(t, "version"); strings.Contains(r.stdout, "(devel)") {
		t.Errorf("tpx version prints (devel):\n%s", r.stdout)
	}
}

func TestVersionPrintsBuildInformation(t *testing.T) {
	t.Parallel()
	r := runTPX(t, nil, "", "version").ok(t, "version")
	lines := strings.Split(r.stdout, "\n")
	if !strings.HasPrefix(lines[0], "tpx ") || len(lines[0]) <= len("tpx ") {
		t.Errorf("first line %q does not name the version", lines[0])
	}
	for _, want := range []string{"module", runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("version output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := runTPX(t, nil, "", "version", "extra"); r.code != 2 {
		t.Errorf("tpx version extra exits %d, want 2", r.code)
	}
}

func TestDemoPassesEveryStep(t *testing.T) {
	t.Parallel()
	r := runTPX(t, map[string]string{}, "", "demo")
	if r.code != 0 || !strings.Contains(r.stdout, "every step passed") {
		t.Fatalf("tpx demo exited %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

func TestConfigFileErrorsNameTheField(t *testing.T) {
	t.Parallel()
	const issuer = "https://token.actions.githubusercontent.com"
	cases := []struct {
		name, yaml string
		want       string // the error names this
	}{
		{"an empty providers list is an error, not the defaults", "providers: []\n", "providers lists no issuer"},
		{"a providers key with nothing under it is an error", "providers:\n", "providers lists no issuer"},
		{"providers that is a mapping, not a list", "providers:\n  kind: github\n", "line 2: providers must be a list"},
		{"an entry that is a plain string", "providers:\n  - github\n", "line 2: providers[0] must be a mapping"},
		{"a misspelt field of an entry", "providers:\n  - {kind: github, issuer: " + issuer + ", enable: false}\n", "providers[0]: unknown field enable"},
		{"a kill switch that is not a boolean", "providers:\n  - {kind: github, issuer: " + issuer + "}\n  - {kind: gitlab, issuer: https://gitlab.com, enabled: maybe}\n", `line 3: providers[1].enabled "maybe" must be true or false`},
		{"an issuer that is a list", "providers:\n  - kind: github\n    issuer: [a, b]\n", "providers[0].issuer must be a single value"},
		{"an unknown kind", "providers:\n  - {kind: jenkins, issuer: " + issuer + "}\n", `providers[0].kind "jenkins" must be`},
		{"an entry without kind", "providers:\n  - {issuer: " + issuer + "}\n", "providers[0].kind is missing"},
		{"an entry without issuer", "providers:\n  - {kind: github}\n", "providers[0].issuer is missing"},
		{"a field given twice", "providers:\n  - {kind: github, issuer: " + issuer + ", kind: gitlab}\n", "providers[0].kind is given twice"},
		{"an unknown top-level field", "provider:\n  - {kind: github, issuer: " + issuer + "}\n", "line 1: unknown field provider"},
		{"a document that is a list", "- {kind: github, issuer: " + issuer + "}\n", "must be a mapping with a providers key"},
		{"text that is not YAML", "providers: [\n", "not YAML"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := writeTestFile(t, "tpx.yaml", c.yaml)
			_, err := loadConfig(t, map[string]string{"TPX_CONFIG": file})
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || !strings.Contains(msg, "TPX_CONFIG "+file) {
				t.Errorf("error %q, want it to name the file and say %q", msg, c.want)
			}
			for _, goType := range []string{"struct", "main.", "[]", "!!", "unmarshal"} {
				if strings.Contains(msg, goType) {
					t.Errorf("error %q speaks of Go or YAML internals (%q)", msg, goType)
				}
			}
		})
	}
	t.Run("a file without a providers key means the default issuers", func(t *testing.T) {
		for _, doc := range []string{"", "# nothing yet\n"} {
			cfg, err := loadConfig(t, map[string]string{"TPX_CONFIG": writeTestFile(t, "tpx.yaml", doc)})
			if err != nil || cfg.Providers != nil {
				t.Errorf("%q: providers %v, error %v; want the defaults", doc, cfg.Providers, err)
			}
		}
	})
	t.Run("a valid file reads every entry", func(t *testing.T) {
		cfg, err := loadConfig(t, map[string]string{"TPX_CONFIG": writeTestFile(t, "tpx.yaml",
			"providers:\n  - {kind: github, issuer: "+issuer+"}\n  - kind: gitlab\n    issuer: https://gitlab.example.org\n    enabled: false\n")})
		want := []providers.IssuerConfig{{Kind: policy.GitHub, Issuer: issuer}, {Kind: policy.GitLab, Issuer: "https://gitlab.example.org", Disabled: true}}
		if err != nil || !slices.Equal(cfg.Providers, want) {
			t.Errorf("providers %+v, error %v; want %+v", cfg.Providers, err, want)
		}
	})
}

func TestCommandLineRefRules(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		env := cliEnv(t, b)
		for _, name := range []string{"alice", "carol"} {
			runTPX(t, env, "correct horse battery staple\n", "user", "add", name, "--email", name+"@example.org").ok(t, "user add "+name)
			runTPX(t, env, "", "user", "enroll-totp", name).ok(t, "enroll-totp "+name)
		}
		runTPX(t, env, "", "project", "add", "sampleproject", "--owner", "alice").ok(t, "project add")
		runTPX(t, env, "", "publisher", "add", "gitlab", "--project", "sampleproject", "--repository", "my-group/my-project",
			"--workflow", ".gitlab-ci.yml", "--tags-only", "--ref", "refs/tags/v*", "--by", "alice").ok(t, "publisher add with ref rules")
		pubs := listPublishersJSON(t, env)
		if len(pubs) != 1 || !pubs[0].RefTagsOnly || pubs[0].RefPattern != "refs/tags/v*" || pubs[0].RefProtected ||
			pubs[0].Refs != "tags only and refs matching refs/tags/v*" {
			t.Fatalf("publisher list --json shows %+v", pubs)
		}
		id := strconv.FormatInt(pubs[0].ID, 10)
		t.Run("a non-owner cannot change the rules", func(t *testing.T) {
			if r := runTPX(t, env, "", "publisher", "rules", id, "--by", "carol"); r.code == 0 || !strings.Contains(r.stderr, "does not own") {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
		})
		t.Run("a regular expression is refused and nothing changes", func(t *testing.T) {
			r := runTPX(t, env, "", "publisher", "rules", id, "--ref", "refs/tags/v[0-9]+", "--by", "alice")
			if r.code != 1 || !strings.Contains(r.stderr, "regular expressions are not supported") {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if p := listPublishersJSON(t, env)[0]; p.RefPattern != "refs/tags/v*" {
				t.Fatalf("rules changed: %+v", p)
			}
		})
		t.Run("the owner replaces the rules with protected refs only", func(t *testing.T) {
			r := runTPX(t, env, "", "publisher", "rules", id, "--protected-only", "--by", "alice").ok(t, "publisher rules")
			if !strings.Contains(r.stdout, "now accepts protected refs only") {
				t.Fatalf("printed %q", r.stdout)
			}
			if p := listPublishersJSON(t, env)[0]; p.RefTagsOnly || p.RefPattern != "" || !p.RefProtected {
				t.Fatalf("rules: %+v", p)
			}
		})
	})
}
