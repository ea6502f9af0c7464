/*
 * db_feed: the review queue.
 *
 * WHY SO. The queue position lives in conversations.feed_at, non-NULL
 * exactly while the conversation is open, not deleted and has a pending
 * draft, and two partial indexes hold only those rows: (account_id,
 * feed_at, id) and (account_id, channel_id, feed_at, id). A page walks one
 * of them from the cursor position for limit + 1 rows, returning each
 * position with its item's version. No query per item, no sort of the
 * pending set: the cost of a page does not grow with the size of the queue.
 *
 * Rendering an item costs the database far more than finding its
 * position, so items are kept rendered in the feed cache (feed_cache.c)
 * under their version, and only the missing ones are rendered, by a second
 * statement on the same connection. A warm page is one round trip.
 *
 * The page's queries live in inboxd_feed_page() (migrations 0006, 0007):
 * one per order and channel filter, each with its own index and direction,
 * the cursor bound always present (sentinels on the first page) so their
 * generic plans keep it as an index condition. Both statements answer in
 * binary: printing 51 rows of timestamps and ids as text cost the database
 * more than finding them.
 *
 * A page once answered is kept whole, with the snapshot its page statement
 * saw (feed_cache.h, "Whole pages"). The next request for the same page
 * first asks the database for its current snapshot, one trivial statement
 * that shares a round trip with concurrent reads (db_query); when it is
 * the same, nothing has committed since and the kept page is sent again.
 * Dashboards poll the first pages of the queue; between two commits they
 * all get the page without the page statement.
 *
 * The summary's counts are rows that triggers keep (feed_counts), one per
 * channel, read with each channel's first feed index entry.
 *
 * Must never: sort or count the whole queue, run a statement per item,
 * show a cached item whose version is not the one just read, or send a
 * kept page unless the database's snapshot is still the one it was read at.
 */
#include "inboxd/db/feed.h"

#include <stdlib.h>
#include <string.h>
#include <uuid/uuid.h>

#include "inboxd/lib/cursor.h"
#include "inboxd/db/db.h"
#include "inboxd/db/rows.h"
#include "inboxd/lib/feed_cache.h"
#include "inboxd/lib/sbuf.h"

/*
 * An item's version: the xmin of its conversation and channel rows and the
 * conversation's updated_at. Every write that changes what an item shows
 * rewrites one of the two rows: a message or draft updates the
 * conversation (last_message_at, feed_at, pending_draft_id), the latest
 * inbound message and the pending draft are never rewritten while they are
 * shown (retention blanking bodies touches the conversation too), and a
 * channel PATCH rewrites the channel. A row-locking SELECT changes xmax,
 * not xmin. updated_at guards against xid wraparound. Both statements
 * return the three as their first columns (VERSION), and item_key() makes
 * the cache's key of them, so the cache compares like with like.
 */
#define VERSION "c.xmin, ch.xmin, c.updated_at"
#define VERSION_COLS 3

/*
 * The page: inboxd_feed_page() (migration 0007) walks the partial feed
 * index of the order and channel filter asked for, from the cursor, for
 * limit + 1 positions, each with its item's version. It is a function so
 * that its queries alone keep generic plans (see migration 0006).
 * Columns (binary): 0-2 the version, 3 feed_at and 4 id (the cursor).
 */
#define PAGE                                                                                       \
    "SELECT conversation_xmin, channel_xmin, item_updated_at, item_feed_at, item_id, "             \
    "       (SELECT pg_current_snapshot()::text) "                                                 \
    "FROM inboxd_feed_page($1, $2, $3, $4, $5, $6)"
#define PAGE_FEED_AT 3
#define PAGE_ID 4
#define PAGE_SNAPSHOT 5

/*
 * The snapshot a statement sees now. inboxd_feed_page() is STABLE, so its
 * queries run at the snapshot of the statement that calls it, the one the
 * page's PAGE_SNAPSHOT column shows; when this statement sees that same
 * snapshot, nothing has committed since and the kept page is the answer
 * (feed_cache.h, "Whole pages").
 */
