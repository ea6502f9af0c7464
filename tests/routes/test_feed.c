/*
 * routes/feed.c: the review feed (API.md "Review"): its items, its orders,
 * filters and pages, the caches behind it and gzip, over real HTTP.
 *
 * Conversations, messages and drafts are set up with direct SQL, so this
 * suite depends only on the routes it tests.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "inboxd/lib/feed_cache.h"

static char user[37], channel[37];

static void
setup(void)
{
    fx_setup();
    /* Kept feed pages go out compressed from the second request for gzip
     * (16 in the daemon): few enough that a test meets them between the
     * commits of other test databases. */
    feed_pages_gzip_after(2);
    mk_user(account, "agent@hotrod.example", user);
    mk_channel(account, NULL, "zoho-support", channel);
}

TestSuite(feed, .init = setup, .fini = fx_teardown, .timeout = 120);

/* --- the feed -------------------------------------------------------------- */

Test(feed, feed_items_carry_conversation_channel_latest_inbound_and_draft)
{
    char conv[37], draft[37];
    const char *p[] = {account, NULL};
    struct resp r;
    json_t *it;

    mk_pending(account, channel, "FI-1", 5, "Reply.", NULL, conv, draft);
    p[1] = conv;
    /* A newer inbound message, then an outbound one: latestInbound is the
     * newer inbound (with its attachment), never the outbound. */
    PQclear(
        sqlp_query("WITH m AS (INSERT INTO messages (account_id, id, conversation_id, direction, "
                   "                                 body_text, created_at) "
                   "  VALUES ($1, inboxd_uuid7(), $2, 'inbound', 'Any news?', "
                   "          timestamptz '2026-01-01 00:09:00+00') RETURNING id) "
                   "INSERT INTO attachments (account_id, id, message_id, file_name, file_url) "
                   "SELECT $1, inboxd_uuid7(), m.id, 'photo.jpg', 'https://files/p.jpg' FROM m",
                   2, p));
    PQclear(
        sqlp_query("INSERT INTO messages (account_id, id, conversation_id, direction, body_text, "
                   "                      delivery_status, delivered_at, created_at) "
                   "VALUES ($1, inboxd_uuid7(), $2, 'outbound', 'We are on it', 'delivered', "
                   "        now(), timestamptz '2026-01-01 00:10:00+00')",
                   2, p));

    th_get(&t, "/v1/feed", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1);
    cr_assert(json_is_null(json_object_get(r.json, "nextCursor")));
    it = json_array_get(json_object_get(r.json, "items"), 0);
    cr_assert_str_eq(jstr(it, "conversation.id"), conv);
    cr_assert_str_eq(jstr(it, "conversation.status"), "open");
    cr_assert_str_eq(jstr(it, "channel.id"), channel);
    cr_assert_str_eq(jstr(it, "channel.externalId"), "zoho-support");
    cr_assert_str_eq(jstr(it, "draft.id"), draft);
    cr_assert_str_eq(jstr(it, "draft.status"), "pending");
    cr_assert_str_eq(jstr(it, "latestInbound.bodyText"), "Any news?");
    cr_assert_str_eq(jstr(it, "latestInbound.direction"), "inbound");
    cr_assert_eq(
        json_array_size(json_object_get(json_object_get(it, "latestInbound"), "attachments")), 1);
    resp_free(&r);
}

/* The one feed item of the account, from a fresh GET (status 200 asserted). */
static json_t *
feed_item(struct resp *r)
{
    th_get(&t, "/v1/feed", key, r);
    cr_assert_eq(r->status, 200, "%s", r->body);
    cr_assert_eq(json_array_size(json_object_get(r->json, "items")), 1, "%s", r->body);
    return json_array_get(json_object_get(r->json, "items"), 0);
}

