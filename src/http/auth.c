/*
 * auth: bearer keys → account and scopes, with a short-lived cache.
 *
 * The cache maps a key's hash to what the database said about it, for at
 * most key_cache_ms (≤ 1 s, so a revocation reaches every instance within
 * a second, API.md). It keeps the hot path of a busy key off the database.
 * Unknown keys are not cached: there is no reason to keep an attacker's
 * guesses, and each costs one indexed lookup.
 */
#include "inboxd/http/auth.h"

#include <gnutls/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "inboxd/db/keys.h"
#include "inboxd/lib/clock.h"
#include "inboxd/lib/sig.h"

#define CACHE_SLOTS 256

struct cached {
    char hash[AUTH_HASH_HEX + 1];
    struct key_row row;
    int64_t at_ms;
};

static const struct config *cfg;
static struct cached cache[CACHE_SLOTS];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

void
auth_init(const struct config *cf)
{
    cfg = cf;
    auth_cache_clear();
}

void
auth_cache_clear(void)
{
    pthread_mutex_lock(&cache_lock);
    memset(cache, 0, sizeof(cache));
    pthread_mutex_unlock(&cache_lock);
}

int
auth_key_generate(char key[AUTH_KEY_LEN + 1], char prefix[AUTH_PREFIX_LEN + 1],
                  char hash[AUTH_HASH_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[4 + 33];
    char *p = key;

    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return -1;
    memcpy(p, "ibx_", 4);
    p += 4;
    for (int i = 0; i < 4; i++) {
        *p++ = hex[r[i] >> 4];
        *p++ = hex[r[i] & 15];
    }
    *p++ = '_';
    /* 43 characters of 6 random bits each: 258 bits, from 33 bytes. */
    for (int i = 0; i < 43; i++) {
        int bit = i * 6, byte = 4 + bit / 8, shift = bit % 8;
        unsigned v = ((unsigned)r[byte] << 8 | (byte + 1 < (int)sizeof(r) ? r[byte + 1] : 0u));

        *p++ = b64[(v >> (10 - shift)) & 63];
    }
    *p = '\0';
    memcpy(prefix, key, AUTH_PREFIX_LEN);
    prefix[AUTH_PREFIX_LEN] = '\0';
    return sig_sha256_hex(key, AUTH_KEY_LEN, hash);
}

static bool
well_formed(const char *key, size_t n)
{
    if (n != AUTH_KEY_LEN || strncmp(key, "ibx_", 4) != 0 || key[12] != '_')
        return false;
    for (size_t i = 4; i < n; i++) {
        char c = key[i];

        if (i == 12)
            continue;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

static size_t
slot_of(const char *hash)
{
    unsigned v = 0;

    for (int i = 0; i < 8; i++)
        v = v * 16 + (unsigned)(hash[i] <= '9' ? hash[i] - '0' : hash[i] - 'a' + 10);
    return v % CACHE_SLOTS;
}

static int
unauthorized(struct problem *pb, const char *why)
{
    return problem_set(pb, 401, "unauthorized", "%s", why);
}

/* The key's hash from the header, and the cached row when there is one
 * still fresh. Returns 0 (hit), 1 (not cached) or -1 with pb (401). */
static int
bearer_cached(const char *header, char hash[AUTH_HASH_HEX + 1], struct key_row *row,
              struct problem *pb)
{
    const char *key;
    size_t slot;
    bool hit = false;

    if (header == NULL || header[0] == '\0')
        return unauthorized(pb, "an API key is required (Authorization: Bearer <key>)");
    if (strncasecmp(header, "Bearer ", 7) != 0)
        return unauthorized(pb, "the Authorization header must be \"Bearer <key>\"");
    key = header + 7;
    while (*key == ' ')
        key++;
    if (!well_formed(key, strlen(key)))
        return unauthorized(pb, "the API key is not valid");
    if (sig_sha256_hex(key, AUTH_KEY_LEN, hash) != 0)
        return problem_internal(pb, "sha256 failed");

    slot = slot_of(hash);
    pthread_mutex_lock(&cache_lock);
    if (strcmp(cache[slot].hash, hash) == 0 &&
        clock_ms() - cache[slot].at_ms < (cfg ? cfg->key_cache_ms : 0)) {
        *row = cache[slot].row;
        hit = true;
    }
    pthread_mutex_unlock(&cache_lock);
    return hit ? 0 : 1;
}

/* Fills w from a key's row; 401 when it is revoked. */
static int
who_of(const struct key_row *row, struct who *w, struct problem *pb)
{
    if (row->revoked)
        return unauthorized(pb, "the API key has been revoked");
    memcpy(w->account_id, row->account_id, sizeof(w->account_id));
    memcpy(w->key_id, row->id, sizeof(w->key_id));
    memcpy(w->key_prefix, row->prefix, sizeof(w->key_prefix));
    w->scopes = row->scopes;
    return 0;
}

int
auth_bearer(const char *header, struct who *w, struct problem *pb)
{
    struct key_row row;
    char hash[AUTH_HASH_HEX + 1];
    int st = bearer_cached(header, hash, &row, pb);
    int found;

    if (st < 0)
        return -1;
    if (st == 1) {
        size_t slot = slot_of(hash);

        found = db_keys_lookup(hash, &row, pb);
        if (found < 0)
            return -1;
        if (found == 0)
            return unauthorized(pb, "the API key is not valid");
        pthread_mutex_lock(&cache_lock);
        memcpy(cache[slot].hash, hash, sizeof(hash));
        cache[slot].row = row;
        cache[slot].at_ms = clock_ms();
        pthread_mutex_unlock(&cache_lock);
    }
    return who_of(&row, w, pb);
}

int
auth_bearer_cached(const char *header, struct who *w, struct problem *pb)
{
    struct key_row row;
    char hash[AUTH_HASH_HEX + 1];
    int st = bearer_cached(header, hash, &row, pb);

    if (st != 0)
        return st;
    return who_of(&row, w, pb);
}
