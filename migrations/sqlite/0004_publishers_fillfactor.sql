-- PostgreSQL only (its publishers table keeps room on each page for in-place updates);
-- SQLite has no such setting. This migration, a statement that changes nothing, keeps the
-- two dialects' migrations in step.
SELECT 1;
