package sqlstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// namesJSON encodes a list of project names for a jsonb (PostgreSQL) or TEXT (SQLite)
// column; none is [], not null.
func namesJSON(names []string) (string, error) {
	if names == nil {
		names = []string{}
	}
	b, err := json.Marshal(names)
	return string(b), err
}

// CommitExchange writes everything in one transaction. The exchange record, which is also
// the replay record and the upload token's record, goes first, so that a second use of a
// token id fails before anything else is looked at. Rows are
// updated in order of id, so that concurrent exchanges touching the same publishers lock
// them in the same order and cannot deadlock. Every write but the pending conversions,
// whose statements depend on each other's results, goes in one batch, with the COMMIT:
// one round trip where the backend can send it so (PostgreSQL), shared with concurrent
// exchanges (commitGrouped).
func (s *Store) CommitExchange(ctx context.Context, e store.Exchange) error {
	if latest := e.At.Add(store.MaxUploadTokenLifetime + store.ExchangeSpan); e.TokenExpires.After(latest) {
		return fmt.Errorf("upload token %q expires at %s, after %s, the latest its exchange at %s allows", e.TokenID,
			e.TokenExpires.UTC().Format(time.RFC3339), latest.UTC().Format(time.RFC3339), e.At.UTC().Format(time.RFC3339))
	}
	projects, err := namesJSON(e.Projects)
	if err != nil {
		return err
	}
	if len(e.RulesVersions) != len(e.Publishers) {
		return fmt.Errorf("exchange names %d publishers and %d versions of their rules", len(e.Publishers), len(e.RulesVersions))
	}
	versions := make(map[int64]int64, len(e.Publishers))
	for i, id := range e.Publishers {
		versions[id] = e.RulesVersions[i]
	}
	pins := make(map[int64]store.Pin, len(e.Pins))
	for _, p := range e.Pins {
		if _, ok := versions[p.PublisherID]; !ok {
			return fmt.Errorf("exchange pins publisher %d, which it does not use", p.PublisherID)
		}
		pins[p.PublisherID] = p
	}
	used := slices.Clone(e.Publishers)
	slices.Sort(used)
	used = slices.Compact(used)
	pending := slices.SortedFunc(slices.Values(e.Pending), func(a, b store.PendingPublisher) int { return cmp.Compare(a.ID, b.ID) })

	uses := s.uses(used, versions, pins, slices.Sorted(slices.Values(e.Recent)), e.At)
	id := e.Identity
	stmts := []Statement{{`INSERT INTO exchanges
		(at, issuer, jti, jti_expires_at, kind, repository, owner_id, repository_id, workflow_ref, ref, sha, run_id, environment, event, actor,
			projects, token_id, subject, token_expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)`,
		[]any{e.At, e.Issuer, e.JTI, e.JTIExpires, string(id.Kind), id.Repository, id.OwnerID, id.RepositoryID, id.WorkflowRef, id.Ref, id.SHA,
			id.RunID, id.Environment, id.EventName, id.Actor, projects, e.TokenID, e.TokenSubject, e.TokenExpires}}}
	for _, u := range uses {
		stmts = append(stmts, u.Statement)
	}
	stmts = append(stmts, auditInserts(e.Events)...)

	if s.dialect.Changes != nil && len(pending) == 0 {
		// Without pending publishers to convert, whose statements depend on each other's
		// results, the writes and the COMMIT go out together, with those of concurrent
		// exchanges; the uses of publishers then check their own counts.
		checked := slices.Clone(stmts)
		var writes []int64
		for i, u := range uses {
			checked[1+i].SQL = s.dialect.Changes(u.returning(), len(u.ids))
			if !u.hold {
				writes = append(writes, u.ids...)
			}
		}
		changed, cerr := s.commitGrouped(ctx, e.Issuer+"\x00"+e.JTI, checked, used, writes)
		switch {
		case cerr == nil:
		case len(changed) == 0 && errors.Is(cerr, errUnique):
			err = fmt.Errorf("%w: %q from %s", store.ErrReplay, e.JTI, e.Issuer)
		case errors.Is(cerr, errChanges) && len(changed) >= 1 && len(changed) <= len(uses):
			err = errUseFailed
		case len(changed) == 1+len(uses):
			err = fmt.Errorf("audit events or the commit: %w", cerr)
		default:
			err = cerr
		}
	} else {
		err = s.tx(ctx, func(tx q) error {
			changed, err := tx.execAll(ctx, stmts)
			switch {
			case err == nil:
			case len(changed) == 0 && errors.Is(err, errUnique):
				return fmt.Errorf("%w: %q from %s", store.ErrReplay, e.JTI, e.Issuer)
			case len(changed) == 1+len(uses):
				return fmt.Errorf("audit events: %w", err)
			default:
				return err
			}
			for i, u := range uses {
				if int64(len(u.ids)) != changed[1+i] {
					return errUseFailed
				}
			}
			return convertPending(ctx, tx, pending, e)
		})
	}
	if errors.Is(err, errUseFailed) {
		return s.useFailure(ctx, used, versions)
	}
	return err
}

