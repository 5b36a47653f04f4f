package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/tpx-dev/tpx/store"
)

func (s *Store) GrantPending(ctx context.Context, g store.PendingGrant) error {
	return s.tx(ctx, func(tx q) error {
		_, err := tx.exec(ctx, `INSERT INTO pending_grants (user_id, name, name_key, created_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_id, name_key) DO NOTHING`, g.UserID, g.Name, s.key(g.Name), g.CreatedAt)
		if errors.Is(err, errForeignKey) {
			return fmt.Errorf("grant: user %d: %w", g.UserID, store.ErrNotFound)
		}
		return err
	})
}

func (s *Store) RevokePendingGrant(ctx context.Context, userID int64, name string) error {
	return s.tx(ctx, func(tx q) error {
		n, err := tx.exec(ctx, `DELETE FROM pending_grants WHERE user_id = $1 AND name_key = $2`, userID, s.key(name))
		if err == nil && n == 0 {
			err = fmt.Errorf("grant of %q: %w", name, store.ErrNotFound)
		}
		return err
	})
}

func (s *Store) PendingGrants(ctx context.Context, userID int64) ([]store.PendingGrant, error) {
	return collect(ctx, s.read(), func(r scanner) (store.PendingGrant, error) {
		var g store.PendingGrant
		return g, r.Scan(&g.UserID, &g.Name, timeDest{&g.CreatedAt})
	}, `SELECT user_id, name, created_at FROM pending_grants WHERE user_id = $1 ORDER BY name_key`, userID)
}

func (s *Store) HasPendingGrant(ctx context.Context, userID int64, name string) (bool, error) {
	var ok bool
	err := s.read().queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pending_grants WHERE user_id = $1 AND name_key = $2)`, userID, s.key(name)).Scan(&ok)
	return ok, err
}
