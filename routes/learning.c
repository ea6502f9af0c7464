/*
 * routes/learning: the corrections export (GET /v1/learning-samples).
 *
 * Any Accept but application/x-ndjson answers a keyset page. With
 * `Accept: application/x-ndjson` the whole range (from `since`, or after
 * `cursor`; `limit` does not apply) streams as one sample per line, and the
 * cursor to come back with afterwards is the Inboxd-Resume-Cursor header
 * (the page has it as resumeCursor; db_learning.h: the watermark): the
 * handler opens a db_learning stream and hands MHD a reader callback that
 * fills each 64 KiB block from rows as they arrive. A row longer than the
 * room left in a block stays in the stream context (with how much of it
 * was sent) for the next call, so memory stays one row plus one block
 * whatever the range. The stream is closed, and its connection given back,
 * by the reply's stream_free, which MHD calls on every ending: the last
 * row sent, a database error, or a client gone mid-way.
 *
 * No SQL here.
 */
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inboxd/db/learning.h"
#include "inboxd/http/body.h"
#include "inboxd/http/resource.h"
#include "inboxd/lib/jsontext.h"
#include "inboxd/lib/log.h"
#include "inboxd/http/query.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"

#define NDJSON "application/x-ndjson"

/* s[0..n) without leading and trailing blanks: *n updated, start returned. */
static const char *
trim(const char *s, size_t *n)
{
    while (*n > 0 && (*s == ' ' || *s == '\t'))
        s++, (*n)--;
    while (*n > 0 && (s[*n - 1] == ' ' || s[*n - 1] == '\t'))
        (*n)--;
    return s;
}

/* Whether one media range's parameters include q=0 (0, 0., 0.0 ... 0.000):
 * RFC 9110's "not acceptable". */
static bool
q_is_zero(const char *params, const char *stop)
{
    while (params < stop) {
        const char *next = memchr(params, ';', (size_t)(stop - params));
        size_t n = (size_t)((next ? next : stop) - params);
        const char *v = trim(params, &n);

        if (n >= 2 && (v[0] == 'q' || v[0] == 'Q') && v[1] == '=') {
            if (n < 3 || v[2] != '0')
                return false;
            for (size_t i = 3; i < n; i++)
                if (!(i == 3 ? v[i] == '.' : v[i] == '0'))
                    return false;
            return true;
        }
        params = next ? next + 1 : stop;
    }
    return false;
}

/* True when the Accept header lists application/x-ndjson (media types are
 * case-insensitive) without q=0. */
static bool
wants_ndjson(const char *accept)
{
    const char *p = accept;

    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, ',');
        const char *stop = end ? end : p + strlen(p);
        const char *semi = memchr(p, ';', (size_t)(stop - p));
        size_t n = (size_t)((semi ? semi : stop) - p);
        const char *type = trim(p, &n);

        if (n == sizeof(NDJSON) - 1 && strncasecmp(type, NDJSON, n) == 0 &&
            !(semi && q_is_zero(semi + 1, stop)))
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

/* --- the NDJSON stream ----------------------------------------------------- */

struct sample_export {
    struct learning_stream *it;
    const char *row; /* the row being sent, borrowed from it; NULL between rows */
    size_t len;      /* its length without the newline */
    size_t sent;     /* bytes of row + "\n" already copied out */
    bool ended;      /* the stream has no more rows */
    bool failed;     /* a database error: end the response as broken */
    char request_id[80];
};

static void
export_free(void *ctx)
{
    struct sample_export *x = ctx;

    db_learning_stream_close(x->it);
    free(x);
}

/* MHD's content reader: fills buf with whole and partial lines. Returns the
 * bytes written, END_OF_STREAM after the last line, END_WITH_ERROR when the
 * database failed (after handing out what was already copied). */
