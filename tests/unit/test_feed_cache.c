/*
 * test_feed_cache: the rendered-item cache of the review feed. A lookup hits
 * only the exact version stored, the byte budget holds with the least
 * recently used entries leaving first, references outlive eviction, and
 * under threads no lookup ever returns another version's item.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "inboxd/lib/feed_cache.h"
#include "inboxd/lib/parts.h"

#define ACCOUNT "0199f946-ca17-7001-9e37-000000000001"
#define OTHER   "0199f946-ca17-7001-9e37-000000000002"

static void
conv_id(int i, char id[37])
{
    snprintf(id, 37, "0199f946-ca17-7001-9e37-%012d", i);
}

static void
reset(size_t budget)
{
    feed_cache_configure(budget);
}

static void
fini(void)
{
    feed_pages_gzip_after(16);
    feed_pages_configure(0);
    feed_cache_clear();
}

TestSuite(feed_cache, .fini = fini);

/* Looks up one item; returns its JSON copied into out, or "" on a miss. */
static bool
get1(const char *account, const char *id, const char *ver, char *out, size_t outlen)
{
    struct feed_item *it;
    const char *ids[] = {id}, *vers[] = {ver};
    size_t len;
    const char *j;

    out[0] = '\0';
    if (feed_cache_get(account, 1, ids, vers, &it) == 0) {
        cr_assert_null(it);
        return false;
    }
    j = feed_item_json(it, &len);
    cr_assert_lt(len, outlen);
    memcpy(out, j, len);
    out[len] = '\0';
    feed_item_release(it);
    return true;
}

static void
put1(const char *account, const char *id, const char *ver, const char *json)
{
    struct feed_item *it = feed_cache_put(account, id, ver, json, strlen(json));

    cr_assert_not_null(it);
    feed_item_release(it);
}

Test(feed_cache, hits_only_the_stored_version_of_the_same_account)
{
    char id[37], got[128];

    reset(1 << 20);
    conv_id(1, id);
    cr_assert_not(get1(ACCOUNT, id, "10/5/t", got, sizeof(got)));
    put1(ACCOUNT, id, "10/5/t", "{\"v\":1}");
    cr_assert(get1(ACCOUNT, id, "10/5/t", got, sizeof(got)));
    cr_assert_str_eq(got, "{\"v\":1}");
    cr_assert_not(get1(ACCOUNT, id, "11/5/t", got, sizeof(got)), "another version misses");
    cr_assert_not(get1(ACCOUNT, id, "10/6/t", got, sizeof(got)), "another channel version");
    cr_assert_not(get1(OTHER, id, "10/5/t", got, sizeof(got)), "another account misses");

    /* A newer version replaces the old one: one entry per conversation. */
    put1(ACCOUNT, id, "11/5/t", "{\"v\":2}");
    cr_assert_not(get1(ACCOUNT, id, "10/5/t", got, sizeof(got)));
    cr_assert(get1(ACCOUNT, id, "11/5/t", got, sizeof(got)));
    cr_assert_str_eq(got, "{\"v\":2}");

    struct feed_cache_stats st;
    feed_cache_stats(&st);
    cr_assert_eq(st.entries, 1);
    cr_assert_eq(st.hits, 2);
    cr_assert_eq(st.misses, 5);
}

Test(feed_cache, keeps_to_the_budget_dropping_the_least_recently_used)
{
    char id[37], got[2048], json[1024];
    struct feed_cache_stats st;
    size_t budget = 16 * 1024;

    reset(budget);
    memset(json, 'x', sizeof(json) - 1);
    json[sizeof(json) - 1] = '\0';
    for (int i = 0; i < 100; i++) {
        conv_id(i, id);
        put1(ACCOUNT, id, "1", json);
        /* Item 0 is used after every put: it must never be the one dropped. */
        conv_id(0, id);
        cr_assert(get1(ACCOUNT, id, "1", got, sizeof(got)), "item 0 evicted at put %d", i);
        feed_cache_stats(&st);
        cr_assert_leq(st.bytes, budget);
    }
    feed_cache_stats(&st);
    cr_assert_gt(st.entries, 5);
    cr_assert_lt(st.entries, 16);
    cr_assert_eq(st.evictions, 100 - st.entries);
    /* The newest survive, the oldest (other than item 0) are gone. */
    conv_id(99, id);
    cr_assert(get1(ACCOUNT, id, "1", got, sizeof(got)));
    conv_id(1, id);
    cr_assert_not(get1(ACCOUNT, id, "1", got, sizeof(got)));
}

