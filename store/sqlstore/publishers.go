package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tpx-dev/tpx/policy"
	"github.com/tpx-dev/tpx/store"
)

const publisherColumns = `p.id, p.kind, p.issuer, p.owner, p.name, p.workflow, p.environment,
	COALESCE(p.owner_id, ''), COALESCE(p.repository_id, ''),
	p.ref_tags_only, p.ref_pattern, p.ref_protected, p.called_workflow,
	p.project_id, pr.name, COALESCE(p.created_by, 0), p.created_at, p.last_used_at, p.rules_version`

const publisherFrom = ` FROM publishers p JOIN projects pr ON pr.id = p.project_id`

func scanPublisher(r scanner) (store.Publisher, error) {
	var (
		p    store.Publisher
		kind string
	)
	err := r.Scan(&p.ID, &kind, &p.Issuer, &p.Owner, &p.Name, &p.Workflow, &p.Environment, &p.OwnerID, &p.RepositoryID,
		&p.Refs.TagsOnly, &p.Refs.Pattern, &p.Refs.Protected, &p.CalledWorkflow,
		&p.ProjectID, &p.ProjectName, &p.CreatedBy, timeDest{&p.CreatedAt}, nullTimeDest{&p.LastUsedAt}, &p.RulesVersion)
	p.Kind = policy.Kind(kind)
	return p, err
}

// insertPublisher stores p as an active publisher of p.ProjectID and returns its id.
func insertPublisher(ctx context.Context, tx q, p store.Publisher) (int64, error) {
	var id int64
	err := tx.queryRow(ctx, `INSERT INTO publishers
		(project_id, kind, issuer, owner, name, repo_key, workflow, environment, owner_id, repository_id, created_by, created_at, last_used_at,
		 ref_tags_only, ref_pattern, ref_protected, called_workflow, env_key, registrant)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) RETURNING id`,
		p.ProjectID, string(p.Kind), p.Issuer, p.Owner, p.Name, p.Key(), p.Workflow, p.Environment,
		nullString(p.OwnerID), nullString(p.RepositoryID), nullID(p.CreatedBy), p.CreatedAt, nullTime(p.LastUsedAt),
		p.Refs.TagsOnly, p.Refs.Pattern, p.Refs.Protected, p.CalledWorkflow, policy.EnvironmentKey(p.Kind, p.Environment), p.CreatedBy,
	).Scan(&id)
	switch {
	case errors.Is(err, errUnique):
		return 0, fmt.Errorf("publisher %s on project %d: %w", p.Repository(), p.ProjectID, store.ErrConflict)
	case errors.Is(err, errForeignKey):
		return 0, fmt.Errorf("publisher's creator, user %d: %w", p.CreatedBy, store.ErrNotFound)
	}
	return id, err
}

