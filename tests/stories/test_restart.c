/* The pool survives PostgreSQL going away: a restart under a running
 * inboxd, and an outage with 503s meanwhile (issue #2 section 3). These
 * tests stop the shared cluster, so meson runs this binary alone. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdbool.h>
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

/* --- an Idempotency-Key whose first attempt died with the database -------- */

/* lock_timeout off: the first attempt must still wait on the test's lock
 * when PostgreSQL stops, however slow the machine. */
static void
idem_setup(void)
{
    static const char *const settings[] = {"lock_timeout_ms=0", NULL};

    fx_start(NULL, settings);
}

TestSuite(restart_idem, .init = idem_setup, .fini = fx_teardown, .timeout = 120);

struct keyed_post {
    const char *path;
    const char *body;
    struct resp r;
};

static const char *const idem_headers[] = {"Idempotency-Key: restart-idem-1", NULL};

static void *
keyed_post(void *arg)
{
    struct keyed_post *p = arg;

    th_http(&t, "POST", p->path, key, p->body, idem_headers, &p->r);
    return NULL;
}

/* The first attempt is answered 503 while PostgreSQL is down, so neither
 * its answer nor the key's release can be stored. Once PostgreSQL is back,
 * the retry with the same key must run (201), not be told for a whole
 * lease that the first attempt is still in flight (409). */
Test(restart_idem, retry_after_a_5xx_during_an_outage_runs)
{
    char chan[37], conv[37], path[96], lock[200];
    struct keyed_post first = {.body = "{\"direction\":\"inbound\",\"bodyText\":\"Hello?\"}"};
    struct resp r;
    pthread_t th;

    mk_channel(account, NULL, "restart-idem", chan);
    mk_conv(account, chan, "RI-1", conv);
    snprintf(path, sizeof(path), "/v1/conversations/%s/messages", conv);
    first.path = path;

    /* Hold the conversation's row lock so the first attempt waits inside
     * its transaction, after its key was claimed. */
    snprintf(lock, sizeof(lock),
             "BEGIN; SELECT 1 FROM conversations WHERE id = '%s' FOR UPDATE", conv);
    PQclear(th_sql(&t, lock));
    cr_assert_eq(pthread_create(&th, NULL, keyed_post, &first), 0);
    TH_WAIT_UNTIL(th_lock_waiters(&t) >= 1, "the first attempt never waited on the lock");
    cr_assert_eq(sql_long("SELECT count(*) FROM idempotency_keys WHERE state = 'in_flight'"), 1);

    th_run_env_script("INBOXD_TEST_PG_STOP");
    pthread_join(th, NULL);
    expect_problem(&first.r, 503);
    resp_free(&first.r);
    th_run_env_script("INBOXD_TEST_PG_START");
    wait_until_serving(10000);
    PQreset(t.sql);

    th_http(&t, "POST", path, key, first.body, idem_headers, &r);
    cr_assert_eq(r.status, 201, "the retry ran: %ld %s", r.status, r.body);
    resp_free(&r);
    /* And the key now replays that answer. */
    th_http(&t, "POST", path, key, first.body, idem_headers, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert(resp_header(&r, "Idempotent-Replayed", lock, sizeof(lock)));
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE conversation_id = '%s'", conv), 1);
}
