/*
 * conditional: ETag and If-Match of resources that change (conversation,
 * draft, job run). The tag itself comes from the db layer (db/etag.h);
 * here it is quoted for the header, and If-Match is read into the bare
 * tag the db function compares inside its write.
 */
#ifndef INBOXD_CONDITIONAL_H
#define INBOXD_CONDITIONAL_H

#include "inboxd/db/etag.h"
#include "inboxd/lib/problem.h"

struct req;

/*
 * Reads If-Match. *val is NULL when the header is absent or "*" (no
 * condition), else points into buf: the bare tag to compare in SQL.
 * A malformed header is a 400 (weak tags never match for If-Match, so
 * they are refused too: 412 per RFC 9110 would hide a caller bug).
 */
int etag_if_match(const struct req *rq, char buf[32], const char **val, struct problem *pb)
    __attribute__((warn_unused_result));

#endif
