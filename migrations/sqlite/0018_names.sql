-- The naming rule project keys are written in (TPX_NAMES: pypi, npm or cargo), so that a
-- deployment started with another rule finds out instead of looking names up in the wrong
-- form. No row is PyPI's rule (PEP 503), the only one before this table.
CREATE TABLE store_settings (
    name  text PRIMARY KEY,
    value text NOT NULL
);