/* PATCHes {field: value} to prefix + id, then the feed item's `path` shows it. */
static void
patch_shows_in_feed(const char *prefix, const char *id, const char *field, const char *path,
                    const char *value)
{
    char url[128], body[256];
    struct resp w, r;

    snprintf(url, sizeof(url), "%s%s", prefix, id);
    snprintf(body, sizeof(body), "{\"%s\":\"%s\"}", field, value);
    th_http(&t, "PATCH", url, key, body, NULL, &w);
    cr_assert_eq(w.status, 200, "%s", w.body);
    resp_free(&w);
    cr_assert_str_eq(jstr(feed_item(&r), path), value);
    resp_free(&r);
}

#define PAGE_HITS "inboxd_feed_pages_total{result=\"hit\"}"
#define PAGE_STALE "inboxd_feed_pages_total{result=\"stale\"}"
#define ITEM_HITS "inboxd_feed_cache_lookups_total{result=\"hit\"}"

/* Feed pages and items are cached between requests; every kind of write
 * that changes an item (channel, conversation, a new inbound message, a new
 * draft) shows on the very next page. A page is sent again as it was only
 * while the database has committed nothing since; after any commit, even
 * one that changes no item, the page is read again and its unchanged items
 * come from the item cache. */
Test(feed, feed_items_follow_every_write_while_cached)
{
    char conv[37], draft[37], path[128], body[512], msg[37];
    struct resp r, w;
    json_t *it;
    long hits, page_hits, stale;
    char *first;

    mk_pending(account, channel, "FC-1", 5, "First reply.", NULL, conv, draft);
    it = feed_item(&r);
    cr_assert_str_eq(jstr(it, "draft.suggestedText"), "First reply.");
    first = strdup(r.body);
    resp_free(&r);

    /* /metrics reads no table, so nothing commits between the two pages
     * but what other test databases of this cluster do: retry until a
     * second page meets the same snapshot. */
    for (int i = 0;; i++) {
        page_hits = th_metric(&t, key, PAGE_HITS);
        it = feed_item(&r);
        cr_assert_str_eq(r.body, first, "a page sent again is the same page");
        resp_free(&r);
        if (th_metric(&t, key, PAGE_HITS) == page_hits + 1)
            break;
        cr_assert_lt(i, 50, "the page is never sent again from the page table");
    }
    free(first);

    hits = th_metric(&t, key, ITEM_HITS);
    stale = th_metric(&t, key, PAGE_STALE);
    cr_assert_gt(th_sql_long(&t, "SELECT pg_current_xact_id()::text::bigint"), 0); /* commits */
    it = feed_item(&r);
    cr_assert_str_eq(jstr(it, "conversation.id"), conv);
    resp_free(&r);
    cr_assert_eq(th_metric(&t, key, PAGE_STALE), stale + 1, "a commit makes the page stale");
    cr_assert_eq(th_metric(&t, key, ITEM_HITS), hits + 1, "an unchanged item comes from the cache");

    patch_shows_in_feed("/v1/channels/", channel, "name", "channel.name", "Renamed inbox");
    patch_shows_in_feed("/v1/conversations/", conv, "subject", "conversation.subject",
                        "Fuel pump noise");

    snprintf(path, sizeof(path), "/v1/conversations/%s/messages", conv);
    th_post(&t, path, key, "{\"direction\":\"inbound\",\"bodyText\":\"Still waiting.\"}", &w);
    cr_assert_eq(w.status, 201, "%s", w.body);
    snprintf(msg, sizeof(msg), "%s", jstr(w.json, "id"));
    resp_free(&w);
    it = feed_item(&r);
    cr_assert_str_eq(jstr(it, "latestInbound.bodyText"), "Still waiting.");
    cr_assert_str_eq(jstr(it, "draft.id"), draft, "the pending draft is still the first");
    resp_free(&r);

    snprintf(path, sizeof(path), "/v1/conversations/%s/drafts", conv);
    snprintf(body, sizeof(body),
             "{\"triggerMessageId\":\"%s\",\"modelKey\":\"gpt\",\"promptVersion\":\"v2\","
             "\"suggestedText\":\"Second reply.\"}",
             msg);
    th_post(&t, path, key, body, &w);
    cr_assert_eq(w.status, 201, "%s", w.body);
    resp_free(&w);
    it = feed_item(&r);
    cr_assert_str_eq(jstr(it, "draft.suggestedText"), "Second reply.");
    cr_assert_str_neq(jstr(it, "draft.id"), draft);
    resp_free(&r);
}

