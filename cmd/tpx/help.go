package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/tpx-dev/tpx/policy"
)

// command is one `tpx …` command line. The table of them drives dispatch, the overview,
// `tpx help` and each command's own help, so that a command is added in one place.
type command struct {
	name    string // words after tpx: "publisher add github"
	args    string // the rest of the synopsis: "NAME --email EMAIL"
	summary string // one sentence
	// settings are the configuration groups the command reads; their flags appear in its
	// help after its own.
	settings settingGroup
	run      func(c *cli, ctx context.Context, args []string) error
}

func (cmd *command) synopsis() string {
	return strings.TrimSpace("tpx " + cmd.name + " " + cmd.args)
}

// commands returns the table of commands, in the order the overview lists them.
func commands() []command {
	cmds := []command{
		{"serve", "", "Run the service.", allSettings, (*cli).serve},
		{"migrate", "", "Apply the database migrations.", storeSettings, (*cli).migrate},
		{"demo", "", "Run one whole exchange end to end on a throwaway store, on loopback.", 0, (*cli).demo},
		{"user add", "NAME --email EMAIL", "Create a user; the password is read as one line on standard input. The operator vouches for the address, so it is recorded as verified.", storeSettings, (*cli).userAdd},
		{"user enroll-totp", "NAME", "Enrol a TOTP second factor for a user; prints the otpauth:// URI once.", storeSettings, (*cli).userEnrollTOTP},
		{"user invite", "--email EMAIL", "Make a one-use link (under TPX_PUBLIC_URL) to sign up with that address when TPX_SIGNUP=invite, valid for 7 days; prints it once.", storeSettings, (*cli).userInvite},
		{"project add", "NAME --owner NAME", "Create a project with its first owner.", storeSettings, (*cli).projectAdd},
		{"project delete", "NAME", "Delete a project with its publishers, and revoke its live upload tokens.", storeSettings, (*cli).projectDelete},
	}
	for _, pl := range policy.Platforms() {
		cmds = append(cmds, command{"publisher add " + string(pl.Kind), publisherAddArgs(pl),
			"Register a " + string(pl.Kind) + " publisher for a project, acting as its owner NAME (who needs a second factor).",
			storeSettings | issuerSettings, func(c *cli, ctx context.Context, args []string) error {
				return c.publisherAdd(ctx, pl, args)
			}})
	}
	return append(cmds,
		command{"publisher list", "[--project P] [--json]", "List publishers.", storeSettings, (*cli).publisherList},
		command{"publisher rules", "ID [--tags-only] [--ref PATTERN] [--protected-only] [--called-workflow W] --by NAME",
			"Replace a publisher's ref rules and called-workflow pin (what is not given is cleared), acting as an owner of its project; every owner is told.",
			storeSettings, (*cli).publisherRules},
		command{"publisher remove", "ID --by NAME", "Remove a publisher, acting as an owner of its project.", storeSettings, (*cli).publisherRemove},
		command{"apikey create", "--name N --scope admin", "Create an operator key of the admin API; prints the tpxadm_… key once.", storeSettings, (*cli).apikeyCreate},
		command{"apikey list", "", "List the operator keys of the admin API.", storeSettings, (*cli).apikeyList},
		command{"apikey revoke", "ID", "Revoke an operator key of the admin API.", storeSettings, (*cli).apikeyRevoke},
		command{"version", "", "Print the version and build information.", 0, (*cli).version},
		command{"help", "[COMMAND]", "Show the commands, or one command's flags.", 0, (*cli).help},
	)
}

// publisherAddArgs is the synopsis of `tpx publisher add KIND` after the kind: the
// platform's required fields; its optional ones are in the command's own help, which lists
// every flag.
func publisherAddArgs(pl *policy.Platform) string {
	var b strings.Builder
	b.WriteString("--project P")
	for _, f := range pl.Fields {
		if f.Required {
			fmt.Fprintf(&b, " --%s %s", f.Flag, f.Usage)
		}
	}
	b.WriteString(" [OPTIONS] --by NAME")
	return b.String()
}

// isHelpFlag reports whether arg asks for help the way the flag package understands it.
func isHelpFlag(arg string) bool {
	switch arg {
	case "-h", "-help", "--h", "--help":
		return true
	}
	return false
}

