package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tpx-dev/tpx/store"
)

func (s *Store) UploadToken(ctx context.Context, id string) (store.UploadToken, error) {
	var (
		t        store.UploadToken
		projects string
	)
	err := s.read().queryRow(ctx, `SELECT token_id, projects, subject, at, token_expires_at, revoked_at FROM exchanges WHERE token_id = $1`, id).
		Scan(&t.ID, &projects, &t.Subject, timeDest{&t.IssuedAt}, timeDest{&t.ExpiresAt}, nullTimeDest{&t.RevokedAt})
	if err != nil {
		return store.UploadToken{}, fmt.Errorf("upload token %q: %w", id, err)
	}
	if err := json.Unmarshal([]byte(projects), &t.Projects); err != nil {
		return store.UploadToken{}, fmt.Errorf("upload token %q: projects: %w", id, err)
	}
	return t, nil
}

// RevokeUploadToken keeps the first revocation time when a token is revoked twice.
func (s *Store) RevokeUploadToken(ctx context.Context, id string, at time.Time) error {
	return s.tx(ctx, func(tx q) error {
		n, err := tx.exec(ctx, `UPDATE exchanges SET revoked_at = COALESCE(revoked_at, $2) WHERE token_id = $1`, id, at)
		if err == nil && n == 0 {
			err = fmt.Errorf("upload token %q: %w", id, store.ErrNotFound)
		}
		return err
	})
}

func scanSigningKey(r scanner) (store.SigningKey, error) {
	var (
		k   store.SigningKey
		jwk string
	)
	err := r.Scan(&k.ID, &k.Algorithm, &k.Private, &jwk, timeDest{&k.CreatedAt}, timeDest{&k.ActivateAt})
	k.PublicJWK = []byte(jwk)
	return k, err
}

func (s *Store) SigningKeys(ctx context.Context) ([]store.SigningKey, error) {
	return collect(ctx, s.read(), scanSigningKey,
		`SELECT id, algorithm, private, public_jwk, created_at, activate_at FROM signing_keys ORDER BY created_at, id`)
}

// AddSigningKeyUnlessNewer checks and inserts under a lock that every replica takes, so
// that replicas rotating at the same moment store one key between them.
func (s *Store) AddSigningKeyUnlessNewer(ctx context.Context, k store.SigningKey, notAfter time.Time) (bool, error) {
	var added bool
	err := s.tx(ctx, func(tx q) error {
		added = false
		if err := s.dialect.Lock(ctx, tx.w, lockSigningKey); err != nil {
			return s.classify(err)
		}
		var newer bool
		if err := tx.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM signing_keys WHERE created_at > $1)`, notAfter).Scan(&newer); err != nil {
			return err
		}
		if newer {
			return nil
		}
		_, err := tx.exec(ctx, `INSERT INTO signing_keys (id, algorithm, private, public_jwk, created_at, activate_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, k.ID, k.Algorithm, k.Private, string(k.PublicJWK), k.CreatedAt, k.ActivateAt)
		if errors.Is(err, errUnique) {
			return fmt.Errorf("signing key %q: %w", k.ID, store.ErrConflict)
		}
		added = err == nil
		return err
	})
	return added && err == nil, err
}

func (s *Store) DeleteSigningKey(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx q) error {
		n, err := tx.exec(ctx, `DELETE FROM signing_keys WHERE id = $1`, id)
		if err == nil && n == 0 {
			err = fmt.Errorf("signing key %q: %w", id, store.ErrNotFound)
		}
		return err
	})
}
