package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// This file keeps a project's owners and maintainers and the invitations to join them.

func (s *Store) ProjectOwners(ctx context.Context, projectID int64) ([]store.Owner, error) {
	return s.members(ctx, projectID, `AND o.role = 'owner'`)
}

func (s *Store) ProjectMembers(ctx context.Context, projectID int64) ([]store.Owner, error) {
	return s.members(ctx, projectID, "")
}

// members lists a project's members matching the SQL condition where, owners first.
func (s *Store) members(ctx context.Context, projectID int64, where string) ([]store.Owner, error) {
	return collect(ctx, s.read(), func(r scanner) (store.Owner, error) {
		var (
			o    store.Owner
			role string
		)
		err := r.Scan(&o.UserID, &o.Name, &o.Email, &o.EmailVerified, &role)
		o.Role = store.Role(role)
		return o, err
	}, `SELECT u.id, u.name, u.email, u.email_verified_at IS NOT NULL, o.role
		FROM project_owners o JOIN users u ON u.id = o.user_id
		WHERE o.project_id = $1 `+where+` ORDER BY o.role = 'owner' DESC, u.name_key`, projectID)
}

func (s *Store) OwnersOf(ctx context.Context, projectIDs []int64) (map[int64][]store.Owner, error) {
	type owner struct {
		project int64
		store.Owner
	}
	rows, err := collect(ctx, s.read(), func(r scanner) (owner, error) {
		var (
			o    owner
			role string
		)
		err := r.Scan(&o.project, &o.UserID, &o.Name, &o.Email, &o.EmailVerified, &role)
		o.Role = store.Role(role)
		return o, err
	}, `SELECT o.project_id, u.id, u.name, u.email, u.email_verified_at IS NOT NULL, o.role
		FROM project_owners o JOIN users u ON u.id = o.user_id
		WHERE `+fmt.Sprintf(s.dialect.AnyID, "o.project_id", "$1")+` AND o.role = 'owner' ORDER BY o.project_id, u.name_key`, s.dialect.IDs(projectIDs))
	if err != nil {
		return nil, err
	}
	out := map[int64][]store.Owner{}
	for _, o := range rows {
		out[o.project] = append(out[o.project], o.Owner)
	}
	return out, nil
}

// RemoveOwner locks the project row, so that two owners removing each other at once cannot
// leave the project with none.
func (s *Store) RemoveOwner(ctx context.Context, projectID, userID int64) error {
	return s.tx(ctx, func(tx q) error {
		var id int64
		if err := tx.queryRow(ctx, `SELECT id FROM projects WHERE id = $1`+s.dialect.ForUpdate, projectID).Scan(&id); err != nil {
			return fmt.Errorf("project %d: %w", projectID, err)
		}
		var owners int
		if err := tx.queryRow(ctx, `SELECT count(*) FROM project_owners WHERE project_id = $1 AND role = 'owner'`, projectID).Scan(&owners); err != nil {
			return err
		}
		var role string
		err := tx.queryRow(ctx, `DELETE FROM project_owners WHERE project_id = $1 AND user_id = $2 RETURNING role`, projectID, userID).Scan(&role)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("member %d of project %d: %w", userID, projectID, store.ErrNotFound)
		case err != nil:
			return err
		case role == string(store.RoleOwner) && owners <= 1:
			return fmt.Errorf("project %d: %w", projectID, store.ErrLastOwner)
		}
		return nil
	})
}

