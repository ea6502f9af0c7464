/*
 * routes/sources: source documents, the knowledge-base pages the crawler
 * keeps (API.md "Learning, jobs, sources, notifications").
 *
 * PUT upserts by sourceUrl (201 new, 200 updated). Omitted fields keep
 * their stored value (openapi.json SourceDocumentInput); title, hash,
 * indexedAt and nextRefreshAt are nullable there, so an explicit null
 * clears one. Reads need `read`, the upsert `jobs:write`, and the delete
 * `admin`: API.md lists deletes under admin, which wins over openapi.json's
 * x-scope. No SQL here.
 */
#include <string.h>
#include <strings.h>

#include "inboxd/http/body.h"
#include "inboxd/db/sources.h"
#include "inboxd/lib/problem.h"
#include "inboxd/http/query.h"
#include "inboxd/lib/rfc3339.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/http/resource.h"
#include "inboxd/lib/uuid7.h"

#define URL_MAX_CHARS 2048
#define TITLE_MAX_CHARS 1000
#define HASH_MAX_CHARS 200

static const char *const put_fields[] = {"sourceUrl",     "title",    "hash", "indexedAt",
                                         "nextRefreshAt", "metadata", NULL};

/*
 * An absolute http or https URL with a host, in printable ASCII (a URI, not
 * an IRI: no spaces, no control or non-ASCII bytes). Deliberately no more
 * than that: the crawler owns its URLs, we only refuse what is not one.
 */
static bool
is_http_url(const char *s)
{
    const char *auth, *end, *host;

    if (strncasecmp(s, "http://", 7) == 0)
        auth = s + 7;
    else if (strncasecmp(s, "https://", 8) == 0)
        auth = s + 8;
    else
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return false;
    end = auth + strcspn(auth, "/?#");
    /* The host follows any user information (up to the last '@'). */
    host = auth;
    for (const char *p = auth; p < end; p++)
        if (*p == '@')
            host = p + 1;
    if (host < end && *host == '[') {
        const char *close = memchr(host, ']', (size_t)(end - host));

        return close != NULL && close > host + 1;
    }
    return host < end && *host != ':';
}

/* Reads an optional nullable timestamp: *set when the body names it, *text
 * NULL for null, else buf formatted for PostgreSQL. */
static void
read_time(const json_t *o, const char *field, char buf[RFC3339_BUFLEN], const char **text,
          bool *set, struct problem *pb)
{
    int64_t usec = 0;
    bool present = false;

    *set = json_object_get(o, field) != NULL;
    *text = NULL;
    if (body_timestamp(o, field, BODY_OPTIONAL, &usec, &present, pb) == 0 && present) {
        rfc3339_format_us(usec, buf);
        *text = buf;
    }
}

static int
upsert_source(struct req *rq, const json_t *o, const void *arg, char **json, size_t *len,
              int *status, struct problem *pb)
{
    (void)arg;
    char indexed[RFC3339_BUFLEN], refresh[RFC3339_BUFLEN];
    struct source_in in = {0};
    bool created;
    body_no_unknown(o, NULL, put_fields, pb);
    body_nonempty_string(o, "sourceUrl", BODY_REQUIRED, URL_MAX_CHARS, &in.source_url, pb);
    /* source_url stays NULL when the reader refused it. */
    if (in.source_url != NULL && !is_http_url(in.source_url))
        problem_field(pb, "sourceUrl", "must be an absolute http or https URL");
    in.title_set = json_object_get(o, "title") != NULL;
    body_string(o, "title", BODY_OPTIONAL, TITLE_MAX_CHARS, &in.title, pb);
    in.hash_set = json_object_get(o, "hash") != NULL;
    body_string(o, "hash", BODY_OPTIONAL, HASH_MAX_CHARS, &in.hash, pb);
    read_time(o, "indexedAt", indexed, &in.indexed_at, &in.indexed_at_set, pb);
    read_time(o, "nextRefreshAt", refresh, &in.next_refresh_at, &in.next_refresh_at_set, pb);
    body_object(o, "metadata", BODY_OPTIONAL, BODY_JSON_MAX, &in.metadata, pb);
    if (body_failed(pb) || db_sources_upsert(&rq->who, &in, json, len, &created, pb) != 0)
        return -1;
    *status = created ? 201 : 200;
    return 0;
}

static int
put_source(struct req *rq, struct reply *out, struct problem *pb)
{
    return resource_write(rq, out, pb, upsert_source, NULL);
}

static int
list_sources(struct req *rq, struct reply *out, struct problem *pb)
{
    char due_buf[32];
    const char *due;
    struct page pg;
    char *json;
    size_t len;

    if (query_page(rq, true, &pg, pb) != 0 ||
        query_timestamp(rq, "dueBefore", due_buf, &due, pb) != 0)
        return -1;
    if (db_sources_list(&rq->who, due, &pg, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

static int
get_source(struct req *rq, struct reply *out, struct problem *pb)
{
    return resource_get(rq, out, pb, db_sources_get);
}

static int
delete_source(struct req *rq, struct reply *out, struct problem *pb)
{
    char id[UUID7_STRLEN + 1];

    uuid7_lower(req_param(rq, "id"), id);
    if (db_sources_delete(&rq->who, id, pb) != 0)
        return -1;
    out->status = 204;
    return 0;
}

const struct route routes_sources[] = {
    {"PUT", "/v1/source-documents", SCOPE_JOBS_WRITE, 0, put_source, NULL},
    {"GET", "/v1/source-documents", SCOPE_READ, ROUTE_NO_BODY, list_sources, NULL},
    {"GET", "/v1/source-documents/{id}", SCOPE_READ, ROUTE_NO_BODY, get_source, NULL},
    {"DELETE", "/v1/source-documents/{id}", SCOPE_ADMIN, ROUTE_NO_BODY, delete_source, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
