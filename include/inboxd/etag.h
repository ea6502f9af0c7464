/*
 * etag: entity tags of resources that change (conversation, draft, job run).
 *
 * A tag is the resource's updated_at in microseconds since the epoch, as a
 * decimal string in quotes. db functions select it beside the JSON as
 * `(extract(epoch FROM x.updated_at) * 1000000)::int8` and compare an
 * If-Match value against the same expression inside the write, so a stale
 * If-Match can never slip between check and write.
 */
#ifndef INBOXD_ETAG_H
#define INBOXD_ETAG_H

#include "inboxd/problem.h"

/* The SQL expression of a tag for table alias `a` (string literal). */
#define ETAG_SQL(a) "(extract(epoch FROM " a ".updated_at) * 1000000)::int8"

struct req;

/* Formats the ETag header value ("\"<usec>\"") of a tag from SQL. */
void etag_format(const char *tag, char out[72]);

/*
 * Reads If-Match. *val is NULL when the header is absent or "*" (no
 * condition), else points into buf: the bare tag to compare in SQL.
 * A malformed header is a 400 (weak tags never match for If-Match, so
 * they are refused too: 412 per RFC 9110 would hide a caller bug).
 */
int etag_if_match(const struct req *rq, char buf[32], const char **val, struct problem *pb)
    __attribute__((warn_unused_result));

#endif
