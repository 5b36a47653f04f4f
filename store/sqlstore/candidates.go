package sqlstore

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
)

// shortCandidates is the statement of a short candidate read: every publisher, active and
// pending, of one repository for one issuer, at most store.ShortCandidateRead+1 of each
// kind, in whatever order the index gives (an ORDER BY would read them all to sort
// them). Each row carries what the choice needs: the index's env_key and registrant, and
// for a pending publisher whether its project name exists.
func shortCandidates() string {
	limit := strconv.Itoa(store.ShortCandidateRead + 1)
	return `SELECT * FROM (SELECT 0, p.id, p.kind, p.issuer, p.owner, p.name, p.workflow, p.environment,
			COALESCE(p.owner_id, ''), COALESCE(p.repository_id, ''), p.ref_tags_only, p.ref_pattern, p.ref_protected, p.called_workflow,
			p.project_id, (SELECT name FROM projects WHERE id = p.project_id), COALESCE(p.created_by, 0), p.created_at, p.last_used_at,
			NULLIF(p.created_at, p.created_at), p.rules_version, p.env_key, p.registrant, 0
			FROM publishers p WHERE p.issuer = $1 AND p.repo_key = $2 LIMIT ` + limit + `) a
		UNION ALL
		SELECT * FROM (SELECT 1, pp.id, pp.kind, pp.issuer, pp.owner, pp.name, pp.workflow, pp.environment,
			COALESCE(pp.owner_id, ''), COALESCE(pp.repository_id, ''), pp.ref_tags_only, pp.ref_pattern, pp.ref_protected, pp.called_workflow,
			0, pp.project_name, pp.user_id, pp.created_at, NULLIF(pp.created_at, pp.created_at), pp.expires_at, 0, pp.env_key, 0,
			CASE WHEN EXISTS (SELECT 1 FROM projects WHERE name_key = pp.project_key) THEN 1 ELSE 0 END
			FROM pending_publishers pp WHERE pp.issuer = $1 AND pp.repo_key = $2 LIMIT ` + limit + `) b`
}

// candidate is a row of a candidate read: an active or a pending publisher, and, read by
// the short read only (scan's extra columns), what choosing among them needs.
type candidate struct {
	isActive   bool
	active     store.Publisher
	pending    store.PendingPublisher
	envKey     string
	registrant int64
	taken      bool // a pending publisher whose project name exists
}

// scan reads a row of the candidate statements' columns into c; the short read's three
// more columns when short.
func (c *candidate) scan(r scanner, short bool) error {
	var (
		which     int
		p         policy.Publisher
		kind      string
		projectID int64
		project   string
		by        int64
		created   time.Time
		lastUsed  *time.Time
		expires   *time.Time
		version   int64
		taken     int
	)
	dest := []any{&which, &p.ID, &kind, &p.Issuer, &p.Owner, &p.Name, &p.Workflow, &p.Environment, &p.OwnerID, &p.RepositoryID,
		&p.Refs.TagsOnly, &p.Refs.Pattern, &p.Refs.Protected, &p.CalledWorkflow, &projectID, &project, &by, timeDest{&created},
		nullTimeDest{&lastUsed}, nullTimeDest{&expires}, &version}
	if short {
		dest = append(dest, &c.envKey, &c.registrant, &taken)
	}
	if err := r.Scan(dest...); err != nil {
		return err
	}
	p.Kind = policy.Kind(kind)
	c.isActive = which == 0
	if c.isActive {
		c.active = store.Publisher{Publisher: p, ProjectID: projectID, ProjectName: project, CreatedBy: by, CreatedAt: created, LastUsedAt: lastUsed,
			RulesVersion: version}
		return nil
	}
	c.pending = store.PendingPublisher{Publisher: p, ProjectName: project, UserID: by, CreatedAt: created}
	if expires != nil {
		c.pending.ExpiresAt = *expires
	}
	c.taken = taken != 0
	return nil
}

// crowded remembers repositories that had more publishers than the short read takes, so
// that their next reads go straight to the bounded read: a repository's publishers are
// then read once per exchange, but for the first exchange of each crowdedFor. It keeps
// at most maxCrowded repositories; past that, reads try the short read first again.
type crowded struct {
	mu    sync.Mutex
	until map[string]time.Time
}

const (
	crowdedFor = 10 * time.Minute
	maxCrowded = 10_000
)

// is reports whether key was found crowded less than crowdedFor before now.
func (c *crowded) is(key string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return now.Before(c.until[key])
}

// add remembers key as crowded until crowdedFor after now.
func (c *crowded) add(key string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.until == nil {
		c.until = map[string]time.Time{}
	}
	if _, ok := c.until[key]; !ok && len(c.until) >= maxCrowded {
		for k, t := range c.until {
			if !now.Before(t) {
				delete(c.until, k)
			}
		}
		if len(c.until) >= maxCrowded {
			return
		}
	}
	c.until[key] = now.Add(crowdedFor)
}

