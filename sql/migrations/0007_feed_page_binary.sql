-- 0007_feed_page_binary: the feed page's item version as its parts.
--
-- Runs inside the one transaction the migrator opens: no BEGIN/COMMIT here.
--
-- 0006 returned each position's version as text (concat_ws of two xids and
-- a timestamptz), and its timestamps and ids as text. Formatting that for
-- 51 rows cost more than finding them: one connection, first page, 10,000
-- calls, 116 us a call as text against 87 us with the parts in binary
-- (src/db_feed.c asks for binary results and builds the version itself, for
-- the page and for the items alike). Same branches and plans as 0006.
DROP FUNCTION inboxd_feed_page(uuid, timestamptz, uuid, int, uuid, boolean);
DROP FUNCTION inboxd_feed_version(xid, xid, timestamptz);

CREATE FUNCTION inboxd_feed_page(p_account uuid, p_after_ts timestamptz, p_after_id uuid,
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
