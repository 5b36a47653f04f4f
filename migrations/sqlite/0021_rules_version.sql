-- A publisher's rules (ref rules and called-workflow pin) carry a version, counted up by
-- each change of them: an exchange commits only if the rules it matched are still the
-- publisher's, so that no token is handed out under rules an owner has replaced.
ALTER TABLE publishers ADD COLUMN rules_version INTEGER NOT NULL DEFAULT 0;
