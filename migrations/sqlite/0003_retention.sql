-- Retention (store.Store.Retain) tells a pending publisher's registrant before it expires.
-- The time of that notice is kept, so that it is given once; NULL means not told yet. The
-- index serves both the notice and the expiry queries.
ALTER TABLE pending_publishers ADD COLUMN expiry_notice_at INTEGER;
CREATE INDEX pending_publishers_expires ON pending_publishers (expires_at);
