-- 0006_feed_page: the review feed's page of positions, as one function.
--
-- Runs inside the one transaction the migrator opens: no BEGIN/COMMIT here.
--
-- A feed page (src/db_feed.c) first reads limit + 1 positions from a
-- partial feed index, each with its item's version (the xmin of the
-- conversation and channel rows and the conversation's updated_at; the feed
-- cache serves items by it). As a prepared statement with LIMIT $n,
-- PostgreSQL re-planned that on every call: the generic plan's estimate
-- assumes the limit takes 10 % of the rows, so a custom plan always looked
-- cheaper, and planning cost more than running (pgbench: 7,100 pages/s
-- re-planned, 15,400 with the generic plan). A plan_cache_mode set for the
-- session would reach every other statement too (the webhook path ran 20 %
-- slower with it), so the page queries live here, where SET applies to
-- them alone and PL/pgSQL keeps their generic plans for the session.
--
-- Each branch walks its own index in its own direction; the cursor bound is
-- always present (sentinels when there is none) so it stays an index
-- condition. The channel row is joined only for its xmin.
-- A feed item's version, from the xmin of its conversation and channel rows
-- and the conversation's updated_at (src/db_feed.c says why these): the
-- page below and the feed_items statement both call this, so the cache
-- compares like with like. Inlined by the planner.
CREATE FUNCTION inboxd_feed_version(conversation_xmin xid, channel_xmin xid, updated_at timestamptz)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT concat_ws('/', conversation_xmin, channel_xmin, updated_at)
$$;

CREATE FUNCTION inboxd_feed_page(p_account uuid, p_after_ts timestamptz, p_after_id uuid,
                                 p_fetch int, p_channel uuid, p_newest boolean)
RETURNS TABLE (item_version text, item_feed_at timestamptz, item_id uuid)
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
    IF NOT p_newest AND p_channel IS NULL THEN
        RETURN QUERY
        SELECT inboxd_feed_version(c.xmin, ch.xmin, c.updated_at), c.feed_at, c.id
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
        SELECT inboxd_feed_version(c.xmin, ch.xmin, c.updated_at), c.feed_at, c.id
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
        SELECT inboxd_feed_version(c.xmin, ch.xmin, c.updated_at), c.feed_at, c.id
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
        SELECT inboxd_feed_version(c.xmin, ch.xmin, c.updated_at), c.feed_at, c.id
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