// AddPublisher locks the project row before counting its publishers, so that concurrent
// adds to one project take turns and cannot together pass the limit. A new publisher has
// not been used, whatever p.LastUsedAt says.
func (s *Store) AddPublisher(ctx context.Context, p store.Publisher) (store.Publisher, error) {
	p.LastUsedAt = nil
	err := s.tx(ctx, func(tx q) error {
		err := tx.queryRow(ctx, `SELECT name FROM projects WHERE id = $1`+s.dialect.ForUpdate, p.ProjectID).Scan(&p.ProjectName)
		if err != nil {
			return fmt.Errorf("project %d: %w", p.ProjectID, err)
		}
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM publishers WHERE project_id = $1`, p.ProjectID).Scan(&n); err != nil {
			return err
		}
		if n >= store.MaxPublishersPerProject {
			return fmt.Errorf("project %s: %w", p.ProjectName, store.ErrTooManyPublishers)
		}
		p.ID, err = insertPublisher(ctx, tx, p)
		return err
	})
	if err != nil {
		return store.Publisher{}, err
	}
	p.CreatedAt = dbTime(p.CreatedAt)
	return p, nil
}

func (s *Store) PublisherByID(ctx context.Context, id int64) (store.Publisher, error) {
	p, err := scanPublisher(s.read().queryRow(ctx, `SELECT `+publisherColumns+publisherFrom+` WHERE p.id = $1`, id))
	if err != nil {
		return store.Publisher{}, fmt.Errorf("publisher %d: %w", id, err)
	}
	return p, nil
}

func (s *Store) RemovePublisher(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx q) error {
		n, err := tx.exec(ctx, `DELETE FROM publishers WHERE id = $1`, id)
		if err == nil && n == 0 {
			err = fmt.Errorf("publisher %d: %w", id, store.ErrNotFound)
		}
		return err
	})
}

func (s *Store) SetPublisherRules(ctx context.Context, id int64, refs policy.RefRules, calledWorkflow string) error {
	return s.tx(ctx, func(tx q) error {
		// Waits for the exchanges holding the publisher, which commit under the old rules
		// before the new ones are in place; those that matched the old rules and commit
		// later find the version changed and fail. The lock must be FOR UPDATE: only a
		// row so locked and then updated makes an exchange's FOR KEY SHARE hold wait for
		// the change and read the new version; a weaker lock would let the hold pass on
		// the row as it was.
		n, err := tx.exec(ctx, `UPDATE publishers SET ref_tags_only = $2, ref_pattern = $3, ref_protected = $4, called_workflow = $5,
			rules_version = rules_version + 1
			WHERE id IN (SELECT id FROM publishers WHERE id = $1`+s.dialect.ForUpdate+`)`,
			id, refs.TagsOnly, refs.Pattern, refs.Protected, calledWorkflow)
		if err == nil && n == 0 {
			err = fmt.Errorf("publisher %d: %w", id, store.ErrNotFound)
		}
		return err
	})
}

func (s *Store) ListPublishers(ctx context.Context, projectID int64) ([]store.Publisher, error) {
	if projectID == 0 {
		return collect(ctx, s.read(), scanPublisher, `SELECT `+publisherColumns+publisherFrom+` ORDER BY p.id`)
	}
	return collect(ctx, s.read(), scanPublisher, `SELECT `+publisherColumns+publisherFrom+` WHERE p.project_id = $1 ORDER BY p.id`, projectID)
}

const pendingColumns = `id, kind, issuer, owner, name, workflow, environment,
	COALESCE(owner_id, ''), COALESCE(repository_id, ''), ref_tags_only, ref_pattern, ref_protected, called_workflow, project_name, user_id, created_at, expires_at`

func scanPending(r scanner) (store.PendingPublisher, error) {
	var (
		p    store.PendingPublisher
		kind string
	)
	err := r.Scan(&p.ID, &kind, &p.Issuer, &p.Owner, &p.Name, &p.Workflow, &p.Environment, &p.OwnerID, &p.RepositoryID,
		&p.Refs.TagsOnly, &p.Refs.Pattern, &p.Refs.Protected, &p.CalledWorkflow, &p.ProjectName, &p.UserID, timeDest{&p.CreatedAt}, timeDest{&p.ExpiresAt})
	p.Kind = policy.Kind(kind)
	return p, err
}

// lockPending serialises additions of pending publishers: the check that no other user's
// pending publisher claims the same jobs reads rows a concurrent addition could insert.
const lockPending int64 = 0x7470_7805 // "tpx" 5

// AddPending counts the user's unexpired pending publishers as of p.CreatedAt, with the
// user's row locked so that concurrent adds by one user take turns, and refuses rules that
// another user's unexpired pending publisher already has (compared as policy.SameRules
// does, so as the platform compares them), under lockPending.
func (s *Store) AddPending(ctx context.Context, p store.PendingPublisher) (store.PendingPublisher, error) {
	now := p.CreatedAt
	err := s.tx(ctx, func(tx q) error {
		if err := s.dialect.Lock(ctx, tx.w, lockPending); err != nil {
			return err
		}
		// An expired identical registration would otherwise refuse this one as a duplicate
		// while being invisible to its owner. It goes before the user's row is locked, as
		// an exchange converting it takes it before the user's row (naming the owner) and
		// a user's removal takes the user's pending publishers before the user's row.
		if _, err := tx.exec(ctx, `DELETE FROM pending_publishers WHERE project_key = $1 AND issuer = $2 AND repo_key = $3
			AND workflow = $4 AND environment = $5 AND expires_at <= $6`,
			s.key(p.ProjectName), p.Issuer, p.Key(), p.Workflow, p.Environment, now); err != nil {
			return err
		}
		// The user's row is locked for no key update: it makes the user's adds take turns
		// and waits for the user's removal, but not for an exchange converting the user's
		// pending publisher, which holds it to name its owner and may hold the very row
		// this addition's insert would wait for.
		var user int64
		if err := tx.queryRow(ctx, `SELECT id FROM users WHERE id = $1`+s.writeLock(), p.UserID).Scan(&user); err != nil {
			return fmt.Errorf("user %d: %w", p.UserID, err)
		}
		others, err := collect(ctx, tx.reader, scanPending, `SELECT `+pendingColumns+` FROM pending_publishers
			WHERE issuer = $1 AND repo_key = $2 AND workflow = $3 AND expires_at > $4 AND user_id <> $5`,
			p.Issuer, p.Key(), p.Workflow, now, p.UserID)
		if err != nil {
			return err
		}
		for _, o := range others {
			if policy.SameRules(o.Publisher, p.Publisher) {
				return fmt.Errorf("pending publisher %s for project %q: %w", p.Repository(), p.ProjectName, store.ErrContested)
			}
		}
		var n int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM pending_publishers WHERE user_id = $1 AND expires_at > $2`,
			p.UserID, now).Scan(&n); err != nil {
			return err
		}
		if n >= store.MaxPendingPerUser {
			return fmt.Errorf("user %d: %w", p.UserID, store.ErrTooManyPending)
		}
		err = tx.queryRow(ctx, `INSERT INTO pending_publishers
			(project_name, project_key, user_id, kind, issuer, owner, name, repo_key, workflow, environment,
			 owner_id, repository_id, created_at, expires_at, ref_tags_only, ref_pattern, ref_protected, called_workflow, env_key)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) RETURNING id`,
			p.ProjectName, s.key(p.ProjectName), p.UserID, string(p.Kind), p.Issuer, p.Owner, p.Name, p.Key(), p.Workflow,
			p.Environment, nullString(p.OwnerID), nullString(p.RepositoryID), p.CreatedAt, p.ExpiresAt,
			p.Refs.TagsOnly, p.Refs.Pattern, p.Refs.Protected, p.CalledWorkflow, policy.EnvironmentKey(p.Kind, p.Environment),
		).Scan(&p.ID)
		if errors.Is(err, errUnique) {
			return fmt.Errorf("pending publisher %s for project %q: %w", p.Repository(), p.ProjectName, store.ErrConflict)
		}
		return err
	})
	if err != nil {
		return store.PendingPublisher{}, err
	}
	p.CreatedAt = dbTime(p.CreatedAt)
	p.ExpiresAt = dbTime(p.ExpiresAt)
	return p, nil
}

