/*
 * test_replica: read-your-writes with a read replica (README
 * "Read-your-writes with a replica"). tests/stories/with_replica.sh runs
 * this suite beside a streaming hot standby of the test cluster, made by
 * pg_basebackup -R (INBOXD_TEST_REPLICA_URL, and its stop and start
 * scripts). Replay is paused on the replica to hold it behind, so what a
 * read sees says where it was answered: nothing here waits for lag.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "inboxd/lib/lsn.h"

static struct th t;
static char account[37], key[64];

/* A superuser connection to the test database on the replica, or NULL
 * while the replica does not have it (yet) or is down. */
static PGconn *
replica_conn(void)
{
    char conninfo[700];
    PGconn *c;

    snprintf(conninfo, sizeof(conninfo), "%s dbname=%s", getenv("INBOXD_TEST_REPLICA_URL"),
             t.dbname);
    c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK) {
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* Runs one statement on the replica; its first value, or "" (static). */
static const char *
replica_value(const char *sql)
{
    static char out[128];
    PGconn *c = replica_conn();
    PGresult *r;

    cr_assert_not_null(c, "cannot reach the replica");
    r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    snprintf(out, sizeof(out), "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(c);
    return out;
}

static bool
replica_has_db(void)
{
    PGconn *c = replica_conn();

    PQfinish(c);
    return c != NULL;
}

/* Where the replica's replay stands, in words, for a test that waited in
 * vain: the primary's WAL position, the replica's receiver, how far it has
 * received and replayed, and what its startup process waits on. */
static const char *
replica_story(void)
{
    static char out[700];
    PGconn *c = PQconnectdb(getenv("INBOXD_TEST_REPLICA_URL"));
    PGresult *r = th_sql(&t, "SELECT pg_current_wal_lsn()::text");
    int n = snprintf(out, sizeof(out), "primary at %s; replica: ", PQgetvalue(r, 0, 0));

    PQclear(r);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(out + n, sizeof(out) - (size_t)n, "unreachable: %s", PQerrorMessage(c));
        PQfinish(c);
        return out;
    }
    r = PQexec(c, "SELECT concat_ws(', ', 'receiver ' || coalesce((SELECT status FROM "
                  "pg_stat_wal_receiver), 'none'), 'received ' || pg_last_wal_receive_lsn(), "
                  "'replayed ' || pg_last_wal_replay_lsn(), 'replay ' || "
                  "pg_get_wal_replay_pause_state(), 'startup waits on ' || coalesce((SELECT "
                  "wait_event_type || '/' || wait_event FROM pg_stat_activity WHERE backend_type "
                  "= 'startup'), 'nothing'))");
    snprintf(out + n, sizeof(out) - (size_t)n, "%s",
             PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return out;
}

/* The replica's state as /readyz reports it ("" without one). */
static bool
replica_state_is(const char *want)
{
    struct resp r;
    const json_t *rep;
    bool is;

    th_get(&t, "/readyz", NULL, &r);
    cr_assert_eq(r.status, 200, "readyz: %s", r.body);
    rep = json_object_get(r.json, "replica");
    is = json_is_object(rep) &&
         strcmp(json_string_value(json_object_get(rep, "state")), want) == 0;
    resp_free(&r);
    return is;
}

static void
pause_replay(bool pause)
{
    replica_value(pause ? "SELECT pg_wal_replay_pause()" : "SELECT pg_wal_replay_resume()");
    if (pause)
        TH_WAIT_UNTIL(strcmp(replica_value("SELECT pg_get_wal_replay_pause_state()"), "paused") == 0,
                      "replay to pause");
}

/* inboxd with database_url_ro on the replica, once the replica has the
 * test's database and inboxd says it is up; replay runs. */
static void
setup(void)
{
    const char *url = getenv("INBOXD_TEST_REPLICA_URL");
    char ro[700];

    if (url == NULL || url[0] == '\0')
        cr_assert_fail("INBOXD_TEST_REPLICA_URL is not set: run tests/stories/with_replica.sh");
    th_start(&t, true, NULL);
    th_tenant(&t, "Replica Shop", account, key);
    TH_WAIT_UNTIL_TOLD(replica_has_db(), "the replica to have the test's database",
                       replica_story());
    pause_replay(false);
    th_app_stop(&t);
    snprintf(ro, sizeof(ro), "%s dbname=%s", url, t.dbname);
    free(t.cf.database_url_ro);
    t.cf.database_url_ro = strdup(ro);
    cr_assert_not_null(t.cf.database_url_ro);
    th_app_start(&t);
    TH_WAIT_UNTIL(replica_state_is("up"), "inboxd to see the replica up");
}

static void
teardown(void)
{
    if (replica_has_db())
        pause_replay(false);
    th_stop(&t);
}

TestSuite(replica, .init = setup, .fini = teardown, .timeout = 240);

/* POSTs a channel; its id and the Inboxd-Position answered. */
static void
new_channel(const char *ext, char id[37], char pos[LSN_TOKEN_LEN + 1])
{
    char body[200];
    struct resp r;
    uint64_t v;

    snprintf(body, sizeof(body), "{\"type\":\"email\",\"externalId\":\"%s\",\"name\":\"%s\"}", ext,
             ext);
    th_post(&t, "/v1/channels", key, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(id, 37, "%s", json_string_value(json_object_get(r.json, "id")));
    cr_assert(resp_header(&r, "Inboxd-Position", pos, LSN_TOKEN_LEN + 1), "no Inboxd-Position");
    cr_assert(lsn_decode(pos, &v), "Inboxd-Position %s", pos);
    resp_free(&r);
}

static long
get_with(const char *path, const char *pos)
{
    char h[64];
    const char *headers[] = {h, NULL};
    struct resp r;
    long status;

    snprintf(h, sizeof(h), "Inboxd-Position: %s", pos);
    th_http(&t, "GET", path, key, NULL, pos ? headers : NULL, &r);
    status = r.status;
    resp_free(&r);
    return status;
}

/* A read with the position, answered 200 without going to the primary
 * for want of replay (the watcher may not have seen the replay yet). */
static bool
answered_by_replica(const char *path, const char *pos)
{
    const char *behind = "inboxd_db_replica_reads_total{to=\"primary\",reason=\"behind\"}";
    long long before = th_metric(&t, NULL, behind);

    return get_with(path, pos) == 200 && th_metric(&t, NULL, behind) == before;
}

Test(replica, a_read_with_the_writes_position_sees_the_write_the_replica_has_not)
{
    char id[37], pos[LSN_TOKEN_LEN + 1], path[80];
    long long behind = th_metric(&t, NULL,
                                 "inboxd_db_replica_reads_total{to=\"primary\",reason=\"behind\"}");

    pause_replay(true);
    new_channel("held-back", id, pos);
    snprintf(path, sizeof(path), "/v1/channels/%s", id);
    /* Without the position the read goes to the replica, which has not
     * replayed the write; with it, to the primary. */
    cr_assert_eq(get_with(path, NULL), 404);
    cr_assert_eq(get_with(path, pos), 200);
    cr_assert_gt(th_metric(&t, NULL,
                           "inboxd_db_replica_reads_total{to=\"primary\",reason=\"behind\"}"),
                 behind);
    /* Once the replica has replayed that far, the same read is its own. */
    pause_replay(false);
    TH_WAIT_UNTIL(get_with(path, NULL) == 200, "the replica to replay the write");
    TH_WAIT_UNTIL(answered_by_replica(path, pos), "a read with the position to be answered by "
                                                  "the replica");
}

Test(replica, the_etag_a_write_will_send_back_is_read_from_the_primary)
{
    char path[80], etag[80];
    struct resp r;

    pause_replay(true);
    th_post(&t, "/v1/jobs", key, "{\"type\":\"crawl\"}", &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(path, sizeof(path), "/v1/jobs/%s", json_string_value(json_object_get(r.json, "id")));
    resp_free(&r);
    /* No position sent: a plain read would go to the replica, which has
     * no such job yet. */
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(resp_header(&r, "ETag", etag, sizeof(etag)));
    resp_free(&r);
    {
        char h[120];
        const char *headers[] = {h, NULL};

        snprintf(h, sizeof(h), "If-Match: %s", etag);
        th_http(&t, "PATCH", path, key, "{\"status\":\"running\"}", headers, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        resp_free(&r);
    }
}

Test(replica, a_replica_that_stops_fails_no_read_and_never_the_readiness)
{
    char id[37], pos[LSN_TOKEN_LEN + 1], path[80];

    new_channel("survives", id, pos);
    snprintf(path, sizeof(path), "/v1/channels/%s", id);
    TH_WAIT_UNTIL(get_with(path, NULL) == 200, "the replica to replay the write");
    th_run_env_script("INBOXD_TEST_REPLICA_STOP");
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(get_with(path, NULL), 200, "read %d with the replica down", i);
        cr_assert_eq(get_with("/v1/channels", NULL), 200, "list %d with the replica down", i);
    }
    TH_WAIT_UNTIL(replica_state_is("down"), "readyz to report the replica down");
    cr_assert_eq(th_metric(&t, NULL, "inboxd_db_replica_up"), 0);
    cr_assert_gt(
        th_metric(&t, NULL, "inboxd_db_replica_reads_total{to=\"primary\",reason=\"down\"}"), 0);
    th_run_env_script("INBOXD_TEST_REPLICA_START");
    TH_WAIT_UNTIL(replica_state_is("up"), "readyz to report the replica up again");
    cr_assert_eq(get_with(path, NULL), 200);
}

Test(replica, metrics_show_how_far_the_replica_is_behind)
{
    char id[37], pos[LSN_TOKEN_LEN + 1];

    pause_replay(true);
    new_channel("lagging", id, pos);
    TH_WAIT_UNTIL(th_metric(&t, NULL, "inboxd_db_replica_lag_bytes") > 0,
                  "the lag in bytes to show the paused replay");
    cr_assert_geq(th_metric(&t, NULL, "inboxd_db_replica_lag_seconds"), 0);
}

Test(replica, a_malformed_position_is_a_400)
{
    static const char *const bad[] = {"0/16B3748", "xyz", "0000000000000000", "00000016B374D8480"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char h[64];
        const char *headers[] = {h, NULL};
        struct resp r;

        snprintf(h, sizeof(h), "Inboxd-Position: %s", bad[i]);
        th_http(&t, "GET", "/v1/channels", key, NULL, headers, &r);
        expect_problem(&r, 400);
        resp_free(&r);
    }
}
