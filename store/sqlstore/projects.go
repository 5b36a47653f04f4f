package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tpx-dev/tpx/store"
)

func scanProject(r scanner) (store.Project, error) {
	var p store.Project
	err := r.Scan(&p.ID, &p.Name, timeDest{&p.CreatedAt})
	return p, err
}

func (s *Store) CreateProject(ctx context.Context, name string, owner int64, at time.Time) (store.Project, error) {
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
		return addOwner(ctx, tx, p.ID, owner)
	})
	if err != nil {
		return store.Project{}, err
	}
	return p, nil
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
