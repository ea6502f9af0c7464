/*
 * feed_cache: rendered review-feed items, kept between requests.
 *
 * An item is stored under its account, conversation id and row version (the
 * version text the feed's page statement returns); a lookup with another
 * version misses, so an entry can be stale only in memory, never in an
 * answer. Bounded by bytes, least recently used out first. Thread-safe.
 */
#ifndef INBOXD_FEED_CACHE_H
#define INBOXD_FEED_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A cached item: immutable once made, shared by reference. */
struct feed_item;

/* Sets the byte budget (0: nothing is kept) and empties the cache. */
void feed_cache_configure(size_t max_bytes);

/* Frees every entry (at shutdown; no lookups may be running). */
void feed_cache_clear(void);

/*
 * Looks up n items at once under one lock. For each i, out[i] is a
 * reference to the item stored for (account, ids[i]) when its version is
 * vers[i], else NULL. Returns the number of hits. Release each non-NULL
 * reference with feed_item_release().
 */
size_t feed_cache_get(const char *account, size_t n, const char *const *ids,
                      const char *const *vers, struct feed_item **out);

/*
 * Stores the item JSON for (account, id) at version ver, replacing what
 * was stored for that conversation, and returns a reference to it (release
 * it), or NULL on OOM. An item larger than the whole budget is returned but
 * not kept.
 */
struct feed_item *feed_cache_put(const char *account, const char *id, const char *ver,
                                 const char *json, size_t len);

const char *feed_item_json(const struct feed_item *it, size_t *len);
void feed_item_release(struct feed_item *it);

/*
 * Whole pages. A page is what one feed request (account, filter, order,
 * cursor, limit) showed: its items and its end, read at one database
 * snapshot (pg_current_snapshot() of the page statement). Two statements
 * that see the same snapshot see the same committed data: any commit or
 * abort in between changes xmax or the in-progress list. So while the
 * database's current snapshot is still the page's, the page is still the
 * answer, and it can be sent after one trivial round trip instead of the
 * page statement. Kept in a small table, least recently used out first.
 */
struct feed_page;
struct parts;

/* A page of n items (references, NULL entries skipped: items that left the
 * feed) and its tail (the page's end, malloc'd), read at `snapshot`.
 * Takes items, the array and tail in every case; NULL on OOM. */
struct feed_page *feed_page_new(struct feed_item **items, size_t n, char *tail, size_t tail_len,
                                const char *snapshot);
void feed_page_release(struct feed_page *pg);
const char *feed_page_snapshot(const struct feed_page *pg);

/* The page as a response body that holds its own reference; NULL on OOM.
 * With gzip, the 16th request for gzip (feed_cache.c, GZIP_AFTER)
 * compresses the page once and keeps the result with it, and from then on
 * the body is that (encoding "gzip"); before, while it compresses, or when
 * compressing fails, the plain body. */
struct parts *feed_page_body(struct feed_page *pg, bool gzip);

/* Tests only: after how many requests for gzip a page is compressed
 * (0: never) instead of GZIP_AFTER. Set before serving. */
void feed_pages_gzip_after(unsigned n);

/* Sets how many pages are kept (0: none) and empties the table. */
void feed_pages_configure(size_t max_pages);

/* A reference to the page kept under key, or NULL. */
struct feed_page *feed_pages_get(const char *key);

/* Keeps pg under key (the table takes its own reference), replacing what
 * was kept there or the least recently used page. */
void feed_pages_put(const char *key, struct feed_page *pg);

/* Counts a page found under its key as still current (hit) or not. */
void feed_pages_checked(bool current);

/* Counters for /metrics. */
struct feed_cache_stats {
    uint64_t hits, misses, evictions;
    size_t bytes, entries;
    uint64_t page_hits, page_stale, page_absent;
    size_t pages;
};
void feed_cache_stats(struct feed_cache_stats *st);

#endif