// errUseFailed is the failure of a statement that uses publishers and changed or held
// fewer than it names: some were removed, their rules changed, or one of those to pin
// was pinned to other ids.
var errUseFailed = errors.New("publishers removed, their rules changed or pinned to other ids")

// useFailure tells apart, after the rollback and by what is there now, why the uses of
// publishers used (sorted), matched under the rules of versions, failed.
func (s *Store) useFailure(ctx context.Context, used []int64, versions map[int64]int64) error {
	var n, same int
	if err := s.read().queryRow(ctx, s.using.counted, s.dialect.IDs(used), s.dialect.IDs(versionsOf(used, versions))).Scan(&n, &same); err != nil {
		return err
	}
	span := fmt.Sprintf("%d…%d", used[0], used[len(used)-1])
	if len(used) == 1 {
		span = strconv.FormatInt(used[0], 10)
	}
	switch {
	case n < len(used):
		return fmt.Errorf("%d of publishers %s were removed: %w", len(used)-n, span, store.ErrNotFound)
	case same < n:
		return fmt.Errorf("the rules of %d of publishers %s changed: %w", n-same, span, store.ErrRulesChanged)
	}
	return fmt.Errorf("some of publishers %s: %w", span, store.ErrPinConflict)
}

// auditInserts writes events in multi-row INSERTs (insertRows).
func auditInserts(events []store.AuditEvent) []Statement {
	rows := make([][]any, len(events))
	for i, e := range events {
		rows[i] = []any{e.At, e.Actor, nullID(e.UserID), nullID(e.ProjectID), e.Action, e.Detail}
	}
	return insertRows(`INSERT INTO audit_events (at, actor, user_id, project_id, action, detail) VALUES `, rows)
}

// insertRows is insert (ending in VALUES) of rows, all of the same number of columns, as
// multi-row INSERTs of at most 1,000 parameters each (SQLite allows 32,766).
func insertRows(insert string, rows [][]any) []Statement {
	if len(rows) == 0 {
		return nil
	}
	const maxParams = 1000
	columns := len(rows[0])
	var out []Statement
	for chunk := range slices.Chunk(rows, maxParams/columns) {
		sql := []byte(insert)
		args := make([]any, 0, len(chunk)*columns)
		for i, row := range chunk {
			if i > 0 {
				sql = append(sql, ", "...)
			}
			for j := range row {
				if j == 0 {
					sql = append(sql, "($"...)
				} else {
					sql = append(sql, ", $"...)
				}
				sql = strconv.AppendInt(sql, int64(len(args)+j+1), 10)
			}
			sql = append(sql, ')')
			args = append(args, row...)
		}
		out = append(out, Statement{string(sql), args})
	}
	return out
}

// use is a statement that records the use of publishers, or holds them, and changes (or
// holds) fewer rows than it names when any of them was removed, its rules changed, or, if
// pinned, it was pinned to other ids.
type use struct {
	Statement
	ids  []int64
	hold bool // a SELECT: it holds rows rather than changing them
}

// returning is u's statement returning a row for each row it changes or holds.
func (u use) returning() string {
	if u.hold {
		return u.SQL
	}
	return u.SQL + ` RETURNING 1`
}