func (s *Store) RemovePending(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx q) error {
		n, err := tx.exec(ctx, `DELETE FROM pending_publishers WHERE id = $1`, id)
		if err == nil && n == 0 {
			err = fmt.Errorf("pending publisher %d: %w", id, store.ErrNotFound)
		}
		return err
	})
}

func (s *Store) ListPending(ctx context.Context, userID int64) ([]store.PendingPublisher, error) {
	return collect(ctx, s.read(), scanPending, `SELECT `+pendingColumns+` FROM pending_publishers WHERE user_id = $1 ORDER BY id`, userID)
}

// candidateStatements are FindCandidates' statements in dialect d, for a named project and
// for every project.
func candidateStatements(d Dialect) (named, all string) {
	// The bounds are constants in the statement's text rather than arguments, so that the
	// plan PostgreSQL keeps for the prepared statement knows them.
	nearMisses, registrants, places := strconv.Itoa(store.MaxNearMisses), strconv.Itoa(store.MaxCandidateRegistrants), strconv.Itoa(store.MaxCandidateProjects)
	fits := func(t string) string {
		return t + `.workflow = $3 AND ` + t + `.env_key IN ('', $4)
			AND (` + t + `.owner_id IS NULL OR ` + t + `.owner_id = $5) AND (` + t + `.repository_id IS NULL OR ` + t + `.repository_id = $6)`
	}
	// NULLIF(x, x) is a NULL of x's type, which a UNION of several branches needs.
	const activeColumns = `0, p.id, p.kind, p.issuer, p.owner, p.name, p.workflow, p.environment,
			COALESCE(p.owner_id, ''), COALESCE(p.repository_id, ''), p.ref_tags_only, p.ref_pattern, p.ref_protected, p.called_workflow,
			p.project_id, pr.name, COALESCE(p.created_by, 0), p.created_at, p.last_used_at, NULLIF(p.created_at, p.created_at), p.rules_version`
	const pendingColumns = `1, pp.id, pp.kind, pp.issuer, pp.owner, pp.name, pp.workflow, pp.environment,
			COALESCE(pp.owner_id, ''), COALESCE(pp.repository_id, ''), pp.ref_tags_only, pp.ref_pattern, pp.ref_protected, pp.called_workflow,
			0, pp.project_name, pp.user_id, pp.created_at, NULLIF(pp.created_at, pp.created_at), pp.expires_at, 0`
	const activeFrom = ` FROM publishers p JOIN projects pr ON pr.id = p.project_id WHERE `
	const unused = ` AND NOT EXISTS (SELECT 1 FROM projects WHERE name_key = pp.project_key)`
	// One project's publishers: at most MaxPublishersPerProject active ones, and pending
	// ones by the unique key that starts with the project name.
	named = `WITH project AS (SELECT id FROM projects WHERE name_key = $8)
			SELECT ` + activeColumns + activeFrom + `p.project_id IN (SELECT id FROM project) AND p.issuer = $1 AND p.repo_key = $2 AND ` + fits("p") + `
			UNION ALL
			SELECT ` + activeColumns + activeFrom + `p.id IN (SELECT p.id FROM publishers p WHERE p.project_id IN (SELECT id FROM project)
				AND p.issuer = $1 AND p.repo_key = $2 AND NOT (` + fits("p") + `) ORDER BY p.id LIMIT ` + nearMisses + `)
			UNION ALL
			SELECT ` + pendingColumns + ` FROM pending_publishers pp WHERE pp.project_key = $8 AND pp.issuer = $1 AND pp.repo_key = $2
				AND pp.expires_at > $7 AND ` + fits("pp") + unused + `
			UNION ALL
			SELECT ` + pendingColumns + ` FROM pending_publishers pp WHERE pp.id IN (SELECT pp.id FROM pending_publishers pp
				WHERE pp.project_key = $8 AND pp.issuer = $1 AND pp.repo_key = $2 AND pp.expires_at > $7 AND NOT (` + fits("pp") + `)` + unused + `
				ORDER BY pp.id LIMIT ` + nearMisses + `)
			ORDER BY 1, 2`

	// Publishers that cannot fit, found without reading those that can: the first
	// MaxNearMisses in index order of each range of the index that holds only misses (another
	// workflow below or above the job's, or the job's with an environment below or
	// above the job's other than none). Those whose pinned ids alone refuse the job
	// are not looked for.
	misses := func(table string) string {
		from := `SELECT id FROM (SELECT t.id FROM ` + table + ` t WHERE t.issuer = $1 AND t.repo_key = $2 AND `
		more := ``
		if table == "pending_publishers" {
			more = ` AND t.expires_at > $7 AND NOT EXISTS (SELECT 1 FROM projects WHERE name_key = t.project_key)`
		}
		// Each range is read in the index's order: a plan that scanned the table instead, and
		// stopped at the limit, reads all of it when the range is empty.
		var parts []string
		for _, r := range []struct{ where, order string }{
			{`t.workflow < $3`, `t.workflow DESC`},
			{`t.workflow > $3`, `t.workflow`},
			{`t.workflow = $3 AND t.env_key > '' AND t.env_key < $4`, `t.env_key`},
			{`t.workflow = $3 AND t.env_key > '' AND t.env_key > $4`, `t.env_key`},
		} {
			parts = append(parts, from+r.where+more+` ORDER BY `+r.order+` LIMIT `+nearMisses+`) r`+strconv.Itoa(len(parts)))
		}
		return strings.Join(parts, ` UNION ALL `)
	}
	const turn = `p.issuer = $1 AND p.repo_key = $2 AND p.workflow = $3`
	// The fitting publishers of each project taken, looked up by the index that starts with
	// project_id: one probe per project, however the planner sizes the tables.
	of := `p.project_id = t.project_id AND p.issuer = $1 AND p.repo_key = $2 AND ` + fits("p")
	each := `taken t JOIN publishers p ON ` + of
	if d.Lateral {
		// OFFSET 0 keeps the planner from pulling the subquery up into a plain join.
		each = `taken t CROSS JOIN LATERAL (SELECT * FROM publishers p WHERE ` + of + ` OFFSET 0) p`
	}
	all = `WITH RECURSIVE
			found AS (
				SELECT * FROM (SELECT r.env_key, r.registrant, r.first_id, 1 AS spec FROM publisher_registrants r
					WHERE r.issuer = $1 AND r.repo_key = $2 AND r.workflow = $3 AND r.env_key = $4 AND $4 <> ''
					ORDER BY r.registrant LIMIT ` + registrants + `) bound
				UNION ALL
				SELECT * FROM (SELECT r.env_key, r.registrant, r.first_id, 0 AS spec FROM publisher_registrants r
					WHERE r.issuer = $1 AND r.repo_key = $2 AND r.workflow = $3 AND r.env_key = ''
					ORDER BY r.registrant LIMIT ` + registrants + `) unbound
			),
			chosen AS (
				SELECT registrant FROM found GROUP BY registrant ORDER BY max(spec) DESC, registrant LIMIT ` + registrants + `
			),
			share AS (
				SELECT CASE WHEN count(*) = 0 THEN 0 WHEN count(*) >= ` + places + ` THEN 1 ELSE ` + places + ` / count(*) END AS k FROM chosen
			),
			queue(env_key, registrant, id, n) AS (
				SELECT f.env_key, f.registrant, f.first_id, 1 FROM found f WHERE f.registrant IN (SELECT registrant FROM chosen)
				UNION ALL
				SELECT q.env_key, q.registrant, (SELECT min(p.id) FROM publishers p WHERE ` + turn + ` AND p.env_key = q.env_key
					AND p.registrant = q.registrant AND p.id > q.id), q.n + 1
				FROM queue q, share WHERE q.id IS NOT NULL AND q.n < share.k
			),
			taken AS (
				SELECT DISTINCT project_id FROM (SELECT (SELECT p.project_id FROM publishers p WHERE p.id = q.id AND ` + fits("p") + `) AS project_id
					FROM queue q WHERE q.id IS NOT NULL) x WHERE project_id IS NOT NULL
			),
			near AS (
				SELECT id FROM (` + misses("publishers") + `) m ORDER BY id LIMIT ` + nearMisses + `
			),
			near_pending AS (
				SELECT id FROM (` + misses("pending_publishers") + `) m ORDER BY id LIMIT ` + nearMisses + `
			)
			SELECT ` + strings.Replace(activeColumns, "pr.name", "(SELECT name FROM projects WHERE id = p.project_id)", 1) + ` FROM ` + each + `
			UNION ALL
			SELECT ` + activeColumns + activeFrom + `p.id IN (SELECT id FROM near)
			UNION ALL
			SELECT ` + pendingColumns + ` FROM pending_publishers pp WHERE pp.issuer = $1 AND pp.repo_key = $2
				AND pp.expires_at > $7 AND ` + fits("pp") + unused + `
			UNION ALL
			SELECT ` + pendingColumns + ` FROM pending_publishers pp WHERE pp.id IN (SELECT id FROM near_pending)
			ORDER BY 1, 2`
	return named, all
}

