package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// This file keeps a user's credentials: the password, TOTP, security keys and recovery
// codes.

func (s *Store) SetPassword(ctx context.Context, userID int64, hash string) error {
	return s.tx(ctx, func(tx q) error {
		n, err := tx.exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, userID, hash)
		if err == nil && n == 0 {
			err = fmt.Errorf("user %d: %w", userID, store.ErrNotFound)
		}
		return err
	})
}

// ConfirmTOTP compares the secret as well, so that a confirmation racing a new enrolment
// cannot confirm a secret the user never saw.
func (s *Store) ConfirmTOTP(ctx context.Context, userID int64, sealed []byte, step int64) (bool, error) {
	var ok bool
	err := s.tx(ctx, func(tx q) error {
		n, err := tx.exec(ctx, `UPDATE users SET totp_confirmed = $3, totp_last_step = $4
			WHERE id = $1 AND totp_secret = $2 AND NOT totp_confirmed`, userID, sealed, true, step)
		ok = n == 1
		return err
	})
	return ok, err
}

// factors locks the user's row and returns whether TOTP is enrolled and confirmed and how
// many WebAuthn credentials they have: the rule "never remove the last second factor" must
// see what concurrent removals left.
func (s *Store) factors(ctx context.Context, tx q, userID int64) (totp bool, keys int, err error) {
	err = tx.queryRow(ctx, `SELECT totp_secret IS NOT NULL AND totp_confirmed FROM users WHERE id = $1`+s.dialect.ForUpdate, userID).Scan(&totp)
	if err != nil {
		return false, 0, fmt.Errorf("user %d: %w", userID, err)
	}
	err = tx.queryRow(ctx, `SELECT count(*) FROM webauthn_credentials WHERE user_id = $1`, userID).Scan(&keys)
	return totp, keys, err
}

func (s *Store) RemoveTOTP(ctx context.Context, userID int64) error {
	return s.tx(ctx, func(tx q) error {
		totp, keys, err := s.factors(ctx, tx, userID)
		if err != nil {
			return err
		}
		var secret []byte
		if err := tx.queryRow(ctx, `SELECT totp_secret FROM users WHERE id = $1`, userID).Scan(&secret); err != nil {
			return err
		}
		if secret == nil {
			return fmt.Errorf("user %d has no TOTP: %w", userID, store.ErrNotFound)
		}
		if totp && keys == 0 {
			return fmt.Errorf("user %d: %w", userID, store.ErrLastFactor)
		}
		_, err = tx.exec(ctx, `UPDATE users SET totp_secret = NULL, totp_confirmed = $2, totp_last_step = 0 WHERE id = $1`, userID, false)
		return err
	})
}

const webauthnColumns = `id, user_id, credential_id, public_key, sign_count, name, record, created_at, last_used_at`

func scanWebAuthn(r scanner) (store.WebAuthnCredential, error) {
	var (
		c     store.WebAuthnCredential
		count int64
	)
	err := r.Scan(&c.ID, &c.UserID, &c.CredentialID, &c.PublicKey, &count, &c.Name, &c.Record, timeDest{&c.CreatedAt}, nullTimeDest{&c.LastUsedAt})
	c.SignCount = uint32(count)
	return c, err
}

