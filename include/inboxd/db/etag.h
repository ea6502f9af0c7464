/*
 * etag: entity tags of resources that change (conversation, draft, job run).
 *
 * A tag is the resource's updated_at in microseconds since the epoch, as a
 * decimal string. db functions select it beside the JSON with ETAG_SQL and
 * compare an If-Match value against the same expression inside the write,
 * so a stale If-Match can never slip between check and write. The HTTP
 * side (http/conditional.h) quotes it for the ETag header and reads
 * If-Match.
 */
#ifndef INBOXD_DB_ETAG_H
#define INBOXD_DB_ETAG_H

#include <stdio.h>

/* The SQL expression of a tag for table alias `a` (string literal). */
#define ETAG_SQL(a) "(extract(epoch FROM " a ".updated_at) * 1000000)::int8"

/* Formats the ETag header value ("\"<usec>\"") of a tag from SQL. */
static inline void
etag_format(const char *tag, char out[72])
{
    snprintf(out, 72, "\"%.60s\"", tag ? tag : "");
}

#endif