static ssize_t
export_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    struct sample_export *x = ctx;
    size_t n = 0;

    (void)pos;
    while (n < max) {
        size_t want, k;

        if (x->row == NULL) {
            struct problem pb = {0};
            int rc;

            if (x->ended || x->failed)
                break;
            rc = db_learning_stream_next(x->it, &x->row, &x->len, &pb);
            if (rc < 0) {
                struct log_ctx lc = {.request_id = x->request_id};

                log_event(LOG_WARN, &lc, "learning.export_failed", LOG_S("err", pb.internal),
                          LOG_I("status", pb.status));
                x->failed = true;
                break;
            }
            if (rc == 0) {
                x->ended = true;
                break;
            }
            x->sent = 0;
        }
        /* The row's bytes, then its newline. */
        if (x->sent < x->len) {
            want = x->len - x->sent;
            k = want < max - n ? want : max - n;
            memcpy(buf + n, x->row + x->sent, k);
            n += k;
            x->sent += k;
        }
        if (x->sent == x->len && n < max) {
            buf[n++] = '\n';
            x->row = NULL;
        }
    }
    if (n > 0)
        return (ssize_t)n;
    return x->failed ? MHD_CONTENT_READER_END_WITH_ERROR : MHD_CONTENT_READER_END_OF_STREAM;
}

static int
stream_samples(struct req *rq, const char *since, const struct page *pg, struct reply *out,
               struct problem *pb)
{
    struct sample_export *x = calloc(1, sizeof(*x));

    if (x == NULL)
        return problem_internal(pb, "out of memory");
    if (db_learning_stream_open(&rq->who, since, pg, &x->it, pb) != 0) {
        free(x);
        return -1;
    }
    snprintf(x->request_id, sizeof(x->request_id), "%s", rq->request_id);
    snprintf(out->resume_cursor, sizeof(out->resume_cursor), "%s",
             db_learning_stream_resume(x->it));
    /* HEAD: the stream's headers, its connection given back at once. */
    if (strcmp(rq->method, "HEAD") == 0) {
        export_free(x);
        return reply_head_of_stream(out, NDJSON, pb);
    }
    out->status = 200;
    out->content_type = NDJSON;
    out->stream = export_read;
    out->stream_ctx = x;
    out->stream_free = export_free;
    return 0;
}

/* --- handlers -------------------------------------------------------------- */

static int
list_samples(struct req *rq, struct reply *out, struct problem *pb)
{
    struct page pg;
    char since_buf[32];
    const char *since;
    char *json;
    size_t len;

    if (query_page_xid(rq, &pg, pb) != 0 ||
        query_timestamp(rq, "since", since_buf, &since, pb) != 0)
        return -1;
    if (wants_ndjson(req_header(rq, MHD_HTTP_HEADER_ACCEPT)))
        return stream_samples(rq, since, &pg, out, pb);
    if (db_learning_list(&rq->who, since, &pg, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

static const char *const embeddings_fields[] = {"embeddingsJson", NULL};

/* PATCH /v1/learning-samples/{id} {"embeddingsJson": any JSON | null}:
 * the vectors of the corrections layer, stored as the caller sent them
 * (jsontext: 0.82 stays 0.82), at most 64 KiB as compact JSON. */
static int
set_embeddings(struct req *rq, const json_t *o, const void *arg, char **json, size_t *len,
               int *status, struct problem *pb)
{
    const json_t *v = NULL;
    char *text = NULL;
    int rc;

    (void)arg;
    (void)status;
    body_no_unknown(o, NULL, embeddings_fields, pb);
    if (json_object_get(o, "embeddingsJson") == NULL)
        problem_field(pb, "embeddingsJson", "is required (null clears it)");
    body_value(o, "embeddingsJson", BODY_OPTIONAL, BODY_JSON_MAX, &v, pb);
    if (body_failed(pb))
        return -1;
    if (v != NULL && (text = jsontext_dump(v)) == NULL)
        return problem_internal(pb, "learning: out of memory");
    rc = db_learning_set_embeddings(&rq->who, req_param(rq, "id"), text, json, len, pb);
    free(text);
    return rc;
}

static int
patch_sample(struct req *rq, struct reply *out, struct problem *pb)
{
    return resource_write(rq, out, pb, set_embeddings, NULL);
}

const struct route routes_learning[] = {
    {"GET", "/v1/learning-samples", SCOPE_READ, ROUTE_NO_BODY, list_samples, NULL},
    {"PATCH", "/v1/learning-samples/{id}", SCOPE_JOBS_WRITE, 0, patch_sample, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