// FindCandidates reads both kinds of publisher in one statement: one round trip, and one
// snapshot of both tables, so that a conversion of a pending publisher committing
// meanwhile shows as the pending publisher or as its active successor, never as neither.
// It leaves out pending publishers whose project name exists: a pending publisher does
// not reserve its name, and one whose name is taken can create nothing.
//
// Anyone may register publishers naming any repository, so no step of the statement reads
// more than it returns, whatever others registered. A publisher fits the job when its
// workflow, environment (env_key: as the platform compares it) and pinned ids allow it;
// ref rules are left to the exchange. Active publishers are read through the index
// publishers_turns (issuer, repo_key, workflow, env_key, registrant, id), in two ranges:
// bound to the job's environment, and bound to none. publisher_registrants, kept by
// triggers, holds each registrant of a range with its oldest publisher there: the first
// MaxCandidateRegistrants of each range by user id are one scan of its key, and of those
// the first MaxCandidateRegistrants (with a publisher bound to the job's environment
// first) each read their first ⌊MaxCandidateProjects/R⌋ (at least one) publishers of each
// range, by index probes from the oldest on (a recursive query). A ranking of every
// fitting publisher, which an ordering by the age of each registrant's first publisher
// needs, would cost in proportion to what others registered, which is what the bound is
// for. The projects of the publishers read come with all their fitting publishers (at
// most MaxPublishersPerProject each), looked up by project. Of publishers that cannot
// fit, at most MaxNearMisses of each kind are returned, found in the ranges of the index
// that hold no fitting one. Fitting pending publishers are few by construction: a user
// has at most MaxPendingPerUser, and two users' pending publishers may not have the same
// rules, so at most two users' sets (bound to the job's environment or to none) fit one
// job.
//
// Most repositories have a few publishers, and the bounded statement costs the backend
// several times what a plain read of them does. So for every project, a repository with
// at most store.ShortCandidateRead publishers of each kind for the issuer is read whole,
// in one short statement, and chosen from in Go as the bounded statement chooses
// (chooseFew); a repository with more runs the bounded statement too, and is remembered
// for a while (crowded) so that its next reads run only that.
func (s *Store) FindCandidates(ctx context.Context, issuer, key string, job store.Job, now time.Time) ([]store.Publisher, []store.PendingPublisher, error) {
	if job.Project == "" {
		active, pending, ok, err := s.findFew(ctx, issuer, key, job, now)
		if ok || err != nil {
			return active, pending, err
		}
	}
	args := []any{issuer, key, job.Workflow, policy.EnvironmentKey(job.Kind, job.Environment), job.OwnerID, job.RepositoryID, now}
	sql := s.candidates.all
	if job.Project != "" {
		sql = s.candidates.named
		args = append(args, job.Project)
	}
	rows, err := s.read().query(ctx, sql, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var (
		active  []store.Publisher
		pending []store.PendingPublisher
	)
	for rows.Next() {
		var c candidate
		if err := c.scan(rows, false); err != nil {
			return nil, nil, err
		}
		if c.isActive {
			active = append(active, c.active)
		} else {
			pending = append(pending, c.pending)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	return active, pending, nil
}
