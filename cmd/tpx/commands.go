package main

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/tpx-dev/tpx/account"
	"github.com/tpx-dev/tpx/internal/secretbox"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/providers"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/store/postgres"
	"github.com/tpx-dev/tpx/store/sqlite"
	"github.com/tpx-dev/tpx/verify"
)

// openStore opens the configured store and brings its schema up to date.
func openStore(ctx context.Context, cfg Config) (store.Store, error) {
	return openStoreNames(ctx, cfg, false)
}

// openStoreNames is openStore that, with rekey, rewrites the keys of project names when
// TPX_NAMES changed (tpx migrate); without, a store keyed by another rule is refused.
func openStoreNames(ctx context.Context, cfg Config, rekey bool) (store.Store, error) {
	var (
		st  store.Store
		err error
	)
	if cfg.DatabaseURL != "" {
		st, err = postgres.Open(ctx, withPoolSize(cfg.DatabaseURL))
	} else {
		st, err = sqlite.Open(ctx, cfg.DataDir)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrating the store: %w", err)
	}
	if err := st.UseNames(ctx, cfg.Names, rekey); err != nil {
		st.Close()
		return nil, fmt.Errorf("the store's project names: %w", err)
	}
	return st, nil
}

// connsPerProcessor sizes the connection pool when TPX_DATABASE_URL sets no pool_max_conns.
// An exchange holds its connection mostly while PostgreSQL flushes its commit, not while
// it uses a processor: with several connections per processor, concurrent exchanges'
// commits share one flush (group commit) instead of queueing for a connection, and an
// exchange that has verified its token never waits for one behind a flood.
const connsPerProcessor = 8

// withPoolSize returns url with pool_max_conns set to connsPerProcessor × GOMAXPROCS,
// unless it sets one.
func withPoolSize(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.Query().Has("pool_max_conns") {
		return dsn
	}
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + "pool_max_conns=" + strconv.Itoa(connsPerProcessor*runtime.GOMAXPROCS(0))
}

// session is the store and account service a management command works with.
type session struct {
	cfg      Config
	store    store.Store
	accounts *account.Service
}

