package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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

func (s *Store) CreateProjectOwned(ctx context.Context, name string, owners []int64, at time.Time) (store.Project, error) {
	p := store.Project{Name: name, CreatedAt: dbTime(at)}
	err := s.tx(ctx, func(tx q) error {
		err := tx.queryRow(ctx, `INSERT INTO projects (name, name_key, created_at) VALUES ($1, $2, $3) RETURNING id`,
			name, s.key(name), at).Scan(&p.ID)
		if errors.Is(err, errUnique) {
			return fmt.Errorf("project %q: %w", name, store.ErrConflict)
		}
		if err != nil {
			return err
		}
		for _, o := range uniqueIDs(owners) {
			if err := addOwner(ctx, tx, p.ID, o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return store.Project{}, err
	}
	return p, nil
}

func (s *Store) ProjectByID(ctx context.Context, id int64) (store.Project, error) {
	p, err := scanProject(s.read().queryRow(ctx, `SELECT id, name, created_at FROM projects WHERE id = $1`, id))
	if err != nil {
		return store.Project{}, fmt.Errorf("project %d: %w", id, err)
	}
	return p, nil
}

func (s *Store) RenameProject(ctx context.Context, id int64, name string) (store.Project, error) {
	var p store.Project
	err := s.tx(ctx, func(tx q) error {
		_, err := tx.exec(ctx, `UPDATE projects SET name = $2, name_key = $3 WHERE id = $1`, id, name, s.key(name))
		if errors.Is(err, errUnique) {
			return fmt.Errorf("project %q: %w", name, store.ErrConflict)
		}
		if err != nil {
			return err
		}
		p, err = scanProject(tx.queryRow(ctx, `SELECT id, name, created_at FROM projects WHERE id = $1`, id))
		if err != nil {
			return fmt.Errorf("project %d: %w", id, err)
		}
		return nil
	})
	return p, err
}

// DeleteProject revokes the live tokens that name the project in the same transaction,
// so that none outlives it; expired ones are left as they are. The live tokens are few
// (each lives minutes), so they are read and matched here, in canonical form, rather
// than by each dialect's JSON operators.
func (s *Store) DeleteProject(ctx context.Context, id int64, at time.Time) ([]string, error) {
	var revoked []string
	err := s.tx(ctx, func(tx q) error {
		revoked = nil
		var name string
		if err := tx.queryRow(ctx, `SELECT name FROM projects WHERE id = $1`+s.dialect.ForUpdate, id).Scan(&name); err != nil {
			return fmt.Errorf("project %d: %w", id, err)
		}
		if _, err := tx.exec(ctx, `DELETE FROM projects WHERE id = $1`, id); err != nil {
			return err
		}
		type live struct{ id, projects string }
		tokens, err := collect(ctx, tx.reader, func(r scanner) (live, error) {
			var l live
			return l, r.Scan(&l.id, &l.projects)
		}, `SELECT id, projects FROM upload_tokens WHERE revoked_at IS NULL AND expires_at > $1 ORDER BY id`, at)
		if err != nil {
			return err
		}
		key := s.key(name)
		for _, t := range tokens {
			var names []string
			if err := json.Unmarshal([]byte(t.projects), &names); err != nil {
				return fmt.Errorf("upload token %q: projects: %w", t.id, err)
			}
			if !slices.ContainsFunc(names, func(n string) bool { return s.key(n) == key }) {
				continue
			}
			if _, err := tx.exec(ctx, `UPDATE upload_tokens SET revoked_at = $2 WHERE id = $1`, t.id, at); err != nil {
				return err
			}
			revoked = append(revoked, t.id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return revoked, nil
}

func (s *Store) DeleteUser(ctx context.Context, id int64) error {
	return s.tx(ctx, func(tx q) error {
		n, err := tx.exec(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err == nil && n == 0 {
			err = fmt.Errorf("user %d: %w", id, store.ErrNotFound)
		}
		return err
	})
}

func (s *Store) ListProjects(ctx context.Context, after int64, limit int) ([]store.Project, error) {
	return collect(ctx, s.read(), scanProject, `SELECT id, name, created_at FROM projects WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
}

// SetOwners locks the project row, so that concurrent calls apply one after the other and
// the result is the set the last one named.
func (s *Store) SetOwners(ctx context.Context, projectID int64, users []int64) (added, removed []int64, err error) {
	want := uniqueIDs(users)
	err = s.tx(ctx, func(tx q) error {
		added, removed = nil, nil
		var id int64
		if err := tx.queryRow(ctx, `SELECT id FROM projects WHERE id = $1`+s.dialect.ForUpdate, projectID).Scan(&id); err != nil {
			return fmt.Errorf("project %d: %w", projectID, err)
		}
		have, err := collect(ctx, tx.reader, func(r scanner) (int64, error) {
			var u int64
			return u, r.Scan(&u)
		}, `SELECT user_id FROM project_owners WHERE project_id = $1 AND role = 'owner' ORDER BY user_id`, projectID)
		if err != nil {
			return err
		}
		for _, u := range have {
			if !slices.Contains(want, u) {
				if _, err := tx.exec(ctx, `DELETE FROM project_owners WHERE project_id = $1 AND user_id = $2 AND role = 'owner'`, projectID, u); err != nil {
					return err
				}
				removed = append(removed, u)
			}
		}
		for _, u := range want {
			if !slices.Contains(have, u) {
				if err := addOwner(ctx, tx, projectID, u); err != nil {
					return err
				}
				// An invitation to what the user now owns has nothing left to ask.
				if _, err := tx.exec(ctx, `DELETE FROM project_invitations WHERE project_id = $1 AND user_id = $2`, projectID, u); err != nil {
					return err
				}
				added = append(added, u)
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return added, removed, nil
}

// uniqueIDs is ids sorted, without repeats.
func uniqueIDs(ids []int64) []int64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

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
			n, err := tx.exec(ctx, `DELETE FROM signup_invitations WHERE token_hash = $1 AND expires_at > $2`, invitation, u.CreatedAt)
			if err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("sign-up invitation: %w", store.ErrNotFound)
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
	u.WebAuthnCount = 0
	u.CreatedAt = dbTime(u.CreatedAt)
	return u, nil
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
		n, err := tx.exec(ctx, `DELETE FROM signup_invitations WHERE token_hash = $1 AND expires_at > $2`, hash, now)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("sign-up invitation: %w", store.ErrNotFound)
		}
		u.ID, err = insertUser(ctx, tx, u)
		return err
	})
	if err != nil {
		return store.User{}, err
	}
	u.WebAuthnCount = 0
	u.CreatedAt = dbTime(u.CreatedAt)
	return u, nil
}

// AuditAfter reads in a transaction that first settles the audit table: on SQLite, a
// write transaction, which waits for the one writer; on PostgreSQL, Dialect.SettleAudit.
func (s *Store) AuditAfter(ctx context.Context, after int64, limit int, except string) ([]store.AuditEvent, error) {
	var events []store.AuditEvent
	err := s.tx(ctx, func(tx q) error {
		if s.dialect.SettleAudit != nil {
			if err := s.dialect.SettleAudit(ctx, tx.w); err != nil {
				return err
			}
		}
		var err error
		events, err = collect(ctx, tx.reader, func(r scanner) (store.AuditEvent, error) {
			var e store.AuditEvent
			err := r.Scan(&e.ID, timeDest{&e.At}, &e.Actor, &e.UserID, &e.ProjectID, &e.Action, &e.Detail, &e.UserName, &e.ProjectName)
			return e, err
		}, `SELECT e.id, e.at, e.actor, COALESCE(e.user_id, 0), COALESCE(e.project_id, 0), e.action, e.detail,
			COALESCE(u.name, ''), COALESCE(p.name, '')
			FROM audit_events e LEFT JOIN users u ON u.id = e.user_id LEFT JOIN projects p ON p.id = e.project_id
			WHERE e.id > $1 AND e.action <> $3 ORDER BY e.id LIMIT $2`, after, limit, except)
		return err
	})
	if err != nil {
		return nil, err
	}
	return events, nil
}