func (s *Store) AddWebAuthnCredential(ctx context.Context, c store.WebAuthnCredential) (store.WebAuthnCredential, error) {
	c.LastUsedAt = nil
	err := s.tx(ctx, func(tx q) error {
		err := tx.queryRow(ctx, `INSERT INTO webauthn_credentials (user_id, credential_id, public_key, sign_count, name, record, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			c.UserID, c.CredentialID, c.PublicKey, int64(c.SignCount), c.Name, c.Record, c.CreatedAt).Scan(&c.ID)
		switch {
		case errors.Is(err, errUnique):
			return fmt.Errorf("webauthn credential: %w", store.ErrConflict)
		case errors.Is(err, errForeignKey):
			return fmt.Errorf("webauthn credential of user %d: %w", c.UserID, store.ErrNotFound)
		}
		return err
	})
	if err != nil {
		return store.WebAuthnCredential{}, err
	}
	c.CreatedAt = dbTime(c.CreatedAt)
	return c, nil
}

func (s *Store) WebAuthnCredentials(ctx context.Context, userID int64) ([]store.WebAuthnCredential, error) {
	return collect(ctx, s.read(), scanWebAuthn, `SELECT `+webauthnColumns+` FROM webauthn_credentials WHERE user_id = $1 ORDER BY id`, userID)
}

// UseWebAuthnCredential is a compare-and-set on the counter, so that of two logins racing
// with one assertion (or with two clones of a key) at most one succeeds.
func (s *Store) UseWebAuthnCredential(ctx context.Context, id int64, count uint32, record []byte, at time.Time) (bool, error) {
	var ok bool
	err := s.tx(ctx, func(tx q) error {
		ok = false
		n, err := tx.exec(ctx, `UPDATE webauthn_credentials SET sign_count = $2, last_used_at = $3, record = $4
			WHERE id = $1 AND (sign_count < $2 OR (sign_count = 0 AND $2 = 0))`, id, int64(count), at, record)
		if err != nil {
			return err
		}
		ok = n == 1
		if ok {
			return nil
		}
		var found int64
		if err := tx.queryRow(ctx, `SELECT id FROM webauthn_credentials WHERE id = $1`, id).Scan(&found); err != nil {
			return fmt.Errorf("webauthn credential %d: %w", id, err)
		}
		return nil
	})
	return ok, err
}

func (s *Store) RenameWebAuthnCredential(ctx context.Context, userID, id int64, name string) error {
	return s.tx(ctx, func(tx q) error {
		n, err := tx.exec(ctx, `UPDATE webauthn_credentials SET name = $3 WHERE id = $2 AND user_id = $1`, userID, id, name)
		if err == nil && n == 0 {
			err = fmt.Errorf("webauthn credential %d of user %d: %w", id, userID, store.ErrNotFound)
		}
		return err
	})
}

func (s *Store) RemoveWebAuthnCredential(ctx context.Context, userID, id int64) error {
	return s.tx(ctx, func(tx q) error {
		totp, keys, err := s.factors(ctx, tx, userID)
		if err != nil {
			return err
		}
		var found int64
		if err := tx.queryRow(ctx, `SELECT id FROM webauthn_credentials WHERE id = $1 AND user_id = $2`, id, userID).Scan(&found); err != nil {
			return fmt.Errorf("webauthn credential %d of user %d: %w", id, userID, err)
		}
		if !totp && keys == 1 {
			return fmt.Errorf("user %d: %w", userID, store.ErrLastFactor)
		}
		_, err = tx.exec(ctx, `DELETE FROM webauthn_credentials WHERE id = $1`, id)
		return err
	})
}

// ReplaceRecoveryCodes locks the user's row first: two replacements take turns, so that
// the second deletes the codes the first wrote, and the user's removal, which takes that
// row before its cascade deletes the codes, never waits in a cycle with one.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes []string, at time.Time) error {
	return s.tx(ctx, func(tx q) error {
		if err := s.lockByID(ctx, tx, "users", "id = $1", s.dialect.NoKeyUpdate, userID); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
			return err
		}
		for _, h := range hashes {
			_, err := tx.exec(ctx, `INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)`, userID, h, at)
			switch {
			case errors.Is(err, errForeignKey):
				return fmt.Errorf("recovery codes of user %d: %w", userID, store.ErrNotFound)
			case errors.Is(err, errUnique):
				return fmt.Errorf("recovery codes of user %d: a code given twice: %w", userID, store.ErrConflict)
			case err != nil:
				return err
			}
		}
		return nil
	})
}

// UseRecoveryCode is one conditional UPDATE, so that a code used by two requests at once is
// accepted once.
func (s *Store) UseRecoveryCode(ctx context.Context, userID int64, hash string, at time.Time) (bool, error) {
	var ok bool
	err := s.tx(ctx, func(tx q) error {
		n, err := tx.exec(ctx, `UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL`, userID, hash, at)
		ok = n == 1
		return err
	})
	return ok, err
}

func (s *Store) RecoveryCodesLeft(ctx context.Context, userID int64) (int, error) {
	var n int
	err := s.read().queryRow(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`, userID).Scan(&n)
	return n, err
}
