package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// This file keeps the single-use links that verify a user's email address.

func (s *Store) CreateEmailToken(ctx context.Context, t store.EmailToken) error {
	return s.tx(ctx, func(tx q) error {
		_, err := tx.exec(ctx, `INSERT INTO email_tokens (token_hash, user_id, email, expires_at) VALUES ($1, $2, $3, $4)`,
			t.Hash, t.UserID, t.Email, t.ExpiresAt)
		switch {
		case errors.Is(err, errForeignKey):
			return fmt.Errorf("email token of user %d: %w", t.UserID, store.ErrNotFound)
		case errors.Is(err, errUnique):
			return fmt.Errorf("email token: %w", store.ErrConflict)
		}
		return err
	})
}

// UseEmailToken locks the token's user before it deletes the token, as the user's removal
// takes the user's row before its cascade deletes the user's tokens.
func (s *Store) UseEmailToken(ctx context.Context, hash string, now time.Time) (int64, error) {
	var user int64
	err := s.tx(ctx, func(tx q) error {
		user = 0
		var (
			email   string
			expires time.Time
		)
		if err := s.lockByID(ctx, tx, "users", "id = (SELECT user_id FROM email_tokens WHERE token_hash = $1)", s.dialect.NoKeyUpdate, hash); err != nil {
			return err
		}
		err := tx.queryRow(ctx, `DELETE FROM email_tokens WHERE token_hash = $1 RETURNING user_id, email, expires_at`, hash).
			Scan(&user, &email, timeDest{&expires})
		if err != nil {
			return fmt.Errorf("email token: %w", err)
		}
		if !now.Before(expires) {
			return fmt.Errorf("email token expired: %w", store.ErrNotFound)
		}
		_, err = tx.exec(ctx, `UPDATE users SET email_verified_at = $3 WHERE id = $1 AND email = $2 AND email_verified_at IS NULL`, user, email, now)
		return err
	})
	return user, err
}

func (s *Store) PeekEmailToken(ctx context.Context, hash string, now time.Time) (store.EmailToken, error) {
	t := store.EmailToken{Hash: hash}
	err := s.read().queryRow(ctx, `SELECT user_id, email, expires_at FROM email_tokens WHERE token_hash = $1 AND expires_at > $2`, hash, now).
		Scan(&t.UserID, &t.Email, timeDest{&t.ExpiresAt})
	if err != nil {
		return store.EmailToken{}, fmt.Errorf("email token: %w", err)
	}
	return t, nil
}

func (s *Store) EmailVerified(ctx context.Context, userID int64) (bool, error) {
	var ok bool
	err := s.read().queryRow(ctx, `SELECT email_verified_at IS NOT NULL FROM users WHERE id = $1`, userID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("user %d: %w", userID, err)
	}
	return ok, nil
}
