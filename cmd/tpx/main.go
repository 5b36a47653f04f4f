// Command tpx is the trusted-publisher token exchange: `tpx serve` runs the service, the
// other subcommands manage users, projects and publishers in the same store (DESIGN §3).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/tpx-dev/tpx/policy"
)

// usage is the command-line help; the publisher add lines come from the platforms.
var usage = `tpx — trusted-publisher token exchange

  tpx serve                      run the service
  tpx migrate                    apply database migrations
  tpx demo                       run a whole exchange end to end on a throwaway store
  tpx user add NAME --email EMAIL          (password: one line on stdin)
  tpx user enroll-totp NAME                (prints the otpauth:// URI once)
  tpx project add NAME --owner NAME
` + publisherAddUsage() + `  tpx publisher list [--project P] [--json]
  tpx publisher remove ID --by NAME
  tpx apikey create --name N --scope admin (prints the tpxadm_… key once)
  tpx apikey list | tpx apikey revoke ID   (operator keys of the admin API)

Every command reads the configuration from TPX_* variables (or the flags of the same
names; see "tpx serve -h").
`

// publisherAddUsage is one `tpx publisher add KIND` line per platform, its required fields
// first.
func publisherAddUsage() string {
	var b strings.Builder
	for _, pl := range policy.Platforms() {
		fmt.Fprintf(&b, "  tpx publisher add %s --project P", pl.Kind)
		var optional []string
		for _, f := range pl.Fields {
			if f.Required {
				fmt.Fprintf(&b, " --%s %s", f.Flag, f.Usage)
			} else {
				optional = append(optional, fmt.Sprintf("[--%s %s]", f.Flag, f.Usage))
			}
		}
		fmt.Fprintf(&b, "\n        %s [--issuer URL] [--pending] --by NAME\n", strings.Join(optional, " "))
	}
	return b.String()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// errUsage marks a command line that could not be understood (exit status 2).
var errUsage = errors.New("usage")

// cli is one invocation: its streams and environment, so tests can run it in process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            func(string) string
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, env: env}
	err := c.dispatch(ctx, args)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "tpx: %v\n\n%s", err, usage)
		return 2
	default:
		fmt.Fprintf(stderr, "tpx: %v\n", err)
		return 1
	}
}

func (c *cli) dispatch(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: no command given", errUsage)
	}
	cmd, rest := args[0], args[1:]
	two := cmd
	if len(rest) > 0 {
		two = cmd + " " + rest[0]
	}
	switch {
	case cmd == "serve":
		return c.serve(ctx, rest)
	case cmd == "migrate":
		return c.migrate(ctx, rest)
	case cmd == "demo":
		return c.demo(ctx, rest)
	case two == "user add":
		return c.userAdd(ctx, rest[1:])
	case two == "user enroll-totp":
		return c.userEnrollTOTP(ctx, rest[1:])
	case two == "project add":
		return c.projectAdd(ctx, rest[1:])
	case two == "publisher add":
		return c.publisherAdd(ctx, rest[1:])
	case two == "publisher list":
		return c.publisherList(ctx, rest[1:])
	case two == "publisher remove":
		return c.publisherRemove(ctx, rest[1:])
	case two == "apikey create":
		return c.apikeyCreate(ctx, rest[1:])
	case two == "apikey list":
		return c.apikeyList(ctx, rest[1:])
	case two == "apikey revoke":
		return c.apikeyRevoke(ctx, rest[1:])
	case cmd == "help" || cmd == "-h" || cmd == "--help":
		fmt.Fprint(c.stdout, usage)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, two)
}

// flags returns a FlagSet for a command with the configuration flags registered; parse
// it with c.parse, which lets flags and positional arguments come in any order.
func (c *cli) flags(name string) (*flag.FlagSet, func() (Config, error)) {
	fs := c.newFlagSet(name)
	return fs, configFlags(fs, c.env)
}

func (c *cli) newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("tpx "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	return fs
}

func (c *cli) parse(fs *flag.FlagSet, args []string, positional int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != positional {
		return nil, fmt.Errorf("%w: %s takes %d argument(s), got %d", errUsage, fs.Name(), positional, len(pos))
	}
	return pos, nil
}

func (c *cli) logger(cfg Config) *slog.Logger {
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(c.stderr, nil))
	}
	return slog.New(slog.NewTextHandler(c.stderr, nil))
}