// uses records that the publishers used (sorted) were used at at, and pins those in pins.
// A publisher removed since it was matched, or whose rules are no longer of the version
// in versions that it was matched under, fails the exchange rather than hand out a token
// its owner has just withdrawn. Pinning succeeds only where each id is unset or already
// the same, so a publisher pinned to another repository by a concurrent exchange is never
// re-pinned. One statement marks them all and pins those to pin, whatever their number,
// locking them in order of id first: one publisher on a hundred projects is a hundred
// rows, but one statement. The pins of one exchange are the ids of its one job, so they
// are one pair; should they be several, one statement each, in order of id.
//
// Without pins, the publishers in recent (sorted) are held rather than written, where the
// backend can, the others written: in order of id, one statement for each run of ids held
// or written alike, so that every transaction locks publishers in order of id whichever
// way it locks each (a removal, which locks them in order of id too, cannot wait on an
// exchange in a cycle). No row is held and then locked for update: two transactions doing
// so to one row could each wait for the other to let go of it. The versions are compared
// once the rows are locked, or by the lock's recheck of a row changed while it waited, so
// that a change of rules either waits for the exchange's commit or fails it.
func (s *Store) uses(used []int64, versions map[int64]int64, pins map[int64]store.Pin, recent []int64, at time.Time) []use {
	if len(used) == 0 {
		return nil
	}
	write := func(ids []int64) use {
		return use{Statement: Statement{s.using.write, []any{at, s.dialect.IDs(ids), s.dialect.IDs(versionsOf(ids, versions))}}, ids: ids}
	}
	if len(pins) == 0 {
		if s.dialect.KeyShare == "" {
			return []use{write(used)}
		}
		var out []use
		for run, held := range runs(used, func(id int64) bool { _, ok := slices.BinarySearch(recent, id); return ok }) {
			if !held {
				out = append(out, write(run))
				continue
			}
			out = append(out, use{Statement: Statement{s.using.hold, []any{s.dialect.IDs(run), s.dialect.IDs(versionsOf(run, versions))}}, ids: run, hold: true})
		}
		return out
	}
	var pair store.Pin
	onePair := true
	for _, p := range pins {
		if pair.PublisherID == 0 {
			pair = p
		}
		onePair = onePair && p.OwnerID == pair.OwnerID && p.RepositoryID == pair.RepositoryID
	}
	if onePair {
		pinned := make([]int64, 0, len(pins))
		for id := range pins {
			pinned = append(pinned, id)
		}
		slices.Sort(pinned)
		return []use{{Statement: Statement{s.using.pin,
			[]any{at, s.dialect.IDs(used), s.dialect.IDs(pinned), nullString(pair.OwnerID), nullString(pair.RepositoryID), s.dialect.IDs(versionsOf(used, versions))}}, ids: used}}
	}
	var out []use
	for _, id := range used {
		pin, ok := pins[id]
		if !ok {
			out = append(out, use{Statement: Statement{`UPDATE publishers SET last_used_at = $2 WHERE id = $1 AND rules_version = $3`,
				[]any{id, at, versions[id]}}, ids: []int64{id}})
			continue
		}
		out = append(out, use{Statement: Statement{`UPDATE publishers SET owner_id = $2, repository_id = $3, last_used_at = $4
			WHERE id = $1 AND rules_version = $5 AND (owner_id IS NULL OR owner_id = $2) AND (repository_id IS NULL OR repository_id = $3)`,
			[]any{id, nullString(pin.OwnerID), nullString(pin.RepositoryID), at, versions[id]}}, ids: []int64{id}})
	}
	return out
}

// convertPending turns each matched pending publisher into a project owned by its
// registrant with an active publisher pinned to the identity's ids. A pending publisher
// whose row is gone (used or removed meanwhile) or whose project name exists is "taken";
// the transaction carries on to name every such one, then fails. Two pending publishers
// of one registrant for one name make one project with two publishers, and of two
// registrants for one name the one registered first takes it. It takes the pending
// publishers (sorted by id) first, in order of id, then their names in order of name:
// concurrent exchanges and a registrant's removal, which take them in the same order,
// never wait on each other in a cycle.
func convertPending(ctx context.Context, tx q, pending []store.PendingPublisher, e store.Exchange) error {
	type created struct{ project, owner int64 }
	var taken []int64
	live := make([]store.PendingPublisher, 0, len(pending))
	for _, pp := range pending {
		n, err := tx.exec(ctx, `DELETE FROM pending_publishers WHERE id = $1`, pp.ID)
		if err != nil {
			return err
		}
		if n == 0 {
			taken = append(taken, pp.ID)
		} else {
			live = append(live, pp)
		}
	}
	slices.SortStableFunc(live, func(a, b store.PendingPublisher) int {
		return strings.Compare(tx.s.key(a.ProjectName), tx.s.key(b.ProjectName))
	})
	made := map[string]created{}
	for _, pp := range live {
		key := tx.s.key(pp.ProjectName)
		c, ok := made[key]
		switch {
		case ok && c.owner != pp.UserID:
			taken = append(taken, pp.ID)
			continue
		case !ok:
			// ON CONFLICT rather than a failed insert: PostgreSQL would abort the whole
			// transaction on the error and leave the rest of the pending publishers unchecked.
			var project int64
			err := tx.queryRow(ctx, `INSERT INTO projects (name, name_key, created_at) VALUES ($1, $2, $3)
				ON CONFLICT (name_key) DO NOTHING RETURNING id`, pp.ProjectName, key, e.At).Scan(&project)
			if errors.Is(err, store.ErrNotFound) {
				taken = append(taken, pp.ID)
				continue
			}
			if err != nil {
				return err
			}
			c = created{project: project, owner: pp.UserID}
			made[key] = c
			if err := addOwner(ctx, tx, c.project, c.owner); err != nil {
				return err
			}
		}
		p := store.Publisher{Publisher: pp.Publisher, ProjectID: c.project, CreatedBy: pp.UserID, CreatedAt: e.At, LastUsedAt: &e.At}
		p.OwnerID, p.RepositoryID = e.Identity.OwnerID, e.Identity.RepositoryID
		if _, err := insertPublisher(ctx, tx, p); err != nil {
			return err
		}
	}
	if len(taken) > 0 {
		slices.Sort(taken)
		return &store.PendingTakenError{IDs: taken}
	}
	return nil
}