#define SNAPSHOT "SELECT pg_current_snapshot()::text"

/*
 * The items of the page that are not in the feed cache, by conversation id
 * ($2, a uuid[]): per id one LATERAL subquery that renders the item from
 * primary-key lookups and a backward scan of the messages index for the
 * latest inbound message. Keeping the rendering per id is deliberate:
 * joined over the whole id list, the planner may hash-join drafts; here it
 * can only run once per id. A conversation that left the feed since the
 * page was read gives no row (the page skips it).
 * Columns (binary): 0-2 the version, 3 id, 4 the item JSON.
 */
#define ITEMS                                                                                      \
    "SELECT x.* FROM unnest($2::uuid[]) AS u(id) "                                                 \
    "CROSS JOIN LATERAL ("                                                                         \
    "    SELECT " VERSION ", c.id, "                                                               \
    "           json_build_object("                                                                \
    "               'conversation', inboxd_json_conversation(c), "                                 \
    "               'channel', inboxd_json_channel(ch), "                                          \
    "               'latestInbound', li.item, "                                                    \
    "               'draft', inboxd_json_draft_v2(d)) AS item "                                    \
    "    FROM conversations c "                                                                    \
    "    JOIN channels ch ON ch.account_id = c.account_id AND ch.id = c.channel_id "               \
    "    JOIN drafts d ON d.account_id = c.account_id AND d.id = c.pending_draft_id "              \
    "    LEFT JOIN LATERAL ("                                                                      \
    "        SELECT inboxd_json_message(m, inboxd_message_attachments(m.account_id, m.id)) "       \
    "               AS item "                                                                      \
    "        FROM messages m "                                                                     \
    "        WHERE m.account_id = c.account_id AND m.conversation_id = c.id "                      \
    "          AND m.direction = 'inbound' "                                                       \
    "        ORDER BY m.created_at DESC, m.id DESC LIMIT 1) li ON true "                           \
    "    WHERE c.account_id = $1 AND c.id = u.id AND c.feed_at IS NOT NULL) x"

/*
 * The summary (GET /v1/feed/summary), as one JSON object: the counts are
 * the rows of feed_counts (kept by triggers on conversations in the
 * writing transaction, migration 0012), one per channel, never a count of
 * the queue; each channel's oldest waiting time is the first entry of its
 * partial feed index (one index probe per channel). One statement, so the
 * counts and the times come from one snapshot and always agree. $2: one
 * channel, or NULL for all. Channels with nothing waiting are left out.
 * MATERIALIZED: each channel's probe runs once, not once per use.
 */
#define SUMMARY                                                                                    \
    "WITH ch AS MATERIALIZED ("                                                                    \
    "  SELECT f.channel_id, f.n, "                                                                 \
    "         (SELECT c.feed_at FROM conversations c "                                             \
    "          WHERE c.account_id = f.account_id AND c.channel_id = f.channel_id "                 \
    "            AND c.feed_at IS NOT NULL "                                                       \
    "          ORDER BY c.feed_at LIMIT 1) AS oldest "                                             \
    "  FROM feed_counts f "                                                                        \
    "  WHERE f.account_id = $1 AND f.n > 0 "                                                       \
    "    AND ($2::uuid IS NULL OR f.channel_id = $2::uuid)"                                        \
    ") "                                                                                           \
    "SELECT json_build_object("                                                                    \
    "  'total', coalesce(sum(ch.n), 0), "                                                          \
    "  'oldestWaitingSince', inboxd_ts(min(ch.oldest)), "                                          \
    "  'byChannel', coalesce(json_agg(json_build_object("                                          \
    "      'channelId', ch.channel_id, "                                                           \
    "      'count', ch.n, "                                                                        \
    "      'oldestWaitingSince', inboxd_ts(ch.oldest)) ORDER BY ch.channel_id), '[]'::json)) "     \
    "FROM ch"

