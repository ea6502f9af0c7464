/*
 * query: query-string readers. Each one validates fully before anything
 * reaches SQL, so a bad parameter is a 400 and never a database error.
 */
#include "inboxd/http/query.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inboxd/lib/cursor.h"
#include "inboxd/lib/rfc3339.h"
#include "inboxd/lib/utf8.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/lib/uuid7.h"

int
query_invalid(struct problem *pb, const char *name, const char *why)
{
    problem_set(pb, 400, "invalid-parameter", "query parameter %s: %s", name, why);
    return problem_field(pb, name, "%s", why);
}

/* ?limit into pg, and ?cursor decoded into *c (*has: one was given). */
static int
read_page(const struct req *rq, struct page *pg, struct cursor *c, bool *has, struct problem *pb)
{
    const char *limit = req_query(rq, "limit");
    const char *cur = req_query(rq, "cursor");

    memset(pg, 0, sizeof(*pg));
    *has = false;
    pg->limit = PAGE_DEFAULT;
    if (limit != NULL) {
        char *end;
        long n;

        errno = 0;
        n = strtol(limit, &end, 10);
        if (errno != 0 || end == limit || *end != '\0' || n < 1 || n > PAGE_MAX)
            return query_invalid(pb, "limit", "must be an integer from 1 to 200");
        pg->limit = (int)n;
    }
    snprintf(pg->fetch, sizeof(pg->fetch), "%d", pg->limit + 1);
    if (cur != NULL) {
        struct problem local = {0};

        if (cursor_decode(cur, c, &local) != 0)
            return query_invalid(pb, "cursor", "is not a cursor of this list");
        snprintf(pg->id_buf, sizeof(pg->id_buf), "%s", c->id);
        pg->after_id = pg->id_buf;
        *has = true;
    }
    return 0;
}

int
query_page(const struct req *rq, bool with_ts, struct page *pg, struct problem *pb)
{
    struct cursor c;
    bool has;

    if (read_page(rq, pg, &c, &has, pb) != 0)
        return -1;
    if (has && (c.has_ts != with_ts || c.has_xid))
        return query_invalid(pb, "cursor", "is not a cursor of this list");
    if (has && c.has_ts) {
        rfc3339_format_us(c.ts_usec, pg->ts_buf);
        pg->after_ts = pg->ts_buf;
    }
    return 0;
}

int
query_page_xid(const struct req *rq, struct page *pg, struct problem *pb)
{
    struct cursor c;
    bool has;

    if (read_page(rq, pg, &c, &has, pb) != 0)
        return -1;
    if (!has)
        return 0;
    if (c.has_xid) {
        snprintf(pg->xid_buf, sizeof(pg->xid_buf), "%llu", (unsigned long long)c.xid);
        pg->after_xid = pg->xid_buf;
    } else if (c.has_ts) {
        /* A cursor the list handed out before it was ordered by commit
         * position: still honoured, as the point in time it names. */
        rfc3339_format_us(c.ts_usec, pg->ts_buf);
        pg->after_ts = pg->ts_buf;
    } else {
        return query_invalid(pb, "cursor", "is not a cursor of this list");
    }
    return 0;
}

int
query_uuid(const struct req *rq, const char *name, char buf[37], const char **out,
           struct problem *pb)
{
    const char *v = req_query(rq, name);

    *out = NULL;
    if (v == NULL)
        return 0;
    if (!uuid7_is_valid(v))
        return query_invalid(pb, name, "must be a UUID");
    uuid7_lower(v, buf);
    *out = buf;
    return 0;
}

int
query_enum(const struct req *rq, const char *name, const char *const *names, const char **out,
           struct problem *pb)
{
    const char *v = req_query(rq, name);
    char why[160];
    size_t len = 0;

    *out = NULL;
    if (v == NULL)
        return 0;
    for (int i = 0; names[i]; i++)
        if (strcmp(v, names[i]) == 0) {
            *out = names[i];
            return 0;
        }
    len = (size_t)snprintf(why, sizeof(why), "must be one of");
    for (int i = 0; names[i] && len < sizeof(why); i++)
        len += (size_t)snprintf(why + len, sizeof(why) - len, "%s %s", i ? "," : "", names[i]);
    return query_invalid(pb, name, why);
}

int
query_timestamp(const struct req *rq, const char *name, char buf[32], const char **out,
                struct problem *pb)
{
    const char *v = req_query(rq, name);
    int64_t us;

    *out = NULL;
    if (v == NULL)
        return 0;
    if (rfc3339_parse(v, &us) != 0)
        return query_invalid(pb, name, "must be an RFC 3339 timestamp");
    rfc3339_format_us(us, buf);
    *out = buf;
    return 0;
}

int
query_bool(const struct req *rq, const char *name, bool *out, bool *present, struct problem *pb)
{
    const char *v = req_query(rq, name);

    *present = v != NULL;
    if (v == NULL)
        return 0;
    if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
        *out = true;
    else if (strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
        *out = false;
    else
        return query_invalid(pb, name, "must be true or false");
    return 0;
}

int
query_text(const struct req *rq, const char *name, size_t max_chars, const char **out,
           struct problem *pb)
{
    const char *v = req_query(rq, name);
    size_t n;
    char why[64];

    *out = NULL;
    if (v == NULL)
        return 0;
    n = strlen(v);
    if (!utf8_valid(v, n))
        return query_invalid(pb, name, "must be valid UTF-8");
    if (n > max_chars && utf8_chars(v, n) > max_chars) {
        snprintf(why, sizeof(why), "must be at most %zu characters", max_chars);
        return query_invalid(pb, name, why);
    }
    *out = v;
    return 0;
}
