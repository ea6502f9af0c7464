-- roles: the three database roles of inboxd and what each may do.
--
-- `inboxd roles` runs this file as a superuser, in the database inboxd
-- uses, in one transaction (no BEGIN/COMMIT here), after it made sure
-- schema_migrations exists. Running it again changes nothing; it is also
-- how a database migrated before the roles existed gets them.
--
--   inboxd_owner     owns the schema public and everything in it; `inboxd
--                    migrate` connects as it (database_owner_url).
--   inboxd_runtime   `inboxd serve` (database_url): reads and writes rows,
--                    uses sequences, calls functions; creates, alters,
--                    drops and truncates nothing, and may only read
--                    schema_migrations.
--   inboxd_readonly  analytics: SELECT, in read-only transactions.
--
-- The roles can log in but have no password: set one (\password in psql)
-- or let pg_hba.conf decide (README, "Creating the roles"). Default
-- privileges give what the owner creates later (the next migrations) the
-- same grants, so nothing needs running again after `inboxd migrate`.

-- Roles are global to the cluster: two databases set up at once may race
-- to create one, and the loser finds it made. Only the creator alters a
-- role (two ALTER ROLE at once fail), so an existing role keeps what an
-- administrator gave it.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['inboxd_owner', 'inboxd_runtime', 'inboxd_readonly'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I LOGIN', r);
                IF r = 'inboxd_readonly' THEN
                    ALTER ROLE inboxd_readonly SET default_transaction_read_only = on;
                END IF;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$$;

-- The owner owns the schema and every object in it, also those migrated
-- earlier by another role (indexes and a table's row type follow their
-- table; an extension's objects stay the extension's).
ALTER SCHEMA public OWNER TO inboxd_owner;
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT format('ALTER %s %s OWNER TO inboxd_owner',
                      CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                                     WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END,
                      c.oid::regclass) AS stmt
        FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND c.relowner <> 'inboxd_owner'::regrole
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                          AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
        UNION ALL
        SELECT format('ALTER ROUTINE %s OWNER TO inboxd_owner', p.oid::regprocedure)
        FROM pg_proc p
        WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> 'inboxd_owner'::regrole
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                          AND d.objid = p.oid AND d.deptype = 'e')
        UNION ALL
        SELECT format('ALTER TYPE %s OWNER TO inboxd_owner', t.oid::regtype)
        FROM pg_type t
        WHERE t.typnamespace = 'public'::regnamespace AND t.typowner <> 'inboxd_owner'::regrole
          AND (t.typtype IN ('e', 'd', 'r')
               OR (t.typtype = 'c' AND (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c'))
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                          AND d.objid = t.oid AND d.deptype = 'e')
    LOOP
        EXECUTE r.stmt;
    END LOOP;
END
$$;

-- Nobody else creates anything: not in the schema, not in the database,
-- not even temporary tables.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
DO $$
BEGIN
    EXECUTE format('REVOKE CREATE, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO inboxd_owner, inboxd_runtime, inboxd_readonly',
                   current_database());
END
$$;

-- What exists now.
GRANT USAGE ON SCHEMA public TO inboxd_runtime, inboxd_readonly;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO inboxd_runtime;
REVOKE INSERT, UPDATE, DELETE ON schema_migrations FROM inboxd_runtime;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO inboxd_runtime;
GRANT EXECUTE ON ALL ROUTINES IN SCHEMA public TO inboxd_runtime, inboxd_readonly;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO inboxd_readonly;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO inboxd_readonly;

-- What the owner creates from now on.
ALTER DEFAULT PRIVILEGES FOR ROLE inboxd_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO inboxd_runtime;
ALTER DEFAULT PRIVILEGES FOR ROLE inboxd_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO inboxd_runtime;
ALTER DEFAULT PRIVILEGES FOR ROLE inboxd_owner IN SCHEMA public
    GRANT EXECUTE ON ROUTINES TO inboxd_runtime, inboxd_readonly;
ALTER DEFAULT PRIVILEGES FOR ROLE inboxd_owner IN SCHEMA public
    GRANT SELECT ON TABLES TO inboxd_readonly;
ALTER DEFAULT PRIVILEGES FOR ROLE inboxd_owner IN SCHEMA public
    GRANT SELECT ON SEQUENCES TO inboxd_readonly;
