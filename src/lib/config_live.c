/*
 * config_live: the configuration in force, and what a reload may change.
 *
 * config.c reads a configuration; this file keeps the one the server runs
 * with. It is published whole and replaced whole (shared.h): a reader holds
 * the copy it started with, and a reload (SIGHUP) reads a new one, keeps
 * the running values of the settings that cannot change while serving, and
 * publishes the result.
 */
#include "inboxd/lib/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inboxd/lib/shared.h"

/* --- the configuration in force -------------------------------------------- */

static struct shared_slot live = SHARED_SLOT_INIT;

static void
free_shared(struct shared *sh)
{
    struct config *cf = (struct config *)(void *)((char *)sh - offsetof(struct config, shared));

    config_cleanup(cf);
    free(cf);
}

struct config *
config_dup(const struct config *cf)
{
    struct config *d = malloc(sizeof(*d));
    bool ok = d != NULL;

    if (d == NULL)
        return NULL;
    memcpy(d, cf, sizeof(*d));
    atomic_init(&d->shared.refs, 0);
    d->shared.free = free_shared;
    /* Every pointer is made the copy's own (or NULL) before any can fail,
     * so config_cleanup() frees exactly what was copied. */
    for (const struct config_key *k = config_keys; k->name; k++)
        if (k->type == CONFIG_STR)
            *(char **)((char *)d + k->offset) = NULL;
    for (int i = 0; i < d->nsources; i++)
        d->sources[i].secret = d->sources[i].secret_previous = d->sources[i].account = NULL;
    for (const struct config_key *k = config_keys; ok && k->name; k++)
        if (k->type == CONFIG_STR) {
            const char *v = *(char *const *)((const char *)cf + k->offset);

            ok = (*(char **)((char *)d + k->offset) = strdup(v ? v : "")) != NULL;
        }
    for (int i = 0; ok && i < d->nsources; i++) {
        const struct config_source *s = &cf->sources[i];
        struct config_source *t = &d->sources[i];

        ok = (t->secret = strdup(s->secret)) != NULL && (t->account = strdup(s->account)) != NULL &&
             (s->secret_previous == NULL ||
              (t->secret_previous = strdup(s->secret_previous)) != NULL);
    }
    if (!ok) {
        config_cleanup(d);
        free(d);
        return NULL;
    }
    return d;
}

void
config_publish(struct config *cf)
{
    shared_publish(&live, cf ? &cf->shared : NULL);
}

const struct config *
config_hold(void)
{
    struct shared *sh = shared_hold(&live);

    return sh ? (const struct config *)(const void *)((const char *)sh -
                                                      offsetof(struct config, shared))
              : NULL;
}

void
config_release(const struct config *cf)
{
    /* The count is the one mutable part of a published configuration. */
    if (cf != NULL)
        shared_release((struct shared *)(uintptr_t)&cf->shared);
}

/* --- reload ------------------------------------------------------------------ */

static bool
key_differs(const struct config *a, const struct config *b, const struct config_key *k)
{
    const char *pa = (const char *)a + k->offset, *pb = (const char *)b + k->offset;

    switch (k->type) {
    case CONFIG_STR: {
        const char *sa = *(char *const *)pa, *sb = *(char *const *)pb;

        return strcmp(sa ? sa : "", sb ? sb : "") != 0;
    }
    case CONFIG_INT:
        return *(const int *)pa != *(const int *)pb;
    case CONFIG_LLONG:
        return *(const long long *)pa != *(const long long *)pb;
    case CONFIG_BOOL:
        return *(const bool *)pa != *(const bool *)pb;
    }
    return false;
}

/* Sets next's value of k to running's. Returns 0 or -1 (out of memory). */
static int
key_restore(struct config *next, const struct config *running, const struct config_key *k)
{
    char *pn = (char *)next + k->offset;
    const char *pr = (const char *)running + k->offset;

    if (k->type == CONFIG_STR) {
        const char *v = *(char *const *)pr;
        char *dup = strdup(v ? v : "");

        if (dup == NULL)
            return -1;
        free(*(char **)pn);
        *(char **)pn = dup;
        return 0;
    }
    memcpy(pn, pr,
           k->type == CONFIG_INT ? sizeof(int) : k->type == CONFIG_LLONG ? sizeof(long long)
                                                                           : sizeof(bool));
    return 0;
}

static void
add_name(char *list, size_t len, const char *name)
{
    size_t n = strlen(list);

    snprintf(list + n, len - n, "%s%s", n ? " " : "", name);
}

static bool
same_text(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool
sources_differ(const struct config *a, const struct config *b)
{
    if (a->nsources != b->nsources)
        return true;
    for (int i = 0; i < a->nsources; i++) {
        const struct config_source *x = &a->sources[i], *y = config_source_find(b, x->name);

        if (y == NULL || !same_text(x->secret, y->secret) ||
            !same_text(x->secret_previous, y->secret_previous) ||
            !same_text(x->account, y->account) || x->scheme != y->scheme)
            return true;
    }
    return false;
}

int
config_reconcile(struct config *next, const struct config *running, char *kept, size_t keptlen,
                 char *changed, size_t changedlen)
{
    kept[0] = changed[0] = '\0';
    /* The certificates can change at run time, serving HTTPS or plain
     * HTTP cannot: a listening socket is one or the other. */
    if ((running->tls_cert[0] == '\0') != (next->tls_cert[0] == '\0')) {
        for (const struct config_key *k = config_keys; k->name; k++)
            if (strncmp(k->name, "tls_", 4) == 0 && key_restore(next, running, k) != 0)
                return -1;
        add_name(kept, keptlen, "tls_cert");
    }
    for (const struct config_key *k = config_keys; k->name; k++) {
        if (!key_differs(next, running, k))
            continue;
        if (k->reload) {
            add_name(changed, changedlen, k->name);
            continue;
        }
        if (key_restore(next, running, k) != 0)
            return -1;
        add_name(kept, keptlen, k->name);
    }
    if (sources_differ(next, running))
        add_name(changed, changedlen, "webhook");
    return 0;
}
