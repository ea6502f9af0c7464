/*
 * db_feed: the review queue.
 *
 * WHY SO. The queue position lives in conversations.feed_at, non-NULL
 * exactly while the conversation is open, not deleted and has a pending
 * draft, and two partial indexes hold only those rows: (account_id,
 * feed_at, id) and (account_id, channel_id, feed_at, id). A page is then
 * one statement that walks one of them from the cursor position for
 * limit + 1 rows (an index-only range scan) and, per row, fetches the
 * conversation, its channel and its draft by primary key and the latest
 * inbound message by a backward scan of the messages index (LATERAL ...
 * LIMIT 1). No query per item, no sort of the pending set: the cost of a
 * page does not grow with the size of the queue.
 *
 * The cursor bound is always present (a sentinel of -infinity / the nil
 * UUID, or +infinity / the max UUID, on the first page), so a generic plan
 * of the prepared statement keeps it as an index condition. One statement
 * per order and per channel filter, since each needs its own index and
 * direction.
 *
 * Must never: sort or count the whole queue, or run a statement per item.
 */
#include "inboxd/db_feed.h"

#include "inboxd/db.h"
#include "inboxd/db_page.h"

/*
 * The page: an index-only range scan of a partial feed index (the inner
 * SELECT, which needs no heap column: feed_at non-NULL already implies open,
 * not deleted and a pending draft, by conversations_feed_at_check) for
 * limit + 1 (feed_at, id) positions. Then, per position, one scalar subquery
 * renders the item from primary-key lookups and the latest inbound message.
 * Keeping the item out of the FROM list is deliberate: joined there, the
 * planner may hash-join drafts or sort the whole queue when the limit is a
 * large share of it; as a subplan it can only run once per row of the page.
 * Columns: 0 the item JSON, 1 feed_at, 2 id (the cursor).
 */
#define FEED_ITEM                                                                                  \
    "SELECT (SELECT json_build_object("                                                            \
    "                 'conversation', inboxd_json_conversation(c), "                               \
    "                 'channel', inboxd_json_channel(ch), "                                        \
    "                 'latestInbound', li.item, "                                                  \
    "                 'draft', inboxd_json_draft(d)) "                                             \
    "        FROM conversations c "                                                                \
    "        JOIN channels ch ON ch.account_id = c.account_id AND ch.id = c.channel_id "           \
    "        JOIN drafts d ON d.account_id = c.account_id AND d.id = c.pending_draft_id "          \
    "        LEFT JOIN LATERAL ("                                                                  \
    "            SELECT inboxd_json_message(m, inboxd_message_attachments(m.account_id, m.id)) "   \
    "                   AS item "                                                                  \
    "            FROM messages m "                                                                 \
    "            WHERE m.account_id = c.account_id AND m.conversation_id = c.id "                  \
    "              AND m.direction = 'inbound' "                                                   \
    "            ORDER BY m.created_at DESC, m.id DESC LIMIT 1) li ON true "                       \
    "        WHERE c.account_id = $1 AND c.id = p.id), "                                           \
    "       p.feed_at, p.id "                                                                      \
    "FROM (SELECT c.feed_at, c.id FROM conversations c "                                           \
    "      WHERE c.account_id = $1 AND c.feed_at IS NOT NULL "

/* The cursor bound, always present: the sentinels stand for "no cursor". */
#define AFTER                                                                                      \
    "        AND (c.feed_at, c.id) > (coalesce($2::timestamptz, '-infinity'), "                    \
    "                                 coalesce($3::uuid, "                                         \
    "'00000000-0000-0000-0000-000000000000')) "
#define BEFORE                                                                                     \
    "        AND (c.feed_at, c.id) < (coalesce($2::timestamptz, 'infinity'), "                     \
    "                                 coalesce($3::uuid, "                                         \
    "'ffffffff-ffff-ffff-ffff-ffffffffffff')) "
#define CHANNEL "        AND c.channel_id = $5 "
#define OLDEST                                                                                     \
    "      ORDER BY c.feed_at, c.id LIMIT $4) p "                                                  \
    "ORDER BY p.feed_at, p.id"
#define NEWEST                                                                                     \
    "      ORDER BY c.feed_at DESC, c.id DESC LIMIT $4) p "                                        \
    "ORDER BY p.feed_at DESC, p.id DESC"

enum {
    S_OLDEST,
    S_NEWEST,
    S_CHANNEL_OLDEST,
    S_CHANNEL_NEWEST,
};

static const struct db_stmt stmts[] = {
    [S_OLDEST] = {"feed_oldest", FEED_ITEM AFTER OLDEST, 4},
    [S_NEWEST] = {"feed_newest", FEED_ITEM BEFORE NEWEST, 4},
    [S_CHANNEL_OLDEST] = {"feed_channel_oldest", FEED_ITEM AFTER CHANNEL OLDEST, 5},
    [S_CHANNEL_NEWEST] = {"feed_channel_newest", FEED_ITEM BEFORE CHANNEL NEWEST, 5},
};

int
db_feed_list(const struct who *w, const char *channel_id, bool newest, const struct page *pg,
             char **json, size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, pg->after_ts, pg->after_id, pg->fetch, channel_id};
    int s = channel_id ? (newest ? S_CHANNEL_NEWEST : S_CHANNEL_OLDEST)
                       : (newest ? S_NEWEST : S_OLDEST);

    return db_list(&stmts[s], p, pg, 1, 2, json, len, pb);
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
