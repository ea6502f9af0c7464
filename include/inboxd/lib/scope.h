/*
 * scope: API key scopes by name and bit (API.md "Authentication and
 * tenancy").
 */
#ifndef INBOXD_SCOPE_H
#define INBOXD_SCOPE_H

#include <stddef.h>

/* Scopes of API.md ("Authentication and tenancy"). */
enum scope {
    SCOPE_READ = 1u << 0,
    SCOPE_MESSAGES_WRITE = 1u << 1,
    SCOPE_DRAFTS_WRITE = 1u << 2,
    SCOPE_ACTIONS_WRITE = 1u << 3,
    SCOPE_OUTBOX_WRITE = 1u << 4,
    SCOPE_JOBS_WRITE = 1u << 5,
    SCOPE_ADMIN = 1u << 6,
};

/* Scope names: "read", "messages:write", ... ; scope_parse returns 0 or -1. */
int scope_parse(const char *list, unsigned *out) __attribute__((warn_unused_result));
/* Writes the space-separated names of `scopes` into out. */
void scope_format(unsigned scopes, char *out, size_t outlen);
/* The name of one scope bit, or NULL. */
const char *scope_name(unsigned bit);

#endif
