-- Ref rules and the called-workflow pin of a publisher (and of a pending one, which becomes
-- a publisher with the same rules). The defaults are "any ref" and "any called workflow",
-- what every publisher accepted before the rules existed. ref_pattern is a whole ref where
-- '*' stands for any run of characters other than '/'.
ALTER TABLE publishers ADD COLUMN ref_tags_only INTEGER NOT NULL DEFAULT 0 CHECK (ref_tags_only IN (0, 1));
ALTER TABLE publishers ADD COLUMN ref_pattern TEXT NOT NULL DEFAULT '';
ALTER TABLE publishers ADD COLUMN ref_protected INTEGER NOT NULL DEFAULT 0 CHECK (ref_protected IN (0, 1));
ALTER TABLE publishers ADD COLUMN called_workflow TEXT NOT NULL DEFAULT '';
ALTER TABLE pending_publishers ADD COLUMN ref_tags_only INTEGER NOT NULL DEFAULT 0 CHECK (ref_tags_only IN (0, 1));
ALTER TABLE pending_publishers ADD COLUMN ref_pattern TEXT NOT NULL DEFAULT '';
ALTER TABLE pending_publishers ADD COLUMN ref_protected INTEGER NOT NULL DEFAULT 0 CHECK (ref_protected IN (0, 1));
ALTER TABLE pending_publishers ADD COLUMN called_workflow TEXT NOT NULL DEFAULT '';