// dispatch runs the command that args name. A prefix shared by several commands ("user",
// "publisher add") is a group: asked for help, it lists its commands.
func (c *cli) dispatch(ctx context.Context, args []string) error {
	c.hint = "Run 'tpx help' for the list of commands.\n"
	if len(args) == 0 {
		c.overview(c.stderr)
		c.hint = ""
		return fmt.Errorf("%w: no command given", errUsage)
	}
	if isHelpFlag(args[0]) {
		return c.help(ctx, args[1:])
	}
	cmds := commands()
	var words []string
	for i, arg := range args {
		words = append(words, arg)
		name := strings.Join(words, " ")
		if j := slices.IndexFunc(cmds, func(cmd command) bool { return cmd.name == name }); j >= 0 {
			c.cmd = &cmds[j]
			return c.cmd.run(c, ctx, args[i+1:])
		}
		group := groupOf(cmds, name)
		if len(group) == 0 {
			break
		}
		rest := args[i+1:]
		if len(rest) == 0 || isHelpFlag(rest[0]) {
			w := c.stdout
			if len(rest) == 0 {
				w = c.stderr
			}
			listCommands(w, group)
			if len(rest) == 0 {
				c.hint = ""
				return fmt.Errorf("%w: %q needs one of the commands above", errUsage, name)
			}
			return flag.ErrHelp
		}
		c.hint = "Run 'tpx help " + name + "' for its commands.\n"
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, strings.Join(words, " "))
}

// groupOf returns the commands whose name starts with the words of prefix.
func groupOf(cmds []command, prefix string) []command {
	var group []command
	for _, cmd := range cmds {
		if strings.HasPrefix(cmd.name, prefix+" ") {
			group = append(group, cmd)
		}
	}
	return group
}

// help is `tpx help [COMMAND]`: the overview, a group's commands, or a command's help,
// which the command prints itself when parsing --help so that it lists its real flags.
func (c *cli) help(ctx context.Context, args []string) error {
	if len(args) == 0 || (len(args) == 1 && isHelpFlag(args[0])) {
		c.overview(c.stdout)
		return nil
	}
	c.cmd = nil
	return c.dispatch(ctx, append(slices.Clip(args), "--help"))
}

func (c *cli) overview(w io.Writer) {
	fmt.Fprint(w, "tpx — trusted-publisher token exchange\n\n")
	listCommands(w, commands())
	fmt.Fprint(w, `
Every command reads its configuration from TPX_* variables or the flags of the same
names; "tpx help COMMAND" (or "tpx COMMAND --help") lists the flags it takes.
`)
}

func listCommands(w io.Writer, cmds []command) {
	for _, cmd := range cmds {
		fmt.Fprintf(w, "  %s\n", cmd.synopsis())
	}
}

// commandHelp prints the help of the command being run: its synopsis, what it does, its
// own flags, then the configuration it reads.
func (c *cli) commandHelp(fs *flag.FlagSet) {
	if c.cmd == nil {
		return
	}
	w := c.stdout
	fmt.Fprintf(w, "usage: %s\n\n%s\n", c.cmd.synopsis(), c.cmd.summary)
	var own, config []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if isSetting(f.Name) {
			config = append(config, f)
		} else {
			own = append(own, f)
		}
	})
	printFlags(w, "\nFlags:\n", own)
	printFlags(w, "\nConfiguration (flag, or the TPX_ variable in brackets):\n", config)
	var secrets []string
	for _, s := range secretSettings {
		if s.group&c.cmd.settings != 0 {
			secrets = append(secrets, s.env)
		}
	}
	if len(secrets) > 0 {
		fmt.Fprintf(w, "\nSecrets, from the environment only (or NAME_FILE naming a file): %s\n", strings.Join(secrets, ", "))
	}
}

func printFlags(w io.Writer, title string, flags []*flag.Flag) {
	if len(flags) == 0 {
		return
	}
	fmt.Fprint(w, title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, f := range flags {
		arg, usage := flag.UnquoteUsage(f)
		if f.DefValue != "" && f.DefValue != "false" {
			usage += fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintf(tw, "  --%s %s\t%s\n", f.Name, arg, usage)
	}
	tw.Flush()
}

// version prints the module version and how the binary was built, from the build
// information the Go toolchain embeds.
func (c *cli) version(ctx context.Context, args []string) error {
	if _, err := c.parse(c.newFlagSet("version"), args, 0); err != nil {
		return err
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		info = nil
	}
	path := "github.com/tpx-dev/tpx"
	if info != nil && info.Main.Path != "" {
		path = info.Main.Path
	}
	fmt.Fprintf(c.stdout, "tpx %s\n", buildVersion(info))
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  module\t%s\n", path)
	fmt.Fprintf(tw, "  go\t%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if info != nil {
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision", "vcs.time", "vcs.modified", "CGO_ENABLED", "-race", "-tags":
				fmt.Fprintf(tw, "  %s\t%s\n", s.Key, s.Value)
			}
		}
	}
	return tw.Flush()
}

// buildVersion names the version of a binary with build information info (nil when it has
// none). The toolchain records the module version when the binary was installed at a
// version (go install …@v1.2.0) or built in a clone (a pseudo-version naming the commit,
// +dirty for uncommitted changes); otherwise the main module's version is "(devel)",
// which says nothing, so the revision is shown if one was recorded, and else that none
// was: the binary was built from a copy of the source without its history.
func buildVersion(info *debug.BuildInfo) string {
	if info == nil {
		return "unknown (built without module information)"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "devel (no version or revision recorded: built from a copy of the source without its git history)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		rev += "+dirty"
	}
	return "devel at revision " + rev
}
