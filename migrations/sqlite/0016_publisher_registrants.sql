-- The registrants of each range of publishers_turns, with the id of each one's oldest
-- publisher there: the candidate read takes the first 101 registrants of a range in one
-- scan of this table's key, and, when each takes one place, their publishers by first_id,
-- rather than walking publishers_turns one probe per registrant. Triggers keep it, so that
-- every way a publisher comes or goes (a registration, a pending publisher's conversion, a
-- removal, a project's deletion) keeps it true.
CREATE TABLE publisher_registrants (
    issuer     TEXT NOT NULL,
    repo_key   TEXT NOT NULL,
    workflow   TEXT NOT NULL,
    env_key    TEXT NOT NULL,
    registrant INTEGER NOT NULL,
    first_id   INTEGER NOT NULL,
    PRIMARY KEY (issuer, repo_key, workflow, env_key, registrant)
) STRICT;
INSERT INTO publisher_registrants (issuer, repo_key, workflow, env_key, registrant, first_id)
    SELECT issuer, repo_key, workflow, env_key, registrant, min(id) FROM publishers
    GROUP BY issuer, repo_key, workflow, env_key, registrant;

CREATE TRIGGER publishers_registrant_add AFTER INSERT ON publishers BEGIN
    INSERT INTO publisher_registrants (issuer, repo_key, workflow, env_key, registrant, first_id)
        VALUES (NEW.issuer, NEW.repo_key, NEW.workflow, NEW.env_key, NEW.registrant, NEW.id)
        ON CONFLICT (issuer, repo_key, workflow, env_key, registrant)
        DO UPDATE SET first_id = min(first_id, excluded.first_id);
END;

CREATE TRIGGER publishers_registrant_remove AFTER DELETE ON publishers BEGIN
    DELETE FROM publisher_registrants WHERE issuer = OLD.issuer AND repo_key = OLD.repo_key
        AND workflow = OLD.workflow AND env_key = OLD.env_key AND registrant = OLD.registrant
        AND NOT EXISTS (SELECT 1 FROM publishers p WHERE p.issuer = OLD.issuer AND p.repo_key = OLD.repo_key
            AND p.workflow = OLD.workflow AND p.env_key = OLD.env_key AND p.registrant = OLD.registrant);
    UPDATE publisher_registrants SET first_id = (SELECT min(p.id) FROM publishers p WHERE p.issuer = OLD.issuer
            AND p.repo_key = OLD.repo_key AND p.workflow = OLD.workflow AND p.env_key = OLD.env_key AND p.registrant = OLD.registrant)
        WHERE issuer = OLD.issuer AND repo_key = OLD.repo_key AND workflow = OLD.workflow
            AND env_key = OLD.env_key AND registrant = OLD.registrant AND first_id = OLD.id;
END;