// usingStatements are the texts of the statements that use any number of publishers:
// write marks publishers $2 (of versions $3) used at $1; hold holds publishers $1 (of
// versions $2); pin is write for publishers $2 (of versions $6) that also pins those of
// them in $3 to owner id $4 and repository id $5. lockWrite and lockHold lock publishers
// $1 the one way or the other, whatever their versions (a group's locks before its
// members' statements); counted counts publishers $1 and those of them of versions $2.
type usingStatements struct{ write, hold, pin, lockWrite, lockHold, counted string }

func (s *Store) usingStatements() usingStatements {
	// unchanged is the condition that the publishers of parameter ids are of the
	// versions of parameter versions.
	unchanged := func(ids, versions string) string {
		return fmt.Sprintf(s.dialect.AnyID, "id", ids) + ` AND ` +
			fmt.Sprintf(s.dialect.IDVersion, "publishers.id", "publishers.rules_version", ids, versions)
	}
	locked := func(cond string) string { return `id IN (` + s.lockPublishers(cond, s.writeLock()) + `)` }
	toPin := fmt.Sprintf(s.dialect.AnyID, "id", "$3")
	ids := fmt.Sprintf(s.dialect.AnyID, "id", "$1")
	return usingStatements{
		lockWrite: s.lockPublishers(ids, s.writeLock()),
		lockHold:  s.lockPublishers(ids, s.dialect.KeyShare),
		counted: `SELECT count(*), COALESCE(sum(CASE WHEN ` + fmt.Sprintf(s.dialect.IDVersion, "publishers.id", "publishers.rules_version", "$1", "$2") +
			` THEN 1 ELSE 0 END), 0) FROM publishers WHERE ` + ids,
		write: `UPDATE publishers SET last_used_at = $1 WHERE ` + locked(unchanged("$2", "$3")),
		hold:  s.lockPublishers(unchanged("$1", "$2"), s.dialect.KeyShare),
		pin: `UPDATE publishers SET last_used_at = $1,
			owner_id = CASE WHEN ` + toPin + ` THEN $4 ELSE owner_id END,
			repository_id = CASE WHEN ` + toPin + ` THEN $5 ELSE repository_id END
			WHERE ` + locked(unchanged("$2", "$6")) + ` AND (NOT (` + toPin + `) OR ((owner_id IS NULL OR owner_id = $4) AND (repository_id IS NULL OR repository_id = $5)))`,
	}
}

// versionsOf is the versions of ids, in their order.
func versionsOf(ids []int64, versions map[int64]int64) []int64 {
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = versions[id]
	}
	return out
}

// lockByID locks with lock, in order of id, the rows of table that meet cond (whose
// parameters are args): the order every transaction locks several rows of one table in
// (exchanges their publishers and pending publishers), so that none waits on another in a
// cycle over them. Nothing where the backend has no row locks (its writers take turns).
func (s *Store) lockByID(ctx context.Context, tx q, table, cond, lock string, args ...any) error {
	if s.dialect.ForUpdate == "" {
		return nil
	}
	_, err := tx.exec(ctx, `SELECT id FROM `+table+` WHERE `+cond+` ORDER BY id`+lock, args...)
	return err
}

// skipLocked ends a SELECT whose rows are locked for update, skipping those another
// transaction holds; "" where the backend has no row locks.
func (s *Store) skipLocked() string {
	if s.dialect.ForUpdate == "" {
		return ""
	}
	return s.dialect.ForUpdate + " SKIP LOCKED"
}

// lockPublishers selects the ids of the publishers that meet cond, locking them with lock
// in order of id.
func (s *Store) lockPublishers(cond, lock string) string {
	return `SELECT id FROM publishers WHERE ` + cond + ` ORDER BY id` + lock
}

// runs yields ids (sorted) in runs of consecutive ids alike by held, in order: locking
// each run in turn, one way or the other, locks them all in order of id.
func runs(ids []int64, held func(int64) bool) iter.Seq2[[]int64, bool] {
	return func(yield func([]int64, bool) bool) {
		for start := 0; start < len(ids); {
			h, end := held(ids[start]), start+1
			for end < len(ids) && held(ids[end]) == h {
				end++
			}
			if !yield(ids[start:end:end], h) {
				return
			}
			start = end
		}
	}
}

// writeLock locks rows an exchange is about to update: NoKeyUpdate where the backend has
// it, so that the writers do not wait for exchanges that only hold the same rows.
func (s *Store) writeLock() string {
	if s.dialect.NoKeyUpdate != "" {
		return s.dialect.NoKeyUpdate
	}
	return s.dialect.ForUpdate
}
