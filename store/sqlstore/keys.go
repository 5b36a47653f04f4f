package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tpx-dev/tpx/verify"
)

// migrationSteps are the parts of migrations that SQL cannot say in both dialects alike,
// run in the migration's transaction right after its SQL file.
var migrationSteps = map[int]func(ctx context.Context, tx q) error{
	// Migration 5 made PEP 503 the form of project keys, the only rule there was.
	5: func(ctx context.Context, tx q) error { return rekey(ctx, tx, verify.ProjectKey) },
	// Migration 19 makes the exchange record the replay record of its CI token.
	19: uniqueTokenIDs,
}

// uniqueTokenIDs makes issuer and jti unique among exchange records. Records that share
// them (a token id an issuer gave twice, or one exchanged again after its replay record
// had expired) are audit records of separate exchanges: it fails and names them rather
// than pick one, so that an operator decides before tpx runs.
func uniqueTokenIDs(ctx context.Context, tx q) error {
	type pair struct {
		issuer, jti string
		n           int
	}
	shared, err := collect(ctx, tx.reader, func(r scanner) (pair, error) {
		var p pair
		return p, r.Scan(&p.issuer, &p.jti, &p.n)
	}, `SELECT issuer, jti, count(*) FROM exchanges GROUP BY issuer, jti HAVING count(*) > 1 ORDER BY issuer, jti LIMIT 11`)
	if err != nil {
		return err
	}
	if len(shared) > 0 {
		const named = 10
		var list []string
		for _, p := range shared[:min(len(shared), named)] {
			list = append(list, fmt.Sprintf("%s %q (%d records)", p.issuer, p.jti, p.n))
		}
		if len(shared) > named {
			list = append(list, "and more")
		}
		return fmt.Errorf("exchange records share the CI token id they record, which must now be unique: %s; "+
			"keep the newest record of each (docs/operations.md, \"Rolling deploys\"), then migrate again", strings.Join(list, ", "))
	}
	_, err = tx.exec(ctx, `CREATE UNIQUE INDEX exchanges_jti ON exchanges (issuer, jti)`)
	return err
}

// rekey rewrites projects.name_key, pending_publishers.project_key and
// pending_grants.name_key into the form projectKey gives. Projects whose names fold onto
// one another are not merged: who owns what would be a guess. It fails and names them,
// so that an operator decides before tpx runs with the new rule.
func rekey(ctx context.Context, tx q, projectKey func(string) string) error {
	type row struct {
		id        int64
		name, key string
	}
	scan := func(r scanner) (row, error) {
		var x row
		return x, r.Scan(&x.id, &x.name, &x.key)
	}
	projects, err := collect(ctx, tx.reader, scan, `SELECT id, name, name_key FROM projects ORDER BY id`)
	if err != nil {
		return err
	}
	byKey := map[string][]string{}
	for _, p := range projects {
		k := projectKey(p.name)
		byKey[k] = append(byKey[k], p.name)
	}
	var clashes []string
	for k, names := range byKey {
		if len(names) > 1 {
			clashes = append(clashes, fmt.Sprintf("%s (all %s)", strings.Join(names, ", "), k))
		}
	}
	if len(clashes) > 0 {
		slices.Sort(clashes)
		return fmt.Errorf("project names that an index treats as one name are separate projects here: %s; "+
			"rename or remove all but one of each group in the database, then migrate again", strings.Join(clashes, "; "))
	}
	// Only rows whose key changes are written: most names are in canonical form already.
	for _, p := range projects {
		if k := projectKey(p.name); k != p.key {
			if _, err := tx.exec(ctx, `UPDATE projects SET name_key = $2 WHERE id = $1`, p.id, k); err != nil {
				return err
			}
		}
	}
	pending, err := collect(ctx, tx.reader, scan, `SELECT id, project_name, project_key FROM pending_publishers ORDER BY id`)
	if err != nil {
		return err
	}
	for _, p := range pending {
		k := projectKey(p.name)
		if k == p.key {
			continue
		}
		if _, err := tx.exec(ctx, `UPDATE pending_publishers SET project_key = $2 WHERE id = $1`, p.id, k); err != nil {
			return fmt.Errorf("pending publisher %d for %s: %w", p.id, p.name, err)
		}
	}
	return nil
}
