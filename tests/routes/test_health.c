/* routes/health.c: /healthz, /readyz and /v1/openapi.json (issue #2). What
 * /metrics counts is stories/test_http.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "inboxd/db/migrate.h"
#include "inboxd/http/router.h"

/* One timeout for every suite: criterion 2.4's runner leaks (LeakSanitizer
 * fails the run) when tests with different timeouts run in parallel. */
TestSuite(health, .init = fx_setup, .fini = fx_teardown, .timeout = 90);
/* Its tests start inboxd themselves, on a database not migrated yet. */
TestSuite(health_unmigrated, .fini = fx_teardown, .timeout = 90);

Test(health, healthz_answers_without_a_key)
{
    struct resp r;

    th_get(&t, "/healthz", NULL, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "ok");
    resp_free(&r);
}

Test(health, readyz_is_200_on_a_migrated_database)
{
    struct resp r;

    th_get(&t, "/readyz", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "ready");
    cr_assert_eq(json_integer_value(json_object_get(r.json, "schemaVersion")),
                 json_integer_value(json_object_get(r.json, "expectedSchemaVersion")));
    resp_free(&r);
}

/* A router pattern as the document writes it: "{topicKey...}" is "{topicKey}". */
static void
doc_path(const char *pattern, char *out, size_t outlen)
{
    const char *dots = strstr(pattern, "...}");

    if (dots == NULL)
        snprintf(out, outlen, "%s", pattern);
    else
        snprintf(out, outlen, "%.*s}", (int)(dots - pattern), pattern);
}

/* The OpenAPI document and the router describe the same set of routes. */
Test(health, openapi_document_and_router_agree)
{
    struct resp r;
    json_t *paths;
    size_t n, documented = 0;
    const struct route *const *all = router_routes(&n);
    const char *path;
    json_t *ops;
    char pattern[256];

    th_get(&t, "/v1/openapi.json", key, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "openapi")), "3.1.0");
    paths = json_object_get(r.json, "paths");
    cr_assert(json_is_object(paths));
    for (size_t i = 0; i < n; i++) {
        char method[16];
        size_t k;

        for (k = 0; all[i]->method[k] && k < sizeof(method) - 1; k++)
            method[k] = (char)(all[i]->method[k] - 'A' + 'a');
        method[k] = '\0';
        doc_path(all[i]->pattern, pattern, sizeof(pattern));
        cr_assert_not_null(json_object_get(json_object_get(paths, pattern), method),
                           "route %s %s is not in openapi.json", all[i]->method, pattern);
    }
    json_object_foreach (paths, path, ops) {
        const char *m;
        json_t *op;

        json_object_foreach (ops, m, op) {
            static const char *const verbs[] = {"get", "put", "post", "delete", "patch", NULL};
            bool verb = false, found = false;

            for (int v = 0; verbs[v]; v++)
                verb |= strcmp(m, verbs[v]) == 0;
            if (!verb)
                continue;
            documented++;
            for (size_t i = 0; i < n; i++) {
                doc_path(all[i]->pattern, pattern, sizeof(pattern));
                if (strcmp(pattern, path) == 0 && strcasecmp(all[i]->method, m) == 0)
                    found = true;
            }
            cr_assert(found, "openapi.json documents %s %s, which the router lacks", m, path);
        }
    }
    cr_assert_eq(documented, n);
    resp_free(&r);
}

Test(health_unmigrated, readyz_is_503_until_migrated_then_200)
{
    struct resp r;
    char err[600], ra[16];

    th_start(&t, false, NULL);
    th_get(&t, "/readyz", NULL, &r);
    cr_assert_eq(r.status, 503, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "unavailable");
    cr_assert_not_null(strstr(json_string_value(json_object_get(r.json, "reason")), "schema"));
    cr_assert(resp_header(&r, "Retry-After", ra, sizeof(ra)));
    resp_free(&r);
    th_get(&t, "/healthz", NULL, &r);
    cr_assert_eq(r.status, 200, "alive even while not ready");
    resp_free(&r);

    cr_assert_eq(migrate_apply(t.conninfo, NULL, err, sizeof(err)), 0, "%s", err);
    th_get(&t, "/readyz", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
}

/* API.md v1.1: the document needs no key, like /healthz; a key of any
 * scope does no harm. */
Test(health, openapi_needs_no_key)
{
    char outbox_only[64];
    struct resp r;

    th_get(&t, "/v1/openapi.json", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "openapi")), "3.1.0");
    resp_free(&r);
    th_key(&t, account, "outbox:write", outbox_only);
    th_get(&t, "/v1/openapi.json", outbox_only, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
}
