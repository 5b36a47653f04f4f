package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/tpx-dev/tpx/store"
	"github.com/tpx-dev/tpx/verify"
)

// namesSetting is the store_settings row that records the naming rule keys are in.
const namesSetting = "names"

func (s *Store) UseNames(ctx context.Context, names verify.Names, rekeyRows bool) error {
	if names == "" {
		names = verify.PyPINames
	}
	err := s.tx(ctx, func(tx q) error {
		// The migration lock: two replicas starting with a new rule rekey one after the
		// other, the second finding nothing left to do.
		if err := s.dialect.Lock(ctx, tx.w, lockMigrate); err != nil {
			return s.classify(err)
		}
		stored := verify.PyPINames
		var v string
		err := tx.queryRow(ctx, `SELECT value FROM store_settings WHERE name = $1`, namesSetting).Scan(&v)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			if stored, err = verify.ParseNames(v); err != nil {
				return fmt.Errorf("store_settings names: %w", err)
			}
		}
		if stored == names {
			return nil
		}
		if !rekeyRows {
			var used bool
			if err := tx.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM projects) OR EXISTS (SELECT 1 FROM pending_publishers)
				OR EXISTS (SELECT 1 FROM pending_grants)`).Scan(&used); err != nil {
				return err
			}
			if used {
				return fmt.Errorf("%w: they are in %s's form, and this deployment's rule is %s's; rekey them with tpx migrate and TPX_NAMES=%s, or set TPX_NAMES=%s",
					store.ErrNamesChanged, stored, names, names, stored)
			}
		}
		if err := rekey(ctx, tx, names.Key); err != nil {
			return err
		}
		if err := rekeyGrants(ctx, tx, names.Key); err != nil {
			return err
		}
		_, err = tx.exec(ctx, `INSERT INTO store_settings (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, namesSetting, string(names))
		return err
	})
	if err != nil {
		return err
	}
	s.names = names
	return nil
}

// rekeyGrants rewrites pending_grants.name_key with projectKey; grants of one user whose
// names fold onto one another under the new rule are refused, naming them.
func rekeyGrants(ctx context.Context, tx q, projectKey func(string) string) error {
	type grant struct {
		user      int64
		name, key string
	}
	grants, err := collect(ctx, tx.reader, func(r scanner) (grant, error) {
		var g grant
		return g, r.Scan(&g.user, &g.name, &g.key)
	}, `SELECT user_id, name, name_key FROM pending_grants ORDER BY user_id, name`)
	if err != nil {
		return err
	}
	seen := map[[2]string]string{}
	for _, g := range grants {
		k := [2]string{fmt.Sprint(g.user), projectKey(g.name)}
		if other, ok := seen[k]; ok {
			return fmt.Errorf("grants of user %d for %s and %s would be one name; withdraw one, then try again", g.user, other, g.name)
		}
		seen[k] = g.name
	}
	for _, g := range grants {
		if k := projectKey(g.name); k != g.key {
			if _, err := tx.exec(ctx, `UPDATE pending_grants SET name_key = $3 WHERE user_id = $1 AND name_key = $2`, g.user, g.key, k); err != nil {
				return err
			}
		}
	}
	return nil
}