Test(feed_cache, a_zero_budget_keeps_nothing_and_references_outlive_eviction)
{
    char id[37], got[64];
    struct feed_item *held, *it;
    const char *ids[1], *vers[] = {"1"};
    size_t len;

    reset(0);
    conv_id(1, id);
    it = feed_cache_put(ACCOUNT, id, "1", "{\"a\":1}", 7);
    cr_assert_not_null(it, "the item is still returned for this page");
    cr_assert_str_eq(feed_item_json(it, &len), "{\"a\":1}");
    feed_item_release(it);
    cr_assert_not(get1(ACCOUNT, id, "1", got, sizeof(got)));

    reset(1 << 20);
    put1(ACCOUNT, id, "1", "{\"a\":1}");
    ids[0] = id;
    cr_assert_eq(feed_cache_get(ACCOUNT, 1, ids, vers, &held), 1);
    feed_cache_clear(); /* drops the cache's reference, not ours */
    cr_assert_str_eq(feed_item_json(held, &len), "{\"a\":1}");
    cr_assert_eq(len, 7);
    feed_item_release(held);
}

/* Threads put and look up 64 conversations at ever newer versions, with a
 * budget that forces evictions; every item's JSON names its own version,
 * so a hit must carry exactly the version asked for. */
#define NCONV 64
static _Atomic int wrong;

static void *
hammer(void *arg)
{
    unsigned seed = (unsigned)(size_t)arg;

    for (int round = 0; round < 4000; round++) {
        char id[37], ver[32], json[300];
        int c = (int)(rand_r(&seed) % NCONV);
        int v = (int)(rand_r(&seed) % 8);
        struct feed_item *it;
        const char *ids[] = {id}, *vers[] = {ver};

        conv_id(c, id);
        snprintf(ver, sizeof(ver), "%d/%d", c, v);
        if (feed_cache_get(ACCOUNT, 1, ids, vers, &it) == 1) {
            size_t len;
            const char *j = feed_item_json(it, &len);

            snprintf(json, sizeof(json), "{\"ver\":\"%s\"}", ver);
            if (len != strlen(json) || memcmp(j, json, len) != 0)
                wrong++;
            feed_item_release(it);
        } else {
            snprintf(json, sizeof(json), "{\"ver\":\"%s\"}", ver);
            it = feed_cache_put(ACCOUNT, id, ver, json, strlen(json));
            if (it == NULL)
                wrong++;
            feed_item_release(it);
        }
    }
    return NULL;
}

Test(feed_cache, threads_never_see_another_version)
{
    pthread_t th[8];
    struct feed_cache_stats st;

    reset(4096); /* about 20 entries for 64 conversations: constant eviction */
    for (size_t i = 0; i < 8; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, hammer, (void *)(i + 1)), 0);
    for (size_t i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(wrong, 0);
    feed_cache_stats(&st);
    cr_assert_gt(st.hits, 0);
    cr_assert_gt(st.evictions, 0);
    cr_assert_leq(st.bytes, 4096);
}

/* A page of n items "{"i":k}" with the given tail and snapshot. */
static struct feed_page *
mk_page(size_t n, const char *tail, const char *snapshot)
{
    struct feed_item **items = calloc(n, sizeof(*items));
    struct feed_page *pg;

    cr_assert(n == 0 || items != NULL);
    for (size_t i = 0; i < n; i++) {
        char id[37], json[32];

        conv_id((int)i + 100, id);
        snprintf(json, sizeof(json), "{\"i\":%zu}", i);
        items[i] = feed_cache_put(ACCOUNT, id, "1", json, strlen(json));
        cr_assert_not_null(items[i]);
    }
    pg = feed_page_new(items, n, strdup(tail), strlen(tail), snapshot);
    cr_assert_not_null(pg);
    return pg;
}

/* The body's pieces joined. */
static void
body_text(struct feed_page *pg, char *out, size_t outlen)
{
    struct parts *body = feed_page_body(pg, false);
    size_t len = 0;

    cr_assert_not_null(body);
    for (size_t i = 0; i < body->n; i++) {
        cr_assert_lt(len + body->v[i].len, outlen);
        memcpy(out + len, body->v[i].base, body->v[i].len);
        len += body->v[i].len;
    }
    out[len] = '\0';
    parts_free(body);
}