func (c *cli) open(ctx context.Context, load func() (Config, error)) (*session, error) {
	cfg, err := load()
	if err != nil {
		return nil, err
	}
	box, err := secretbox.New(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &session{cfg: cfg, store: st, accounts: account.New(account.Config{Store: st, Box: box, Logger: c.logger(cfg), PublicURL: cfg.PublicURL, Projects: cfg.Projects, Signup: cfg.Signup, Issuers: cfg.Providers, Names: cfg.Names})}, nil
}

// with runs fn on a freshly opened session and closes it after.
func (c *cli) with(ctx context.Context, load func() (Config, error), fn func(s *session) error) error {
	s, err := c.open(ctx, load)
	if err != nil {
		return err
	}
	defer s.store.Close()
	return fn(s)
}

func (c *cli) migrate(ctx context.Context, args []string) error {
	fs, load := c.flags("migrate")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	st, err := openStoreNames(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintf(c.stdout, "migrations applied; project names are keyed by %s's naming rule\n", cmp.Or(string(cfg.Names), string(verify.PyPINames)))
	return nil
}

func (c *cli) userAdd(ctx context.Context, args []string) error {
	fs, load := c.flags("user add")
	email := fs.String("email", "", "the user's email address")
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	password, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && password == "" {
		return errors.New("the password is read as one line on standard input, and none came")
	}
	password = strings.TrimRight(password, "\r\n")
	return c.with(ctx, load, func(s *session) error {
		u, err := s.accounts.CreateUser(ctx, pos[0], *email, password)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "user %s created (id %d); enrol a second factor with: tpx user enroll-totp %s\n", u.Name, u.ID, u.Name)
		return nil
	})
}

func (c *cli) userEnrollTOTP(ctx context.Context, args []string) error {
	fs, load := c.flags("user enroll-totp")
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	return c.with(ctx, load, func(s *session) error {
		uri, err := s.accounts.EnrollTOTP(ctx, account.ViaOperator, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintln(c.stdout, uri)
		fmt.Fprintln(c.stderr, "Give this URI to the user once (as a QR code or text) for their authenticator app; it is not shown again.")
		return nil
	})
}

func (c *cli) projectAdd(ctx context.Context, args []string) error {
	fs, load := c.flags("project add")
	owner := fs.String("owner", "", "user name of the first owner")
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	return c.with(ctx, load, func(s *session) error {
		p, err := s.accounts.CreateProject(ctx, account.ViaOperator, pos[0], *owner)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "project %s created (id %d), owned by %s\n", p.Name, p.ID, *owner)
		return nil
	})
}

func (c *cli) projectDelete(ctx context.Context, args []string) error {
	fs, load := c.flags("project delete")
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	return c.with(ctx, load, func(s *session) error {
		if err := s.accounts.DeleteProject(ctx, account.ViaOperator, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "project %s deleted, with its publishers; its live upload tokens are revoked\n", pos[0])
		return nil
	})
}

func (c *cli) publisherAdd(ctx context.Context, pl *policy.Platform, args []string) error {
	kind := pl.Kind
	fs, load := c.flags("publisher add " + string(kind))
	var required []string
	var project, issuer, by string
	var pending bool
	fs.StringVar(&project, "project", "", "project name")
	value := fieldFlags(fs, pl.Fields)
	for _, f := range pl.Fields {
		if f.Required {
			required = append(required, "--"+f.Flag)
		}
	}
	fs.StringVar(&issuer, "issuer", "", "issuer URL (default: the first configured "+string(kind)+" issuer)")
	fs.BoolVar(&pending, "pending", false, "register for a project that does not exist yet")
	fs.StringVar(&by, "by", "", "user name of the acting owner")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	missing := project == "" || by == ""
	for _, f := range pl.Fields {
		missing = missing || (f.Required && value(f.Name) == "")
	}
	if missing {
		return fmt.Errorf("%w: %s are required", errUsage, andList(append(append([]string{"--project"}, required...), "--by")))
	}
	p := pl.Publisher(issuer, value)
	return c.with(ctx, load, func(s *session) error {
		if p.Issuer == "" {
			p.Issuer = defaultIssuer(s.accounts.Issuers(), kind)
		}
		actor := account.Actor{UserName: by, Via: account.ViaOperator}
		if pending {
			pp, err := s.accounts.AddPending(ctx, actor, project, p)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.stdout, "pending publisher %d registered for new project %s until %s: %s\n", pp.ID, project, pp.ExpiresAt.UTC().Format("2006-01-02"), account.Describe(pp.Publisher))
			return nil
		}
		sp, err := s.accounts.AddPublisher(ctx, actor, project, p)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "publisher %d added to %s: %s\n", sp.ID, project, account.Describe(sp.Publisher))
		return nil
	})
}

// fieldFlags registers a flag for each field that can be set (a boolean flag for a yes/no
// field) and returns the values given, by field name, as policy.Platform.Publisher reads
// them.
func fieldFlags(fs *flag.FlagSet, fields []policy.Field) func(name string) string {
	text := map[string]*string{}
	check := map[string]*bool{}
	for _, f := range fields {
		switch {
		case f.Disabled:
		case f.Check:
			check[f.Name] = fs.Bool(f.Flag, false, f.Label+": "+f.Hint)
		default:
			text[f.Name] = fs.String(f.Flag, "", f.Label+": "+f.Hint)
		}
	}
	return func(name string) string {
		if v, ok := text[name]; ok {
			return *v
		}
		if v, ok := check[name]; ok && *v {
			return "true"
		}
		return ""
	}
}

// publisherRules replaces a publisher's ref rules and called-workflow pin: what is not
// given is cleared, so the command line states the whole new rule set.
func (c *cli) publisherRules(ctx context.Context, args []string) error {
	fs, load := c.flags("publisher rules")
	by := fs.String("by", "", "user name of the acting owner")
	tagsOnly := fs.Bool("tags-only", false, "accept only tags (refs/tags/…)")
	pattern := fs.String("ref", "", "accept only refs matching PATTERN: a whole ref, '*' for any characters but '/'")
	protected := fs.Bool("protected-only", false, "accept only refs the platform reports as protected")
	called := fs.String("called-workflow", "", "GitHub: the reusable workflow the job must run, OWNER/REPO/.github/workflows/FILE[@REF]")
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	id, err := account.ParseID(pos[0])
	if err != nil {
		return err
	}
	refs := policy.RefRules{TagsOnly: *tagsOnly, Pattern: *pattern, Protected: *protected}
	return c.with(ctx, load, func(s *session) error {
		p, err := s.accounts.SetPublisherRules(ctx, account.Actor{UserName: *by, Via: account.ViaOperator}, id, refs, *called)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "publisher %d now accepts %s\n", id, describeRules(p.Publisher))
		return nil
	})
}

