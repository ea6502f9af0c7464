/*
 * server: the HTTP front of inboxd on libmicrohttpd.
 *
 * DESIGN. One loop serves every connection and never waits on the
 * database: libmicrohttpd runs without a thread of its own (MHD_USE_EPOLL,
 * MHD_run) inside our poll loop, which also drives the reader of
 * db_query_start(), so the reads one pass starts go out in one round trip
 * and their answers come back on the same thread. A request that must
 * wait (a write, a key not in the cache, an Idempotency-Key, a stale feed
 * page) is suspended and handed to one of JOB_THREADS job threads, which
 * runs its handler and resumes it; the loop sends the answer. A route with
 * start() (the conversation read, a kept feed page) needs no job thread:
 * the loop renders its answer when the reader resumes it. A streamed
 * export is refilled by a job thread while its connection waits. Other
 * threading set-ups were measured and removed (tests/bench/RESULTS.md).
 *
 * Guards run flat, before the handler, in this order (Redis's
 * processCommand): route (404/405), key (401), scope (403), body type
 * (415), body size (413). Whatever fails early is answered on the first
 * call, before the body is read. The handler runs on the last call.
 *
 * Never here: SQL, or anything that writes a response other than through
 * send_reply()/send_problem().
 */
#include "inboxd/http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "inboxd/db/db.h"
#include "inboxd/db/idem.h"
#include "inboxd/http/metrics.h"
#include "inboxd/lib/uuid7.h"
#include "inboxd/lib/sig.h"
#include "inboxd/lib/wake.h"

/* Handlers that wait on the database run here: more threads than any
 * pool we run has connections, so a handler waiting for a lock or a
 * connection never holds back one that could run. */
#define JOB_THREADS 32
/* A handler's deepest stack (jansson, libpq, the word diff) is a small
 * part of this; 32 threads at glibc's 8 MiB would only waste memory. */
#define JOB_STACK_BYTES (512 * 1024)
/* libmicrohttpd's buffer per connection holds the request line and the
 * headers; bodies are read into memory of ours, up to body_limit. */
#define CONNECTION_MEMORY_BYTES (16 * 1024)

static const struct config *cfg;
static struct MHD_Daemon *daemon_;
static atomic_int inflight;
static atomic_bool stopping;
static unsigned bound_port;

static int64_t
mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

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

void
reply_parts(struct reply *out, int status, struct parts *body)
{
    parts_free(out->parts);
    out->status = status;
    out->parts = body;
    out->content_type = "application/json";
}

static void
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

/* --- request accessors ----------------------------------------------------- */

