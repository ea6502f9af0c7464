/*
 * db_keys: accounts and API keys.
 *
 * The only statements not scoped by an account are the ones that find the
 * account: the key lookup by hash (authentication) and the operator's
 * command-line tools, which act across accounts by design.
 */
#ifndef INBOXD_DB_KEYS_H
#define INBOXD_DB_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "inboxd/db/who.h"
#include "inboxd/lib/page.h"
#include "inboxd/lib/problem.h"

struct key_row {
    char id[37];
    char account_id[37];
    char prefix[AUTH_PREFIX_LEN + 1];
    unsigned scopes;
    bool revoked;
};

/* Finds a key by its hash. Returns 1 found, 0 not found, -1 with pb (503).
 * Records last_used_at at most once a minute per key. */
int db_keys_lookup(const char *hash, struct key_row *out, struct problem *pb)
    __attribute__((warn_unused_result));

/* GET /v1/account: the caller's account. *json: new malloc()ed. */
int db_account_get(const struct who *w, char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

/* GET /v1/api-keys: a page of the account's keys. */
int db_keys_list(const struct who *w, const struct page *pg, char **json, size_t *len,
                 struct problem *pb) __attribute__((warn_unused_result));

/* DELETE /v1/api-keys/{id}: revokes (idempotent: the first revokedAt stays).
 * 404 when the key is not the account's. */
int db_keys_revoke(const struct who *w, const char *id, char **json, size_t *len,
                   struct problem *pb) __attribute__((warn_unused_result));

/* Command line. Each returns 0, or -1 with pb. */
int db_accounts_create(const char *name, char id[37], struct problem *pb)
    __attribute__((warn_unused_result));
/* An account id or name → id. 404 when none. */
int db_accounts_resolve(const char *id_or_name, char id[37], struct problem *pb)
    __attribute__((warn_unused_result));
int db_keys_insert(const char *account_id, const char *name, unsigned scopes, const char *prefix,
                   const char *hash, char id[37], struct problem *pb)
    __attribute__((warn_unused_result));
/* Prints every key (or one account's when account_id is not NULL) as lines. */
int db_keys_print(const char *account_id, FILE *out, struct problem *pb)
    __attribute__((warn_unused_result));
/* Revokes by id across accounts (operator). 404 when no such key. */
int db_keys_revoke_any(const char *id, struct problem *pb) __attribute__((warn_unused_result));

#endif
