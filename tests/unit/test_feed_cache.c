/*
 * test_feed_cache: the rendered-item cache of the review feed. A lookup hits
 * only the exact version stored, the byte budget holds with the least
 * recently used entries leaving first, references outlive eviction, and
 * under threads no lookup ever returns another version's item.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "inboxd/feed_cache.h"

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