const char *
req_header(const struct req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
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

const char *
req_query(const struct req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *
req_param(const struct req *rq, const char *name)
{
    return router_param(&rq->match, name);
}

/* --- sending --------------------------------------------------------------- */

static void
add_common_headers(struct req *rq, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Request-Id", rq->request_id);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (atomic_load(&stopping))
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

static enum MHD_Result
send_problem(struct req *rq, const struct problem *pb)
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

static void wait_on_job(struct req *rq);

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
    wait_on_job(p->rq);
    return 0;
}

/* On a job thread: the next piece of the stream into p->buf. */
static void
pump_fill(struct pump *p)
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

static enum MHD_Result
send_reply(struct req *rq, struct reply *out)
{
    struct MHD_Response *resp;
    const char *encoding = NULL;
    char num[16];

    if (out->stream != NULL) {
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

/* --- the request ----------------------------------------------------------- */

static bool
is_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == ':';
}

/* X-Request-Id: the caller's when it is a sane token, else a new UUIDv7. */
static void
set_request_id(struct req *rq)
{
    const char *id = req_header(rq, "X-Request-Id");
    size_t n = id ? strlen(id) : 0;
    bool ok = n > 0 && n < 64;

    for (size_t i = 0; ok && i < n; i++)
        ok = is_token_char(id[i]);
    if (ok)
        memcpy(rq->request_id, id, n + 1);
    else
        uuid7_new(rq->request_id);
}

/* W3C traceparent: 00-<32 hex trace id>-<16 hex parent>-<2 hex flags>. */
static void
set_trace_id(struct req *rq)
{
    const char *tp = req_header(rq, "traceparent");
    bool nonzero = false;

    rq->trace_id[0] = '\0';
    if (tp == NULL || strlen(tp) < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-')
        return;
    for (int i = 3; i < 35; i++) {
        char c = tp[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return;
        nonzero |= c != '0';
    }
    if (!nonzero)
        return;
    memcpy(rq->trace_id, tp + 3, 32);
    rq->trace_id[32] = '\0';
}

static void
set_ip(struct req *rq)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;

    rq->ip[0] = '\0';
    if (sa == NULL)
        return;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, rq->ip,
                  sizeof(rq->ip));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, rq->ip,
                  sizeof(rq->ip));
}

static bool
is_json_type(const char *ct)
{
    size_t n = strcspn(ct, ";");

    while (n > 0 && ct[n - 1] == ' ')
        n--;
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return true;
    /* application/<something>+json, e.g. merge-patch+json. */
    return n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
           strncasecmp(ct + n - 5, "+json", 5) == 0;
}

static int
check_scope(struct req *rq, struct problem *pb)
{
    const struct route *r = rq->match.route;

    if (r->scope != 0 && !(rq->who.scopes & r->scope))
        return problem_set(pb, 403, "forbidden", "this key lacks the %s scope",
                           scope_name(r->scope));
    return 0;
}

/* The guards of the first call. Returns 0, or -1 with rq->early set. */
static int
guard(struct req *rq, const char *url)
{
    struct problem *pb = &rq->early;
    const struct route *r;
    const char *cl = req_header(rq, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = req_header(rq, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    const char *ct = req_header(rq, MHD_HTTP_HEADER_CONTENT_TYPE);

    if (strlen(url) >= ROUTER_MAX_PATH)
        return problem_set(pb, 404, "not-found", "no such resource");
    if (router_match(rq->method, url, &rq->match, pb) != 0)
        return -1;
    rq->matched = true;
    r = rq->match.route;
    snprintf(rq->route_name, sizeof(rq->route_name), "%s %s", r->method, r->pattern);

    if (!(r->flags & (ROUTE_PUBLIC | ROUTE_WEBHOOK)) ||
        (r->flags & ROUTE_METRICS && cfg->metrics_require_key)) {
        const char *authz = req_header(rq, MHD_HTTP_HEADER_AUTHORIZATION);
        int st = auth_bearer_cached(authz, &rq->who, pb);

        if (st < 0)
            return -1;
        /* A key not in the cache is looked up on a job thread: the loop
         * never waits on the database. */
        if (st == 1)
            rq->auth_later = true;
        else if (check_scope(rq, pb) != 0)
            return -1;
    }

    rq->has_body = (cl != NULL && strcmp(cl, "0") != 0) || te != NULL;
    if (rq->has_body && ct != NULL && !is_json_type(ct))
        return problem_set(pb, 415, "unsupported-media-type",
                           "request bodies must be application/json");
    if (cl != NULL) {
        char *end;
        unsigned long long n;

        errno = 0;
        n = strtoull(cl, &end, 10);
        if (errno == 0 && *end == '\0' && n > (unsigned long long)cfg->body_limit)
            return problem_set(pb, 413, "body-too-large", "the body exceeds %lld bytes",
                               cfg->body_limit);
    }
    return 0;
}

static struct req *
req_new(struct MHD_Connection *conn, const char *url, const char *method)
{
    struct req *rq = malloc(sizeof(*rq));

    if (rq == NULL)
        return NULL;
    memset(rq, 0, offsetof(struct req, early));
    problem_init(&rq->early);
    problem_init(&rq->pb);
    rq->url = strdup(url);
    if (rq->url == NULL) {
        free(rq);
        return NULL;
    }
    rq->conn = conn;
    rq->method = method;
    rq->out.content_type = "application/json";
    rq->start_ns = mono_ns();
    set_request_id(rq);
    set_trace_id(rq);
    set_ip(rq);
    rq->user_agent = req_header(rq, MHD_HTTP_HEADER_USER_AGENT);
    rq->log.request_id = rq->request_id;
    rq->log.trace_id = rq->trace_id;
    rq->log.route = rq->route_name;
    rq->who.request_id = rq->request_id;
    rq->who.ip = rq->ip;
    rq->who.user_agent = rq->user_agent;
    snprintf(rq->route_name, sizeof(rq->route_name), "%s unmatched", method);
    return rq;
}

static void
req_free(struct req *rq)
{
    if (rq == NULL)
        return;
    reply_cleanup(&rq->out);
    if (rq->state != NULL && rq->state_cleanup != NULL)
        rq->state_cleanup(rq->state);
    free(rq->state);
    free(rq->url);
    free(rq->body);
    free(rq);
}

/* Appends a body chunk; past the limit the body is dropped and 413 noted. */
static void
append_body(struct req *rq, const char *data, size_t n)
{
    size_t need = rq->body_len + n + 1;

    if (rq->early.status != 0)
        return;
    if (rq->body_len + n > (size_t)cfg->body_limit) {
        free(rq->body);
        rq->body = NULL;
        rq->body_len = rq->body_cap = 0;
        problem_set(&rq->early, 413, "body-too-large", "the body exceeds %lld bytes",
                    cfg->body_limit);
        return;
    }
    if (need > rq->body_cap) {
        size_t cap = rq->body_cap ? rq->body_cap : 4096;
        char *nb;

        while (cap < need)
            cap *= 2;
        nb = realloc(rq->body, cap);
        if (nb == NULL) {
            problem_internal(&rq->early, "out of memory for the body");
            return;
        }
        rq->body = nb;
        rq->body_cap = cap;
    }
    memcpy(rq->body + rq->body_len, data, n);
    rq->body_len += n;
    rq->body[rq->body_len] = '\0';
}

/* Idempotency-Key: 1-255 visible ASCII characters (the draft's advice). */
static int
idem_key(const struct req *rq, const char **key, struct problem *pb)
{
    const char *k = req_header(rq, "Idempotency-Key");
    size_t n;

    *key = NULL;
    if (k == NULL || strcmp(rq->method, "POST") != 0)
        return 0;
    n = strlen(k);
    if (n == 0 || n > 255)
        return problem_set(pb, 400, "invalid-header", "Idempotency-Key must be 1-255 characters");
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x20 || k[i] > 0x7e)
            return problem_set(pb, 400, "invalid-header",
                               "Idempotency-Key must be printable ASCII");
    *key = k;
    return 0;
}

int
req_idempotency(struct req *rq, struct reply *out, struct problem *pb)
{
    struct idem_replay rp = {0};
    const char *key;
    int st;

    if (rq->idem_key != NULL || rq->idem_replayed)
        return rq->idem_replayed ? 1 : 0;
    if (idem_key(rq, &key, pb) != 0)
        return -1;
    if (key == NULL)
        return 0;
    st = db_idem_begin(&rq->who, key, rq->method, rq->url, cfg->idempotency_lease_s, &rp, pb);
    if (st < 0)
        return -1;
    if (st == IDEM_REPLAY) {
        reply_text(out, rp.status, rp.body, rp.len,
                   rp.status >= 400 ? "application/problem+json" : "application/json");
        memcpy(out->etag, rp.etag, sizeof(out->etag));
        out->replayed = true;
        rq->idem_replayed = true;
        return 1;
    }
    rq->idem_key = key;
    return 0;
}

/* Stores the first answer of an idempotent POST, or forgets the key when
 * the failure was ours (5xx) so that a retry runs again. */
static void
idem_settle(struct req *rq, const char *key, const struct reply *out, const struct problem *pb,
            bool ok)
{
    struct problem ipb = {0};
    int status = ok ? (out->status ? out->status : 200) : pb->status;
    int rc;

    if (status >= 500 || (ok && (out->stream || out->parts))) {
        rc = db_idem_abort(&rq->who, key, &ipb);
    } else if (ok) {
        rc = db_idem_finish(&rq->who, key, status, out->body ? out->body : "",
                            out->etag[0] ? out->etag : NULL, &ipb);
    } else {
        char *text = problem_render(pb, rq->request_id);

        rc = text ? db_idem_finish(&rq->who, key, status, text, NULL, &ipb) : -1;
        free(text);
    }
    if (rc != 0)
        log_event(LOG_WARN, &rq->log, "http.idempotency_unsettled", LOG_I("status", status));
}

/* --- running the handler ----------------------------------------------------- */

/*
 * Where a handler runs. The loop never waits: the connection is suspended
 * while a job thread runs the handler, or, for a route with start(), while
 * the reader does its read; then it is resumed, and the loop sends the
 * answer (MHD queues responses only from its own thread).
 */
static atomic_int suspended;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct req *head, **tail;
    pthread_t *threads;
    int n;
    bool stop;
} jobs = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

void *
req_state(struct req *rq, size_t size, void (*cleanup)(void *state))
{
    if (rq->state == NULL) {
        rq->state = calloc(1, size);
        rq->state_cleanup = cleanup;
    }
    return rq->state;
}

static void loop_wake_from_elsewhere(void);

/* Hands the request back to its HTTP thread; the last touch of rq. */
static void
resume(struct req *rq)
{
    atomic_store_explicit(&rq->phase, REQ_READY, memory_order_release);
    atomic_fetch_sub(&suspended, 1);
    MHD_resume_connection(rq->conn);
    loop_wake_from_elsewhere();
}

void
req_resume(void *arg, int rc, const struct problem *pb)
{
    struct req *rq = arg;

    rq->ok = rc >= 0;
    rq->must_wait = rc > 0;
    if (rc < 0 && pb != &rq->pb)
        rq->pb = *pb;
    if (rq->thread_waits) {
        atomic_store_explicit(&rq->resumed, 1, memory_order_release);
        wake_word(&rq->resumed);
    } else {
        resume(rq);
    }
}

/* A started route on a job thread (its key was not cached, or it is a
 * POST): start, wait here for the reader, render. */
static int
run_started(struct req *rq, struct reply *out, struct problem *pb)
{
    const struct route *r = rq->match.route;

    atomic_store(&rq->resumed, 0);
    rq->thread_waits = true;
    rq->started = true;
    if (r->start(rq, pb) != 0)
        return -1;
    wake_wait(&rq->resumed, NULL);
    rq->thread_waits = false;
    if (!rq->ok)
        return -1;
    return r->fn(rq, out, pb);
}

/* The body every handler may rely on, and its hash. Returns 0 or -1 with
 * rq->pb. */
static int
body_ready(struct req *rq)
{
    if (rq->body == NULL) {
        /* Handlers may rely on a NUL-terminated, possibly empty body. */
        rq->body = calloc(1, 1);
        if (rq->body == NULL)
            return problem_internal(&rq->pb, "out of memory");
    }
    if (sig_sha256_hex(rq->body, rq->body_len, rq->who.request_hash) != 0)
        return problem_internal(&rq->pb, "sha256 failed");
    return 0;
}

/* Runs the handler to its answer in rq->out, or rq->pb with rq->ok false.
 * Blocks on the database; never writes to the connection. */
static void
handle(struct req *rq)
{
    const struct route *r = rq->match.route;
    int st = 0;

    log_bind(&rq->log);
    rq->ok = false;
    if (rq->auth_later) {
        rq->auth_later = false;
        if (auth_bearer(req_header(rq, MHD_HTTP_HEADER_AUTHORIZATION), &rq->who, &rq->pb) != 0 ||
            check_scope(rq, &rq->pb) != 0)
            goto out;
    }
    if (body_ready(rq) != 0)
        goto out;
    /* A webhook's account is known only once its signature verified: its
     * handler calls req_idempotency() itself. */
    if (!(r->flags & ROUTE_WEBHOOK))
        st = req_idempotency(rq, &rq->out, &rq->pb);
    if (st != 0) {
        rq->ok = st == 1;
        goto out;
    }
    rq->finish = false;
    rq->ok = (r->start && !rq->started ? run_started(rq, &rq->out, &rq->pb)
                                       : r->fn(rq, &rq->out, &rq->pb)) == 0;
    if (!rq->ok && rq->pb.status == 0)
        problem_internal(&rq->pb, "handler failed without a problem");
    /* Settled before the answer leaves, so a repeat that follows the
     * answer always finds it. */
    if (rq->idem_key != NULL)
        idem_settle(rq, rq->idem_key, &rq->out, &rq->pb, rq->ok);
out:
    log_bind(NULL);
}

static void job_push(struct req *rq);

/* Sends rq->out or rq->pb; with a started route, renders it first, or
 * hands it to a job thread when it must wait after all. */
static enum MHD_Result
answer(struct req *rq)
{
    enum MHD_Result rc;

    if (rq->finish && rq->ok && rq->must_wait) {
        wait_on_job(rq);
        return MHD_YES;
    }
    log_bind(&rq->log);
    if (rq->finish) {
        rq->finish = false;
        if (rq->ok && rq->match.route->fn(rq, &rq->out, &rq->pb) != 0) {
            rq->ok = false;
            if (rq->pb.status == 0)
                problem_internal(&rq->pb, "handler failed without a problem");
        }
    }
    rc = rq->ok ? send_reply(rq, &rq->out) : send_problem(rq, &rq->pb);
    reply_cleanup(&rq->out);
    log_bind(NULL);
    return rc;
}

static void *
job_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct req *rq;

        pthread_mutex_lock(&jobs.mu);
        while (jobs.head == NULL && !jobs.stop)
            pthread_cond_wait(&jobs.cv, &jobs.mu);
        rq = jobs.head;
        if (rq == NULL) {
            pthread_mutex_unlock(&jobs.mu);
            return NULL;
        }
        jobs.head = rq->next_job;
        if (jobs.head == NULL)
            jobs.tail = &jobs.head;
        pthread_mutex_unlock(&jobs.mu);
        if (rq->pump != NULL) {
            struct pump *p = rq->pump;

            rq->pump = NULL;
            pump_fill(p);
        } else {
            handle(rq);
        }
        resume(rq);
    }
}

