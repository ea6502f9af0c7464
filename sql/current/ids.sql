-- ids: functions that make ids, as they are now.
--
-- Current SQL (README, "Schema"): `inboxd migrate` applies this file after
-- the numbered migrations, every time, in one transaction under the
-- migrate lock (no BEGIN/COMMIT here). It holds only CREATE OR REPLACE
-- FUNCTION and VIEW, so applying it again changes nothing, and what is
-- written here is what the database runs, on a fresh database and on an
-- old one alike.
--
-- The rule: a change that a binary one release older would notice (other
-- columns, keys, rows, order, arguments or errors) is a NEW function under
-- a new name (inboxd_feed_page_v2), added here beside the old one, which
-- the older binary keeps calling during a rolling upgrade; the old one goes
-- (a migration drops it and this file stops defining it) once no deployed
-- binary calls it. Only a change that keeps the behaviour edits a
-- definition here in place. sql/migrations/ is never edited.

-- A UUIDv7 (48-bit Unix ms timestamp, version 7, variant 10, random rest) for
-- the seed and ad-hoc use, inboxd makes its own ids.
CREATE OR REPLACE FUNCTION inboxd_uuid7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE
AS $$
    SELECT encode(
        set_bit(set_bit(
            overlay(uuid_send(gen_random_uuid())
                    PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                    FROM 1 FOR 6),
            52, 1), 53, 1),
        'hex')::uuid
$$;