// findFew is FindCandidates for every project by the short read: ok is false when the
// repository has more publishers of a kind than it reads, or had lately, and the bounded
// read must run.
func (s *Store) findFew(ctx context.Context, issuer, key string, job store.Job, now time.Time) (active []store.Publisher, pending []store.PendingPublisher, ok bool, err error) {
	repo := issuer + "\x00" + key
	if s.crowded.is(repo, now) {
		return nil, nil, false, nil
	}
	rows, err := s.read().query(ctx, s.candidates.short, issuer, key)
	if err != nil {
		return nil, nil, false, err
	}
	defer rows.Close()
	var actives, pendings []candidate
	for rows.Next() {
		var c candidate
		if err := c.scan(rows, true); err != nil {
			return nil, nil, false, err
		}
		if c.isActive {
			actives = append(actives, c)
		} else {
			pendings = append(pendings, c)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, false, err
	}
	if len(actives) > store.ShortCandidateRead || len(pendings) > store.ShortCandidateRead {
		s.crowded.add(repo, now)
		return nil, nil, false, nil
	}
	active, pending = chooseFew(actives, pendings, job, now)
	return active, pending, true, nil
}

// chooseFew returns what the bounded read returns from the same publishers: the
// publishers of the projects the registrants' shares reach (candidateStatements), every
// fitting unexpired pending publisher whose name is free, and the first MaxNearMisses by
// id of each kind that cannot fit; each kind in order of id.
func chooseFew(actives, pendings []candidate, job store.Job, now time.Time) ([]store.Publisher, []store.PendingPublisher) {
	envKey := policy.EnvironmentKey(job.Kind, job.Environment)
	slices.SortFunc(actives, func(a, b candidate) int { return cmp.Compare(a.active.ID, b.active.ID) })
	slices.SortFunc(pendings, func(a, b candidate) int { return cmp.Compare(a.pending.ID, b.pending.ID) })
	// inRange: the job's workflow, and an environment that cannot refuse the job.
	inRange := func(p policy.Publisher, env string) bool {
		return p.Workflow == job.Workflow && (env == "" || env == envKey)
	}
	fits := func(p policy.Publisher) bool {
		return (p.OwnerID == "" || p.OwnerID == job.OwnerID) && (p.RepositoryID == "" || p.RepositoryID == job.RepositoryID)
	}

	// The ranges: bound to the job's environment (when it has one) and bound to none. Of
	// each, the first MaxCandidateRegistrants registrants; of those, the first
	// MaxCandidateRegistrants, the ones found bound to the environment first.
	type turn struct {
		env        string
		registrant int64
	}
	ranges := []string{""}
	if envKey != "" {
		ranges = []string{envKey, ""}
	}
	found := map[turn]bool{}
	bound := map[int64]bool{}
	var registrants []int64
	for _, env := range ranges {
		var rs []int64
		for _, c := range actives {
			if c.active.Workflow == job.Workflow && c.envKey == env && !slices.Contains(rs, c.registrant) {
				rs = append(rs, c.registrant)
			}
		}
		slices.Sort(rs)
		for _, r := range rs[:min(len(rs), store.MaxCandidateRegistrants)] {
			found[turn{env, r}] = true
			if env != "" {
				bound[r] = true
			}
			if !slices.Contains(registrants, r) {
				registrants = append(registrants, r)
			}
		}
	}
	slices.SortFunc(registrants, func(a, b int64) int {
		if bound[a] != bound[b] {
			if bound[a] {
				return -1
			}
			return 1
		}
		return cmp.Compare(a, b)
	})
	registrants = registrants[:min(len(registrants), store.MaxCandidateRegistrants)]
	share := 0
	if len(registrants) > 0 {
		share = max(1, store.MaxCandidateProjects/len(registrants))
	}
	// Each registrant's first share publishers by id of each range where it was found;
	// the projects of those that fit are read.
	read := map[int64]bool{}
	for _, r := range registrants {
		for _, env := range ranges {
			if !found[turn{env, r}] {
				continue
			}
			n := 0
			for _, c := range actives {
				if n == share {
					break
				}
				if c.registrant != r || c.active.Workflow != job.Workflow || c.envKey != env {
					continue
				}
				n++
				if fits(c.active.Publisher) {
					read[c.active.ProjectID] = true
				}
			}
		}
	}

	var active []store.Publisher
	misses := 0
	for _, c := range actives {
		switch {
		case inRange(c.active.Publisher, c.envKey) && fits(c.active.Publisher) && read[c.active.ProjectID]:
		case !inRange(c.active.Publisher, c.envKey) && misses < store.MaxNearMisses:
			misses++
		default:
			continue
		}
		active = append(active, c.active)
	}
	var pending []store.PendingPublisher
	misses = 0
	for _, c := range pendings {
		if c.taken || !c.pending.ExpiresAt.After(now) {
			continue
		}
		switch {
		case inRange(c.pending.Publisher, c.envKey) && fits(c.pending.Publisher):
		case !inRange(c.pending.Publisher, c.envKey) && misses < store.MaxNearMisses:
			misses++
		default:
			continue
		}
		pending = append(pending, c.pending)
	}
	return active, pending
}