enum {
    S_PAGE,
    S_ITEMS,
    S_SNAPSHOT,
    S_SUMMARY,
};

static const struct db_stmt stmts[] = {
    [S_PAGE] = {"feed_page", PAGE, 6},
    [S_ITEMS] = {"feed_items", ITEMS, 2},
    [S_SNAPSHOT] = {"feed_snapshot", SNAPSHOT, 0},
    [S_SUMMARY] = {"feed_summary", SUMMARY, 2},
};

/* An item's key in the feed cache: its id as text and its version (the
 * VERSION columns as they came, in hex). */
struct item_key {
    char id[37];
    char ver[2 * 16 + 1];
};

/* Reads the key of row `row` (the id in column id_col). -1 when a column is
 * not what the statement promises. */
static int
item_key(const PGresult *res, int row, int id_col, struct item_key *k)
{
    static const int width[VERSION_COLS] = {4, 4, 8}; /* xid, xid, timestamptz */
    static const char hex[] = "0123456789abcdef";
    const unsigned char *id = db_bin(res, row, id_col, 16);
    char *v = k->ver;

    if (id == NULL)
        return -1;
    uuid_unparse_lower(id, k->id);
    for (int col = 0; col < VERSION_COLS; col++) {
        const unsigned char *p = db_bin(res, row, col, width[col]);

        if (p == NULL)
            return -1;
        for (int i = 0; i < width[col]; i++) {
            *v++ = hex[p[i] >> 4];
            *v++ = hex[p[i] & 15];
        }
    }
    *v = '\0';
    return 0;
}

/* Renders the items the cache lacks (out[i] NULL for i < n) with one
 * statement, keeps them and fills them in. An item that left the feed
 * stays NULL. */
static int
render_missing(struct dbconn *c, const char *account, size_t n, const struct item_key *keys,
               struct feed_item **out, struct problem *pb)
{
    struct sbuf arr;
    char *list;
    const char *p[2] = {account, NULL};
    PGresult *res;
    int rc = 0;

    sbuf_init(&arr);
    sbuf_add(&arr, "{", 1);
    for (size_t i = 0, k = 0; i < n; i++) {
        if (out[i] != NULL)
            continue;
        if (k++ > 0)
            sbuf_add(&arr, ",", 1);
        sbuf_adds(&arr, keys[i].id);
    }
    sbuf_add(&arr, "}", 1);
    list = sbuf_steal(&arr, NULL);
    if (list == NULL)
        return problem_internal(pb, "feed: out of memory");
    p[1] = list;
    res = db_exec_binary(c, &stmts[S_ITEMS], p, pb);
    free(list);
    if (res == NULL)
        return -1;
    for (int r = 0; r < PQntuples(res) && rc == 0; r++) {
        struct item_key k;
        struct feed_item *it;
        struct sbuf item;

        if (item_key(res, r, 3, &k) != 0 || PQgetisnull(res, r, 4)) {
            rc = problem_internal(pb, "feed: unexpected item row");
            break;
        }
        /* Kept without json_build_object's spaces, which would be sent
         * again with every page that shows the item. */
        sbuf_init(&item);
        sbuf_add_json_compact(&item, PQgetvalue(res, r, 4), (size_t)PQgetlength(res, r, 4));
        it = item.oom ? NULL : feed_cache_put(account, k.id, k.ver, item.data, item.len);
        sbuf_cleanup(&item);
        if (it == NULL) {
            rc = problem_internal(pb, "feed: out of memory");
            break;
        }
        for (size_t i = 0; i < n && it != NULL; i++)
            if (out[i] == NULL && strcmp(keys[i].id, k.id) == 0) {
                out[i] = it;
                it = NULL;
            }
        feed_item_release(it);
    }
    PQclear(res);
    return rc;
}

