-- The registrants of each range of publishers_turns, with the id of each one's oldest
-- publisher there: the candidate read takes the first 101 registrants of a range in one
-- scan of this table's key, and, when each takes one place, their publishers by first_id,
-- rather than walking publishers_turns one probe per registrant. Triggers keep it, so that
-- every way a publisher comes or goes (a registration, a pending publisher's conversion, a
-- removal, a project's deletion) keeps it true.
CREATE TABLE publisher_registrants (
    issuer     text NOT NULL,
    repo_key   text NOT NULL,
    workflow   text NOT NULL,
    env_key    text NOT NULL,
    registrant bigint NOT NULL,
    first_id   bigint NOT NULL,
    PRIMARY KEY (issuer, repo_key, workflow, env_key, registrant)
);
INSERT INTO publisher_registrants (issuer, repo_key, workflow, env_key, registrant, first_id)
    SELECT issuer, repo_key, workflow, env_key, registrant, min(id) FROM publishers
    GROUP BY issuer, repo_key, workflow, env_key, registrant;

CREATE FUNCTION publisher_registrants_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO publisher_registrants (issuer, repo_key, workflow, env_key, registrant, first_id)
        VALUES (NEW.issuer, NEW.repo_key, NEW.workflow, NEW.env_key, NEW.registrant, NEW.id)
        ON CONFLICT (issuer, repo_key, workflow, env_key, registrant)
        DO UPDATE SET first_id = least(publisher_registrants.first_id, EXCLUDED.first_id);
    RETURN NULL;
END $$;
CREATE TRIGGER publishers_registrant_add AFTER INSERT ON publishers
    FOR EACH ROW EXECUTE FUNCTION publisher_registrants_add();

CREATE FUNCTION publisher_registrants_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM publisher_registrants r WHERE r.issuer = OLD.issuer AND r.repo_key = OLD.repo_key
        AND r.workflow = OLD.workflow AND r.env_key = OLD.env_key AND r.registrant = OLD.registrant
        AND NOT EXISTS (SELECT 1 FROM publishers p WHERE p.issuer = OLD.issuer AND p.repo_key = OLD.repo_key
            AND p.workflow = OLD.workflow AND p.env_key = OLD.env_key AND p.registrant = OLD.registrant);
    UPDATE publisher_registrants r SET first_id = (SELECT min(p.id) FROM publishers p WHERE p.issuer = OLD.issuer
            AND p.repo_key = OLD.repo_key AND p.workflow = OLD.workflow AND p.env_key = OLD.env_key AND p.registrant = OLD.registrant)
        WHERE r.issuer = OLD.issuer AND r.repo_key = OLD.repo_key AND r.workflow = OLD.workflow
            AND r.env_key = OLD.env_key AND r.registrant = OLD.registrant AND r.first_id = OLD.id;
    RETURN NULL;
END $$;
CREATE TRIGGER publishers_registrant_remove AFTER DELETE ON publishers
    FOR EACH ROW EXECUTE FUNCTION publisher_registrants_remove();
