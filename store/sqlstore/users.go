package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// nameKey is the form in which user names are unique and looked up: without case,
// computed here rather than by SQL lower(), whose folding differs between SQLite (ASCII
// only) and PostgreSQL (the database's locale).
func nameKey(name string) string { return strings.ToLower(name) }

// emailKey is the form in which email addresses are unique: one account per address,
// whatever its case.
func emailKey(email string) string { return strings.ToLower(email) }

// key is the form in which project names are unique and looked up: the canonical form of
// the index's naming rule (UseNames), which upload tokens carry too.
func (s *Store) key(name string) string { return s.names.Key(name) }

// dbTime is t as a read from either backend returns it: microseconds, UTC. Values returned
// by the Add and Create methods go through it, so they equal what a later read returns.
func dbTime(t time.Time) time.Time { return t.Truncate(time.Microsecond).UTC() }

// nullBytes is b as a statement argument with nil stored as NULL: a nil []byte reaches
// some drivers as an empty value, and an empty TOTP secret is not "no secret".
func nullBytes(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

const userColumns = `u.id, u.name, u.email, u.password_hash, u.totp_secret, u.totp_confirmed, u.totp_last_step,
	(SELECT count(*) FROM webauthn_credentials w WHERE w.user_id = u.id), u.created_at`

func scanUser(r scanner) (store.User, error) {
	var (
		u        store.User
		webauthn int64
	)
	err := r.Scan(&u.ID, &u.Name, &u.Email, &u.PasswordHash, &u.TOTPSecret, &u.TOTPConfirmed, &u.TOTPLastStep,
		&webauthn, timeDest{&u.CreatedAt})
	u.WebAuthnCount = int(webauthn)
	return u, err
}

func (s *Store) CreateUser(ctx context.Context, u store.User) (store.User, error) {
	err := s.tx(ctx, func(tx q) error {
		var err error
		u.ID, err = insertUser(ctx, tx, u)
		return err
	})
	if err != nil {
		return store.User{}, err
	}
	return created(u), nil
}

// created is a user just inserted, as the store would read it back: its time in the
// store's precision, and no security keys (they are registered later, one by one).
func created(u store.User) store.User {
	u.WebAuthnCount = 0
	u.CreatedAt = dbTime(u.CreatedAt)
	return u
}

// spendInvitation deletes the sign-up invitation with hash, unexpired at now (ErrNotFound
// if there is none), in the transaction that creates its user: it is spent once.
func spendInvitation(ctx context.Context, tx q, hash string, now time.Time) error {
	n, err := tx.exec(ctx, `DELETE FROM signup_invitations WHERE token_hash = $1 AND expires_at > $2`, hash, now)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("sign-up invitation: %w", store.ErrNotFound)
	}
	return nil
}

// insertUser stores u and returns its id: ErrConflict if the name is taken, ErrEmailTaken
// if the address is. Which of the two unique keys a conflict broke is told by looking
// first; the unique indexes still decide between concurrent inserts.
func insertUser(ctx context.Context, tx q, u store.User) (int64, error) {
	var taken bool
	if err := tx.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE email_key = $1)`, emailKey(u.Email)).Scan(&taken); err != nil {
		return 0, err
	}
	if taken {
		return 0, fmt.Errorf("user %q: %w", u.Name, store.ErrEmailTaken)
	}
	var id int64
	err := tx.queryRow(ctx, `INSERT INTO users
		(name, name_key, email, email_key, password_hash, totp_secret, totp_confirmed, totp_last_step, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		u.Name, nameKey(u.Name), u.Email, emailKey(u.Email), u.PasswordHash, nullBytes(u.TOTPSecret), u.TOTPConfirmed, u.TOTPLastStep, u.CreatedAt,
	).Scan(&id)
	if errors.Is(err, errUnique) {
		return 0, fmt.Errorf("user %q: %w", u.Name, store.ErrConflict)
	}
	return id, err
}

func (s *Store) UserByName(ctx context.Context, name string) (store.User, error) {
	u, err := scanUser(s.read().queryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.name_key = $1`, nameKey(name)))
	if err != nil {
		return store.User{}, fmt.Errorf("user %q: %w", name, err)
	}
	return u, nil
}

func (s *Store) UserByID(ctx context.Context, id int64) (store.User, error) {
	u, err := scanUser(s.read().queryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.id = $1`, id))
	if err != nil {
		return store.User{}, fmt.Errorf("user %d: %w", id, err)
	}
	return u, nil
}

func (s *Store) SetTOTP(ctx context.Context, userID int64, sealed []byte, confirmed bool) error {
	return s.tx(ctx, func(tx q) error {
		n, err := tx.exec(ctx, `UPDATE users SET totp_secret = $2, totp_confirmed = $3, totp_last_step = 0 WHERE id = $1`,
			userID, nullBytes(sealed), confirmed)
		if err == nil && n == 0 {
			err = fmt.Errorf("user %d: %w", userID, store.ErrNotFound)
		}
		return err
	})
}

// UseTOTPStep is a compare-and-set in one statement, so that two logins racing with the
// same code cannot both be accepted.
func (s *Store) UseTOTPStep(ctx context.Context, userID int64, step int64) (bool, error) {
	var used bool
	err := s.tx(ctx, func(tx q) error {
		used = false
		n, err := tx.exec(ctx, `UPDATE users SET totp_last_step = $2 WHERE id = $1 AND totp_last_step < $2`, userID, step)
		if err != nil {
			return err
		}
		used = n == 1
		if used {
			return nil
		}
		var id int64
		if err := tx.queryRow(ctx, `SELECT id FROM users WHERE id = $1`, userID).Scan(&id); err != nil {
			return fmt.Errorf("user %d: %w", userID, err)
		}
		return nil
	})
	return used, err
}

