package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/tpx-dev/tpx/store"
)

// lockRetention serialises retention runs: replicas that sweep at the same moment take
// turns, and the later ones find the notices given and the rows gone.
const lockRetention int64 = 0x7470_7803 // "tpx" 3

// Retain runs the whole policy in one transaction under lockRetention, so a notice is
// marked given in the same commit that records it, and a pending publisher is recorded as
// expired in the same commit that deletes it: a run that fails halfway leaves nothing
// half-done for the next one to repeat.
func (s *Store) Retain(ctx context.Context, p store.RetentionPolicy) (store.Retained, error) {
	var r store.Retained
	err := s.tx(ctx, func(tx q) error {
		r = store.Retained{}
		if err := s.dialect.Lock(ctx, tx.w, lockRetention); err != nil {
			return s.classify(err)
		}
		// An exchange writes its audit events before it converts pending publishers: the
		// lock on writing audit events goes first here too. Otherwise an exchange waiting
		// for a pending publisher locked here, the events feed waiting for that exchange's
		// audit events (Dialect.SettleAudit), and this run's audit events queued behind the
		// feed would wait on one another.
		if s.dialect.WriteAudit != "" {
			if _, err := tx.exec(ctx, s.dialect.WriteAudit); err != nil {
				return err
			}
		}
		// The pending publishers it notices or deletes are locked first, in order of id,
		// as exchanges converting them lock them: noticed one by one and then deleted by
		// expiry, they would be taken out of that order. Locked, those an exchange
		// converted meanwhile are left out of the notices and the deletion alike.
		if err := s.lockByID(ctx, tx, "pending_publishers", "expires_at <= $1", s.dialect.ForUpdate, p.Now.Add(max(p.NoticeBefore, 0))); err != nil {
			return err
		}
		soon, err := collect(ctx, tx.reader, scanPending, `SELECT `+pendingColumns+` FROM pending_publishers
			WHERE expiry_notice_at IS NULL AND expires_at > $1 AND expires_at <= $2 ORDER BY id`, p.Now, p.Now.Add(p.NoticeBefore))
		if err != nil {
			return err
		}
		for _, pp := range soon {
			n := p.Words.ExpiryNotice(pp)
			if err := retentionAudit(ctx, tx, p.Now, pp.UserID, store.ActionPendingExpiryNotice, n.Detail); err != nil {
				return err
			}
			if err := queueExpiryMail(ctx, tx, p.Now, pp, n); err != nil {
				return err
			}
			if _, err := tx.exec(ctx, `UPDATE pending_publishers SET expiry_notice_at = $2 WHERE id = $1`, pp.ID, p.Now); err != nil {
				return err
			}
			r.PendingNoticed++
		}

		expired, err := collect(ctx, tx.reader, scanPending, `SELECT `+pendingColumns+` FROM pending_publishers
			WHERE expires_at <= $1 ORDER BY id`, p.Now)
		if err != nil {
			return err
		}
		for _, pp := range expired {
			if err := retentionAudit(ctx, tx, p.Now, pp.UserID, store.ActionPendingExpired, p.Words.Expired(pp)); err != nil {
				return err
			}
		}
		if r.PendingExpired, err = tx.exec(ctx, `DELETE FROM pending_publishers WHERE expires_at <= $1`, p.Now); err != nil {
			return err
		}
		// An exchange record is also the replay record of its CI token and the record of
		// its upload token: neither may go before it expires. Introspection answers
		// "inactive" for a token it has no record of, as it does for an expired one.
		r.Exchanges, err = tx.exec(ctx, `DELETE FROM exchanges WHERE at < $1 AND jti_expires_at <= $2 AND token_expires_at <= $2`,
			p.Now.Add(-p.KeepExchanges), p.Now)
		if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return store.Retained{}, err
	}
	return r, nil
}

// queueExpiryMail puts the notice n in the outbox for the registrant of pp, if their
// address is verified (mail goes to verified addresses only, so that an address typed in
// by someone else is never mailed). The dedupe key makes the message once-only even if a
// notice were marked given in another way.
func queueExpiryMail(ctx context.Context, tx q, now time.Time, pp store.PendingPublisher, n store.Notice) error {
	_, err := tx.exec(ctx, `INSERT INTO outbox (created_at, recipient, subject, body, dedupe_key, lease_until)
		SELECT $1, email, $2, $3, $4, $1 FROM users WHERE id = $5 AND email_verified_at IS NOT NULL
		ON CONFLICT (dedupe_key) DO NOTHING`,
		now, n.Subject, n.Body, fmt.Sprintf("pending-expiry-notice:%d", pp.ID), pp.UserID)
	return err
}

func retentionAudit(ctx context.Context, tx q, at time.Time, user int64, action, detail string) error {
	_, err := tx.exec(ctx, `INSERT INTO audit_events (at, actor, user_id, project_id, action, detail) VALUES ($1, $2, $3, NULL, $4, $5)`,
		at, "retention", nullID(user), action, detail)
	return err
}

// sweep is a statement deleting the rows of table expired at $1, whose key is the
// columns key, skipping those another transaction holds: the removal of a user or a
// session deletes or updates such rows by its cascade, in an order of its own, after
// taking the user's or the session's row, and the sweep would otherwise hold some while
// waiting for others. What it skips goes at the next sweep.
func (s *Store) sweep(table, key string) string {
	return `DELETE FROM ` + table + ` WHERE (` + key + `) IN (SELECT ` + key + ` FROM ` + table + ` WHERE expires_at <= $1` + s.skipLocked() + `)`
}

func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	err := s.tx(ctx, func(tx q) error {
		total = 0
		for _, c := range []struct {
			sql string
			at  time.Time
		}{
			{s.sweep("sessions", "id"), now},
			{s.sweep("webauthn_challenges", "session_id, ceremony"), now},
			{s.sweep("email_tokens", "token_hash"), now},
			{s.sweep("project_invitations", "project_id, user_id"), now},
			{`DELETE FROM outbox WHERE sent_at <= $1`, now.Add(-store.SentMailKept)},
			// Messages given up on stay as long as sent ones, for the operator to look at.
			{`DELETE FROM outbox WHERE sent_at IS NULL AND attempts >= ` + fmt.Sprint(store.MailAttempts) + ` AND created_at <= $1`, now.Add(-store.SentMailKept)},
		} {
			n, err := tx.exec(ctx, c.sql, c.at)
			if err != nil {
				return err
			}
			total += n
		}
		return nil
	})
	return total, err
}
