/*
 * request: the life of a struct req: made on a request's first call with
 * its ids and the guards' verdict, fed the body, and freed by the
 * completion callback alone. Also the accessors handlers read it with.
 * Never here: running a handler or sending anything.
 */
#include "inboxd/http/request.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inboxd/http/auth.h"
#include "inboxd/http/body.h"
#include "inboxd/http/server.h"
#include "inboxd/http/tls.h"
#include "inboxd/lib/clock.h"
#include "inboxd/lib/sig.h"
#include "inboxd/lib/uuid7.h"

const char *
req_header(const struct req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
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

int
req_check_scope(struct req *rq, struct problem *pb)
{
    const struct route *r = rq->match.route;

    if (r->scope != 0 && !(rq->who.scopes & r->scope))
        return problem_set(pb, 403, "forbidden", "this key lacks the %s scope",
                           scope_name(r->scope));
    /* A request may use what both its key and its client certificate
     * allow (tls_client_names): a certificate that leaks with a key of
     * another service still cannot act as that service. */
    if (r->scope != 0 && !(rq->cert_scopes & r->scope))
        return problem_set(pb, 403, "forbidden",
                           "the client certificate \"%s\" may not use the %s scope",
                           rq->cert_name, scope_name(r->scope));
    return 0;
}

/* MHD decodes %00 in a query name or value and hands the handlers a C
 * string that stops there: "q=a%00b" would silently read as "a". */
static enum MHD_Result
find_nul(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size, const char *value,
         size_t value_size)
{
    const char **bad = cls;

    (void)kind;
    if (strlen(key) != key_size || (value != NULL && strlen(value) != value_size)) {
        *bad = key;
        return MHD_NO;
    }
    return MHD_YES;
}

int
req_guard(struct req *rq, const char *url)
{
    struct problem *pb = &rq->early;
    const struct route *r;
    const char *cl = req_header(rq, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = req_header(rq, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    const char *ct = req_header(rq, MHD_HTTP_HEADER_CONTENT_TYPE);

    if (server_config()->tls_cert[0] != '\0' &&
        tls_client_check(rq->conn, &rq->cert_scopes, rq->cert_name, pb) != 0)
        return -1;
    if (strlen(url) >= ROUTER_MAX_PATH)
        return problem_set(pb, 404, "not-found", "no such resource");
    if (router_match(rq->method, url, &rq->match, pb) != 0)
        return -1;
    rq->matched = true;
    r = rq->match.route;
    snprintf(rq->route_name, sizeof(rq->route_name), "%s %s", r->method, r->pattern);

    if (!(r->flags & (ROUTE_PUBLIC | ROUTE_WEBHOOK)) ||
        (r->flags & ROUTE_METRICS && server_config()->metrics_require_key)) {
        const char *authz = req_header(rq, MHD_HTTP_HEADER_AUTHORIZATION);
        int st = auth_bearer_cached(authz, &rq->who, pb);

        if (st < 0)
            return -1;
        /* A key not in the cache is looked up on a job thread: the loop
         * never waits on the database. */
        if (st == 1)
            rq->auth_later = true;
        else if (req_check_scope(rq, pb) != 0)
            return -1;
    }

    /* Read-your-writes: any request may bring back the position a write
     * answered with; only the reads that may use a replica heed it. */
    {
        const char *pos = req_header(rq, "Inboxd-Position");

        if (pos != NULL && !lsn_decode(pos, &rq->position_need))
            return problem_set(pb, 400, "invalid-header",
                               "Inboxd-Position must be a value a write answered with");
    }

    {
        const char *bad = NULL;

        MHD_get_connection_values_n(rq->conn, MHD_GET_ARGUMENT_KIND, find_nul, &bad);
        if (bad != NULL) {
            bool echo = strlen(bad) <= 40;

            for (const char *c = bad; echo && *c; c++)
                echo = *c > 0x20 && *c < 0x7f;
            problem_set(pb, 400, "invalid-parameter", "a query parameter contains a NUL character");
            return problem_field(pb, echo ? bad : "", "must not contain NUL characters");
        }
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
        if (errno == 0 && *end == '\0' && n > (unsigned long long)server_config()->body_limit)
            return problem_set(pb, 413, "body-too-large", "the body exceeds %lld bytes",
                               server_config()->body_limit);
    }
    return 0;
}

struct req *
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
    rq->cert_scopes = ~0u;
    rq->out.content_type = "application/json";
    rq->start_ns = clock_ns();
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

void
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

void
req_append_body(struct req *rq, const char *data, size_t n)
{
    size_t need = rq->body_len + n + 1;

    if (rq->early.status != 0)
        return;
    if (rq->body_len + n > (size_t)server_config()->body_limit) {
        free(rq->body);
        rq->body = NULL;
        rq->body_len = rq->body_cap = 0;
        problem_set(&rq->early, 413, "body-too-large", "the body exceeds %lld bytes",
                    server_config()->body_limit);
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

void *
req_state(struct req *rq, size_t size, void (*cleanup)(void *state))
{
    if (rq->state == NULL) {
        rq->state = calloc(1, size);
        rq->state_cleanup = cleanup;
    }
    return rq->state;
}

int
req_body_ready(struct req *rq)
{
    if (rq->body == NULL) {
        /* Handlers may rely on a NUL-terminated, possibly empty body. */
        rq->body = calloc(1, 1);
        if (rq->body == NULL)
            return problem_internal(&rq->pb, "out of memory");
    }
    if (sig_sha256_hex(rq->body, rq->body_len, rq->who.request_hash) != 0)
        return problem_internal(&rq->pb, "sha256 failed");
    /* A route that reads no body knows no member: one sent is refused like
     * any unknown field (README "Request bodies"), never silently dropped. */
    if (rq->body_len > 0 && rq->match.route != NULL && (rq->match.route->flags & ROUTE_NO_BODY)) {
        static const char *const none[] = {NULL};
        json_t *o = body_parse(rq->body, rq->body_len, &rq->pb);

        if (o == NULL)
            return -1;
        body_no_unknown(o, NULL, none, &rq->pb);
        json_decref(o);
        if (body_failed(&rq->pb))
            return -1;
    }
    return 0;
}

