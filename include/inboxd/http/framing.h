/*
 * framing: the checks of a request's target and headers that keep a
 * request from being read two ways (framing.c says which, and why).
 */
#ifndef INBOXD_FRAMING_H
#define INBOXD_FRAMING_H

#include <stdbool.h>

#include "inboxd/lib/problem.h"

struct MHD_Connection;

/* A flaw of a request target: answered with status, type and detail. */
struct framing_flaw {
    int status;
    const char *type;
    const char *detail;
    bool rest_ok;  /* no flaw where the route's last parameter is a {name...} rest */
};

/* The request target as the client sent it, before any decoding: an
 * encoded NUL anywhere, or an encoded '/' in the path, is a flaw. Returns
 * NULL when there is none, else a static flaw. */
struct framing_flaw *framing_target_flaw(const char *target);

/* Whether p is one of the flaws framing_target_flaw() returns. */
bool framing_is_flaw(const void *p);

/* The headers of conn: a header inboxd reads once sent twice, both
 * Content-Length and Transfer-Encoding, a Content-Length that is not
 * digits (400), a transfer coding other than chunked (501).
 * Returns 0, or -1 with pb; the connection must then be closed. */
int framing_check_headers(struct MHD_Connection *conn, struct problem *pb);

#endif
