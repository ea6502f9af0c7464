/* The HTTP surface of issue #2 that no one route owns: routing (404, 405),
 * the body guards (413, 415), query parameters, problem documents, request
 * ids, trace context and the request metrics. routes/health.c's own routes
 * are routes/test_health.c. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fixtures.h"
#include "inboxd/http/router.h"

TestSuite(http, .init = fx_setup, .fini = fx_teardown, .timeout = 60);

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
    cr_assert_str_eq(allow, "GET");
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

Test(http, chunked_body_over_the_limit_is_413)
{
    static const char *const hdr[] = {"Transfer-Encoding: chunked", "Expect: 100-continue", NULL};
    struct resp r;
    size_t n = 1024 * 1024 + 10;
    char *big = malloc(n + 1);

    memset(big, 'x', n);
    big[n] = '\0';
    th_http(&t, "DELETE", "/v1/api-keys/0190f2a4-5b6c-7d8e-9f00-112233445566", key, big, hdr, &r);
    expect_problem(&r, 413);
    resp_free(&r);
    free(big);
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
