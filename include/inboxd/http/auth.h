/*
 * auth: API keys and the caller identity they give.
 *
 * A key is `ibx_<8 hex>_<43 base64url>`; the first part is its visible
 * prefix, the whole key's SHA-256 (hex) is all that is stored. A looked-up
 * key is cached for key_cache_ms (at most one second) so a revocation takes
 * effect everywhere within that time.
 */
#ifndef INBOXD_AUTH_H
#define INBOXD_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "inboxd/db/who.h"
#include "inboxd/lib/config.h"
#include "inboxd/lib/problem.h"

void auth_init(const struct config *cf);

/*
 * Authenticates an Authorization header value ("Bearer <key>"). Fills w's
 * account, key id, prefix and scopes. Statuses: 401 (missing, malformed,
 * unknown or revoked key), 503 (database).
 */
int auth_bearer(const char *header, struct who *w, struct problem *pb)
    __attribute__((warn_unused_result));

/* The same from the key cache alone, never waiting on the database:
 * returns 0 with w filled, -1 with pb (401), or 1 when the key is not
 * cached (or no longer fresh) and auth_bearer() must look it up. */
int auth_bearer_cached(const char *header, struct who *w, struct problem *pb)
    __attribute__((warn_unused_result));

/* Makes a new random key: out gets the key text, prefix its visible part,
 * hash the hex SHA-256 to store. Returns 0 or -1 (no randomness). */
int auth_key_generate(char key[AUTH_KEY_LEN + 1], char prefix[AUTH_PREFIX_LEN + 1],
                      char hash[AUTH_HASH_HEX + 1]) __attribute__((warn_unused_result));

/* Forgets every cached key (tests; after a revocation on this instance). */
void auth_cache_clear(void);

#endif