/* Ends the page: the cursor of the last item shown when there are more. */
static int
page_end(const PGresult *res, size_t shown, const struct item_key *keys, struct sbuf *b,
         struct problem *pb)
{
    struct cursor cur = {.has_ts = true};
    const unsigned char *ts;

    if ((size_t)PQntuples(res) <= shown || shown == 0) {
        db_page_next(b, NULL);
        return 0;
    }
    ts = db_bin(res, (int)shown - 1, PAGE_FEED_AT, 8);
    if (ts == NULL)
        return problem_internal(pb, "feed: unexpected page row");
    cur.ts_usec = db_bin_ts(ts);
    memcpy(cur.id, keys[shown - 1].id, sizeof(cur.id));
    db_page_next(b, &cur);
    return 0;
}

struct feed {
    const struct db_stmt *st;
    const char *const *params;
    const struct page *pg;
    const char *account;
    const char *key;         /* the page's key in the page table */
    struct feed_page *page;
};

static int
feed_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct feed *f = arg;
    PGresult *res = db_exec_binary(c, f->st, f->params, pb);
    size_t n, found;
    struct item_key *keys = NULL;
    const char **ids = NULL, **vers = NULL;
    struct feed_item **items = NULL;
    struct sbuf tail;
    char *text;
    size_t len;
    int rc = -1;

    if (res == NULL)
        return -1;
    n = (size_t)PQntuples(res);
    if (n > (size_t)f->pg->limit)
        n = (size_t)f->pg->limit;
    keys = malloc((n + 1) * sizeof(*keys));
    ids = calloc(n + 1, sizeof(*ids));
    vers = calloc(n + 1, sizeof(*vers));
    items = calloc(n + 1, sizeof(*items));
    if (keys == NULL || ids == NULL || vers == NULL || items == NULL) {
        problem_internal(pb, "feed: out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (item_key(res, (int)i, PAGE_ID, &keys[i]) != 0) {
            problem_internal(pb, "feed: unexpected page row");
            goto out;
        }
        ids[i] = keys[i].id;
        vers[i] = keys[i].ver;
    }
    found = feed_cache_get(f->account, n, ids, vers, items);
    if (found < n && render_missing(c, f->account, n, keys, items, pb) != 0)
        goto out;
    if (PQntuples(res) > 0 && PQgetisnull(res, 0, PAGE_SNAPSHOT)) {
        problem_internal(pb, "feed: unexpected page row");
        goto out;
    }

    sbuf_init(&tail);
    if (page_end(res, n, keys, &tail, pb) != 0) {
        sbuf_cleanup(&tail);
        goto out;
    }
    if ((text = sbuf_steal(&tail, &len)) == NULL) {
        problem_internal(pb, "feed: out of memory");
        goto out;
    }
    feed_page_release(f->page); /* an earlier attempt's */
    f->page = feed_page_new(items, n, text, len,
                            PQntuples(res) > 0 ? PQgetvalue(res, 0, PAGE_SNAPSHOT) : "");
    items = NULL; /* feed_page_new took them */
    if (f->page == NULL) {
        problem_internal(pb, "feed: out of memory");
        goto out;
    }
    /* An empty page has no snapshot to be checked against: not kept. */
    if (PQntuples(res) > 0)
        feed_pages_put(f->key, f->page);
    rc = 0;
out:
    for (size_t i = 0; items && i < n; i++)
        feed_item_release(items[i]);
    free(items);
    free(vers);
    free(ids);
    free(keys);
    PQclear(res);
    return rc;
}

/* True when the database's snapshot is still the one pg was read at. */
static int
page_current(const struct feed_page *pg, bool *current, struct problem *pb)
{
    PGresult *res = db_query(&stmts[S_SNAPSHOT], NULL, true, pb);

    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        PQclear(res);
        return problem_internal(pb, "feed: unexpected snapshot row");
    }
    *current = strcmp(PQgetvalue(res, 0, 0), feed_page_snapshot(pg)) == 0;
    PQclear(res);
    feed_pages_checked(*current);
    return 0;
}

