-- feed: the review feed's page of positions, as it is now.
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
--
-- A feed page (src/db/feed.c) first reads limit + 1 positions from a
-- partial feed index, each with its item's version, in its parts: the xmin
-- of the conversation and channel rows and the conversation's updated_at
-- (the feed cache serves items by it; src/db/feed.c asks for binary results
-- and builds the version itself). As a prepared statement with LIMIT $n,
-- PostgreSQL re-planned that on every call, and planning cost more than
-- running; a plan_cache_mode set for the session would reach every other
-- statement too, so the page queries live here, where SET applies to them
-- alone and PL/pgSQL keeps their generic plans for the session (migrations
-- 0006 and 0007 have the numbers).
--
-- Each branch walks its own index in its own direction; the cursor bound is
-- always present (sentinels when there is none) so it stays an index
-- condition. The channel row is joined only for its xmin.
CREATE OR REPLACE FUNCTION inboxd_feed_page(p_account uuid, p_after_ts timestamptz, p_after_id uuid,
                                            p_fetch int, p_channel uuid, p_newest boolean)
RETURNS TABLE (conversation_xmin xid, channel_xmin xid, item_updated_at timestamptz,
              item_feed_at timestamptz, item_id uuid)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF NOT p_newest AND p_channel IS NULL THEN
        RETURN QUERY
        SELECT c.xmin, ch.xmin, c.updated_at, c.feed_at, c.id
        FROM channels ch
        JOIN (SELECT c.account_id, c.channel_id, c.feed_at, c.id, c.xmin, c.updated_at
              FROM conversations c
              WHERE c.account_id = p_account AND c.feed_at IS NOT NULL
                AND (c.feed_at, c.id) > (coalesce(p_after_ts, '-infinity'),
                                         coalesce(p_after_id, '00000000-0000-0000-0000-000000000000'))
              ORDER BY c.feed_at, c.id LIMIT p_fetch) c
          ON ch.account_id = c.account_id AND ch.id = c.channel_id
        ORDER BY c.feed_at, c.id;
    ELSIF NOT p_newest THEN
        RETURN QUERY
        SELECT c.xmin, ch.xmin, c.updated_at, c.feed_at, c.id
        FROM channels ch
        JOIN (SELECT c.account_id, c.channel_id, c.feed_at, c.id, c.xmin, c.updated_at
              FROM conversations c
              WHERE c.account_id = p_account AND c.feed_at IS NOT NULL
                AND c.channel_id = p_channel
                AND (c.feed_at, c.id) > (coalesce(p_after_ts, '-infinity'),
                                         coalesce(p_after_id, '00000000-0000-0000-0000-000000000000'))
              ORDER BY c.feed_at, c.id LIMIT p_fetch) c
          ON ch.account_id = c.account_id AND ch.id = c.channel_id
        ORDER BY c.feed_at, c.id;
    ELSIF p_channel IS NULL THEN
        RETURN QUERY
        SELECT c.xmin, ch.xmin, c.updated_at, c.feed_at, c.id
        FROM channels ch
        JOIN (SELECT c.account_id, c.channel_id, c.feed_at, c.id, c.xmin, c.updated_at
              FROM conversations c
              WHERE c.account_id = p_account AND c.feed_at IS NOT NULL
                AND (c.feed_at, c.id) < (coalesce(p_after_ts, 'infinity'),
                                         coalesce(p_after_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
              ORDER BY c.feed_at DESC, c.id DESC LIMIT p_fetch) c
          ON ch.account_id = c.account_id AND ch.id = c.channel_id
        ORDER BY c.feed_at DESC, c.id DESC;
    ELSE
        RETURN QUERY
        SELECT c.xmin, ch.xmin, c.updated_at, c.feed_at, c.id
        FROM channels ch
        JOIN (SELECT c.account_id, c.channel_id, c.feed_at, c.id, c.xmin, c.updated_at
              FROM conversations c
              WHERE c.account_id = p_account AND c.feed_at IS NOT NULL
                AND c.channel_id = p_channel
                AND (c.feed_at, c.id) < (coalesce(p_after_ts, 'infinity'),
                                         coalesce(p_after_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
              ORDER BY c.feed_at DESC, c.id DESC LIMIT p_fetch) c
          ON ch.account_id = c.account_id AND ch.id = c.channel_id
        ORDER BY c.feed_at DESC, c.id DESC;
    END IF;
END
$$;

-- The review queue's counts (feed_counts, migration 0012): the triggers
-- on conversations run this when a row enters the queue (feed_at set),
-- leaves it (feed_at cleared, the row deleted) or moves to another
-- channel while in it, in the transaction that does so. GET
-- /v1/feed/summary reads the counts instead of counting the queue.
CREATE OR REPLACE FUNCTION inboxd_feed_count() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.feed_at IS NOT NULL THEN
        UPDATE feed_counts SET n = n - 1
        WHERE account_id = OLD.account_id AND channel_id = OLD.channel_id;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.feed_at IS NOT NULL THEN
        INSERT INTO feed_counts AS f (account_id, channel_id, n)
        VALUES (NEW.account_id, NEW.channel_id, 1)
        ON CONFLICT (account_id, channel_id) DO UPDATE SET n = f.n + 1;
    END IF;
    RETURN NULL;
END
$$;
