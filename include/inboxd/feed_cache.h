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

/* Counters for /metrics. */
struct feed_cache_stats {
    uint64_t hits, misses, evictions;
    size_t bytes, entries;
};
void feed_cache_stats(struct feed_cache_stats *st);

#endif
