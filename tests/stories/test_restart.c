/* The pool survives PostgreSQL going away: a restart under a running
 * inboxd, and an outage with 503s meanwhile (issue #2 section 3). These
 * tests stop the shared cluster, so meson runs this binary alone. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"

TestSuite(restart, .init = fx_setup, .fini = fx_teardown, .timeout = 120);

/* Polls until /v1/account answers 200; every other answer on the way must
 * be a 503 problem with Retry-After, never a 500 or a hang. */
static long long
wait_until_serving(int limit_ms)
{
    long long start = th_now_ms();
    int unavailable = 0;

    for (;;) {
        struct resp r;
        char ra[16];

        th_get(&t, "/v1/account", key, &r);
        if (r.status == 200) {
            resp_free(&r);
            break;
        }
        expect_problem(&r, 503);
        cr_assert(resp_header(&r, "Retry-After", ra, sizeof(ra)));
        resp_free(&r);
        unavailable++;
        cr_assert_lt(th_now_ms() - start, limit_ms, "not serving %d ms after PostgreSQL returned",
                     limit_ms);
        usleep(100 * 1000);
    }
    return th_now_ms() - start;
}

Test(restart, serves_again_after_postgres_restarts)
{
    struct resp r;

    /* Warm every pooled connection so each of them goes stale. */
    for (int i = 0; i < 10; i++) {
        th_get(&t, "/v1/account", key, &r);
        cr_assert_eq(r.status, 200);
        resp_free(&r);
    }
    th_run_env_script("INBOXD_TEST_PG_RESTART");
    wait_until_serving(TH_PATIENCE_MS);
    /* And it keeps serving: stale connections were replaced, not reused. */
    for (int i = 0; i < 20; i++) {
        th_get(&t, "/v1/api-keys", key, &r);
        cr_assert_eq(r.status, 200, "request %d after restart: %s", i, r.body);
        resp_free(&r);
    }
    PQreset(t.sql);
}

Test(restart, outage_answers_503_then_recovers)
{
    struct resp r;
    char ra[16];

    th_get(&t, "/v1/account", key, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    th_run_env_script("INBOXD_TEST_PG_STOP");
    /* The key is cached for up to a second; the list always needs the database. */
    th_get(&t, "/v1/api-keys", key, &r);
    expect_problem(&r, 503);
    cr_assert(resp_header(&r, "Retry-After", ra, sizeof(ra)));
    resp_free(&r);
    th_get(&t, "/readyz", NULL, &r);
    cr_assert_eq(r.status, 503);
    resp_free(&r);
    th_get(&t, "/healthz", NULL, &r);
    cr_assert_eq(r.status, 200, "alive while the database is down");
    resp_free(&r);
    th_run_env_script("INBOXD_TEST_PG_START");
    wait_until_serving(TH_PATIENCE_MS);
    th_get(&t, "/readyz", NULL, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    PQreset(t.sql);
}
