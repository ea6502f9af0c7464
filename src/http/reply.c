/*
 * reply: what a handler answers, and sending it or a problem document on
 * the request's connection (always from the loop: MHD queues responses
 * only from its own thread). A streamed reply's rows are never waited for
 * on the loop: a job thread refills its buffer (the pump) while the
 * connection waits. Never here: SQL, or deciding what to answer.
 */
#include "inboxd/http/reply.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inboxd/http/body.h"
#include "inboxd/http/jobs.h"
#include "inboxd/http/request.h"
#include "inboxd/http/server.h"
#include "inboxd/lib/jsontext.h"
#include "inboxd/lib/log.h"
#include "inboxd/lib/problem.h"

/* --- replies --------------------------------------------------------------- */

int
reply_json(struct reply *out, int status, json_t *doc, struct problem *pb)
{
    char *text;

    if (doc == NULL)
        return problem_internal(pb, "reply: no document");
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (text == NULL)
        return problem_internal(pb, "reply: serialisation failed");
    reply_text(out, status, text, strlen(text), "application/json");
    return 0;
}

void
reply_text(struct reply *out, int status, char *text, size_t len, const char *content_type)
{
    free(out->body);
    out->status = status;
    out->body = text;
    out->len = len;
    out->content_type = content_type;
}

/* The string member `path` of o, one level of "a.b" deep; NULL if none. */
static const char *
member(const json_t *o, const char *path, size_t len)
{
    const char *dot = memchr(path, '.', len);
    char name[64];
    size_t n = dot ? (size_t)(dot - path) : len;

    if (n >= sizeof(name))
        return NULL;
    memcpy(name, path, n);
    name[n] = '\0';
    o = json_object_get(o, name);
    if (dot != NULL)
        return member(o, dot + 1, len - n - 1);
    return json_string_value(o);
}

/* The string member `path` of the answer: read off its text, which is
 * all a 201 needs on the write path; the answer is parsed (once, into
 * *doc) only for a value with escapes. body_parse(), not json_loadb():
 * the answer may echo a caller's number beyond what jansson holds. */
static const char *
answer_member(const struct reply *out, const char *path, size_t len, json_t **doc, size_t *vlen)
{
    const char *v = NULL;
    int rc = jsontext_member(out->body, out->len, path, len, &v, vlen);

    if (rc >= 0)
        return rc ? v : NULL;
    if (*doc == NULL && (*doc = body_parse(out->body, out->len, &(struct problem){0})) == NULL)
        return NULL;
    if ((v = member(*doc, path, len)) != NULL)
        *vlen = strlen(v);
    return v;
}

void
reply_locate(struct reply *out, const char *created)
{
    static const char hex[] = "0123456789ABCDEF";
    char loc[sizeof(out->location)];
    size_t o = 0;
    json_t *doc = NULL;

    if (created == NULL || out->status != 201 || out->location[0] || out->body == NULL)
        return;
    for (const char *p = created; *p; p++) {
        const char *end = *p == '{' ? strchr(p, '}') : NULL;
        const char *v;
        size_t n;

        if (end == NULL) {
            if (o + 1 >= sizeof(loc))
                goto out;
            loc[o++] = *p;
            continue;
        }
        if ((v = answer_member(out, p + 1, (size_t)(end - p - 1), &doc, &n)) == NULL)
            goto out;
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)v[i];
            bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || strchr("-._~/", c) != NULL;

            if (o + (plain ? 1 : 3) >= sizeof(loc))
                goto out;
            if (plain) {
                loc[o++] = (char)c;
            } else {
                loc[o++] = '%';
                loc[o++] = hex[c >> 4];
                loc[o++] = hex[c & 15];
            }
        }
        p = end;
    }
    loc[o] = '\0';
    memcpy(out->location, loc, o + 1);
out:
    json_decref(doc);
}

int
reply_head_of_stream(struct reply *out, const char *content_type, struct problem *pb)
{
    char *none = strdup("");

    if (none == NULL)
        return problem_internal(pb, "out of memory");
    reply_text(out, 200, none, 0, content_type);
    return 0;
}

void
reply_parts(struct reply *out, int status, struct parts *body)
{
    parts_free(out->parts);
    out->status = status;
    out->parts = body;
    out->content_type = "application/json";
}