// describeRules says which refs and called workflow a publisher accepts.
func describeRules(p policy.Publisher) string {
	s := p.Refs.String()
	if p.CalledWorkflow != "" {
		s += ", called workflow " + p.CalledWorkflow
	}
	return s
}

// defaultIssuer is the first issuer of kind switched on, which is the platform's public
// issuer unless the operator's list says otherwise; "" when none is.
func defaultIssuer(issuers []providers.IssuerConfig, kind policy.Kind) string {
	for _, ic := range issuers {
		if ic.Kind == kind && !ic.Disabled {
			return ic.Issuer
		}
	}
	return ""
}

// andList joins words as a sentence does: "a", "a and b", "a, b and c".
func andList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}

type publisherJSON struct {
	ID           int64  `json:"id"`
	Project      string `json:"project"`
	Kind         string `json:"kind"`
	Issuer       string `json:"issuer"`
	Repository   string `json:"repository"`
	Workflow     string `json:"workflow"`
	Environment  string `json:"environment,omitempty"`
	OwnerID      string `json:"owner_id,omitempty"`
	RepositoryID string `json:"repository_id,omitempty"`
	// Refs is the ref rules in words: "any ref", "tags only"…
	Refs           string `json:"refs"`
	RefTagsOnly    bool   `json:"ref_tags_only,omitempty"`
	RefPattern     string `json:"ref_pattern,omitempty"`
	RefProtected   bool   `json:"ref_protected,omitempty"`
	CalledWorkflow string `json:"called_workflow,omitempty"`
	LastUsed       string `json:"last_used,omitempty"`
}

func (c *cli) publisherList(ctx context.Context, args []string) error {
	fs, load := c.flags("publisher list")
	project := fs.String("project", "", "only this project's publishers")
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := c.parse(fs, args, 0); err != nil {
		return err
	}
	return c.with(ctx, load, func(s *session) error {
		var projectID int64
		if *project != "" {
			p, err := s.store.ProjectByName(ctx, *project)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no project %q", *project)
			}
			if err != nil {
				return err
			}
			projectID = p.ID
		}
		pubs, err := s.store.ListPublishers(ctx, projectID)
		if err != nil {
			return err
		}
		out := make([]publisherJSON, len(pubs))
		for i, p := range pubs {
			out[i] = publisherJSON{ID: p.ID, Project: p.ProjectName, Kind: string(p.Kind), Issuer: p.Issuer, Repository: p.Repository(),
				Workflow: p.Workflow, Environment: p.Environment, OwnerID: p.OwnerID, RepositoryID: p.RepositoryID,
				Refs: describeRules(p.Publisher), RefTagsOnly: p.Refs.TagsOnly, RefPattern: p.Refs.Pattern, RefProtected: p.Refs.Protected,
				CalledWorkflow: p.CalledWorkflow}
			if p.LastUsedAt != nil {
				out[i].LastUsed = p.LastUsedAt.UTC().Format("2006-01-02T15:04:05Z")
			}
		}
		if *asJSON {
			enc := json.NewEncoder(c.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(out)
		}
		tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPROJECT\tKIND\tREPOSITORY\tWORKFLOW\tENVIRONMENT\tREFS\tIDS\tLAST USED")
		for _, p := range out {
			ids := "pinned on first use"
			if p.RepositoryID != "" {
				ids = p.OwnerID + "/" + p.RepositoryID
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Project, p.Kind, p.Repository, p.Workflow, orDash(p.Environment), p.Refs, ids, orDash(p.LastUsed))
		}
		return tw.Flush()
	})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func (c *cli) publisherRemove(ctx context.Context, args []string) error {
	fs, load := c.flags("publisher remove")
	by := fs.String("by", "", "user name of the acting owner")
	pos, err := c.parse(fs, args, 1)
	if err != nil {
		return err
	}
	id, err := account.ParseID(pos[0])
	if err != nil {
		return err
	}
	return c.with(ctx, load, func(s *session) error {
		if err := s.accounts.RemovePublisher(ctx, account.Actor{UserName: *by, Via: account.ViaOperator}, id); err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "publisher %d removed\n", id)
		return nil
	})
}
