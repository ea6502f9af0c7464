/*
 * parts: a response body made of pieces that stay where they are.
 *
 * A feed page is fifty cached items and some punctuation. Copied into one
 * buffer, a page was written twice (once by us, once by the kernel)
 * and the buffer's pages faulted in anew each time; as parts, the pieces
 * go out with one gathered write. The body's owner (ctx) keeps every piece
 * alive until release(ctx) runs, when the response is done or dropped.
 */
#ifndef INBOXD_PARTS_H
#define INBOXD_PARTS_H

#include <stddef.h>

struct part {
    const char *base;
    size_t len;
};

struct parts {
    struct part *v;
    size_t n, cap;
    const char *encoding; /* Content-Encoding of the pieces (static), NULL: none */
    void (*release)(void *ctx);
    void *ctx;
};

/* A body of at most cap pieces whose memory ctx owns; NULL on OOM (ctx is
 * then still the caller's). */
struct parts *parts_new(size_t cap, void (*release)(void *ctx), void *ctx);

/* Appends a piece (borrowed: it must live as long as ctx does). Empty
 * pieces are skipped. Returns -1 when cap pieces are already there. */
int parts_add(struct parts *p, const char *base, size_t len) __attribute__((warn_unused_result));

/* Releases ctx and the body; NULL is a no-op. */
void parts_free(struct parts *p);

#endif
