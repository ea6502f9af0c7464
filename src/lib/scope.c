/*
 * scope: the scopes of API keys (API.md "Authentication and tenancy") by
 * name and bit. The db layer stores them, the HTTP layer checks them; the
 * name table here is the one list of them. Never here: what a scope allows.
 */
#include "inboxd/lib/scope.h"

#include <stdio.h>
#include <string.h>

static const char *const scope_names[] = {
    "read", "messages:write", "drafts:write", "actions:write", "outbox:write", "jobs:write",
    "admin", NULL,
};

int
scope_parse(const char *list, unsigned *out)
{
    const char *p = list;

    *out = 0;
    while (*p) {
        size_t len;
        int found = -1;

        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        len = strcspn(p, " ,");
        for (int i = 0; scope_names[i]; i++)
            if (strlen(scope_names[i]) == len && strncmp(scope_names[i], p, len) == 0)
                found = i;
        if (found < 0)
            return -1;
        *out |= 1u << found;
        p += len;
    }
    return *out ? 0 : -1;
}

void
scope_format(unsigned scopes, char *out, size_t outlen)
{
    size_t len = 0;

    out[0] = '\0';
    for (int i = 0; scope_names[i]; i++) {
        int w;

        if (!(scopes & (1u << i)))
            continue;
        w = snprintf(out + len, outlen - len, "%s%s", len ? " " : "", scope_names[i]);
        if (w < 0 || (size_t)w >= outlen - len)
            return;
        len += (size_t)w;
    }
}

const char *
scope_name(unsigned bit)
{
    for (int i = 0; scope_names[i]; i++)
        if (bit == 1u << i)
            return scope_names[i];
    return NULL;
}