/* Suspends rq's connection until something resumes it; call from an MHD
 * callback of that connection. */
static void
suspend(struct req *rq)
{
    atomic_store(&rq->phase, REQ_WAITING);
    atomic_fetch_add(&suspended, 1);
    MHD_suspend_connection(rq->conn);
}

/* Suspends rq's connection until a job thread has run for it. */
static void
wait_on_job(struct req *rq)
{
    suspend(rq);
    job_push(rq);
}

static void
job_push(struct req *rq)
{
    rq->next_job = NULL;
    pthread_mutex_lock(&jobs.mu);
    *jobs.tail = rq;
    jobs.tail = &rq->next_job;
    pthread_cond_signal(&jobs.cv);
    pthread_mutex_unlock(&jobs.mu);
}

static int
jobs_start(int n, size_t stack)
{
    pthread_attr_t attr;

    jobs.head = NULL;
    jobs.tail = &jobs.head;
    jobs.stop = false;
    jobs.threads = calloc((size_t)n, sizeof(*jobs.threads));
    if (jobs.threads == NULL)
        return -1;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack);
    for (jobs.n = 0; jobs.n < n; jobs.n++)
        if (pthread_create(&jobs.threads[jobs.n], &attr, job_main, NULL) != 0)
            break;
    pthread_attr_destroy(&attr);
    return jobs.n == n ? 0 : -1;
}