void
reply_cleanup(struct reply *out)
{
    free(out->body);
    out->body = NULL;
    parts_free(out->parts);
    out->parts = NULL;
    if (out->stream_free && out->stream_ctx)
        out->stream_free(out->stream_ctx);
    out->stream_ctx = NULL;
}

/* The next item of a comma-separated header list at *pp: its token
 * [*tok, *tok + *len) and its parameters, from *params to the item's end,
 * where *pp is left. Returns false when no item is left. */
static bool
next_item(const char **pp, const char **tok, size_t *len, const char **params)
{
    const char *p = *pp, *e;

    while (*p == ' ' || *p == '\t' || *p == ',')
        p++;
    if (*p == '\0')
        return false;
    for (e = p; *e && *e != ',' && *e != ';' && *e != ' ' && *e != '\t'; e++)
        ;
    *tok = p;
    *len = (size_t)(e - p);
    *params = e;
    while (*e && *e != ',')
        e++;
    *pp = e;
    return true;
}

/* Whether an item's parameters [p, end) hold a q-value of 0 ("q=0",
 * "q=0.0", ...); any other weight, or none, is above 0. */
static bool
q_is_zero(const char *p, const char *end)
{
    while (p < end) {
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
            p++;
        if (end - p >= 2 && (*p == 'q' || *p == 'Q') && p[1] == '=') {
            const char *v = p + 2;

            if (v >= end || *v != '0')
                return false;
            for (v++; v < end && (*v == '.' || *v == '0'); v++)
                ;
            return v == end || *v == ' ' || *v == '\t' || *v == ';';
        }
        while (p < end && *p != ';')
            p++;
    }
    return false;
}

bool
http_accepts_coding(const char *accept_encoding, const char *coding)
{
    const char *p = accept_encoding, *tok, *params;
    size_t len, clen = strlen(coding);
    int named = -1, star = -1; /* -1 absent, 0 refused, 1 accepted */

    if (p == NULL)
        return false;
    while (next_item(&p, &tok, &len, &params)) {
        int ok = !q_is_zero(params, p);

        if (len == clen && strncasecmp(tok, coding, len) == 0)
            named = ok;
        else if (len == 1 && tok[0] == '*')
            star = ok;
    }
    return named >= 0 ? named == 1 : star == 1;
}

/* --- sending --------------------------------------------------------------- */

