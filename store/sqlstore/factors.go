package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// This file implements the owner web UI's methods about logging in: passwords, TOTP,
// sessions, WebAuthn, recovery codes and email verification.

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

const sessionColumns = `id, user_id, stage, factor, created_at, authenticated_at, factor_proof_at, expires_at, last_seen_at, address, user_agent`

func scanSession(r scanner) (store.Session, error) {
	var (
		ss            store.Session
		stage, factor string
	)
	err := r.Scan(&ss.ID, &ss.UserID, &stage, &factor, timeDest{&ss.CreatedAt}, timeDest{&ss.AuthenticatedAt}, nullTimeDest{&ss.FactorProofAt},
		timeDest{&ss.ExpiresAt}, timeDest{&ss.LastSeenAt}, &ss.Address, &ss.UserAgent)
	ss.Stage, ss.Factor = store.SessionStage(stage), store.SessionFactor(factor)
	return ss, err
}

// insertSession stores ss; a session never seen is last seen when it was made, and one
// that names no factor passed the password alone.
func insertSession(ctx context.Context, tx q, ss store.Session) error {
	if ss.LastSeenAt.IsZero() {
		ss.LastSeenAt = ss.CreatedAt
	}
	if ss.Factor == "" {
		ss.Factor = store.FactorPassword
	}
	_, err := tx.exec(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		ss.ID, ss.UserID, string(ss.Stage), string(ss.Factor), ss.CreatedAt, ss.AuthenticatedAt, nullTime(ss.FactorProofAt), ss.ExpiresAt, ss.LastSeenAt, ss.Address, ss.UserAgent)
	switch {
	case errors.Is(err, errUnique):
		return fmt.Errorf("session: %w", store.ErrConflict)
	case errors.Is(err, errForeignKey):
		return fmt.Errorf("session of user %d: %w", ss.UserID, store.ErrNotFound)
	}
	return err
}

func (s *Store) CreateSession(ctx context.Context, ss store.Session) error {
	return s.tx(ctx, func(tx q) error { return insertSession(ctx, tx, ss) })
}

func (s *Store) Session(ctx context.Context, id string, now time.Time) (store.Session, error) {
	ss, err := scanSession(s.read().queryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1 AND expires_at > $2`, id, now))
	if err != nil {
		return store.Session{}, fmt.Errorf("session: %w", err)
	}
	return ss, nil
}

func (s *Store) RenewSession(ctx context.Context, oldID string, ss store.Session) error {
	return s.tx(ctx, func(tx q) error {
		n, err := tx.exec(ctx, `DELETE FROM sessions WHERE id = $1`, oldID)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("session: %w", store.ErrNotFound)
		}
		return insertSession(ctx, tx, ss)
	})
}

func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx q) error {
		_, err := tx.exec(ctx, `DELETE FROM sessions WHERE id = $1`, id)
		return err
	})
}

func (s *Store) DeleteUserSessions(ctx context.Context, userID int64, except string) (int64, error) {
	var n int64
	err := s.tx(ctx, func(tx q) error {
		var err error
		n, err = tx.exec(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id <> $2`, userID, except)
		return err
	})
	return n, err
}

func (s *Store) UserSessions(ctx context.Context, userID int64, now time.Time) ([]store.Session, error) {
	return collect(ctx, s.read(), scanSession, `SELECT `+sessionColumns+` FROM sessions WHERE user_id = $1 AND expires_at > $2
		ORDER BY last_seen_at DESC, created_at DESC, id`, userID, now)
}

func (s *Store) TouchSession(ctx context.Context, id string, at time.Time, address, userAgent string) error {
	return s.tx(ctx, func(tx q) error {
		n, err := tx.exec(ctx, `UPDATE sessions SET last_seen_at = $2, address = $3, user_agent = $4 WHERE id = $1`, id, at, address, userAgent)
		if err == nil && n == 0 {
			err = fmt.Errorf("session: %w", store.ErrNotFound)
		}
		return err
	})
}

func (s *Store) SpendFactorProof(ctx context.Context, id string, notBefore time.Time) (bool, error) {
	var ok bool
	err := s.tx(ctx, func(tx q) error {
		n, err := tx.exec(ctx, `UPDATE sessions SET factor_proof_at = NULL WHERE id = $1 AND factor_proof_at > $2`, id, notBefore)
		ok = n == 1
		return err
	})
	return ok, err
}

func (s *Store) PutChallenge(ctx context.Context, sessionID, ceremony string, data []byte, expires time.Time) error {
	return s.tx(ctx, func(tx q) error {
		if _, err := tx.exec(ctx, `DELETE FROM webauthn_challenges WHERE session_id = $1 AND ceremony = $2`, sessionID, ceremony); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO webauthn_challenges (session_id, ceremony, data, expires_at) VALUES ($1, $2, $3, $4)`,
			sessionID, ceremony, data, expires)
		if errors.Is(err, errForeignKey) {
			return fmt.Errorf("challenge's session: %w", store.ErrNotFound)
		}
		return err
	})
}

// TakeChallenge deletes before it looks at the expiry: an expired challenge is gone either way.
func (s *Store) TakeChallenge(ctx context.Context, sessionID, ceremony string, now time.Time) ([]byte, error) {
	var (
		data    []byte
		expires time.Time
	)
	err := s.tx(ctx, func(tx q) error {
		return tx.queryRow(ctx, `DELETE FROM webauthn_challenges WHERE session_id = $1 AND ceremony = $2 RETURNING data, expires_at`,
			sessionID, ceremony).Scan(&data, timeDest{&expires})
	})
	if err != nil {
		return nil, fmt.Errorf("%s challenge: %w", ceremony, err)
	}
	if !now.Before(expires) {
		return nil, fmt.Errorf("%s challenge expired: %w", ceremony, store.ErrNotFound)
	}
	return data, nil
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

func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID int64, hashes []string, at time.Time) error {
	return s.tx(ctx, func(tx q) error {
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

func (s *Store) UseEmailToken(ctx context.Context, hash string, now time.Time) (int64, error) {
	var user int64
	err := s.tx(ctx, func(tx q) error {
		var (
			email   string
			expires time.Time
		)
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
