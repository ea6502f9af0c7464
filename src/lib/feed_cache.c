/*
 * feed_cache: rendered review-feed items, kept between requests.
 *
 * WHY SO. Rendering a feed item (the conversation, its channel, the latest
 * inbound message with attachments and the pending draft) costs PostgreSQL
 * far more than finding its position in the feed index. Dashboards
 * poll the same first pages over and over, and an item changes only when
 * its conversation or channel row changes. So the page statement returns
 * each position with the row versions (xmin of both rows, and updated_at),
 * and only items whose version is not here are rendered, by a second
 * statement, and kept. An entry is found only by the exact version the
 * database returned in this request, so a cached item is never older than
 * the rows it was rendered from.
 *
 * The table: chained buckets (a power of two, doubled as it fills) and one
 * least-recently-used list, both under one mutex, taken once per page for
 * all its lookups. Items are reference-counted and immutable, so a request
 * copies them into its answer outside the lock while an eviction may drop
 * the cache's own reference.
 *
 * A kept page is sent again to many clients; most ask for gzip (a browser
 * always does), and it compresses to a tenth. But compressing costs many
 * plain sends of the page, and under steady writes a page version lives
 * for one or two requests: compressing each one costs more than it saves
 * (tests/bench/RESULTS.md). So a page is compressed only once it has been
 * asked for gzip GZIP_AFTER times, by the request that makes it so, and
 * the result hangs on the page for the others.
 *
 * Whole pages (feed_page) sit in a second, small table with its own lock:
 * a fixed array of slots searched linearly, as there are a few dozen at
 * most. A page holds references to its items, so an item evicted from the
 * item table lives on while a kept page or a response still shows it.
 *
 * Must never: return an item under a version other than the one asked for,
 * or keep more than the budget (beyond items in use by requests and kept
 * pages).
 */
#include "inboxd/lib/feed_cache.h"

#include "inboxd/lib/parts.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define KEYLEN 36            /* a UUID as text */
#define VERMAX 95            /* longest version text kept */