static void
add_common_headers(struct req *rq, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Request-Id", rq->request_id);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (rq->position[0] != '\0')
        MHD_add_response_header(resp, "Inboxd-Position", rq->position);
    if (rq->close || server_stopping())
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

static enum MHD_Result
queue(struct req *rq, int status, struct MHD_Response *resp)
{
    enum MHD_Result rc;

    if (resp == NULL)
        return MHD_NO;
    add_common_headers(rq, resp);
    rq->status = status;
    rc = MHD_queue_response(rq->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

enum MHD_Result
reply_send_problem(struct req *rq, const struct problem *pb)
{
    static const char fallback[] =
        "{\"type\":\"/problems/internal\",\"title\":\"Internal Server Error\",\"status\":500}";
    struct MHD_Response *resp;
    struct problem p = *pb;
    char *text;
    char num[16];

    if (p.status < 400 || p.status > 599)
        p.status = 500;
    if (p.status >= 500 && p.internal[0])
        log_event(LOG_ERROR, &rq->log, "http.internal", LOG_S("err", p.internal));
    text = problem_render(&p, rq->request_id);
    if (text != NULL)
        resp = MHD_create_response_from_buffer_with_free_callback(strlen(text), text, free);
    else
        resp = MHD_create_response_from_buffer(sizeof(fallback) - 1, (void *)(uintptr_t)fallback,
                                               MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/problem+json");
    if (p.status == 405 && p.allow[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, p.allow);
    if (p.retry_after > 0 || p.status == 503) {
        snprintf(num, sizeof(num), "%d", p.retry_after > 0 ? p.retry_after : 1);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
    }
    if (p.status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"inboxd\"");
    return queue(rq, p.status, resp);
}

/*
 * A streamed reply. Its rows must not be waited for on the loop: when
 * nothing is buffered, the content reader suspends the
 * connection and a job thread fills the buffer (PUMP_BYTES) from the
 * handler's stream, then resumes it; MHD then calls the reader again.
 */
#define PUMP_BYTES (64 * 1024)

struct pump {
    struct reply r;  /* the handler's stream (a copy the response owns) */
    struct req *rq;  /* whose connection waits while a job fills buf */
    char *buf;
    size_t len, off;
    ssize_t end;     /* 0, or what the stream ended with */
    uint64_t pos;    /* bytes the stream has produced */
};

static void
stream_free_adapter(void *cls)
{
    struct pump *p = cls;

    if (p->r.stream_free && p->r.stream_ctx)
        p->r.stream_free(p->r.stream_ctx);
    free(p->buf);
    free(p);
}

static ssize_t
stream_adapter(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct pump *p = cls;
    size_t n;

    (void)pos;
    if (p->off < p->len) {
        n = p->len - p->off < max ? p->len - p->off : max;
        memcpy(buf, p->buf + p->off, n);
        p->off += n;
        return (ssize_t)n;
    }
    if (p->end != 0)
        return p->end;
    p->rq->pump = p;
    jobs_wait(p->rq);
    return 0;
}

void
reply_pump_fill(struct pump *p)
{
    ssize_t n;

    if (p->buf == NULL && (p->buf = malloc(PUMP_BYTES)) == NULL) {
        p->end = MHD_CONTENT_READER_END_WITH_ERROR;
        return;
    }
    while ((n = p->r.stream(p->r.stream_ctx, p->pos, p->buf, PUMP_BYTES)) == 0)
        ;
    if (n < 0) {
        p->end = n;
        return;
    }
    p->len = (size_t)n;
    p->off = 0;
    p->pos += (uint64_t)n;
}

static void
parts_free_adapter(void *cls)
{
    parts_free(cls);
}

enum MHD_Result
reply_send(struct req *rq, struct reply *out)
{
    struct MHD_Response *resp;
    const char *encoding = NULL;
    char num[16];

    if (out->stream != NULL && out->live) {
        /* Served on the loop: the stream never waits (live.c). */
        /* Small blocks: a stream is mostly idle, and there may be many. */
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4 * 1024, out->stream,
                                                 out->stream_ctx, out->stream_free);
        if (resp == NULL)
            return MHD_NO;
        out->stream_ctx = NULL;
        /* Neither a cache nor a buffering proxy may hold events back. */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    } else if (out->stream != NULL) {
        /* The response owns a copy of the reply for the stream's life. */
        struct pump *copy = calloc(1, sizeof(*copy));

        if (copy == NULL)
            return MHD_NO;
        copy->r = *out;
        copy->r.body = NULL;
        copy->rq = rq;
        out->stream_ctx = NULL;
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, stream_adapter, copy,
                                                 stream_free_adapter);
        if (resp == NULL) {
            stream_free_adapter(copy);
            return MHD_NO;
        }
    } else if (out->parts != NULL) {
        /* MHD copies the vector, not the pieces: they live until the
         * response is destroyed and parts_free() runs. */
        struct MHD_IoVec *iov = calloc(out->parts->n ? out->parts->n : 1, sizeof(*iov));

        if (iov == NULL)
            return MHD_NO;
        encoding = out->parts->encoding;
        for (size_t i = 0; i < out->parts->n; i++) {
            iov[i].iov_base = out->parts->v[i].base;
            iov[i].iov_len = out->parts->v[i].len;
        }
        resp = MHD_create_response_from_iovec(iov, (unsigned)out->parts->n, parts_free_adapter,
                                              out->parts);
        free(iov);
        if (resp == NULL)
            return MHD_NO;
        out->parts = NULL;
    } else if (out->body != NULL) {
        resp = MHD_create_response_from_buffer_with_free_callback(out->len, out->body, free);
        if (resp == NULL)
            return MHD_NO;
        out->body = NULL;
    } else {
        resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (resp == NULL)
            return MHD_NO;
    }
    if (out->content_type != NULL &&
        (out->stream || out->len > 0 || out->parts || out->status != 204))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, out->content_type);
    if (out->etag[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, out->etag);
    if (out->location[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, out->location);
    if (out->resume_cursor[0])
        MHD_add_response_header(resp, "Inboxd-Resume-Cursor", out->resume_cursor);
    if (out->retry_after > 0) {
        snprintf(num, sizeof(num), "%d", out->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, num);
    }
    if (out->replayed)
        MHD_add_response_header(resp, "Idempotent-Replayed", "true");
    if (out->vary_encoding)
        MHD_add_response_header(resp, "Vary", "Accept-Encoding");
    if (encoding != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, encoding);
    return queue(rq, out->status ? out->status : 200, resp);
}

