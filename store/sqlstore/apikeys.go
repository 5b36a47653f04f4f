package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tpx-dev/tpx/store"
)

func scanAPIKey(r scanner) (store.APIKey, error) {
	var k store.APIKey
	err := r.Scan(&k.ID, &k.Name, &k.Scope, &k.Lookup, &k.SecretHash, timeDest{&k.CreatedAt}, nullTimeDest{&k.LastUsedAt}, nullTimeDest{&k.RevokedAt})
	return k, err
}

const apiKeyColumns = `id, name, scope, lookup, secret_hash, created_at, last_used_at, revoked_at`

func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) (store.APIKey, error) {
	err := s.tx(ctx, func(tx q) error {
		return tx.queryRow(ctx, `INSERT INTO api_keys (name, scope, lookup, secret_hash, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			k.Name, k.Scope, k.Lookup, k.SecretHash, k.CreatedAt).Scan(&k.ID)
	})
	if errors.Is(err, errUnique) {
		return store.APIKey{}, fmt.Errorf("api key: %w", store.ErrConflict)
	}
	if err != nil {
		return store.APIKey{}, err
	}
	k.CreatedAt, k.LastUsedAt, k.RevokedAt = dbTime(k.CreatedAt), nil, nil
	return k, nil
}

func (s *Store) APIKeyByLookup(ctx context.Context, lookup string) (store.APIKey, error) {
	k, err := scanAPIKey(s.read().queryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE lookup = $1`, lookup))
	if err != nil {
		return store.APIKey{}, fmt.Errorf("api key: %w", err)
	}
	return k, nil
}

func (s *Store) APIKeys(ctx context.Context) ([]store.APIKey, error) {
	return collect(ctx, s.read(), scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY id`)
}

func (s *Store) RevokeAPIKey(ctx context.Context, id int64, at time.Time) error {
	return s.tx(ctx, func(tx q) error {
		n, err := tx.exec(ctx, `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1`, id, at)
		if err == nil && n == 0 {
			err = fmt.Errorf("api key %d: %w", id, store.ErrNotFound)
		}
		return err
	})
}

func (s *Store) TouchAPIKey(ctx context.Context, id int64, at time.Time) error {
	return s.tx(ctx, func(tx q) error {
		_, err := tx.exec(ctx, `UPDATE api_keys SET last_used_at = $2 WHERE id = $1`, id, at)
		return err
	})
}
