package sqlstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// This file keeps the outbox: mail queued in the transaction of the change it tells of,
// sent by notify.

func (s *Store) EnqueueMail(ctx context.Context, msgs []store.Mail) error {
	return s.tx(ctx, func(tx q) error {
		for _, m := range msgs {
			if _, err := tx.exec(ctx, `INSERT INTO outbox (created_at, recipient, subject, body, dedupe_key, lease_until)
				VALUES ($1, $2, $3, $4, $5, $1) ON CONFLICT (dedupe_key) DO NOTHING`,
				m.CreatedAt, m.To, m.Subject, m.Body, nullString(m.DedupeKey)); err != nil {
				return err
			}
		}
		return nil
	})
}

// ClaimMail checks the conditions again in the outer WHERE: on PostgreSQL a row that a
// concurrent claim updated first is re-read there, and then no longer qualifies. Where
// rows can be locked, the candidates skip those another claim holds, so that concurrent
// senders share the outbox rather than all reach for its first rows.
func (s *Store) ClaimMail(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Mail, error) {
	var out []store.Mail
	err := s.tx(ctx, func(tx q) error {
		var err error
		out, err = collect(ctx, tx.reader, func(r scanner) (store.Mail, error) {
			var m store.Mail
			err := r.Scan(&m.ID, &m.To, &m.Subject, &m.Body, &m.DedupeKey, timeDest{&m.CreatedAt}, &m.Attempts)
			return m, err
		}, `UPDATE outbox SET lease_until = $2, attempts = attempts + 1
			WHERE id IN (SELECT id FROM outbox WHERE sent_at IS NULL AND lease_until <= $1 AND attempts < $3 ORDER BY id LIMIT $4`+s.skipLocked()+`)
			AND sent_at IS NULL AND lease_until <= $1 AND attempts < $3
			RETURNING id, recipient, subject, body, COALESCE(dedupe_key, ''), created_at, attempts`,
			now, now.Add(lease), store.MailAttempts, limit)
		return err
	})
	slices.SortFunc(out, func(a, b store.Mail) int { return cmp.Compare(a.ID, b.ID) })
	return out, err
}

func (s *Store) MarkMailSent(ctx context.Context, id int64, at time.Time) error {
	return s.tx(ctx, func(tx q) error {
		n, err := tx.exec(ctx, `UPDATE outbox SET sent_at = $2, last_error = '' WHERE id = $1`, id, at)
		if err == nil && n == 0 {
			err = fmt.Errorf("mail %d: %w", id, store.ErrNotFound)
		}
		return err
	})
}

func (s *Store) MarkMailFailed(ctx context.Context, id int64, reason string) error {
	return s.tx(ctx, func(tx q) error {
		n, err := tx.exec(ctx, `UPDATE outbox SET last_error = $2 WHERE id = $1`, id, reason)
		if err == nil && n == 0 {
			err = fmt.Errorf("mail %d: %w", id, store.ErrNotFound)
		}
		return err
	})
}
