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

func scanProject(r scanner) (store.Project, error) {
	var p store.Project
	err := r.Scan(&p.ID, &p.Name, timeDest{&p.CreatedAt})
	return p, err
}

// CreateProject is CreateProjectOwned with its one owner.
func (s *Store) CreateProject(ctx context.Context, name string, owner int64, at time.Time) (store.Project, error) {
	return s.CreateProjectOwned(ctx, name, []int64{owner}, at)
}

// addOwner makes user an owner of project; a maintainer becomes an owner.
func addOwner(ctx context.Context, tx q, project, user int64) error {
	_, err := tx.exec(ctx, `INSERT INTO project_owners (project_id, user_id, role) VALUES ($1, $2, 'owner')
		ON CONFLICT (project_id, user_id) DO UPDATE SET role = 'owner'`, project, user)
	if errors.Is(err, errForeignKey) {
		return fmt.Errorf("owner: user %d: %w", user, store.ErrNotFound)
	}
	return err
}

func (s *Store) ProjectByName(ctx context.Context, name string) (store.Project, error) {
	p, err := scanProject(s.read().queryRow(ctx, `SELECT id, name, created_at FROM projects WHERE name_key = $1`, s.key(name)))
	if err != nil {
		return store.Project{}, fmt.Errorf("project %q: %w", name, err)
	}
	return p, nil
}

func (s *Store) IsOwner(ctx context.Context, projectID, userID int64) (bool, error) {
	var owner bool
	err := s.read().queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM project_owners WHERE project_id = $1 AND user_id = $2 AND role = 'owner')`,
		projectID, userID).Scan(&owner)
	return owner, err
}

func (s *Store) ProjectsOwnedBy(ctx context.Context, userID int64) ([]store.Project, error) {
	return s.projectsWithRole(ctx, userID, store.RoleOwner)
}

func (s *Store) ProjectsMaintainedBy(ctx context.Context, userID int64) ([]store.Project, error) {
	return s.projectsWithRole(ctx, userID, store.RoleMaintainer)
}

func (s *Store) projectsWithRole(ctx context.Context, userID int64, role store.Role) ([]store.Project, error) {
	return collect(ctx, s.read(), scanProject, `SELECT p.id, p.name, p.created_at
		FROM projects p JOIN project_owners o ON o.project_id = p.id
		WHERE o.user_id = $1 AND o.role = $2 ORDER BY p.name_key`, userID, string(role))
}

func (s *Store) MemberRole(ctx context.Context, projectID, userID int64) (store.Role, error) {
	var role string
	err := s.read().queryRow(ctx, `SELECT role FROM project_owners WHERE project_id = $1 AND user_id = $2`, projectID, userID).Scan(&role)
	if err != nil {
		return "", fmt.Errorf("member %d of project %d: %w", userID, projectID, err)
	}
	return store.Role(role), nil
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
		p = store.Project{}
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
// than by each dialect's JSON operators; they are found among the exchanges of the last
// MaxUploadTokenLifetime + ExchangeSpan.
func (s *Store) DeleteProject(ctx context.Context, id int64, at time.Time) ([]string, error) {
	var revoked []string
	err := s.tx(ctx, func(tx q) error {
		revoked = nil
		var name string
		if err := tx.queryRow(ctx, `SELECT name FROM projects WHERE id = $1`+s.dialect.ForUpdate, id).Scan(&name); err != nil {
			return fmt.Errorf("project %d: %w", id, err)
		}
		// The project's publishers, which its removal deletes, are locked first in order
		// of id, the order exchanges lock them in: deleted in the order of whatever index
		// or scan the database chooses, one could be taken while an exchange holding
		// another waits for it. No publisher can be added meanwhile: adding one waits for
		// the lock on the project's row.
		if err := s.lockByID(ctx, tx, "publishers", "project_id = $1", s.dialect.ForUpdate, id); err != nil {
			return err
		}
		// The users on either side of the project's invitations are held, in order of
		// id, before the cascade deletes the invitations: a user's removal takes the
		// user's row, then deletes the user's invitation and clears the inviter of those
		// the user sent, in an order of its own.
		if err := s.lockByID(ctx, tx, "users", `id IN (SELECT user_id FROM project_invitations WHERE project_id = $1)
			OR id IN (SELECT invited_by FROM project_invitations WHERE project_id = $1)`, s.dialect.KeyShare, id); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `DELETE FROM projects WHERE id = $1`, id); err != nil {
			return err
		}
		type live struct{ id, projects string }
		tokens, err := collect(ctx, tx.reader, func(r scanner) (live, error) {
			var l live
			return l, r.Scan(&l.id, &l.projects)
		}, `SELECT token_id, projects FROM exchanges WHERE at >= $2 AND token_expires_at > $1 AND revoked_at IS NULL ORDER BY token_id`,
			at, at.Add(-store.MaxUploadTokenLifetime-store.ExchangeSpan))
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
			if _, err := tx.exec(ctx, `UPDATE exchanges SET revoked_at = $2 WHERE token_id = $1`, t.id, at); err != nil {
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

func (s *Store) ListProjects(ctx context.Context, after int64, limit int) ([]store.Project, error) {
	return collect(ctx, s.read(), scanProject, `SELECT id, name, created_at FROM projects WHERE id > $1 ORDER BY id LIMIT $2`, after, limit)
}