// Invite holds the project's row and those of the invitee and the inviter before it
// deletes an expired invitation, as their removals take those rows before their cascades
// delete or update the invitations naming them.
func (s *Store) Invite(ctx context.Context, inv store.Invitation) error {
	return s.tx(ctx, func(tx q) error {
		if err := s.holdMembers(ctx, tx, inv.ProjectID, inv.UserID, inv.InvitedBy); err != nil {
			return err
		}
		var member bool
		if err := tx.queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM project_owners WHERE project_id = $1 AND user_id = $2)`,
			inv.ProjectID, inv.UserID).Scan(&member); err != nil {
			return err
		}
		if member {
			return fmt.Errorf("user %d is a member of project %d: %w", inv.UserID, inv.ProjectID, store.ErrConflict)
		}
		if inv.Role == "" {
			inv.Role = store.RoleOwner
		}
		// An expired invitation would otherwise refuse a new one while being invisible.
		if _, err := tx.exec(ctx, `DELETE FROM project_invitations WHERE project_id = $1 AND user_id = $2 AND expires_at <= $3`,
			inv.ProjectID, inv.UserID, inv.CreatedAt); err != nil {
			return err
		}
		_, err := tx.exec(ctx, `INSERT INTO project_invitations (project_id, user_id, invited_by, created_at, expires_at, role)
			VALUES ($1, $2, $3, $4, $5, $6)`, inv.ProjectID, inv.UserID, nullID(inv.InvitedBy), inv.CreatedAt, inv.ExpiresAt, string(inv.Role))
		switch {
		case errors.Is(err, errUnique):
			return fmt.Errorf("user %d is invited to project %d: %w", inv.UserID, inv.ProjectID, store.ErrConflict)
		case errors.Is(err, errForeignKey):
			return fmt.Errorf("invitation to project %d for user %d: %w", inv.ProjectID, inv.UserID, store.ErrNotFound)
		}
		return err
	})
}

func (s *Store) Invitations(ctx context.Context, projectID, userID int64, now time.Time) ([]store.Invitation, error) {
	sql := `SELECT i.project_id, p.name, i.user_id, u.name, COALESCE(i.invited_by, 0), COALESCE(b.name, ''), i.created_at, i.expires_at, i.role
		FROM project_invitations i JOIN projects p ON p.id = i.project_id JOIN users u ON u.id = i.user_id
		LEFT JOIN users b ON b.id = i.invited_by
		WHERE i.expires_at > $1 AND `
	args := []any{now}
	if projectID != 0 {
		sql += `i.project_id = $2 ORDER BY i.created_at, u.name_key`
		args = append(args, projectID)
	} else {
		sql += `i.user_id = $2 ORDER BY i.created_at, p.name_key`
		args = append(args, userID)
	}
	return collect(ctx, s.read(), func(r scanner) (store.Invitation, error) {
		var (
			inv  store.Invitation
			role string
		)
		err := r.Scan(&inv.ProjectID, &inv.ProjectName, &inv.UserID, &inv.UserName, &inv.InvitedBy, &inv.InvitedByName,
			timeDest{&inv.CreatedAt}, timeDest{&inv.ExpiresAt}, &role)
		inv.Role = store.Role(role)
		return inv, err
	}, sql, args...)
}

// AcceptInvitation holds the project's row and the invitee's before it deletes the
// invitation, as Invite does.
func (s *Store) AcceptInvitation(ctx context.Context, projectID, userID int64, now time.Time) error {
	return s.tx(ctx, func(tx q) error {
		var (
			expires time.Time
			role    string
		)
		if err := s.holdMembers(ctx, tx, projectID, userID); err != nil {
			return err
		}
		err := tx.queryRow(ctx, `DELETE FROM project_invitations WHERE project_id = $1 AND user_id = $2 RETURNING expires_at, role`,
			projectID, userID).Scan(timeDest{&expires}, &role)
		if err != nil {
			return fmt.Errorf("invitation to project %d for user %d: %w", projectID, userID, err)
		}
		if !now.Before(expires) {
			return fmt.Errorf("invitation to project %d for user %d expired: %w", projectID, userID, store.ErrNotFound)
		}
		_, err = tx.exec(ctx, `INSERT INTO project_owners (project_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, projectID, userID, role)
		return err
	})
}

// holdMembers locks against removal, until the transaction ends, the project's row, then
// the rows of users (holdUsers).
func (s *Store) holdMembers(ctx context.Context, tx q, projectID int64, users ...int64) error {
	if err := s.lockByID(ctx, tx, "projects", "id = $1", s.dialect.KeyShare, projectID); err != nil {
		return err
	}
	return s.holdUsers(ctx, tx, users)
}

// holdUsers locks against removal, until the transaction ends, the rows of users, in
// order of id.
func (s *Store) holdUsers(ctx context.Context, tx q, users []int64) error {
	return s.lockByID(ctx, tx, "users", fmt.Sprintf(s.dialect.AnyID, "id", "$1"), s.dialect.KeyShare, s.dialect.IDs(users))
}

func (s *Store) RemoveInvitation(ctx context.Context, projectID, userID int64) error {
	return s.tx(ctx, func(tx q) error {
		n, err := tx.exec(ctx, `DELETE FROM project_invitations WHERE project_id = $1 AND user_id = $2`, projectID, userID)
		if err == nil && n == 0 {
			err = fmt.Errorf("invitation to project %d for user %d: %w", projectID, userID, store.ErrNotFound)
		}
		return err
	})
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
		// The users it names are held before any invitation is deleted: the removal of
		// one of them takes that user's row, then updates the invitations the user sent.
		if err := s.holdUsers(ctx, tx, want); err != nil {
			return err
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
