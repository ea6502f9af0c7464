/*
 * routes/search: full-text message search (GET /v1/search/messages).
 *
 * q is required: missing, empty (or only blanks), longer than 1000 characters or
 * not UTF-8 is a 400 naming `q`, and so is a query PostgreSQL refuses, so no
 * query text can make a 500. Web-search syntax is lenient by design: words,
 * "phrases", -not and `or` are understood and stray punctuation is ignored;
 * a query of stop words only ("the") is valid and matches nothing.
 *
 * No SQL here.
 */
#include <stdbool.h>

#include "inboxd/db/search.h"
#include "inboxd/http/query.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"

static bool
is_blank(const char *s)
{
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r' && *s != '\f' && *s != '\v')
            return false;
    return true;
}

static int
search_messages(struct req *rq, struct reply *out, struct problem *pb)
{
    struct page pg;
    char conv_buf[37];
    const char *q, *conv;
    char *json;
    size_t len;

    if (query_text(rq, "q", SEARCH_QUERY_MAX, &q, pb) != 0)
        return -1;
    if (q == NULL)
        return query_invalid(pb, "q", "is required");
    if (is_blank(q))
        return query_invalid(pb, "q", "must not be empty");
    if (query_uuid(rq, "conversationId", conv_buf, &conv, pb) != 0 ||
        query_page(rq, true, &pg, pb) != 0)
        return -1;
    if (db_search_messages(&rq->who, q, conv, &pg, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

const struct route routes_search[] = {
    {"GET", "/v1/search/messages", SCOPE_READ, ROUTE_NO_BODY, search_messages, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