/* A client that asks for gzip gets a page sent again from the page table
 * compressed once feed_pages_gzip_after() (2 here) requests asked for it, and
 * exactly the page once inflated; before that, or when the client does not
 * ask or refuses gzip, the page is plain. Every feed answer says it varies
 * so. */
Test(feed, a_page_sent_again_goes_gzip_compressed_to_clients_that_ask)
{
    static const char *const gz[] = {"Accept-Encoding: gzip, deflate, br", NULL};
    static const char *const no_gz[] = {"Accept-Encoding: gzip;q=0, *;q=0.5", NULL};
    static char plain[1 << 16];
    char conv[37], draft[37];
    struct resp r;
    size_t plain_len;

    mk_pending(account, channel, "GZ-1", 5, "Compressible reply. Compressible reply.", NULL, conv,
               draft);
    th_get(&t, "/v1/feed", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_lt(r.len, sizeof(plain));
    memcpy(plain, r.body, r.len);
    plain_len = r.len;
    cr_assert(strcasestr(r.headers, "\nVary: Accept-Encoding\r\n") != NULL, "%s", r.headers);
    cr_assert_null(strcasestr(r.headers, "Content-Encoding"));
    resp_free(&r);

    th_http(&t, "GET", "/v1/feed", key, NULL, no_gz, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_null(strcasestr(r.headers, "Content-Encoding"), "gzip;q=0 is a refusal");
    cr_assert_eq(r.len, plain_len);
    resp_free(&r);

    /* Retried while commits elsewhere in the cluster make the page stale. */
    for (int i = 0;; i++) {
        th_http(&t, "GET", "/v1/feed", key, NULL, gz, &r);
        cr_assert_eq(r.status, 200);
        if (strcasestr(r.headers, "\nContent-Encoding: gzip\r\n") != NULL) {
            cr_assert_gt(i, 0, "the first request for gzip gets the page plain");
            break;
        }
        cr_assert_eq(r.len, plain_len, "plain when not sent again");
        resp_free(&r);
        cr_assert_lt(i, 50, "a kept page never went out compressed");
    }
    cr_assert(strcasestr(r.headers, "\nVary: Accept-Encoding\r\n") != NULL, "%s", r.headers);
    /* The harness inflated it (and checked it against openapi.json). */
    cr_assert_lt(r.wire_len, plain_len / 2, "%zu compressed bytes of %zu", r.wire_len, plain_len);
    cr_assert_eq(r.len, plain_len);
    cr_assert(memcmp(r.body, plain, plain_len) == 0, "the page, inflated");
    resp_free(&r);
}

/* Conversations at the given minutes (some tied), in two channels. */
static int
mk_feed(char convs[][37], char chan2[37])
{
    static const int minutes[] = {30, 5, 17, 5,  42, 1,  17, 17, 8,  60, 3, 25,
                                  5,  9, 12, 44, 2,  33, 19, 7,  21, 5,  50};
    int n = (int)(sizeof(minutes) / sizeof(minutes[0]));

    mk_channel(account, NULL, "shop-chat", chan2);
    for (int i = 0; i < n; i++) {
        char draft[37], ext[32];

        snprintf(ext, sizeof(ext), "F-%02d", i);
        mk_pending(account, i % 3 == 0 ? chan2 : channel, ext, minutes[i], "Draft.", NULL, convs[i],
                   draft);
    }
    return n;
}

/* Reads every page of `path` (which has a '?'), limit `limit`, into ids. */
static int
read_all_pages(const char *path, int limit, char ids[][37], int *pages)
{
    char url[512], cursor[128] = "";
    int n = 0;

    *pages = 0;
    for (;;) {
        struct resp r;
        json_t *next;
        int before = n;

        if (cursor[0])
            snprintf(url, sizeof(url), "%s&limit=%d&cursor=%s", path, limit, cursor);
        else
            snprintf(url, sizeof(url), "%s&limit=%d", path, limit);
        th_get(&t, url, key, &r);
        cr_assert_eq(r.status, 200, "%s: %s", url, r.body);
        n = feed_ids(r.json, ids, n);
        cr_assert_leq(n - before, limit);
        (*pages)++;
        next = json_object_get(r.json, "nextCursor");
        if (!json_is_string(next)) {
            resp_free(&r);
            break;
        }
        cr_assert_eq(n - before, limit, "a page before the last is full");
        snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
        resp_free(&r);
        cr_assert_lt(*pages, 100);
    }
    return n;
}

/* The expected order, from SQL. */
static int
expected(const char *order, const char *chan, char ids[][37])
{
    const char *p[] = {account, chan};
    PGresult *r;
    int n;

    if (strcmp(order, "oldest") == 0)
        r = sqlp_query("SELECT id FROM conversations WHERE account_id = $1 AND feed_at IS NOT NULL "
                       "AND ($2::uuid IS NULL OR channel_id = $2) ORDER BY feed_at, id",
                       2, p);
    else
        r = sqlp_query("SELECT id FROM conversations WHERE account_id = $1 AND feed_at IS NOT NULL "
                       "AND ($2::uuid IS NULL OR channel_id = $2) ORDER BY feed_at DESC, id DESC",
                       2, p);
    n = PQntuples(r);
    for (int i = 0; i < n; i++)
        snprintf(ids[i], 37, "%s", PQgetvalue(r, i, 0));
    PQclear(r);
    return n;
}

Test(feed, feed_orders_filters_and_pages_completely)
{
    char convs[32][37], chan2[37];
    int n = mk_feed(convs, chan2);
    static const struct {
        const char *path, *order;
        int which; /* 0 all, 1 first channel, 2 second */
        int limit;
    } cases[] = {
        {"/v1/feed?x=1", "oldest", 0, 4},
        {"/v1/feed?order=oldest", "oldest", 0, 1},
        {"/v1/feed?order=newest", "newest", 0, 5},
        {"/v1/feed?order=newest", "newest", 0, 200},
        {"/v1/feed?channelId=", "oldest", 1, 3},
        {"/v1/feed?order=newest&channelId=", "newest", 2, 2},
    };

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        char path[200], got[64][37], want[64][37];
        const char *chan = cases[c].which == 1 ? channel : cases[c].which == 2 ? chan2 : NULL;
        int pages, ng, nw;

        snprintf(path, sizeof(path), "%s%s", cases[c].path, chan ? chan : "");
        ng = read_all_pages(path, cases[c].limit, got, &pages);
        nw = expected(cases[c].order, chan, want);
        cr_assert_eq(ng, nw, "case %zu: %d items, want %d", c, ng, nw);
        if (!chan)
            cr_assert_eq(nw, n);
        for (int i = 0; i < nw; i++)
            cr_assert_str_eq(got[i], want[i], "case %zu item %d", c, i);
        /* limit + 1 rows are read, so a full last page has no next cursor. */
        cr_assert_eq(pages, nw == 0 ? 1 : (nw + cases[c].limit - 1) / cases[c].limit,
                     "case %zu: %d pages", c, pages);
    }
}

Test(feed, feed_pages_stay_complete_while_drafts_are_acted_on)
{
    char convs[32][37], chan2[37], got[64][37];
    char url[256], cursor[128] = "";
    int n = mk_feed(convs, chan2), seen = 0;
    const char *p[] = {account};

    /* Page 1, then act on two conversations already shown and two not yet
     * shown: the rest of the walk shows each remaining one exactly once. */
    {
        struct resp r;

        th_get(&t, "/v1/feed?limit=6", key, &r);
        cr_assert_eq(r.status, 200);
        seen = feed_ids(r.json, got, 0);
        snprintf(cursor, sizeof(cursor), "%s", jstr(r.json, "nextCursor"));
        resp_free(&r);
    }
    {
        PGresult *res = sqlp_query("SELECT pending_draft_id FROM conversations "
                                   "WHERE account_id = $1 AND feed_at IS NOT NULL "
                                   "ORDER BY feed_at, id",
                                   1, p);
        int pick[] = {0, 3, 10, 15};

        for (size_t i = 0; i < 4; i++) {
            struct resp r;

            act(PQgetvalue(res, pick[i], 0), key, "reject", user, NULL, NULL, NULL, &r);
            cr_assert_eq(r.status, 201, "%s", r.body);
            resp_free(&r);
        }
        PQclear(res);
    }
    while (cursor[0]) {
        struct resp r;

        snprintf(url, sizeof(url), "/v1/feed?limit=6&cursor=%s", cursor);
        th_get(&t, url, key, &r);
        cr_assert_eq(r.status, 200);
        seen = feed_ids(r.json, got, seen);
        cursor[0] = '\0';
        if (json_is_string(json_object_get(r.json, "nextCursor")))
            snprintf(cursor, sizeof(cursor), "%s", jstr(r.json, "nextCursor"));
        resp_free(&r);
    }
    cr_assert_eq(seen, n - 2, "6 shown + the %d left minus the 2 acted on later", n - 6);
    for (int i = 0; i < seen; i++)
        for (int j = i + 1; j < seen; j++)
            cr_assert_str_neq(got[i], got[j], "no repeats");
}

Test(feed, feed_leaves_out_closed_deleted_and_acted_on_conversations)
{
    char a[37], b[37], c[37], d[37], da[37], db[37], dc[37], dd[37];
    const char *p[] = {account, NULL};
    struct resp r;
    char ids[8][37];
    int n;

    mk_pending(account, channel, "X-A", 1, "a", NULL, a, da);
    mk_pending(account, channel, "X-B", 2, "b", NULL, b, db);
    mk_pending(account, channel, "X-C", 3, "c", NULL, c, dc);
    mk_pending(account, channel, "X-D", 4, "d", NULL, d, dd);
    /* As the conversation routes do it: closing and deleting clear feed_at. */
    p[1] = a;
    PQclear(
        sqlp_query("UPDATE conversations SET status = 'closed', closed_at = now(), feed_at = NULL "
                   "WHERE account_id = $1 AND id = $2",
                   2, p));
    p[1] = b;
    PQclear(sqlp_query("UPDATE conversations SET deleted_at = now(), feed_at = NULL "
                       "WHERE account_id = $1 AND id = $2",
                       2, p));
    act(dc, key, "approve", user, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 201);
    resp_free(&r);
    th_get(&t, "/v1/feed", key, &r);
    cr_assert_eq(r.status, 200);
    n = feed_ids(r.json, ids, 0);
    cr_assert_eq(n, 1, "%s", r.body);
    cr_assert_str_eq(ids[0], d);
    resp_free(&r);
    (void)da;
    (void)db;
    (void)dd;
}

/* --- the summary (GET /v1/feed/summary) ------------------------------------ */

/* A summary's figures, read from its JSON. */
struct summary {
    long total;
    char oldest[40];  /* "" when null */
    int nchan;
    char chan[8][37];
    long count[8];
    char chan_oldest[8][40];
};

static void
copy_ts(const json_t *v, char out[40])
{
    snprintf(out, 40, "%s", json_is_string(v) ? json_string_value(v) : "");
}

/* GET path; fails the test unless it is a well-formed, self-consistent
 * summary: the total is the sum of the channels' counts, each count is
 * positive with a waiting time, and the oldest time is the channels'
 * earliest (RFC 3339 text of one format compares in time order). */
static void
get_summary(const char *k, const char *path, struct summary *s)
{
    struct resp r;
    const json_t *by;
    long sum = 0;
    char min[40] = "";

    memset(s, 0, sizeof(*s));
    th_get(&t, path, k, &r);
    cr_assert_eq(r.status, 200, "%s: %s", path, r.body);
    cr_assert(json_is_integer(json_object_get(r.json, "total")), "%s", r.body);
    s->total = (long)json_integer_value(json_object_get(r.json, "total"));
    copy_ts(json_object_get(r.json, "oldestWaitingSince"), s->oldest);
    by = json_object_get(r.json, "byChannel");
    cr_assert(json_is_array(by), "%s", r.body);
    s->nchan = (int)json_array_size(by);
    cr_assert_leq(s->nchan, 8, "%s", r.body);
    for (int i = 0; i < s->nchan; i++) {
        const json_t *c = json_array_get(by, (size_t)i);

        snprintf(s->chan[i], 37, "%s", jstr(c, "channelId"));
        s->count[i] = (long)json_integer_value(json_object_get(c, "count"));
        copy_ts(json_object_get(c, "oldestWaitingSince"), s->chan_oldest[i]);
        cr_assert_gt(s->count[i], 0, "%s", r.body);
        cr_assert_neq(s->chan_oldest[i][0], '\0', "a count without a waiting time: %s", r.body);
        if (i > 0)
            cr_assert_lt(strcmp(s->chan[i - 1], s->chan[i]), 0, "not by channel id: %s", r.body);
        sum += s->count[i];
        if (min[0] == '\0' || strcmp(s->chan_oldest[i], min) < 0)
            snprintf(min, sizeof(min), "%s", s->chan_oldest[i]);
    }
    cr_assert_eq(s->total, sum, "total is not the channels' sum: %s", r.body);
    cr_assert_str_eq(s->oldest, min, "%s", r.body);
    resp_free(&r);
}

/* The summary's count of channel ch (0 when it is not listed). */
static long
count_of(const struct summary *s, const char *ch)
{
    for (int i = 0; i < s->nchan; i++)
        if (strcmp(s->chan[i], ch) == 0)
            return s->count[i];
    return 0;
}

Test(feed, the_summary_counts_the_queue_by_channel)
{
    char chat[37], other_acct[37], other_key[64], other_chan[37], path[128];
    char a[37], b[37], c[37], d[37], da[37], db[37], dc[37], dd[37], x[37], dx[37];
    struct summary s;
    struct resp r;

    get_summary(key, "/v1/feed/summary", &s);
    cr_assert_eq(s.total, 0);
    cr_assert_eq(s.nchan, 0);
    cr_assert_str_eq(s.oldest, "", "null with nothing waiting");

    mk_channel(account, "chat", "chat-1", chat);
    mk_pending(account, channel, "S-A", 7, "a", NULL, a, da);
    mk_pending(account, channel, "S-B", 3, "b", NULL, b, db);
    mk_pending(account, chat, "S-C", 5, "c", NULL, c, dc);
    mk_pending(account, chat, "S-D", 9, "d", NULL, d, dd);
    /* Another tenant's queue is not counted. */
    th_tenant(&t, "Other Shop", other_acct, other_key);
    mk_channel(other_acct, NULL, "other-mail", other_chan);
    mk_pending(other_acct, other_chan, "S-X", 1, "x", NULL, x, dx);

    get_summary(key, "/v1/feed/summary", &s);
    cr_assert_eq(s.total, 4);
    cr_assert_eq(s.nchan, 2);
    cr_assert_eq(count_of(&s, channel), 2);
    cr_assert_eq(count_of(&s, chat), 2);
    cr_assert_str_eq(s.oldest, "2026-01-01T00:03:00.000Z");
    for (int i = 0; i < 2; i++)
        cr_assert_str_eq(s.chan_oldest[i], strcmp(s.chan[i], channel) == 0
                                               ? "2026-01-01T00:03:00.000Z"
                                               : "2026-01-01T00:05:00.000Z");
    snprintf(path, sizeof(path), "/v1/feed/summary?channelId=%s", chat);
    get_summary(key, path, &s);
    cr_assert_eq(s.total, 2);
    cr_assert_eq(s.nchan, 1);
    cr_assert_str_eq(s.oldest, "2026-01-01T00:05:00.000Z");
    /* Another tenant's channel, or none at all, counts nothing. */
    snprintf(path, sizeof(path), "/v1/feed/summary?channelId=%s", other_chan);
    get_summary(key, path, &s);
    cr_assert_eq(s.total, 0);
    get_summary(other_key, "/v1/feed/summary", &s);
    cr_assert_eq(s.total, 1);

    /* Every way out of the queue counts: an action, closing, deleting, a
     * move to another channel; and a newer inbound message moves the
     * waiting time without changing the count. */
    act(db, key, "approve", user, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    get_summary(key, "/v1/feed/summary", &s);
    cr_assert_eq(count_of(&s, channel), 1);
    cr_assert_str_eq(s.oldest, "2026-01-01T00:05:00.000Z");
    snprintf(path, sizeof(path), "/v1/conversations/%s", c);
    th_http(&t, "PATCH", path, key, "{\"status\":\"closed\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    get_summary(key, "/v1/feed/summary", &s);
    cr_assert_eq(s.total, 2);
    cr_assert_eq(count_of(&s, chat), 1);
    cr_assert_str_eq(s.oldest, "2026-01-01T00:07:00.000Z");
    th_http(&t, "DELETE", path, key, NULL, NULL, &r);
    cr_assert_eq(r.status, 204, "%s", r.body);
    resp_free(&r);
    sql_exec("UPDATE conversations SET channel_id = '%s' WHERE id = '%s'", chat, a);
    get_summary(key, "/v1/feed/summary", &s);
    cr_assert_eq(s.total, 2);
    cr_assert_eq(s.nchan, 1);
    cr_assert_eq(count_of(&s, chat), 2);
    sql_exec("UPDATE conversations SET pending_draft_id = NULL, feed_at = NULL WHERE id = '%s'",
             d);
    get_summary(key, "/v1/feed/summary", &s);
    cr_assert_eq(s.total, 1);
    cr_assert_str_eq(s.oldest, "2026-01-01T00:07:00.000Z");
    sql_exec("UPDATE conversations SET feed_at = feed_at + interval '1 hour' WHERE id = '%s'", a);
    get_summary(key, "/v1/feed/summary", &s);
    cr_assert_eq(s.total, 1);
    cr_assert_str_eq(s.oldest, "2026-01-01T01:07:00.000Z");
    (void)da;
    (void)dc;
    (void)dd;
    (void)dx;
}

Test(feed, the_summarys_bad_parameters_are_400)
{
    struct resp r;

    th_get(&t, "/v1/feed/summary?channelId=42", key, &r);
    expect_problem(&r, 400);
    resp_free(&r);
}

/*
 * Writers race the summary: each writer, on its own connection, drafts
 * replies to conversations of two channels (in the queue) and approves
 * two of every three (out again), so the count rows of both channels are
 * written by every writer at once; a reader takes summaries meanwhile.
 * Each summary must be consistent; once the writers stop, it must be
 * exactly the queue.
 */
#define SUMMARY_WRITERS 4
#define SUMMARY_ROUNDS 12

/* A writer's conversations, each with an inbound message to reply to,
 * made beforehand: the test's SQL connection is not shared by threads. */
struct summary_writer {
    char conv[SUMMARY_ROUNDS][37];
    char msg[SUMMARY_ROUNDS][37];
};

static atomic_int writers_left;

static void *
summary_write(void *arg)
{
    const struct summary_writer *w = arg;

    for (int i = 0; i < SUMMARY_ROUNDS; i++) {
        char draft[37], path[128], body[400];
        struct resp r;

        snprintf(path, sizeof(path), "/v1/conversations/%s/drafts", w->conv[i]);
        snprintf(body, sizeof(body),
                 "{\"triggerMessageId\":\"%s\",\"modelKey\":\"m\",\"promptVersion\":\"v1\","
                 "\"suggestedText\":\"Reply %d\"}",
                 w->msg[i], i);
        th_post(&t, path, key, body, &r);
        cr_assert_eq(r.status, 201, "%s", r.body);
        snprintf(draft, sizeof(draft), "%s", jstr(r.json, "id"));
        resp_free(&r);
        if (i % 3 != 0) {
            act(draft, key, "approve", user, NULL, NULL, NULL, &r);
            cr_assert_eq(r.status, 201, "%s", r.body);
            resp_free(&r);
        }
    }
    atomic_fetch_sub(&writers_left, 1);
    return NULL;
}

Test(feed, the_summary_is_exact_while_writers_race_it)
{
    struct summary_writer w[SUMMARY_WRITERS];
    pthread_t th[SUMMARY_WRITERS];
    struct summary s;
    char chat[37], truth[4096], got[4096];
    long reads = 0, per_writer = (SUMMARY_ROUNDS + 2) / 3;
    char ids[200][37];

    mk_channel(account, "chat", "chat-1", chat);
    atomic_store(&writers_left, SUMMARY_WRITERS);
    for (int i = 0; i < SUMMARY_WRITERS; i++)
        for (int k = 0; k < SUMMARY_ROUNDS; k++) {
            mk_conv(account, (i + k) % 2 ? chat : channel, NULL, w[i].conv[k]);
            mk_msg(account, w[i].conv[k], "inbound", 60, w[i].msg[k]);
        }
    for (int i = 0; i < SUMMARY_WRITERS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, summary_write, &w[i]), 0);
    /* At least one summary, and then as many as the writers leave time
     * for: each must hold together (get_summary checks it). */
    do {
        get_summary(key, "/v1/feed/summary", &s);
        /* What each writer keeps, and at most one draft in flight. */
        cr_assert_leq(s.total, SUMMARY_WRITERS * (per_writer + 1));
        reads++;
    } while (atomic_load(&writers_left) > 0);
    for (int i = 0; i < SUMMARY_WRITERS; i++)
        pthread_join(th[i], NULL);

    get_summary(key, "/v1/feed/summary", &s);
    cr_assert_eq(s.total, SUMMARY_WRITERS * per_writer, "reads during the race: %ld", reads);
    /* The queue itself, counted row by row, and as the feed pages it. */
    sql_text(truth, sizeof(truth),
             "SELECT string_agg(channel_id || ' ' || n || ' ' || inboxd_ts(oldest), ',' "
             "                  ORDER BY channel_id) "
             "FROM (SELECT channel_id, count(*) AS n, min(feed_at) AS oldest FROM conversations "
             "      WHERE account_id = '%s' AND feed_at IS NOT NULL GROUP BY channel_id) q",
             account);
    got[0] = '\0';
    for (int i = 0; i < s.nchan; i++)
        snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s %ld %s", i ? "," : "",
                 s.chan[i], s.count[i], s.chan_oldest[i]);
    cr_assert_str_eq(got, truth);
    {
        struct resp r;

        th_get(&t, "/v1/feed?limit=200", key, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        cr_assert_eq(feed_ids(r.json, ids, 0), s.total);
        resp_free(&r);
    }
    cr_assert_eq(sql_long("SELECT sum(n) FROM feed_counts WHERE account_id = '%s'", account),
                 s.total);
}
