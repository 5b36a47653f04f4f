package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/tpx-dev/tpx/internal/oidctest"
	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/store/postgres"
)

// The tenants case: one repository whose owner has one project, and N publishers that other
// users registered for the same repository before it, on projects of their own with names
// of 100 characters, 20 to a user. Half of them match the repository's release job (so its
// token could cover them), half are bound to environments the job does not run in (so they
// are read and refuse it). What the repository's exchange costs, and how large its token
// is, should not depend on N.
var tenantCounts = []int{0, 100, 2000}

// tenantRun is the measurement for one N.
type tenantRun struct {
	others     int
	all        runResult // the client asks for every project (the default request)
	named      runResult // the client names its project
	tokenBytes int       // the upload token of the default request
	projects   int       // projects it covers
	namedBytes int
}

// victimRepo is the repository measured.
func victimRepo(int) repository {
	return repository{owner: "victim-org", name: "app", ownerID: "4250", repoID: "3000050",
		projects: 1, projectName: func(int) string { return "victim-app" }}
}

// tenants measures the repository's exchange, sequentially and in process, with 0, 100 and
// 2,000 other tenants' publishers naming it.
func (b *bench) tenants(ctx context.Context, st store.Store) error {
	const warm, n = 20, 200
	svc, err := newService(ctx, st, b.iss.URL(), b.secret, 0, false)
	if err != nil {
		return err
	}
	defer svc.close()
	victim, err := st.CreateUser(ctx, store.User{Name: "victim", Email: "victim@example.org", PasswordHash: "-", CreatedAt: time.Now()})
	if err != nil {
		return err
	}
	r := victimRepo(0)
	rules := policy.Publisher{Kind: policy.GitHub, Issuer: b.iss.URL(), Owner: r.owner, Name: r.name, Workflow: "release.yml",
		OwnerID: r.ownerID, RepositoryID: r.repoID}
	proj, err := st.CreateProject(ctx, "victim-app", victim.ID, time.Now())
	if err != nil {
		return err
	}
	if _, err := st.AddPublisher(ctx, store.Publisher{Publisher: rules, ProjectID: proj.ID, CreatedBy: victim.ID, CreatedAt: time.Now()}); err != nil {
		return err
	}
	seeded := 0
	var user store.User
	for _, others := range tenantCounts {
		b.say("tenants: %d other tenants' publishers naming the repository", others)
		for ; seeded < others; seeded++ {
			if seeded%20 == 0 {
				if user, err = st.CreateUser(ctx, store.User{Name: fmt.Sprintf("tenant%d", seeded/20), Email: fmt.Sprintf("t%d@example.org", seeded/20),
					PasswordHash: "-", CreatedAt: time.Now()}); err != nil {
					return err
				}
			}
			name := (fmt.Sprintf("tenant%d-%04d-", seeded/20, seeded) + strings.Repeat("x", 100))[:100]
			p, err := st.CreateProject(ctx, name, user.ID, time.Now())
			if err != nil {
				return err
			}
			other := rules
			other.OwnerID, other.RepositoryID = "", ""
			if seeded%2 == 1 {
				other.Environment = fmt.Sprintf("elsewhere-%d", seeded)
			}
			if _, err := st.AddPublisher(ctx, store.Publisher{Publisher: other, ProjectID: p.ID, CreatedBy: user.ID, CreatedAt: time.Now()}); err != nil {
				return err
			}
		}
		if err := b.db.analyze(ctx); err != nil {
			return err
		}
		// Each N starts from a fresh checkpoint, as the growth cases do: the seeding, or the
		// phases of a full run before this one, leave no flush to land in its middle.
		b.db.checkpoint(ctx)
		run := tenantRun{others: others}
		for _, m := range []struct {
			project string
			out     *runResult
			bytes   *int
		}{{"", &run.all, &run.tokenBytes}, {"victim-app", &run.named, &run.namedBytes}} {
			bodies, err := b.sign(ctx, warm+n, victimRepo)
			if err != nil {
				return err
			}
			raws := make([]string, len(bodies))
			for i, body := range bodies {
				raws[i] = tokenOf(body)
			}
			for _, raw := range raws[:warm] {
				res, err := svc.ex.ExchangeFor(ctx, raw, m.project)
				if err != nil {
					return fmt.Errorf("tenants warm-up: %w", err)
				}
				*m.bytes = len(res.Token)
				if m.project == "" {
					run.projects = len(res.Projects)
				}
			}
			*m.out = eachOnce(ctx, n, 1, func(i int) error {
				_, err := svc.ex.ExchangeFor(ctx, raws[warm+i], m.project)
				return err
			})
			if err := errRun("tenants", *m.out); err != nil {
				return err
			}
		}
		b.say("  every project: p50 %v, %d-byte token for %d projects; named project: p50 %v, %d bytes",
			run.all.p50(), run.tokenBytes, run.projects, run.named.p50(), run.namedBytes)
		b.res.tenants = append(b.res.tenants, run)
	}
	return nil
}

