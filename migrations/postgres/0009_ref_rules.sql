-- Ref rules and the called-workflow pin of a publisher (and of a pending one, which becomes
-- a publisher with the same rules). The defaults are "any ref" and "any called workflow",
-- what every publisher accepted before the rules existed. ref_pattern is a whole ref where
-- '*' stands for any run of characters other than '/'.
ALTER TABLE publishers ADD COLUMN ref_tags_only boolean NOT NULL DEFAULT false;
ALTER TABLE publishers ADD COLUMN ref_pattern text NOT NULL DEFAULT '';
ALTER TABLE publishers ADD COLUMN ref_protected boolean NOT NULL DEFAULT false;
ALTER TABLE publishers ADD COLUMN called_workflow text NOT NULL DEFAULT '';
ALTER TABLE pending_publishers ADD COLUMN ref_tags_only boolean NOT NULL DEFAULT false;
ALTER TABLE pending_publishers ADD COLUMN ref_pattern text NOT NULL DEFAULT '';
ALTER TABLE pending_publishers ADD COLUMN ref_protected boolean NOT NULL DEFAULT false;
ALTER TABLE pending_publishers ADD COLUMN called_workflow text NOT NULL DEFAULT '';
