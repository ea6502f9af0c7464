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
 * Only a header that is not "*" or a list of entity tags is a 400
 * "invalid-header". A well-formed tag inboxd did not issue (weak, not its
 * decimal form) never matches: *val is then a tag no row has, so the write
 * answers 412 (RFC 9110: If-Match compares strongly). Of a list, the first
 * strong tag of inboxd's form is compared.
 */
int etag_if_match(const struct req *rq, char buf[32], const char **val, struct problem *pb)
    __attribute__((warn_unused_result));

#endif