// DeleteUser removes the user and, by the cascade, what is the user's. Before the user's
// row it locks what the cascade writes that an exchange may be using, as exchanges lock
// them: the publishers the user added, in order of id, then the user's pending
// publishers, in order of id; then the user's row with those of the users the user
// invited or was invited by. The cascade's own order (the tables' and their scans') would
// otherwise let it wait in a cycle with an exchange writing two of those publishers, or
// converting a pending publisher, which names the user as owner after taking it.
func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx q) error {
		if err := s.lockByID(ctx, tx, "publishers", "created_by = $1", s.writeLock(), id); err != nil {
			return err
		}
		if err := s.lockByID(ctx, tx, "pending_publishers", "user_id = $1", s.dialect.ForUpdate, id); err != nil {
			return err
		}
		// The cascade deletes the user's invitations and clears the inviter of those the
		// user sent; the removal of a user on the other side of one does the reverse.
		// Both lock the two users' rows first, in order of id, and so take turns. The lock
		// is for no key update: holders of a key share (an exchange naming an owner, a
		// project's removal) do not wait for it, only for the deletion itself, as before.
		if err := s.lockByID(ctx, tx, "users", `id = $1 OR id IN (SELECT invited_by FROM project_invitations WHERE user_id = $1)
			OR id IN (SELECT user_id FROM project_invitations WHERE invited_by = $1)`, s.writeLock(), id); err != nil {
			return err
		}
		n, err := tx.exec(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err == nil && n == 0 {
			err = fmt.Errorf("user %d: %w", id, store.ErrNotFound)
		}
		return err
	})
}

func (s *Store) LinkIdentity(ctx context.Context, id store.ExternalIdentity) error {
	return s.tx(ctx, func(tx q) error {
		_, err := tx.exec(ctx, `INSERT INTO external_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)`,
			id.Issuer, id.Subject, id.UserID, id.CreatedAt)
		switch {
		case errors.Is(err, errUnique):
			return fmt.Errorf("identity %s %s: %w", id.Issuer, id.Subject, store.ErrIdentityTaken)
		case errors.Is(err, errForeignKey):
			return fmt.Errorf("identity: user %d: %w", id.UserID, store.ErrNotFound)
		}
		return err
	})
}

func (s *Store) CreateLinkedUser(ctx context.Context, u store.User, link store.ExternalIdentity, invitation string) (store.User, error) {
	err := s.tx(ctx, func(tx q) error {
		if invitation != "" {
			if err := spendInvitation(ctx, tx, invitation, u.CreatedAt); err != nil {
				return err
			}
		}
		var err error
		if u.ID, err = insertUser(ctx, tx, u); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE users SET email_verified_at = $2 WHERE id = $1`, u.ID, u.CreatedAt); err != nil {
			return err
		}
		if link.Issuer == "" {
			return nil
		}
		_, err = tx.exec(ctx, `INSERT INTO external_identities (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)`,
			link.Issuer, link.Subject, u.ID, u.CreatedAt)
		if errors.Is(err, errUnique) {
			return fmt.Errorf("identity %s %s: %w", link.Issuer, link.Subject, store.ErrIdentityTaken)
		}
		return err
	})
	if err != nil {
		return store.User{}, err
	}
	return created(u), nil
}

func (s *Store) UserByIdentity(ctx context.Context, issuer, subject string) (store.User, error) {
	u, err := scanUser(s.read().queryRow(ctx, `SELECT `+userColumns+` FROM users u
		JOIN external_identities x ON x.user_id = u.id WHERE x.issuer = $1 AND x.subject = $2`, issuer, subject))
	if err != nil {
		return store.User{}, fmt.Errorf("user of identity: %w", err)
	}
	return u, nil
}

func (s *Store) CreateSignupInvitation(ctx context.Context, inv store.SignupInvitation) error {
	return s.tx(ctx, func(tx q) error {
		_, err := tx.exec(ctx, `INSERT INTO signup_invitations (token_hash, email, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
			inv.Hash, inv.Email, inv.CreatedAt, inv.ExpiresAt)
		if errors.Is(err, errUnique) {
			return fmt.Errorf("sign-up invitation: %w", store.ErrConflict)
		}
		return err
	})
}

func (s *Store) SignupInvitation(ctx context.Context, hash string, now time.Time) (store.SignupInvitation, error) {
	var inv store.SignupInvitation
	err := s.read().queryRow(ctx, `SELECT token_hash, email, created_at, expires_at FROM signup_invitations WHERE token_hash = $1 AND expires_at > $2`, hash, now).
		Scan(&inv.Hash, &inv.Email, timeDest{&inv.CreatedAt}, timeDest{&inv.ExpiresAt})
	if err != nil {
		return store.SignupInvitation{}, fmt.Errorf("sign-up invitation: %w", err)
	}
	return inv, nil
}

func (s *Store) CreateInvitedUser(ctx context.Context, u store.User, hash string, now time.Time) (store.User, error) {
	err := s.tx(ctx, func(tx q) error {
		if err := spendInvitation(ctx, tx, hash, now); err != nil {
			return err
		}
		var err error
		u.ID, err = insertUser(ctx, tx, u)
		return err
	})
	if err != nil {
		return store.User{}, err
	}
	return created(u), nil
}