// runTenants is the -tenants run: the tenants case and the case of one publisher on many
// projects, in a database of its own.
func (b *bench) runTenants(ctx context.Context) error {
	b.res.sizes = b.sizes
	b.secret = rand.Text() + rand.Text()
	iss, err := oidctest.Serve()
	if err != nil {
		return err
	}
	defer iss.Close()
	b.iss = iss
	db, err := createDatabase(ctx, b.opts.dbURL)
	if err != nil {
		return err
	}
	defer db.drop()
	b.db = db
	st, err := postgres.Open(ctx, db.url)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	if err := b.tenants(ctx, st); err != nil {
		return err
	}
	return b.projects(ctx, st)
}

// projects is the growth run's case of one publisher on many projects, for the -tenants
// run: one user's publisher with the same rules on each of multiProjects projects of one
// repository, against one on a single project of another, registered through the store as
// an owner registers them. The two alternate in rounds, so that a change in the machine's
// load falls on both.
func (b *bench) projects(ctx context.Context, st store.Store) error {
	const warm, rounds = 20, 4
	s := b.sizes
	svc, err := newService(ctx, st, b.iss.URL(), b.secret, 0, false)
	if err != nil {
		return err
	}
	defer svc.close()
	owner, err := st.CreateUser(ctx, store.User{Name: "monorepo", Email: "monorepo@example.org", PasswordHash: "-", CreatedAt: time.Now()})
	if err != nil {
		return err
	}
	b.say("projects: one publisher on 1 project and on %d projects", s.multiProjects)
	for _, r := range []repository{soloRepo(0), b.multiRepo(0)} {
		rules := policy.Publisher{Kind: policy.GitHub, Issuer: b.iss.URL(), Owner: r.owner, Name: r.name, Workflow: "release.yml",
			Environment: "prod", OwnerID: r.ownerID, RepositoryID: r.repoID}
		for j := range r.projects {
			p, err := st.CreateProject(ctx, r.projectName(j), owner.ID, time.Now())
			if err != nil {
				return err
			}
			if _, err := st.AddPublisher(ctx, store.Publisher{Publisher: rules, ProjectID: p.ID, CreatedBy: owner.ID, CreatedAt: time.Now()}); err != nil {
				return err
			}
		}
	}
	if err := b.db.analyze(ctx); err != nil {
		return err
	}
	per := s.projectsN
	solo, err := b.sign(ctx, warm+rounds*per, soloRepo)
	if err != nil {
		return err
	}
	multi, err := b.sign(ctx, warm+rounds*per, b.multiRepo)
	if err != nil {
		return err
	}
	for _, w := range [][][]byte{solo[:warm], multi[:warm]} {
		if err := errRun("projects warm-up", exchangeAll(ctx, svc, w, 1)); err != nil {
			return err
		}
	}
	g := &b.res.growth
	for i := range rounds {
		at := warm + i*per
		one := exchangeAll(ctx, svc, solo[at:at+per], 1)
		if err := errRun("one publisher on 1 project", one); err != nil {
			return err
		}
		many := exchangeAll(ctx, svc, multi[at:at+per], 1)
		if err := errRun("one publisher on many projects", many); err != nil {
			return err
		}
		g.oneProject.add(one)
		g.manyProjects.add(many)
	}
	b.say("  1 project: p50 %v; %d projects: p50 %v", g.oneProject.p50(), s.multiProjects, g.manyProjects.p50())
	return nil
}