Test(feed_cache, a_page_is_its_items_and_tail_and_outlives_the_table)
{
    char got[256];
    struct feed_page *pg, *kept;
    struct feed_cache_stats st;

    reset(1 << 20);
    feed_pages_configure(4);
    pg = mk_page(3, "],\"nextCursor\":null}", "10:12:11");
    feed_pages_put("k1", pg);
    feed_page_release(pg);
    cr_assert_null(feed_pages_get("k2"));
    kept = feed_pages_get("k1");
    cr_assert_eq(kept, pg);
    cr_assert_str_eq(feed_page_snapshot(kept), "10:12:11");
    feed_pages_configure(0); /* drops the table's reference, not ours */
    feed_cache_clear();      /* and the item cache's */
    body_text(kept, got, sizeof(got));
    cr_assert_str_eq(got, "{\"items\":[{\"i\":0},{\"i\":1},{\"i\":2}],\"nextCursor\":null}");
    feed_page_release(kept);

    feed_pages_configure(2);
    pg = mk_page(0, "],\"nextCursor\":null}", "1:1:");
    body_text(pg, got, sizeof(got));
    cr_assert_str_eq(got, "{\"items\":[],\"nextCursor\":null}");
    feed_page_release(pg);
    feed_cache_stats(&st);
    cr_assert_eq(st.pages, 0);
    feed_pages_configure(0);
}

Test(feed_cache, the_page_table_keeps_its_size_dropping_the_least_recently_used)
{
    struct feed_page *pg;
    struct feed_cache_stats st;
    const char *keys[] = {"a", "b"};

    reset(1 << 20);
    feed_pages_configure(2);
    for (int i = 0; i < 2; i++) {
        pg = mk_page(1, "]}", keys[i]);
        feed_pages_put(keys[i], pg);
        feed_page_release(pg);
    }
    feed_page_release(feed_pages_get("a")); /* a is now more recent than b */
    pg = mk_page(1, "]}", "c");
    feed_pages_put("c", pg);
    feed_page_release(pg);
    cr_assert_null(feed_pages_get("b"), "the least recently used page left");
    pg = feed_pages_get("a");
    cr_assert_not_null(pg);
    cr_assert_str_eq(feed_page_snapshot(pg), "a");
    feed_page_release(pg);

    pg = mk_page(1, "]}", "a2"); /* the same key again replaces the page */
    feed_pages_put("a", pg);
    feed_page_release(pg);
    pg = feed_pages_get("a");
    cr_assert_str_eq(feed_page_snapshot(pg), "a2");
    feed_page_release(pg);
    feed_pages_checked(true);
    feed_pages_checked(false);
    feed_cache_stats(&st);
    cr_assert_eq(st.pages, 2);
    cr_assert_eq(st.page_hits, 1);
    cr_assert_eq(st.page_stale, 1);
    cr_assert_eq(st.page_absent, 1);

    feed_pages_configure(0);
    pg = mk_page(1, "]}", "x");
    feed_pages_put("x", pg);
    feed_page_release(pg);
    cr_assert_null(feed_pages_get("x"), "a table of no pages keeps none");
}

/* Inflates a gzip member into out (NUL-terminated); returns its length. */
static size_t
gunzip(const struct parts *body, char *out, size_t outlen)
{
    z_stream zs;

    memset(&zs, 0, sizeof(zs));
    cr_assert_eq(body->n, 1, "one compressed piece");
    cr_assert_eq(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)(uintptr_t)body->v[0].base;
    zs.avail_in = (uInt)body->v[0].len;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)outlen - 1;
    cr_assert_eq(inflate(&zs, Z_FINISH), Z_STREAM_END, "a whole gzip member");
    cr_assert_eq(zs.avail_in, 0, "nothing after it");
    out[zs.total_out] = '\0';
    inflateEnd(&zs);
    return zs.total_out;
}

