/*
 * parts: a response body made of pieces that stay where they are (parts.h).
 */
#include "inboxd/lib/parts.h"

#include <stdlib.h>

struct parts *
parts_new(size_t cap, void (*release)(void *ctx), void *ctx)
{
    struct parts *p = calloc(1, sizeof(*p));

    if (p == NULL)
        return NULL;
    p->v = calloc(cap ? cap : 1, sizeof(*p->v));
    if (p->v == NULL) {
        free(p);
        return NULL;
    }
    p->cap = cap;
    p->release = release;
    p->ctx = ctx;
    return p;
}

int
parts_add(struct parts *p, const char *base, size_t len)
{
    if (len == 0)
        return 0;
    if (p->n == p->cap)
        return -1;
    p->v[p->n].base = base;
    p->v[p->n].len = len;
    p->n++;
    return 0;
}

void
parts_free(struct parts *p)
{
    if (p == NULL)
        return;
    if (p->release != NULL)
        p->release(p->ctx);
    free(p->v);
    free(p);
}
