/* Operations of issue #2: migrations, every prepared statement, pool
 * exhaustion, graceful shutdown with a request in flight. Readiness is
 * routes/test_health.c. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"
#include "inboxd/app.h"
#include "inboxd/db/db.h"
#include "inboxd/db/migrate.h"
#include "inboxd/http/server.h"

TestSuite(ops, .fini = fx_teardown, .timeout = 90);

Test(ops, migrations_apply_once_and_twice_is_a_no_op)
{
    char err[600];
    long n;

    th_start(&t, true, NULL);
    cr_assert_eq(th_sql_long(&t, "SELECT max(version) FROM schema_migrations"), migrate_expected());
    n = th_sql_long(&t, "SELECT count(*) FROM schema_migrations");
    cr_assert_eq(migrate_apply(t.conninfo, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(th_sql_long(&t, "SELECT count(*) FROM schema_migrations"), n);
    cr_assert_eq(migrate_status(t.conninfo, NULL, err, sizeof(err)), 0, "%s", err);
}

Test(ops, a_changed_applied_migration_is_refused)
{
    char err[600] = "";

    th_start(&t, true, NULL);
    PQclear(th_sql(&t, "UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = 1"));
    cr_assert_eq(migrate_apply(t.conninfo, NULL, err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "0001_init"), "%s", err);
    cr_assert_not_null(strstr(err, "changed"), "%s", err);
}

struct migrate_arg {
    const char *conninfo;
    char err[600];
    int rc;
};

static void *
migrate_thread(void *p)
{
    struct migrate_arg *a = p;

    a->rc = migrate_apply(a->conninfo, NULL, a->err, sizeof(a->err));
    return NULL;
}

Test(ops, concurrent_migrations_apply_each_file_once)
{
    struct migrate_arg args[4];
    pthread_t th[4];

    th_start(&t, false, NULL);
    for (int i = 0; i < 4; i++) {
        args[i].conninfo = t.conninfo;
        pthread_create(&th[i], NULL, migrate_thread, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(args[i].rc, 0, "%s", args[i].err);
    }
    cr_assert_eq(th_sql_long(&t, "SELECT max(version) FROM schema_migrations"), migrate_expected());
}

/* A request that holds its database connection: its key's first use
 * updates last_used_at, which waits while the test holds the row lock. */
struct held {
    struct th *t;
    const char *key;
    struct resp r;
};

static void *
held_request(void *p)
{
    struct held *h = p;

    th_get(h->t, "/v1/account", h->key, &h->r);
    return NULL;
}

static void
wait_for_lock_waiter(struct th *tt)
{
    TH_WAIT_UNTIL(th_lock_waiters(tt) >= 1,
                  "the request never reached the lock");
}

Test(ops, exhausted_pool_is_503_with_retry_after)
{
    static const char *const settings[] = {"pool_size=1", "pool_wait_ms=200", NULL};
    char k1[64], k2[64], ra[16];
    struct held h = {.t = &t};
    pthread_t th;
    struct resp r;

    th_start(&t, true, settings);
    th_tenant(&t, "Busy", account, k1);
    th_key(&t, account, "read", k2);
    h.key = k1;
    PQclear(th_sql(&t, "BEGIN"));
    PQclear(th_sql(&t, "SELECT * FROM api_keys FOR UPDATE"));
    pthread_create(&th, NULL, held_request, &h);
    wait_for_lock_waiter(&t);

    th_get(&t, "/v1/account", k2, &r);
    expect_problem(&r, 503);
    cr_assert(resp_header(&r, "Retry-After", ra, sizeof(ra)));
    cr_assert_geq(atoi(ra), 1);
    resp_free(&r);

    PQclear(th_sql(&t, "COMMIT"));
    pthread_join(th, NULL);
    cr_assert_eq(h.r.status, 200, "%s", h.r.body);
    resp_free(&h.r);
    th_get(&t, "/v1/account", k2, &r);
    cr_assert_eq(r.status, 200, "the pool serves again once the connection is back");
    resp_free(&r);
}

static void *
stop_app(void *p)
{
    th_app_stop(p);
    return NULL;
}

Test(ops, graceful_shutdown_lets_the_request_in_flight_finish)
{
    char k1[64];
    struct held h = {.t = &t};
    pthread_t req, stopper;
    /* Were the stop to wait out the shutdown timeout instead of the
     * request, the test would hang until its own timeout and fail. */
    static const char *const settings[] = {"shutdown_timeout_s=3600", NULL};

    th_start(&t, true, settings);
    th_tenant(&t, "Closing", account, k1);
    h.key = k1;
    PQclear(th_sql(&t, "BEGIN"));
    PQclear(th_sql(&t, "SELECT * FROM api_keys FOR UPDATE"));
    pthread_create(&req, NULL, held_request, &h);
    wait_for_lock_waiter(&t);

    pthread_create(&stopper, NULL, stop_app, &t);
    /* Shutdown is under way and must wait for the request. */
    TH_WAIT_UNTIL(server_stopping(), "the shutdown never began");
    PQclear(th_sql(&t, "COMMIT"));
    pthread_join(req, NULL);
    pthread_join(stopper, NULL);
    cr_assert_eq(h.r.status, 200, "in-flight request answered: %s", h.r.body);
    resp_free(&h.r);
}

struct prep {
    PGconn *c;
    int n;
    char names[512][64];
};

static void
prepare_one(const struct db_stmt *st, void *arg)
{
    struct prep *p = arg;
    PGresult *r;

    for (int i = 0; i < p->n; i++)
        cr_assert_str_neq(p->names[i], st->name, "two statements are named %s", st->name);
    cr_assert_lt(p->n, 512);
    snprintf(p->names[p->n++], 64, "%s", st->name);
    r = PQprepare(p->c, st->name, st->sql, st->nparams, NULL);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "statement %s does not prepare: %s",
                 st->name, PQresultErrorMessage(r));
    PQclear(r);
    /* The declared parameter count is the one the SQL uses. */
    r = PQdescribePrepared(p->c, st->name);
    cr_assert_eq(PQnparams(r), st->nparams, "statement %s declares %d parameters, uses %d",
                 st->name, st->nparams, PQnparams(r));
    PQclear(r);
}

/* Every statement of every module prepares against the migrated schema:
 * SQL on a path no other test reaches still gets checked. */
Test(ops, every_registered_statement_prepares)
{
    struct prep *p = calloc(1, sizeof(*p));

    th_start(&t, true, NULL);
    p->c = t.sql;
    db_stmt_each(prepare_one, p);
    cr_assert_gt(p->n, 50);
    free(p);
}