struct feed_item {
    atomic_uint refs;
    struct feed_item *next;            /* bucket chain */
    struct feed_item *lru_prev, *lru_next;
    uint64_t hash;
    char account[KEYLEN + 1];
    char id[KEYLEN + 1];
    char ver[VERMAX + 1];
    size_t len;
    char json[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct feed_item **buckets;
static size_t nbuckets;              /* 0 or a power of two */
static size_t nentries;
static size_t nbytes;
static size_t budget;
static struct feed_item *lru_head;   /* most recently used */
static struct feed_item *lru_tail;
static uint64_t hits, misses, evictions;

/* FNV-1a over account and id: the ids are made by inboxd, not chosen by
 * clients, so a keyed hash buys nothing here. */
static uint64_t
key_hash(const char *account, const char *id)
{
    uint64_t h = 1469598103934665603ULL;

    for (const char *p = account; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    for (const char *p = id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

static size_t
item_cost(const struct feed_item *it)
{
    return sizeof(*it) + it->len + 1;
}

static void
lru_unlink(struct feed_item *it)
{
    if (it->lru_prev)
        it->lru_prev->lru_next = it->lru_next;
    else
        lru_head = it->lru_next;
    if (it->lru_next)
        it->lru_next->lru_prev = it->lru_prev;
    else
        lru_tail = it->lru_prev;
    it->lru_prev = it->lru_next = NULL;
}

static void
lru_push_front(struct feed_item *it)
{
    it->lru_prev = NULL;
    it->lru_next = lru_head;
    if (lru_head)
        lru_head->lru_prev = it;
    lru_head = it;
    if (lru_tail == NULL)
        lru_tail = it;
}

/* The chain link that points at the entry for (account, id), or at the
 * chain's terminating NULL. Call with the lock held and nbuckets > 0. */
static struct feed_item **
find_slot(uint64_t h, const char *account, const char *id)
{
    struct feed_item **pp = &buckets[h & (nbuckets - 1)];

    while (*pp && !((*pp)->hash == h && strcmp((*pp)->id, id) == 0 &&
                    strcmp((*pp)->account, account) == 0))
        pp = &(*pp)->next;
    return pp;
}

void
feed_item_release(struct feed_item *it)
{
    if (it && atomic_fetch_sub_explicit(&it->refs, 1, memory_order_acq_rel) == 1)
        free(it);
}

/* Unlinks the entry (found at *pp) from table and list and drops the
 * cache's reference. Lock held. */
static void
remove_at(struct feed_item **pp)
{
    struct feed_item *it = *pp;

    *pp = it->next;
    lru_unlink(it);
    nentries--;
    nbytes -= item_cost(it);
    feed_item_release(it);
}

static void
evict_to(size_t limit)
{
    while (nbytes > limit && lru_tail) {
        struct feed_item *victim = lru_tail;

        remove_at(find_slot(victim->hash, victim->account, victim->id));
        evictions++;
    }
}

/* Doubles the bucket array when the table is fuller than one per bucket;
 * on OOM the chains just grow longer. Lock held. */
static void
maybe_grow(void)
{
    size_t n = nbuckets ? nbuckets * 2 : 256;
    struct feed_item **nb;

    if (nentries < nbuckets)
        return;
    nb = calloc(n, sizeof(*nb));
    if (nb == NULL)
        return;
    for (size_t i = 0; i < nbuckets; i++) {
        struct feed_item *it = buckets[i], *next;

        for (; it; it = next) {
            next = it->next;
            it->next = nb[it->hash & (n - 1)];
            nb[it->hash & (n - 1)] = it;
        }
    }
    free(buckets);
    buckets = nb;
    nbuckets = n;
}

void
feed_cache_clear(void)
{
    pthread_mutex_lock(&lock);
    evict_to(0);
    free(buckets);
    buckets = NULL;
    nbuckets = 0;
    pthread_mutex_unlock(&lock);
}

void
feed_cache_configure(size_t max_bytes)
{
    feed_cache_clear();
    pthread_mutex_lock(&lock);
    budget = max_bytes;
    hits = misses = evictions = 0;
    pthread_mutex_unlock(&lock);
}

size_t
feed_cache_get(const char *account, size_t n, const char *const *ids, const char *const *vers,
               struct feed_item **out)
{
    size_t found = 0;

    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < n; i++) {
        struct feed_item *it = NULL;

        if (nbuckets > 0) {
            it = *find_slot(key_hash(account, ids[i]), account, ids[i]);
            if (it && strcmp(it->ver, vers[i]) != 0)
                it = NULL;
        }
        if (it) {
            atomic_fetch_add_explicit(&it->refs, 1, memory_order_relaxed);
            lru_unlink(it);
            lru_push_front(it);
            found++;
        }
        out[i] = it;
    }
    hits += found;
    misses += n - found;
    pthread_mutex_unlock(&lock);
    return found;
}

struct feed_item *
feed_cache_put(const char *account, const char *id, const char *ver, const char *json,
               size_t len)
{
    struct feed_item *it;
    struct feed_item **pp;
    bool keep = strlen(account) == KEYLEN && strlen(id) == KEYLEN && strlen(ver) <= VERMAX;

    it = malloc(sizeof(*it) + len + 1);
    if (it == NULL)
        return NULL;
    memset(it, 0, sizeof(*it));
    atomic_init(&it->refs, 1);
    snprintf(it->account, sizeof(it->account), "%s", account);
    snprintf(it->id, sizeof(it->id), "%s", id);
    snprintf(it->ver, sizeof(it->ver), "%s", ver);
    it->hash = key_hash(it->account, it->id);
    it->len = len;
    memcpy(it->json, json, len);
    it->json[len] = '\0';
    if (!keep || item_cost(it) > budget)
        return it;

    pthread_mutex_lock(&lock);
    maybe_grow();
    if (nbuckets > 0) {
        pp = find_slot(it->hash, it->account, it->id);
        if (*pp)
            remove_at(pp);
        evict_to(budget - item_cost(it));
        pp = find_slot(it->hash, it->account, it->id);
        it->next = NULL;
        *pp = it;
        lru_push_front(it);
        atomic_fetch_add_explicit(&it->refs, 1, memory_order_relaxed); /* the cache's */
        nentries++;
        nbytes += item_cost(it);
    }
    pthread_mutex_unlock(&lock);
    return it;
}

const char *
feed_item_json(const struct feed_item *it, size_t *len)
{
    *len = it->len;
    return it->json;
}

/* A page gzip-compressed: made once, then read only. */
struct gz {
    size_t len;
    unsigned char data[];
};

/* A page is compressed by the request that asks for it gzip-compressed
 * for the GZIP_AFTER-th time: a page read once or twice is not worth the
 * CPU, one that the dashboards poll is. */
#define GZIP_AFTER 16
#define GZIP_LEVEL 1 /* the fastest: higher levels save little for much more CPU */

struct feed_page {
    atomic_uint refs;
    atomic_uint gzip_asks; /* requests for it gzip-compressed so far */
    struct gz *_Atomic gz; /* NULL until GZIP_AFTER requests asked for gzip */
    struct feed_item **items;
    size_t n;
    char *tail;
    size_t tail_len;
    char snapshot[];
};

struct page_slot {
    char *key;
    struct feed_page *page;
    uint64_t used; /* the table's clock when last found or put */
};

static pthread_mutex_t pages_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned gzip_after = GZIP_AFTER;
static struct page_slot *slots;
static size_t nslots;
static uint64_t pages_clock;
static uint64_t page_absent;
static _Atomic uint64_t page_hits, page_stale; /* counted on every hit: no lock */

struct feed_page *
feed_page_new(struct feed_item **items, size_t n, char *tail, size_t tail_len,
              const char *snapshot)
{
    size_t slen = strlen(snapshot);
    struct feed_page *pg = malloc(sizeof(*pg) + slen + 1);

    if (pg == NULL) {
        for (size_t i = 0; i < n; i++)
            feed_item_release(items[i]);
        free(items);
        free(tail);
        return NULL;
    }
    atomic_init(&pg->refs, 1);
    pg->items = items;
    pg->n = n;
    pg->tail = tail;
    pg->tail_len = tail_len;
    atomic_init(&pg->gzip_asks, 0);
    atomic_init(&pg->gz, NULL);
    memcpy(pg->snapshot, snapshot, slen + 1);
    return pg;
}

void
feed_page_release(struct feed_page *pg)
{
    if (pg == NULL || atomic_fetch_sub_explicit(&pg->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < pg->n; i++)
        feed_item_release(pg->items[i]);
    free(pg->items);
    free(pg->tail);
    free(atomic_load_explicit(&pg->gz, memory_order_acquire));
    free(pg);
}

const char *
feed_page_snapshot(const struct feed_page *pg)
{
    return pg->snapshot;
}

static void
page_body_done(void *ctx)
{
    feed_page_release(ctx);
}

/* `{"items":[`, the items with commas between, and the tail. */
static struct parts *
plain_body(struct feed_page *pg)
{
    struct parts *body;
    size_t k = 0;
    int rc = 0;

    atomic_fetch_add_explicit(&pg->refs, 1, memory_order_relaxed);
    if ((body = parts_new(2 * pg->n + 2, page_body_done, pg)) == NULL) {
        feed_page_release(pg);
        return NULL;
    }
    rc |= parts_add(body, "{\"items\":[", 10);
    for (size_t i = 0; i < pg->n; i++) {
        if (pg->items[i] == NULL)
            continue;
        if (k++ > 0)
            rc |= parts_add(body, ",", 1);
        rc |= parts_add(body, pg->items[i]->json, pg->items[i]->len);
    }
    rc |= parts_add(body, pg->tail, pg->tail_len);
    if (rc != 0) { /* cannot happen: 2n + 2 pieces at most */
        parts_free(body);
        return NULL;
    }
    return body;
}

/* The pieces as one gzip member, or NULL (OOM, zlib failure). */
static struct gz *
gzip_parts(const struct parts *body)
{
    z_stream zs;
    size_t total = 0, cap;
    struct gz *gz;
    int rc = Z_OK;

    for (size_t i = 0; i < body->n; i++)
        total += body->v[i].len;
    memset(&zs, 0, sizeof(zs));
    if (total > UINT32_MAX / 2 ||
        deflateInit2(&zs, GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    cap = deflateBound(&zs, (uLong)total);
    if ((gz = malloc(sizeof(*gz) + cap)) == NULL) {
        deflateEnd(&zs);
        return NULL;
    }
    zs.next_out = gz->data;
    zs.avail_out = (uInt)cap;
    for (size_t i = 0; i < body->n && rc == Z_OK; i++) {
        zs.next_in = (Bytef *)(uintptr_t)body->v[i].base;
        zs.avail_in = (uInt)body->v[i].len;
        rc = deflate(&zs, Z_NO_FLUSH);
    }
    if (rc == Z_OK)
        rc = deflate(&zs, Z_FINISH);
    gz->len = cap - zs.avail_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(gz);
        return NULL;
    }
    return gz;
}

/* The compressed page as a body holding its own reference; NULL on OOM. */
static struct parts *
gzip_body(struct feed_page *pg, const struct gz *gz)
{
    struct parts *body;

    atomic_fetch_add_explicit(&pg->refs, 1, memory_order_relaxed);
    if ((body = parts_new(1, page_body_done, pg)) == NULL) {
        feed_page_release(pg);
        return NULL;
    }
    if (parts_add(body, (const char *)gz->data, gz->len) != 0) { /* cannot happen */
        parts_free(body);
        return NULL;
    }
    body->encoding = "gzip";
    return body;
}

struct parts *
feed_page_body(struct feed_page *pg, bool gzip)
{
    unsigned after = atomic_load_explicit(&gzip_after, memory_order_relaxed);
    struct parts *body, *zbody;
    struct gz *gz, *none = NULL;

    if (!gzip || after == 0)
        return plain_body(pg);
    if ((gz = atomic_load_explicit(&pg->gz, memory_order_acquire)) != NULL)
        return (zbody = gzip_body(pg, gz)) ? zbody : plain_body(pg);
    /* Only the request that makes the count compresses; those that come
     * while it does get the page plain. */
    if (atomic_fetch_add_explicit(&pg->gzip_asks, 1, memory_order_relaxed) + 1 != after)
        return plain_body(pg);
    if ((body = plain_body(pg)) == NULL || (gz = gzip_parts(body)) == NULL)
        return body;
    /* The count wraps after 2^32 asks: whoever is first keeps its copy. */
    if (!atomic_compare_exchange_strong_explicit(&pg->gz, &none, gz, memory_order_acq_rel,
                                                 memory_order_acquire)) {
        free(gz);
        gz = none;
    }
    if ((zbody = gzip_body(pg, gz)) == NULL)
        return body;
    parts_free(body);
    return zbody;
}

static void
slot_clear(struct page_slot *s)
{
    free(s->key);
    feed_page_release(s->page);
    memset(s, 0, sizeof(*s));
}

void
feed_pages_gzip_after(unsigned n)
{
    atomic_store_explicit(&gzip_after, n, memory_order_relaxed);
}

void
feed_pages_configure(size_t max_pages)
{
    struct page_slot *ns = max_pages ? calloc(max_pages, sizeof(*ns)) : NULL;

    pthread_mutex_lock(&pages_lock);
    for (size_t i = 0; i < nslots; i++)
        slot_clear(&slots[i]);
    free(slots);
    slots = ns;
    nslots = ns ? max_pages : 0; /* on OOM: no pages kept */
    page_absent = 0;
    atomic_store(&page_hits, 0);
    atomic_store(&page_stale, 0);
    pthread_mutex_unlock(&pages_lock);
}

struct feed_page *
feed_pages_get(const char *key)
{
    struct feed_page *pg = NULL;

    pthread_mutex_lock(&pages_lock);
    for (size_t i = 0; i < nslots; i++)
        if (slots[i].key && strcmp(slots[i].key, key) == 0) {
            pg = slots[i].page;
            atomic_fetch_add_explicit(&pg->refs, 1, memory_order_relaxed);
            slots[i].used = ++pages_clock;
            break;
        }
    if (pg == NULL)
        page_absent++;
    pthread_mutex_unlock(&pages_lock);
    return pg;
}

void
feed_pages_put(const char *key, struct feed_page *pg)
{
    char *k;
    struct page_slot *s = NULL;

    if ((k = strdup(key)) == NULL)
        return;
    pthread_mutex_lock(&pages_lock);
    for (size_t i = 0; i < nslots; i++) {
        if (slots[i].key && strcmp(slots[i].key, key) == 0) {
            s = &slots[i];
            break;
        }
        if (s == NULL || slots[i].used < s->used)
            s = &slots[i]; /* an empty slot has used 0 */
    }
    if (s != NULL) {
        slot_clear(s);
        s->key = k;
        s->page = pg;
        s->used = ++pages_clock;
        atomic_fetch_add_explicit(&pg->refs, 1, memory_order_relaxed);
        k = NULL;
    }
    pthread_mutex_unlock(&pages_lock);
    free(k);
}

void
feed_pages_checked(bool current)
{
    atomic_fetch_add_explicit(current ? &page_hits : &page_stale, 1, memory_order_relaxed);
}

void
feed_cache_stats(struct feed_cache_stats *st)
{
    pthread_mutex_lock(&lock);
    st->hits = hits;
    st->misses = misses;
    st->evictions = evictions;
    st->bytes = nbytes;
    st->entries = nentries;
    pthread_mutex_unlock(&lock);
    pthread_mutex_lock(&pages_lock);
    st->page_hits = atomic_load_explicit(&page_hits, memory_order_relaxed);
    st->page_stale = atomic_load_explicit(&page_stale, memory_order_relaxed);
    st->page_absent = page_absent;
    st->pages = 0;
    for (size_t i = 0; i < nslots; i++)
        st->pages += slots[i].page != NULL;
    pthread_mutex_unlock(&pages_lock);
}
