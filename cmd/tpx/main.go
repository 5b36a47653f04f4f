// Command tpx is the trusted-publisher token exchange: `tpx serve` runs the service, the
// other subcommands manage users, projects and publishers in the same store.
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
)

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
	// cmd is the command being run, once dispatch found it; hint is what a usage error
	// before that points to.
	cmd  *command
	hint string
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
		// One line for what was wrong and one for where to look: a typo should not
		// scroll the terminal with every flag tpx has.
		msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), errUsage.Error()), ": ")
		if c.cmd != nil {
			fmt.Fprintf(stderr, "tpx %s: %s\nusage: %s   (tpx help %s)\n", c.cmd.name, msg, c.cmd.synopsis(), c.cmd.name)
		} else {
			fmt.Fprintf(stderr, "tpx: %s\n%s", msg, c.hint)
		}
		return 2
	default:
		fmt.Fprintf(stderr, "tpx: %v\n", err)
		return 1
	}
}

// flags returns a FlagSet for the command being run, with the flags of the settings it
// reads registered; parse it with c.parse, which lets flags and positional arguments
// come in any order.
func (c *cli) flags(name string) (*flag.FlagSet, func() (Config, error)) {
	fs := c.newFlagSet(name)
	var groups settingGroup
	if c.cmd != nil {
		groups = c.cmd.settings
	}
	return fs, configFlags(fs, c.env, groups)
}

func (c *cli) newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("tpx "+name, flag.ContinueOnError)
	// Parse errors and help are printed by run and c.parse, not by the flag package,
	// which would print every flag after a typo.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

func (c *cli) parse(fs *flag.FlagSet, args []string, positional int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				c.commandHelp(fs)
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
		return nil, fmt.Errorf("%w: takes %d argument(s), got %d", errUsage, positional, len(pos))
	}
	return pos, nil
}

func (c *cli) logger(cfg Config) *slog.Logger {
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(c.stderr, nil))
	}
	return slog.New(slog.NewTextHandler(c.stderr, nil))
}