static void
jobs_stop(void)
{
    pthread_mutex_lock(&jobs.mu);
    jobs.stop = true;
    pthread_cond_broadcast(&jobs.cv);
    pthread_mutex_unlock(&jobs.mu);
    for (int i = 0; i < jobs.n; i++)
        pthread_join(jobs.threads[i], NULL);
    free(jobs.threads);
    jobs.threads = NULL;
    jobs.n = 0;
}

/* The last call of a request: hand it on to a job thread or the reader. */
static enum MHD_Result
dispatch(struct req *rq)
{
    const struct route *r = rq->match.route;

    /* A POST may carry an Idempotency-Key, and a key may need looking up:
     * both are done on a job thread; every other started route needs no
     * thread at all. */
    if (r->start == NULL || strcmp(rq->method, "POST") == 0 || rq->auth_later) {
        wait_on_job(rq);
        return MHD_YES;
    }
    /* Suspended before the read starts: its answer may come at once. */
    suspend(rq);
    log_bind(&rq->log);
    rq->finish = true;
    rq->started = true;
    if (body_ready(rq) != 0 || r->start(rq, &rq->pb) != 0)
        req_resume(rq, -1, &rq->pb);
    log_bind(NULL);
    return MHD_YES;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct req *rq = *con_cls;

    (void)cls;
    (void)version;
    if (rq == NULL) {
        rq = req_new(conn, url, method);
        if (rq == NULL)
            return MHD_NO;
        *con_cls = rq;
        atomic_fetch_add(&inflight, 1);
        log_bind(&rq->log);
        guard(rq, url);
        log_bind(NULL);
        /* Refuse before reading a body that will be thrown away. */
        if (rq->early.status != 0)
            return send_problem(rq, &rq->early);
        return MHD_YES;
    }
    switch (atomic_load_explicit(&rq->phase, memory_order_acquire)) {
    case REQ_READY:
        return answer(rq);
    case REQ_WAITING:
        return MHD_YES; /* not resumed yet */
    default:
        break;
    }
    if (*upload_size > 0) {
        append_body(rq, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (rq->early.status != 0)
        return send_problem(rq, &rq->early);
    return dispatch(rq);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    struct req *rq = *con_cls;
    double ms;

    (void)cls;
    (void)conn;
    if (rq == NULL)
        return;
    ms = (double)(mono_ns() - rq->start_ns) / 1e6;
    metrics_observe(rq->matched ? rq->match.index : -1, rq->status, ms / 1000.0);
    log_event(rq->status >= 500 || rq->status == 0 ? LOG_WARN : LOG_INFO, &rq->log, "http.request",
              LOG_S("method", rq->method), LOG_I("status", rq->status), LOG_F("dur_ms", ms),
              LOG_S("key_id", rq->who.key_id[0] ? rq->who.key_id : NULL),
              LOG_S("account_id", rq->who.account_id[0] ? rq->who.account_id : NULL),
              LOG_S("ip", rq->ip),
              LOG_S("end", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "ok" : "aborted"));
    req_free(rq);
    *con_cls = NULL;
    atomic_fetch_sub(&inflight, 1);
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_event(LOG_WARN, NULL, "http.mhd", LOG_S("err", msg));
}

/* --- start and stop -------------------------------------------------------- */

static int
resolve_listen(const char *listen, struct sockaddr_storage *ss, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    const char *port = colon + 1;
    size_t hlen = (size_t)(colon - listen);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int rc;

    if (hlen >= sizeof(host)) {
        snprintf(err, errlen, "listen: host too long");
        return -1;
    }
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    /* [::1]:8080 */
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
    if (rc != 0 || ai == NULL) {
        snprintf(err, errlen, "listen %s: %s", listen, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return 0;
}

/* --- the loop ------------------------------------------------------------------ */

/*
 * libmicrohttpd runs without a thread of its own (MHD_USE_EPOLL, MHD_run)
 * in this loop, which also polls the reader's connection
 * (db_reader_pollfds): the reads that one pass of MHD_run starts go out
 * together right after it, and their answers are taken in the same
 * thread, so no thread hands a read to another. Other threads (job
 * threads, the shutdown) reach it through loop_efd.
 */
enum { LOOP_RUN, LOOP_QUIESCE, LOOP_EXIT };

static bool loop_again; /* the loop's own thread resumed a connection */
static pthread_t loop_thread;
static int loop_efd = -1;
static atomic_int loop_cmd;

/* MHD without a thread notices a resumed connection at its next MHD_run
 * (MHD_get_timeout is 0 then), not by itself: a resume from another
 * thread than the loop's must wake the loop. */
static void
loop_wake_from_elsewhere(void)
{
    uint64_t one = 1;

    if (pthread_equal(pthread_self(), loop_thread)) {
        loop_again = true; /* the loop's next poll() does not sleep */
        return;
    }
    if (write(loop_efd, &one, sizeof(one)) < 0)
        log_event(LOG_WARN, NULL, "http.loop_eventfd", LOG_S("err", strerror(errno)));
}

static void
loop_tell(int cmd)
{
    uint64_t one = 1;

    atomic_store(&loop_cmd, cmd);
    if (write(loop_efd, &one, sizeof(one)) < 0)
        log_event(LOG_WARN, NULL, "http.loop_eventfd", LOG_S("err", strerror(errno)));
}

static void *
loop_main(void *arg)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_EPOLL_FD);
    int mfd = info ? info->epoll_fd : -1;
    bool quiesced = false;

    (void)arg;
    for (;;) {
        struct pollfd fds[4] = {{.fd = mfd, .events = POLLIN}, {.fd = loop_efd, .events = POLLIN}};
        MHD_UNSIGNED_LONG_LONG mt;
        int cmd = atomic_load(&loop_cmd), timeout = -1;

        if (cmd >= LOOP_QUIESCE && !quiesced) {
            MHD_socket fd = MHD_quiesce_daemon(daemon_);

            if (fd != MHD_INVALID_SOCKET)
                close(fd);
            quiesced = true;
        }
        if (cmd == LOOP_EXIT)
            break;
        db_reader_pollfds(&fds[2], &timeout);
        if (MHD_get_timeout(daemon_, &mt) == MHD_YES &&
            (timeout < 0 || mt < (MHD_UNSIGNED_LONG_LONG)timeout))
            timeout = (int)mt;
        if (loop_again)
            timeout = 0;
        loop_again = false;
        if (poll(fds, 4, timeout) < 0 && errno != EINTR)
            log_event(LOG_WARN, NULL, "http.loop_poll", LOG_S("err", strerror(errno)));
        db_reader_polled(&fds[2]);
        if (fds[1].revents & POLLIN) {
            uint64_t v;

            if (read(loop_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                log_event(LOG_WARN, NULL, "http.loop_eventfd", LOG_S("err", strerror(errno)));
        }
        MHD_run(daemon_);
    }
    return NULL;
}

static int
loop_start(void)
{
    atomic_store(&loop_cmd, LOOP_RUN);
    loop_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop_efd < 0)
        return -1;
    db_reader_attach();
    if (pthread_create(&loop_thread, NULL, loop_main, NULL) != 0) {
        db_reader_detach();
        close(loop_efd);
        loop_efd = -1;
        return -1;
    }
    return 0;
}

static void
loop_end(void)
{
    loop_tell(LOOP_EXIT);
    pthread_join(loop_thread, NULL);
    db_reader_detach();
    close(loop_efd);
    loop_efd = -1;
}

int
server_start(const struct config *cf, char *err, size_t errlen)
{
    struct sockaddr_storage ss = {0};
    unsigned flags = MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    const union MHD_DaemonInfo *info;

    cfg = cf;
    atomic_store(&stopping, false);
    if (resolve_listen(cf->listen, &ss, err, errlen) != 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (jobs_start(JOB_THREADS, JOB_STACK_BYTES) != 0) {
        jobs_stop();
        snprintf(err, errlen, "cannot start %d job threads", JOB_THREADS);
        return -1;
    }
    daemon_ = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, NULL,
        /* First, so that MHD's own messages from the other options reach it. */
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cf->http_max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cf->http_connection_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY_BYTES,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_END);
    if (daemon_ == NULL) {
        jobs_stop();
        snprintf(err, errlen, "cannot serve on %s (address in use or not available)", cf->listen);
        return -1;
    }
    info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    bound_port = info ? info->port : 0;
    if (loop_start() != 0) {
        MHD_stop_daemon(daemon_);
        daemon_ = NULL;
        jobs_stop();
        snprintf(err, errlen, "cannot start the HTTP loop");
        return -1;
    }
    return 0;
}

const struct config *
server_config(void)
{
    return cfg;
}

unsigned
server_port(void)
{
    return bound_port;
}

int
server_inflight(void)
{
    return atomic_load(&inflight);
}

void
server_stop(void)
{
    int64_t deadline;

    if (daemon_ == NULL)
        return;
    atomic_store(&stopping, true);
    loop_tell(LOOP_QUIESCE);
    deadline = mono_ns() + (int64_t)cfg->shutdown_timeout_s * 1000000000LL;
    while (atomic_load(&inflight) > 0 && mono_ns() < deadline) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000000L};

        nanosleep(&ts, NULL);
    }
    if (atomic_load(&inflight) > 0)
        log_event(LOG_WARN, NULL, "http.shutdown_timeout", LOG_I("inflight", atomic_load(&inflight)));
    /* A suspended request's job or read still uses it; each ends within
     * statement_timeout or pool_wait_ms, and MHD must not free it first. */
    while (atomic_load(&suspended) > 0) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000000L};

        nanosleep(&ts, NULL);
    }
    loop_end();
    MHD_stop_daemon(daemon_);
    daemon_ = NULL;
    jobs_stop();
}