/* The page table's key of a request. */
static void
page_key(char *key, size_t len, const struct who *w, const char *channel_id, bool newest,
         const struct page *pg)
{
    snprintf(key, len, "%s %s %c %s %s %s", w->account_id, channel_id ? channel_id : "-",
             newest ? 'n' : 'o', pg->after_ts ? pg->after_ts : "-",
             pg->after_id ? pg->after_id : "-", pg->fetch);
}

int
db_feed_list(const struct who *w, const char *channel_id, bool newest, const struct page *pg,
             bool gzip, bool look_for_kept, struct parts **body, struct problem *pb)
{
    const char *p[] = {w->account_id, pg->after_ts,  pg->after_id,
                       pg->fetch,     channel_id,    newest ? "true" : "false"};
    char key[256];
    struct feed f = {&stmts[S_PAGE], p, pg, w->account_id, key, NULL};
    bool current = false;

    page_key(key, sizeof(key), w, channel_id, newest, pg);
    if (look_for_kept && (f.page = feed_pages_get(key)) != NULL &&
        page_current(f.page, &current, pb) != 0) {
        feed_page_release(f.page);
        return -1;
    }
    if (!current) {
        feed_page_release(f.page);
        f.page = NULL;
        if (db_read(feed_fn, &f, true, pb) != 0) {
            feed_page_release(f.page);
            return -1;
        }
    }
    /* Compressing is worth it for a page sent again, not for one read
     * once (feed_cache.c). */
    *body = feed_page_body(f.page, gzip && current);
    feed_page_release(f.page);
    return *body ? 0 : problem_internal(pb, "feed: out of memory");
}

struct kept_call {
    struct feed_page *page;
    bool gzip;
    struct parts **body;
    db_feed_done_fn done;
    void *arg;
};

static void
kept_checked(void *arg, PGresult *res, const struct problem *dbpb)
{
    struct kept_call *k = arg;
    struct problem pb;
    int rc = -1;

    problem_init(&pb);
    if (res == NULL) {
        pb = *dbpb;
    } else if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
        problem_internal(&pb, "feed: unexpected snapshot row");
    } else {
        bool current = strcmp(PQgetvalue(res, 0, 0), feed_page_snapshot(k->page)) == 0;

        feed_pages_checked(current);
        rc = 1;
        if (current) {
            *k->body = feed_page_body(k->page, k->gzip);
            rc = *k->body ? 0 : problem_internal(&pb, "feed: out of memory");
        }
    }
    PQclear(res);
    feed_page_release(k->page);
    k->done(k->arg, rc, &pb);
    free(k);
}

void
db_feed_list_start(const struct who *w, const char *channel_id, bool newest,
                   const struct page *pg, bool gzip, struct parts **body, db_feed_done_fn done,
                   void *arg)
{
    char key[256];
    struct kept_call *k;
    struct feed_page *page;

    *body = NULL;
    page_key(key, sizeof(key), w, channel_id, newest, pg);
    /* A replica's kept page is checked against the replica, by
     * db_feed_list on a thread that may wait. */
    if (db_replica_on() || (page = feed_pages_get(key)) == NULL) {
        done(arg, 2, NULL);
        return;
    }
    if ((k = malloc(sizeof(*k))) == NULL) {
        feed_page_release(page);
        done(arg, 2, NULL);
        return;
    }
    *k = (struct kept_call){page, gzip, body, done, arg};
    db_query_start(&stmts[S_SNAPSHOT], NULL, kept_checked, k);
}

int
db_feed_summary(const struct who *w, const char *channel_id, char **json, size_t *len,
                struct problem *pb)
{
    const char *p[] = {w->account_id, channel_id};

    return db_one(&stmts[S_SUMMARY], p, "summary", json, len, pb);
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
