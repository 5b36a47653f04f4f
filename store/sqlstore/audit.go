package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/tpx-dev/tpx/store"
)

// DefaultAuditLimit is how many events AuditLog returns when asked for no particular
// number: a page for a person to read, not an export.
const DefaultAuditLimit = 100

func (s *Store) Audit(ctx context.Context, e store.AuditEvent) error {
	return s.tx(ctx, func(tx q) error {
		_, err := tx.exec(ctx, `INSERT INTO audit_events (at, actor, user_id, project_id, action, detail) VALUES ($1, $2, $3, $4, $5, $6)`,
			e.At, e.Actor, nullID(e.UserID), nullID(e.ProjectID), e.Action, e.Detail)
		return err
	})
}

func (s *Store) AuditLog(ctx context.Context, projectID, userID int64, limit int) ([]store.AuditEvent, error) {
	if limit <= 0 {
		limit = DefaultAuditLimit
	}
	var (
		where []string
		args  []any
	)
	if projectID != 0 {
		args = append(args, projectID)
		where = append(where, fmt.Sprintf("project_id = $%d", len(args)))
	}
	if userID != 0 {
		args = append(args, userID)
		where = append(where, fmt.Sprintf("user_id = $%d", len(args)))
	}
	sql := `SELECT id, at, actor, COALESCE(user_id, 0), COALESCE(project_id, 0), action, detail FROM audit_events`
	if len(where) > 0 {
		sql += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, limit)
	sql += fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args))
	return collect(ctx, s.read(), func(r scanner) (store.AuditEvent, error) {
		var e store.AuditEvent
		err := r.Scan(&e.ID, timeDest{&e.At}, &e.Actor, &e.UserID, &e.ProjectID, &e.Action, &e.Detail)
		return e, err
	}, sql, args...)
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
