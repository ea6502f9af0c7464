/* The HTTP surface of issue #2 that no one route owns: routing (404, 405),
 * the body guards (413, 415), query parameters, problem documents, request
 * ids, trace context and the request metrics. routes/health.c's own routes
 * are routes/test_health.c. */
#include <criterion/criterion.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fixtures.h"
#include "inboxd/http/router.h"
#include "inboxd/routes/routes.h"

TestSuite(http, .init = fx_setup, .fini = fx_teardown, .timeout = 600);

Test(http, unknown_path_is_a_404_problem)
{
    struct resp r;

    th_get(&t, "/v1/no-such-thing", key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_get(&t, "/nothing", NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
}

Test(http, wrong_method_is_405_with_allow)
{
    struct resp r;
    char allow[64];

    th_http(&t, "PUT", "/v1/account", key, NULL, NULL, &r);
    expect_problem(&r, 405);
    cr_assert(resp_header(&r, "Allow", allow, sizeof(allow)));
    cr_assert_str_eq(allow, "GET, HEAD");
    resp_free(&r);
}

/* --- Location (API.md "Additions in v1.1": every 201 carries it) ----------- */

/* The Location of r (a 201), checked to be `prefix` and an id; the GET of
 * it answers 200 with that id as "id". The harness checks every 201 of
 * every suite for a Location that names a route. */
static void
expect_located(const struct resp *r, const char *prefix, const char *id)
{
    char loc[300], want[300];
    struct resp g;

    cr_assert_eq(r->status, 201, "%s", r->body);
    cr_assert(resp_header(r, "Location", loc, sizeof(loc)));
    snprintf(want, sizeof(want), "%s%s", prefix, id);
    cr_assert_str_eq(loc, want);
    th_get(&t, loc, key, &g);
    cr_assert_eq(g.status, 200, "GET %s: %s", loc, g.body);
    cr_assert_str_eq(jstr(g.json, "id"), id);
    resp_free(&g);
}

Test(http, a_201_says_where_with_location_also_when_replayed)
{
    static const char *const idem[] = {"Idempotency-Key: loc-1", NULL};
    char user[37], channel[37], conv[37], draft[37], path[128], other_acct[37], other_key[64];
    struct resp r, again;

    th_http(&t, "POST", "/v1/users", key, "{\"email\":\"loc@hotrod.example\"}", idem, &r);
    snprintf(user, sizeof(user), "%s", jstr(r.json, "id"));
    expect_located(&r, "/v1/users/", user);
    /* The replay of the first answer says the same. */
    th_http(&t, "POST", "/v1/users", key, "{\"email\":\"loc@hotrod.example\"}", idem, &again);
    cr_assert(resp_header(&again, "Idempotent-Replayed", (char[8]){0}, 8));
    expect_located(&again, "/v1/users/", user);
    resp_free(&again);
    resp_free(&r);
    /* A POST that finds the row is a 200 without one. */
    th_post(&t, "/v1/users", key, "{\"email\":\"loc@hotrod.example\"}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_not(resp_header(&r, "Location", (char[8]){0}, 8));
    resp_free(&r);

    /* A draft action's resource is the action; a notification's, itself. */
    mk_channel(account, NULL, NULL, channel);
    mk_pending(account, channel, "LOC-1", 1, "Hi.", NULL, conv, draft);
    act(draft, key, "approve", user, NULL, NULL, NULL, &r);
    expect_located(&r, "/v1/actions/", jstr(r.json, "action.id"));
    snprintf(path, sizeof(path), "/v1/actions/%s", jstr(r.json, "action.id"));
    resp_free(&r);
    th_get(&t, path, key, &r);
    cr_assert_str_eq(jstr(r.json, "type"), "approve");
    cr_assert_str_eq(jstr(r.json, "draftId"), draft);
    resp_free(&r);
    /* Another account's key finds neither of the two routes' rows. */
    th_tenant(&t, "Location elsewhere", other_acct, other_key);
    th_get(&t, path, other_key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_post(&t, "/v1/notifications", key, "{\"type\":\"note\",\"payload\":{\"a\":1}}", &r);
    expect_located(&r, "/v1/notifications/", jstr(r.json, "id"));
    snprintf(path, sizeof(path), "/v1/notifications/%s", jstr(r.json, "id"));
    resp_free(&r);
    th_get(&t, path, other_key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_get(&t, "/v1/notifications/0199fa04-b7e5-7001-9e37-00000000dead", key, &r);
    expect_problem(&r, 404);
    resp_free(&r);

    /* A PUT that creates: a topic key's slash stays a path separator,
     * anything else a path cannot hold is percent-encoded. */
    th_http(&t, "PUT", "/v1/webhooks/registry/shopify/orders/create%20now", key,
            "{\"deliveryMethod\":\"http\"}", NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert(resp_header(&r, "Location", path, sizeof(path)));
    cr_assert_str_eq(path, "/v1/webhooks/registry/shopify/orders/create%20now");
    resp_free(&r);
    /* The longest topic key the router takes (255 bytes), of the widest
     * characters, still fits. */
    {
        char url[1100] = "/v1/webhooks/registry/shopify/", want[1100], got[1100];

        for (int i = 0; i < 63; i++)
            strcat(url, "%F0%9F%98%80");
        snprintf(want, sizeof(want), "%s", url);
        th_http(&t, "PUT", url, key, "{\"deliveryMethod\":\"http\"}", NULL, &r);
        cr_assert_eq(r.status, 201, "%s", r.body);
        cr_assert(resp_header(&r, "Location", got, sizeof(got)));
        cr_assert_str_eq(got, want);
        resp_free(&r);
    }
}

/* --- HEAD (RFC 9110 9.3.2; API.md "Additions in v1.1") ---------------------- */

/* A concrete path for a route pattern: every {id} or {…Id} an existing
 * row's id when `ids` gives one for the segment before it, else a UUID no
 * row has; other parameters a word. */
static void
concrete_path(const char *pattern, const char *conv, char *out, size_t outlen)
{
    size_t o = 0;

    for (const char *p = pattern; *p && o + 40 < outlen;) {
        if (*p == '{') {
            const char *end = strchr(p, '}');
            bool id = (end - p == 3 && strncmp(p, "{id", 3) == 0) ||
                      (end - p > 3 && strncmp(end - 2, "Id", 2) == 0);

            o += (size_t)snprintf(out + o, outlen - o, "%s",
                                  !id ? "not-found"
                                  : strncmp(pattern, "/v1/conversations/", 18) == 0
                                      ? conv
                                      : "0199fa04-b7e5-7001-9e37-00000000dead");
            p = end + 1;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

/* The value of header `name` of r, "" when absent. */
static void
header_or_empty(const struct resp *r, const char *name, char *out, size_t n)
{
    if (!resp_header(r, name, out, n))
        out[0] = '\0';
}

/* HEAD path answers what GET path answers, without the body: the same
 * status and the same representation headers. */
static void
expect_head_like_get(const char *path, const char *const *headers)
{
    static const char *const same[] = {"Content-Type", "ETag",  "Vary",         "Cache-Control",
                                       "Allow",        "Location", "Content-Encoding",
                                       "Retry-After",  NULL};
    struct resp g, h;

    th_http(&t, "GET", path, key, NULL, headers, &g);
    th_http(&t, "HEAD", path, key, NULL, headers, &h);
    cr_assert_eq(h.status, g.status, "HEAD %s: %ld, GET: %ld", path, h.status, g.status);
    cr_assert_eq(h.len, 0, "HEAD %s answered a body", path);
    cr_assert(resp_header(&h, "X-Request-Id", (char[80]){0}, 80), "HEAD %s", path);
    for (int i = 0; same[i]; i++) {
        char gv[256], hv[256];

        header_or_empty(&g, same[i], gv, sizeof(gv));
        header_or_empty(&h, same[i], hv, sizeof(hv));
        cr_assert_str_eq(hv, gv, "HEAD %s: %s differs from GET's", path, same[i]);
    }
    resp_free(&g);
    resp_free(&h);
}

Test(http, head_answers_every_get_route_like_get_without_the_body)
{
    const struct route *const *all;
    char conv[37], channel[37], path[512];
    size_t n;
    int heads = 0;

    mk_channel(account, NULL, NULL, channel);
    mk_conv(account, channel, NULL, conv);
    all = router_routes(&n);
    for (size_t i = 0; i < n; i++) {
        /* The event stream never ends as a GET: its HEAD is below. */
        if (strcmp(all[i]->method, "GET") != 0 || strcmp(all[i]->pattern, "/v1/events") == 0)
            continue;
        concrete_path(all[i]->pattern, conv, path, sizeof(path));
        expect_head_like_get(path, NULL);
        heads++;
    }
    cr_assert_gt(heads, 20);

    /* The answers that are not one buffer: a feed page kept and sent in
     * pieces (gzip-compressed from its 16th request), the NDJSON export
     * streamed, and a problem. */
    {
        static const char *const gz[] = {"Accept-Encoding: gzip", NULL};
        static const char *const nd[] = {"Accept: application/x-ndjson", NULL};
        struct resp h;

        for (int i = 0; i < 20; i++)
            expect_head_like_get("/v1/feed", gz);
        expect_head_like_get("/v1/learning-samples", nd);
        expect_head_like_get("/v1/feed?limit=0", NULL);
        th_http(&t, "HEAD", "/v1/feed", NULL, NULL, NULL, &h);
        cr_assert_eq(h.status, 401);
        cr_assert_eq(h.len, 0);
        resp_free(&h);
        /* The stream's status and type, and no stream held open. */
        th_http(&t, "HEAD", "/v1/events", key, NULL, NULL, &h);
        cr_assert_eq(h.status, 200);
        cr_assert_eq(h.len, 0);
        {
            char ct[80];

            cr_assert(resp_header(&h, "Content-Type", ct, sizeof(ct)));
            cr_assert_str_eq(ct, "text/event-stream");
        }
        resp_free(&h);
        th_http(&t, "HEAD", "/v1/events?types=nope", key, NULL, NULL, &h);
        cr_assert_eq(h.status, 400);
        resp_free(&h);
    }
}

/* On the wire: a HEAD answer ends with its headers (libmicrohttpd sends no
 * body, and says the Content-Length a GET would get), so a request
 * pipelined after it on the same connection is read correctly. */
Test(http, a_head_answer_is_headers_only_on_a_kept_connection)
{
    static const char req[] = "HEAD /v1/openapi.json HTTP/1.1\r\nHost: t\r\n\r\n"
                              "GET /v1/openapi.json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    char *raw = NULL;
    size_t n = th_raw(&t, req, sizeof(req) - 1, &raw);
    const char *second, *body;
    long head_len, get_len;

    cr_assert_eq(strncmp(raw, "HTTP/1.1 200", 12), 0, "%.300s", raw);
    second = strstr(raw, "\r\n\r\n");
    cr_assert_not_null(second);
    second += 4;
    cr_assert_eq(strncmp(second, "HTTP/1.1 200", 12), 0, "bytes after the HEAD headers: %.300s",
                 second);
    cr_assert_not_null(strcasestr(raw, "Content-Length: "));
    head_len = strtol(strcasestr(raw, "Content-Length: ") + 16, NULL, 10);
    cr_assert_not_null(strcasestr(second, "Content-Length: "));
    get_len = strtol(strcasestr(second, "Content-Length: ") + 16, NULL, 10);
    body = strstr(second, "\r\n\r\n");
    cr_assert_not_null(body);
    cr_assert_eq(get_len, (long)(n - (size_t)(body + 4 - raw)));
    cr_assert_eq(head_len, get_len);
    free(raw);
}

Test(http, head_on_a_path_without_get_is_405_naming_the_methods)
{
    struct resp r;
    char allow[64];

    th_http(&t, "HEAD", "/v1/draft-requests/claim", key, NULL, NULL, &r);
    cr_assert_eq(r.status, 405);
    cr_assert(resp_header(&r, "Allow", allow, sizeof(allow)));
    cr_assert_str_eq(allow, "POST");
    resp_free(&r);
}

Test(http, malformed_id_in_path_is_404)
{
    struct resp r;

    th_http(&t, "DELETE", "/v1/api-keys/12345", key, NULL, NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
}

Test(http, body_over_the_limit_is_413)
{
    static const char *const expect[] = {"Expect: 100-continue", NULL};
    struct resp r;
    size_t n = 1024 * 1024 + 10;
    char *big = malloc(n + 1);

    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    /* A careful client asks before sending a large body; inboxd answers 413
     * at once instead of 100 Continue, and the body is never sent. */
    th_http(&t, "DELETE", "/v1/api-keys/0190f2a4-5b6c-7d8e-9f00-112233445566", key, big, expect,
            &r);
    expect_problem(&r, 413);
    resp_free(&r);
    free(big);
}

/* A chunked body has no length to refuse up front: the connection is
 * closed as soon as the body passes the limit (libmicrohttpd cannot answer
 * in the middle of a body), and the rest is never read. */
Test(http, chunked_body_over_the_limit_is_cut_off_at_the_limit)
{
    static const char head[] = "POST /v1/users HTTP/1.1\r\nHost: x\r\n"
                               "Content-Type: application/json\r\n"
                               "Transfer-Encoding: chunked\r\n\r\n";
    size_t chunk = 64 * 1024, total = 64u * 1024 * 1024, sent = 0;
    char *data = malloc(chunk + 32);
    int fd = th_connect(&t, NULL);
    struct resp r;
    int n;

    cr_assert_eq(send(fd, head, strlen(head), MSG_NOSIGNAL), (ssize_t)strlen(head));
    n = snprintf(data, 32, "%zx\r\n", chunk);
    memset(data + n, ' ', chunk);
    memcpy(data + n + chunk, "\r\n", 2);
    while (sent < total) {
        ssize_t w = send(fd, data, (size_t)n + chunk + 2, MSG_NOSIGNAL);

        if (w <= 0)
            break;
        sent += (size_t)w;
    }
    close(fd);
    free(data);
    /* Sockets buffer a few MiB between the two ends; never 64. */
    cr_assert_lt(sent, total, "all %zu bytes were taken", sent);
    th_get(&t, "/healthz", NULL, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
}

Test(http, non_json_content_type_is_415)
{
    static const char *const hdr[] = {"Content-Type: text/plain", NULL};
    struct resp r;

    th_http(&t, "DELETE", "/v1/api-keys/0190f2a4-5b6c-7d8e-9f00-112233445566", key, "{}", hdr,
            &r);
    expect_problem(&r, 415);
    resp_free(&r);
}

Test(http, malformed_query_parameter_is_400_naming_it)
{
    static const char *const bad[] = {"limit=0", "limit=201", "limit=abc", "limit=5x",
                                      "cursor=%25%25%25", "cursor=AAAA"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct resp r;
        char path[128];
        json_t *errs;

        snprintf(path, sizeof(path), "/v1/api-keys?%s", bad[i]);
        th_get(&t, path, key, &r);
        expect_problem(&r, 400);
        errs = json_object_get(r.json, "errors");
        cr_assert_eq(json_array_size(errs), 1, "%s", bad[i]);
        cr_assert_eq(strncmp(json_string_value(json_object_get(json_array_get(errs, 0), "field")),
                             bad[i], strcspn(bad[i], "=")),
                     0, "%s", bad[i]);
        resp_free(&r);
    }
}

Test(http, request_id_is_echoed_or_generated)
{
    static const char *const mine[] = {"X-Request-Id: caller-id-42", NULL};
    static const char *const evil[] = {"X-Request-Id: bad id\"<x>", NULL};
    struct resp r;
    char rid[128];

    th_http(&t, "GET", "/v1/account", key, NULL, mine, &r);
    cr_assert(resp_header(&r, "X-Request-Id", rid, sizeof(rid)));
    cr_assert_str_eq(rid, "caller-id-42");
    resp_free(&r);

    th_http(&t, "GET", "/v1/account", key, NULL, evil, &r);
    cr_assert(resp_header(&r, "X-Request-Id", rid, sizeof(rid)));
    cr_assert_eq(strlen(rid), 36, "a fresh UUID replaces an unsafe id: %s", rid);
    resp_free(&r);

    th_get(&t, "/healthz", NULL, &r);
    cr_assert(resp_header(&r, "X-Request-Id", rid, sizeof(rid)));
    cr_assert_eq(strlen(rid), 36);
    resp_free(&r);
}

Test(http, traceparent_is_accepted)
{
    static const char *const tp[] = {
        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", NULL};
    static const char *const junk[] = {"traceparent: garbage", NULL};
    struct resp r;

    th_http(&t, "GET", "/v1/account", key, NULL, tp, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    th_http(&t, "GET", "/v1/account", key, NULL, junk, &r);
    cr_assert_eq(r.status, 200, "a malformed traceparent is ignored, not an error");
    resp_free(&r);
}

Test(http, metrics_count_requests_by_route_and_status)
{
    struct resp r;

    th_get(&t, "/v1/account", key, &r);
    resp_free(&r);
    th_get(&t, "/v1/no-such-thing", key, &r);
    resp_free(&r);
    th_get(&t, "/metrics", NULL, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(strstr(r.body, "inboxd_http_requests_total{route=\"GET /v1/account\","
                                      "status=\"200\"} 1\n"),
                       "%s", r.body);
    cr_assert_not_null(strstr(r.body, "route=\"unmatched\",status=\"404\"} 1"));
    cr_assert_not_null(strstr(r.body, "inboxd_http_request_duration_seconds_bucket{route=\"GET "
                                      "/v1/account\",le=\"+Inf\"} 1"));
    cr_assert_not_null(strstr(r.body, "inboxd_db_pool_size 5\n"));
    cr_assert_not_null(strstr(r.body, "inboxd_db_pool_in_use "));
    cr_assert_not_null(strstr(r.body, "inboxd_db_pool_waiting "));
    cr_assert_not_null(strstr(r.body, "inboxd_db_errors_total "));
    cr_assert_not_null(strstr(r.body, "inboxd_build_info{version="));
    cr_assert_not_null(
        strstr(r.body, "inboxd_queue_depth{queue=\"draft_requests\",state=\"queued\"} 0\n"));
    cr_assert_not_null(strstr(r.body, "inboxd_queue_depth{queue=\"outbox\",state=\"pending\"} 0\n"));
    resp_free(&r);
}

/* --- framing: what could be read two ways is refused, and the connection
 * closed (RFC 9112 section 6) ---------------------------------------------- */

static int
status_lines(const char *out)
{
    int n = 0;

    for (const char *p = out; (p = strstr(p, "HTTP/1.")) != NULL; p++)
        n += p == out || p[-1] == '\n';
    return n;
}

/* Sends req on a connection of its own and expects exactly one answer,
 * with that status and a problem document, and the connection closed. */
static void
expect_refused(const char *req, int status)
{
    char *out, line[32];

    th_raw(&t, req, strlen(req), &out);
    snprintf(line, sizeof(line), "HTTP/1.1 %d ", status);
    cr_assert_eq(strncmp(out, line, strlen(line)), 0, "for %s\ngot %s", req, out);
    cr_assert_eq(status_lines(out), 1, "one answer only, got %s", out);
    cr_assert_not_null(strstr(out, "application/problem+json"), "%s", out);
    free(out);
}

Test(http, content_length_with_transfer_encoding_is_400)
{
    expect_refused("POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\n"
                   "Host: x\r\n\r\n",
                   400);
}

Test(http, two_content_lengths_are_400)
{
    expect_refused("POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                   "Content-Length: 27\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
                   400);
}

Test(http, unknown_transfer_codings_are_501)
{
    expect_refused("POST /v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n",
                   501);
    expect_refused("POST /v1/users HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n"
                   "\r\n",
                   501);
}

/* libmicrohttpd reads Content-Length itself and answers a value it cannot
 * read with a 400 page of its own (README: its head comes twice in 0.9.75,
 * and inboxd is never called), then closes: no handler runs, and nothing
 * that follows on the connection is read as a request. */
Test(http, an_unreadable_content_length_runs_nothing)
{
    static const char *const req[] = {
        "POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n",
        "POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "POST /v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    };

    for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++) {
        char *out;

        th_raw(&t, req[i], strlen(req[i]), &out);
        cr_assert_eq(strncmp(out, "HTTP/1.1 4", 10), 0, "%s", out);
        cr_assert_null(strstr(out, "HTTP/1.1 2"), "%s", out);
        free(out);
    }
}

Test(http, headers_read_once_are_refused_when_sent_twice)
{
    char req[512];

    snprintf(req, sizeof(req),
             "GET /v1/account HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Authorization: Bearer nothing\r\n\r\n",
             key);
    expect_refused(req, 400);
    expect_refused("POST /v1/webhooks/shopify HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                   "X-Inboxd-Signature: t=1,v1=00\r\nX-Inboxd-Signature: t=1,v1=01\r\n\r\n",
                   400);
}

Test(http, encoded_nul_and_slash_in_the_target_are_400)
{
    static const char *const targets[] = {
        "/v1/conversations?limit=5%00",
        "/v1/conversations/0190f2a4-5b6c-7d8e-9f00-112233445566%00garbage",
        "/v1/conversations?cursor=abc%00",
        "/v1/conversations/0190f2a4-5b6c-7d8e-9f00-112233445566%2Fmessages",
        "/v1/conversations%2f0190f2a4-5b6c-7d8e-9f00-112233445566",
    };

    for (size_t i = 0; i < sizeof(targets) / sizeof(targets[0]); i++) {
        char req[512];

        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n",
                 targets[i], key);
        expect_refused(req, 400);
    }
}

Test(http, a_slash_encoded_in_the_query_is_data)
{
    struct resp r;

    th_get(&t, "/v1/search/messages?q=a%2Fb", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
}

/* --- slow clients (admission.c) --------------------------------------------- */

static void
start_slow(void)
{
    static const char *const settings[] = {"http_header_timeout_s=1", "http_max_connections=20",
                                           NULL};

    fx_start(NULL, settings);
}

static void
start_capped(void)
{
    static const char *const settings[] = {"http_max_connections_per_ip=2", NULL};

    fx_start(NULL, settings);
}

TestSuite(slow, .init = start_slow, .fini = fx_teardown, .timeout = 600);
TestSuite(capped, .init = start_capped, .fini = fx_teardown, .timeout = 600);

/* A connection that has sent part of a request line. */
static int
slow_open(const char *from)
{
    static const char part[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    int fd = th_connect(&t, from);

    cr_assert_eq(send(fd, part, sizeof(part) - 1, MSG_NOSIGNAL), (ssize_t)sizeof(part) - 1);
    return fd;
}

/* Whether the server has closed fd; waits up to ms for it. */
static bool
closed_within(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char c;

    return poll(&p, 1, ms) == 1 && recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

/* Every byte resets libmicrohttpd's idle timeout; the header deadline
 * still ends it. Without one, this test would send until its patience
 * ran out and fail. */
Test(slow, a_client_trickling_its_headers_is_cut_off)
{
    int fd = slow_open(NULL);
    long long start = th_now_ms();

    for (;;) {
        cr_assert_lt(th_now_ms() - start, TH_PATIENCE_MS, "still open after a minute");
        if (closed_within(fd, 100))
            break;
        if (send(fd, "a", 1, MSG_NOSIGNAL) != 1)
            break; /* closed under our feet */
    }
    close(fd);
}

/* 25 slow connections against a limit of 20: whole requests still go
 * through, each taking the place of the oldest slow one. */
Test(slow, slow_clients_leave_room_for_whole_requests)
{
    int fds[25];

    for (int i = 0; i < 25; i++)
        fds[i] = slow_open("127.0.0.2");
    for (int i = 0; i < 20; i++) {
        struct resp r;

        th_get(&t, "/healthz", NULL, &r);
        cr_assert_eq(r.status, 200, "request %d: %ld", i, r.status);
        resp_free(&r);
    }
    for (int i = 0; i < 25; i++)
        close(fds[i]);
}

Test(capped, an_address_past_its_cap_is_closed_and_others_are_served)
{
    int a = slow_open("127.0.0.3"), b = slow_open("127.0.0.3"), c = slow_open("127.0.0.3");
    struct resp r;

    cr_assert(closed_within(c, TH_PATIENCE_MS), "the third connection was kept");
    cr_assert_not(closed_within(a, 0));
    th_get(&t, "/healthz", NULL, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    close(a);
    close(b);
    close(c);
}

/* --- /metrics is valid Prometheus text (exposition format 0.0.4) ---------- */

static bool
is_metric_name(const char *s, size_t n)
{
    if (n == 0 || !((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' || *s == ':'))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == ':'))
            return false;
    return true;
}

/* The family a sample belongs to: a histogram's _bucket, _sum and _count
 * samples belong to the declared name without the suffix. */
static const char *
declared_type(char (*names)[128], char (*types)[16], int n, const char *sample, size_t len)
{
    static const char *const suffix[] = {"_bucket", "_sum", "_count"};

    for (int i = 0; i < n; i++) {
        size_t k = strlen(names[i]);

        if (k == len && memcmp(names[i], sample, len) == 0)
            return types[i];
        for (int s = 0; s < 3 && strcmp(types[i], "histogram") == 0; s++)
            if (k + strlen(suffix[s]) == len && memcmp(names[i], sample, k) == 0 &&
                memcmp(sample + k, suffix[s], len - k) == 0)
                return types[i];
    }
    return NULL;
}

/* A strict reader of the text format, as promtool's "check metrics" and
 * Prometheus's parser read it: every line a comment or one sample; every
 * sample of a family declared by # TYPE before it; label pairs name="value"
 * with \\, \" and \n the only escapes; a float value; no series twice. */
static void
check_exposition(const char *body)
{
    static char names[256][128], types[256][16], series[2048][256];
    int nfam = 0, nseries = 0;
    const char *line = body;

    cr_assert(body[0] != '\0' && body[strlen(body) - 1] == '\n', "ends with a newline");
    while (*line) {
        const char *eol = strchr(line, '\n');
        size_t len = (size_t)(eol - line);
        char l[1024];
        const char *p, *name_end;
        char *end;

        cr_assert_lt(len, sizeof(l), "line too long");
        memcpy(l, line, len);
        l[len] = '\0';
        line = eol + 1;
        if (strncmp(l, "# TYPE ", 7) == 0) {
            char n[128], ty[16];

            cr_assert_eq(sscanf(l + 7, "%127s %15s", n, ty), 2, "%s", l);
            cr_assert(is_metric_name(n, strlen(n)), "%s", l);
            cr_assert(strcmp(ty, "counter") == 0 || strcmp(ty, "gauge") == 0 ||
                          strcmp(ty, "histogram") == 0 || strcmp(ty, "summary") == 0 ||
                          strcmp(ty, "untyped") == 0,
                      "%s", l);
            cr_assert_null(declared_type(names, types, nfam, n, strlen(n)), "TYPE twice: %s", l);
            cr_assert_lt(nfam, 256);
            snprintf(names[nfam], sizeof(names[0]), "%s", n);
            snprintf(types[nfam++], sizeof(types[0]), "%s", ty);
            continue;
        }
        if (l[0] == '#') {
            cr_assert(strncmp(l, "# HELP ", 7) == 0, "unknown comment: %s", l);
            continue;
        }
        cr_assert(l[0] != '\0', "empty line");
        for (p = l; *p && *p != '{' && *p != ' '; p++)
            ;
        name_end = p;
        cr_assert(is_metric_name(l, (size_t)(name_end - l)), "bad name: %s", l);
        cr_assert_not_null(declared_type(names, types, nfam, l, (size_t)(name_end - l)),
                           "sample before its # TYPE: %s", l);
        if (*p == '{') {
            p++;
            while (*p != '}') {
                const char *ln = p;

                while (*p && *p != '=')
                    p++;
                cr_assert(is_metric_name(ln, (size_t)(p - ln)), "bad label name: %s", l);
                cr_assert(p[0] == '=' && p[1] == '"', "label without a quoted value: %s", l);
                for (p += 2; *p != '"'; p++) {
                    cr_assert(*p != '\0', "unterminated label value: %s", l);
                    if (*p == '\\') {
                        p++;
                        cr_assert(*p == '\\' || *p == '"' || *p == 'n', "bad escape: %s", l);
                    }
                }
                p++;
                if (*p == ',')
                    p++;
                else
                    cr_assert_eq(*p, '}', "labels not closed: %s", l);
            }
            p++;
        }
        cr_assert_eq(*p, ' ', "no space before the value: %s", l);
        cr_assert_lt(nseries, 2048);
        snprintf(series[nseries], sizeof(series[0]), "%.*s", (int)(p - l), l);
        for (int i = 0; i < nseries; i++)
            cr_assert_str_neq(series[i], series[nseries], "series twice: %s", l);
        nseries++;
        p++;
        if (strcmp(p, "+Inf") != 0 && strcmp(p, "-Inf") != 0 && strcmp(p, "NaN") != 0) {
            strtod(p, &end);
            cr_assert(end != p && *end == '\0', "value is not a float: %s", l);
        }
    }
}

Test(http, metrics_are_valid_text_with_the_process_metrics)
{
    static const char *const process[] = {
        "process_start_time_seconds ", "process_resident_memory_bytes ",
        "process_virtual_memory_bytes ", "process_open_fds ", "process_max_fds ",
        "process_cpu_seconds_total ",
    };
    struct resp r;

    /* A histogram and labelled counters, so that those lines are read too. */
    th_get(&t, "/v1/channels?limit=1", key, &r);
    resp_free(&r);
    th_get(&t, "/metrics", NULL, &r);
    cr_assert_eq(r.status, 200);
    check_exposition(r.body);
    for (size_t i = 0; i < sizeof(process) / sizeof(process[0]); i++) {
        char type[80];

        cr_assert_not_null(strstr(r.body, process[i]), "%s missing", process[i]);
        snprintf(type, sizeof(type), "# TYPE %.*s", (int)strlen(process[i]) - 1, process[i]);
        cr_assert_not_null(strstr(r.body, type), "%s", type);
    }
    resp_free(&r);
}

/* --- unknown body fields: one rule on every route ------------------------- */

/* README "Request bodies": a member a route does not know is a 422 naming
 * it, on every route that reads a body, so a typo is never silently
 * dropped. Every write route of the router is tried with one unknown
 * member; ids in the path are random (the body is validated first). */
Test(http, an_unknown_body_field_is_422_on_every_route)
{
    const struct route *const *tables = routes_all;
    int tried = 0;

    for (int ti = 0; tables[ti] != NULL; ti++) {
        for (const struct route *rt = tables[ti]; rt->method != NULL; rt++) {
            char path[256];
            size_t o = 0;
            struct resp r;

            if (strcmp(rt->method, "POST") != 0 && strcmp(rt->method, "PUT") != 0 &&
                strcmp(rt->method, "PATCH") != 0)
                continue;
            /* Webhook deliveries are signed: tests/routes/test_webhooks.c. */
            if (rt->flags & ROUTE_WEBHOOK)
                continue;
            for (const char *p = rt->pattern; *p && o + 40 < sizeof(path);) {
                if (*p == '{') {
                    const char *close = strchr(p, '}');
                    bool id = strncmp(p, "{id}", 4) == 0 || strstr(p, "Id}") == close - 2;

                    o += (size_t)snprintf(path + o, sizeof(path) - o, "%s",
                                          id ? "0190a000-0000-7000-8000-000000000000" : "zoho");
                    p = close + 1;
                } else {
                    path[o++] = *p++;
                }
            }
            path[o] = '\0';
            th_http(&t, rt->method, path, key, "{\"zzUnknownField\":1}", NULL, &r);
            /* A route that reads no body knows no member at all. */
            cr_assert_eq(r.status, 422, "%s %s: %ld %s", rt->method, path, r.status, r.body);
            cr_assert(names_field(&r, "zzUnknownField"), "%s %s: %s", rt->method, path, r.body);
            resp_free(&r);
            tried++;
        }
    }
    cr_assert_gt(tried, 15);
}

/* --- numbers in a caller's JSON come back as sent ------------------------- */

/* jansson writes reals with 17 digits: 0.82 was stored and answered as
 * 0.81999999999999995. Every free-form field must keep what was sent. */
Test(http, numbers_in_caller_json_come_back_as_sent)
{
    static const char nums[] =
        "{\"a\":0.82,\"b\":0.10000000000000002,\"c\":9223372036854775807,\"d\":1.5e-7,"
        "\"e\":[0.3,{\"f\":123.456}],\"g\":12345678901234567890,"
        "\"h\":-98765432109876543210123,\"i\":0.1000000000000000055511151231257827,\"k\":2.50}";
    /* Beyond int64 and beyond a double's 17 digits too: PostgreSQL gets the
     * caller's token (a trailing zero included, as jsonb keeps it). */
    static const char *const texts[] = {"0.82", "0.10000000000000002", "9223372036854775807",
                                        "123.456", "0.3", "12345678901234567890",
                                        "-98765432109876543210123",
                                        "0.1000000000000000055511151231257827", "2.50"};
    char body[1024], chan[37], conv[37], path[128], job[37];
    struct resp r;

    snprintf(body, sizeof(body),
             "{\"type\":\"email\",\"externalId\":\"num\",\"name\":\"n\",\"metadata\":%s}", nums);
    post_status("/v1/channels", key, body, 201, chan);
    snprintf(path, sizeof(path), "/v1/channels/%s", chan);
    th_http(&t, "GET", path, key, NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    for (size_t k = 0; k < sizeof(texts) / sizeof(texts[0]); k++)
        cr_assert_not_null(strstr(r.body, texts[k]), "%s missing in %s", texts[k], r.body);
    resp_free(&r);
    mk_conv(account, chan, "NUM-1", conv);
    snprintf(path, sizeof(path), "/v1/conversations/%s/messages", conv);
    snprintf(body, sizeof(body), "{\"direction\":\"inbound\",\"bodyText\":\"x\",\"metadata\":%s}",
             nums);
    post_status(path, key, body, 201, NULL);
    snprintf(body, sizeof(body), "{\"type\":\"n.t\",\"payload\":%s}", nums);
    post_status("/v1/notifications", key, body, 201, NULL);
    snprintf(body, sizeof(body), "{\"sourceUrl\":\"https://x.example/n\",\"metadata\":%s}", nums);
    th_http(&t, "PUT", "/v1/source-documents", key, body, NULL, &r);
    cr_assert(r.status == 200 || r.status == 201, "%s", r.body);
    resp_free(&r);
    post_status("/v1/jobs", key, "{\"type\":\"crawl\"}", 201, job);
    snprintf(path, sizeof(path), "/v1/jobs/%s", job);
    patch_if(path, key, "{\"status\":\"running\"}", NULL, &r);
    resp_free(&r);
    snprintf(body, sizeof(body), "{\"status\":\"succeeded\",\"metrics\":%s}", nums);
    patch_if(path, key, body, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);

    /* As stored: jsonb keeps the numeric it was given exactly. */
    {
        static const char *const stored[] = {
            "SELECT metadata::text FROM channels WHERE external_id = 'num'",
            "SELECT m.metadata::text FROM messages m JOIN conversations c "
            "ON c.id = m.conversation_id WHERE c.external_id = 'NUM-1'",
            "SELECT payload::text FROM notifications WHERE type = 'n.t'",
            "SELECT metadata::text FROM source_documents WHERE source_url = 'https://x.example/n'",
            "SELECT metrics::text FROM job_runs WHERE type = 'crawl'",
        };

        for (size_t i = 0; i < sizeof(stored) / sizeof(stored[0]); i++) {
            char text[1024];

            sql_text(text, sizeof(text), "%s", stored[i]);
            for (size_t k = 0; k < sizeof(texts) / sizeof(texts[0]); k++)
                cr_assert_not_null(strstr(text, texts[k]), "%s: %s missing in %s", stored[i],
                                   texts[k], text);
            cr_assert_null(strstr(text, "99999"), "%s: %s", stored[i], text);
            cr_assert_not_null(strstr(text, "0.00000015"), "%s: %s", stored[i], text);
        }
    }
}
