/*
 * query: typed readers of query-string parameters, for routes/.
 *
 * Absent parameters leave *out NULL (or the default); a present parameter
 * with an invalid value is a 400 naming the parameter, never ignored
 * (API.md "Details callers rely on").
 */
#ifndef INBOXD_QUERY_H
#define INBOXD_QUERY_H

#include <stdbool.h>

#include "inboxd/lib/page.h"
#include "inboxd/lib/problem.h"

struct req;

/* ?limit (1-200, default 50) and ?cursor. `with_ts`: the list's cursor
 * carries a timestamp (a cursor of the other kind is a 400). */
int query_page(const struct req *rq, bool with_ts, struct page *pg, struct problem *pb)
    __attribute__((warn_unused_result));

/* The same for a list ordered by commit position (cursor.h): the cursor
 * sets pg->after_xid and after_id; a (timestamp, id) cursor that the list
 * handed out before sets pg->after_ts and after_id instead. */
int query_page_xid(const struct req *rq, struct page *pg, struct problem *pb)
    __attribute__((warn_unused_result));

/* A UUID; *out points into buf (lower-cased) or is NULL when absent. */
int query_uuid(const struct req *rq, const char *name, char buf[37], const char **out,
               struct problem *pb) __attribute__((warn_unused_result));

/* One of names (NULL-terminated); *out borrowed from names, NULL when absent. */
int query_enum(const struct req *rq, const char *name, const char *const *names,
               const char **out, struct problem *pb) __attribute__((warn_unused_result));

/* An RFC 3339 timestamp, normalised into buf (UTC, microseconds). */
int query_timestamp(const struct req *rq, const char *name, char buf[32], const char **out,
                    struct problem *pb) __attribute__((warn_unused_result));

/* true/false (also 1/0); *present false when absent. */
int query_bool(const struct req *rq, const char *name, bool *out, bool *present,
               struct problem *pb) __attribute__((warn_unused_result));

/* Free text of valid UTF-8, up to max_chars characters (code points);
 * *out NULL when absent. */
int query_text(const struct req *rq, const char *name, size_t max_chars, const char **out,
               struct problem *pb) __attribute__((warn_unused_result));

/* A 400 for parameter `name`. Returns -1. */
int query_invalid(struct problem *pb, const char *name, const char *why);

#endif