Test(feed_cache, a_page_gzipped_is_the_page_and_compressed_once)
{
    static char plain[1 << 16], got[1 << 16];
    struct feed_page *pg;
    struct parts *z1, *z2;
    size_t n = 40;
    struct feed_item **items;

    reset(1 << 20);
    items = calloc(n, sizeof(*items));
    for (size_t i = 0; i < n; i++) {
        char id[37], json[600];

        conv_id((int)i + 200, id);
        snprintf(json, sizeof(json), "{\"i\":%zu,\"text\":\"%0500zu\"}", i, i);
        items[i] = feed_cache_put(ACCOUNT, id, "1", json, strlen(json));
        cr_assert_not_null(items[i]);
    }
    items[7] = (feed_item_release(items[7]), NULL); /* an item that left the feed */
    pg = feed_page_new(items, n, strdup("],\"nextCursor\":\"abc\"}"), 21, "5:5:");
    cr_assert_not_null(pg);
    body_text(pg, plain, sizeof(plain));

    feed_pages_gzip_after(0);
    z1 = feed_page_body(pg, true);
    cr_assert_null(z1->encoding, "0: never compressed");
    parts_free(z1);
    feed_pages_gzip_after(3);
    for (int i = 0; i < 2; i++) {
        z1 = feed_page_body(pg, true);
        cr_assert_null(z1->encoding, "asked for gzip %d times of 3", i + 1);
        parts_free(z1);
        z1 = feed_page_body(pg, false);
        cr_assert_null(z1->encoding, "a plain request does not count");
        parts_free(z1);
    }
    z1 = feed_page_body(pg, true);
    cr_assert_not_null(z1);
    cr_assert_str_eq(z1->encoding, "gzip", "the third request for gzip compresses");
    cr_assert_lt(z1->v[0].len, strlen(plain) / 4, "%zu of %zu bytes", z1->v[0].len, strlen(plain));
    cr_assert_eq(gunzip(z1, got, sizeof(got)), strlen(plain));
    cr_assert_str_eq(got, plain);
    z2 = feed_page_body(pg, true);
    cr_assert_eq(z2->v[0].base, z1->v[0].base, "compressed once, kept with the page");
    feed_page_release(pg); /* the bodies hold their own references */
    parts_free(z1);
    cr_assert_eq(gunzip(z2, got, sizeof(got)), strlen(plain));
    parts_free(z2);
}

/* Threads look up, send (plain or gzip) and replace pages under few keys
 * at once: every body they get is the page of the snapshot they found,
 * and the references balance (ASan in CI sees a leak or a use after free). */
static _Atomic int page_wrong;

static void *
page_hammer(void *arg)
{
    unsigned seed = (unsigned)(size_t)arg;
    char mine[4096];
    for (int round = 0; round < 1500; round++) {
        char key[8], snap[32], expect[256];
        struct feed_page *pg;

        snprintf(key, sizeof(key), "k%u", rand_r(&seed) % 4);
        if ((pg = feed_pages_get(key)) == NULL || rand_r(&seed) % 8 == 0) {
            char tail[64];

            feed_page_release(pg);
            snprintf(snap, sizeof(snap), "%s:%d", key, round);
            snprintf(tail, sizeof(tail), "],\"nextCursor\":\"%s\"}", snap);
            pg = mk_page(3, tail, snap);
            feed_pages_put(key, pg);
        }
        snprintf(expect, sizeof(expect),
                 "{\"items\":[{\"i\":0},{\"i\":1},{\"i\":2}],\"nextCursor\":\"%s\"}",
                 feed_page_snapshot(pg));
        {
            bool gz = rand_r(&seed) % 2 == 0;
            struct parts *body = feed_page_body(pg, gz);
            size_t len = 0;

            if (body == NULL) {
                page_wrong++;
            } else if (gz && body->encoding != NULL) {
                len = gunzip(body, mine, sizeof(mine));
            } else {
                for (size_t i = 0; i < body->n && len + body->v[i].len < sizeof(mine); i++) {
                    memcpy(mine + len, body->v[i].base, body->v[i].len);
                    len += body->v[i].len;
                }
                mine[len] = '\0';
            }
            if (body != NULL && strcmp(mine, expect) != 0)
                page_wrong++;
            parts_free(body);
        }
        feed_page_release(pg);
    }
    return NULL;
}

Test(feed_cache, threads_send_the_page_of_the_snapshot_they_found)
{
    pthread_t th[4];

    reset(1 << 20);
    feed_pages_configure(3); /* fewer slots than keys: evictions too */
    feed_pages_gzip_after(2);
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, page_hammer, (void *)(i + 1)), 0);
    for (size_t i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(page_wrong, 0);
}
