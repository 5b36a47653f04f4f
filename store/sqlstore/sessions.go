package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// This file keeps sessions and the WebAuthn challenges that belong to them.

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

// RenewSession holds the user's row before it deletes the old session, as the user's
// removal takes that row before its cascade deletes the user's sessions: the other way
// round, each would wait for what the other holds.
func (s *Store) RenewSession(ctx context.Context, oldID string, ss store.Session) error {
	return s.tx(ctx, func(tx q) error {
		if err := s.lockByID(ctx, tx, "users", "id = $1", s.dialect.KeyShare, ss.UserID); err != nil {
			return err
		}
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

// PutChallenge holds the session's row before it deletes the challenge it replaces, as the
// session's end takes that row before its cascade deletes the session's challenges.
func (s *Store) PutChallenge(ctx context.Context, sessionID, ceremony string, data []byte, expires time.Time) error {
	return s.tx(ctx, func(tx q) error {
		if err := s.lockByID(ctx, tx, "sessions", "id = $1", s.dialect.KeyShare, sessionID); err != nil {
			return err
		}
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
