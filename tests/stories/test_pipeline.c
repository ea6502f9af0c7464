/*
 * test_pipeline: the reads of concurrent requests share round trips in the
 * reader the HTTP loop runs (db_query_start, and db_query from job
 * threads), which answers them while no thread waits for them. Every
 * reader must get its own answer: the right row, or its own 404, never a
 * neighbour's.
 *
 * Writes send ahead what they do not wait for (db_exec_later, db_send):
 * an inbound message and an approval take three round trips, and a
 * statement sent ahead that fails fails the write as a whole, or runs it
 * again when the failure is worth a retry.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"
#include "inboxd/db/db.h"

#define NCONV 24
#define NTHREADS 16
#define ROUNDS 60

static char convs[NCONV][37];
static char users[NCONV][37];

static void
start_with(const char *const *with)
{
    PGresult *r;

    fx_start(NULL, with);
    {
        const char *p[] = {account};

        r = PQexecParams(t.sql,
                         "WITH ch AS (INSERT INTO channels (account_id, id, type, external_id, name) "
                         "            VALUES ($1, inboxd_uuid7(), 'email', 'pipe', 'Pipe') "
                         "            RETURNING id) "
                         "INSERT INTO conversations (account_id, id, channel_id, external_id, subject) "
                         "SELECT $1, inboxd_uuid7(), ch.id, 'P-' || g, 'Subject ' || g "
                         "FROM ch, generate_series(1, 24) g RETURNING id",
                         1, NULL, p, NULL, NULL, 0);
        cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
        cr_assert_eq(PQntuples(r), NCONV);
        for (int i = 0; i < NCONV; i++)
            snprintf(convs[i], 37, "%s", PQgetvalue(r, i, 0));
        PQclear(r);
        r = PQexecParams(t.sql,
                         "INSERT INTO users (account_id, id, email) "
                         "SELECT $1, inboxd_uuid7(), 'agent' || g || '@hotrod.example' "
                         "FROM generate_series(1, 24) g RETURNING id",
                         1, NULL, p, NULL, NULL, 0);
        cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
        for (int i = 0; i < NCONV; i++)
            snprintf(users[i], 37, "%s", PQgetvalue(r, i, 0));
        PQclear(r);
    }
}

static const char *const settings[] = {"pool_size=4", NULL};

static void
setup(void)
{
    start_with(settings);
}

TestSuite(loop, .init = setup, .fini = fx_teardown, .timeout = 180);

static long long
metric(const char *series)
{
    return th_metric(&t, key, series);
}

struct worker {
    unsigned seed;
    int wrong;
    int asked;
    int conversations; /* of them, conversation reads (404s included) */
    char first_error[256];
};

static void
note(struct worker *w, const char *fmt, const char *a, const char *b)
{
    if (w->wrong++ == 0)
        snprintf(w->first_error, sizeof(w->first_error), fmt, a, b);
}

/* Mixes conversation reads (with their ETag), user reads and reads of ids
 * that do not exist; checks that each answer is the one asked for. */
static void *
reader(void *arg)
{
    struct worker *w = arg;

    for (int i = 0; i < ROUNDS; i++) {
        int k = (int)(rand_r(&w->seed) % NCONV);
        int kind = (int)(rand_r(&w->seed) % 3);
        char path[128], missing[37];
        const char *want;
        struct resp r;

        if (kind == 0) {
            want = convs[k];
            snprintf(path, sizeof(path), "/v1/conversations/%s", want);
        } else if (kind == 1) {
            want = users[k];
            snprintf(path, sizeof(path), "/v1/users/%s", want);
        } else {
            snprintf(missing, sizeof(missing), "%.24s%012d", convs[k], 999000 + i);
            want = NULL;
            snprintf(path, sizeof(path), "/v1/conversations/%s", missing);
        }
        th_get(&t, path, key, &r);
        w->asked++;
        w->conversations += kind != 1;
        if (want == NULL) {
            if (r.status != 404)
                note(w, "%s answered %s, not 404", path, r.body ? r.body : "");
        } else if (r.status != 200 || r.json == NULL) {
            note(w, "%s failed: %s", path, r.body ? r.body : "");
        } else if (strcmp(json_string_value(json_object_get(r.json, "id")), want) != 0) {
            note(w, "%s answered %s", path, r.body);
        }
        resp_free(&r);
    }
    return NULL;
}

/* NTHREADS readers at once; returns the reads asked, *conversations of
 * them conversation reads. */
static int
run_readers(struct worker *w, unsigned seed, int *conversations)
{
    pthread_t th[NTHREADS];
    int asked = 0;

    *conversations = 0;
    for (int i = 0; i < NTHREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].seed = (unsigned)i * 7919u + seed;
        cr_assert_eq(pthread_create(&th[i], NULL, reader, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(w[i].wrong, 0, "thread %d: %d wrong answers, first: %s", i, w[i].wrong,
                     w[i].first_error);
        asked += w[i].asked;
        *conversations += w[i].conversations;
    }
    return asked;
}

/* A read with nothing else in flight runs alone and carries its ETag. */
Test(loop, a_read_alone_answers_as_before)
{
    char path[128], etag[128];
    struct resp r;

    snprintf(path, sizeof(path), "/v1/conversations/%s", convs[3]);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "id")), convs[3]);
    cr_assert_eq(strncmp(json_string_value(json_object_get(r.json, "subject")), "Subject ", 8), 0);
    cr_assert(resp_header(&r, "ETag", etag, sizeof(etag)));
    resp_free(&r);
}

Test(loop, concurrent_reads_each_get_their_own_answer_from_the_reader)
{
    struct worker w[NTHREADS];
    long long before = metric("inboxd_db_reads_total");
    long long trips = metric("inboxd_db_read_round_trips_total");
    int conversations, asked = run_readers(w, 3u, &conversations);

    cr_assert_eq(asked, NTHREADS * ROUNDS);
    /* Every conversation read (and only those: user reads run on job
     * threads) went through the reader. How many shared a round trip
     * depends on the machine's speed: the benchmark shows that, not this
     * test; never more trips than reads. */
    cr_assert_eq(metric("inboxd_db_reads_total") - before, conversations);
    cr_assert_leq(metric("inboxd_db_read_round_trips_total") - trips, conversations);
}

struct patcher {
    char path[128];
    struct resp r;
};

static void *
patch_conversation(void *p)
{
    struct patcher *pt = p;

    th_http(&t, "PATCH", pt->path, key, "{\"status\":\"pending\"}", NULL, &pt->r);
    return NULL;
}

/* Connections of inboxd waiting for a lock now. */
static long
lock_waiters(PGconn *watch)
{
    PGresult *res = PQexec(watch, "SELECT count(*) FROM pg_stat_activity WHERE "
                                  "wait_event_type = 'Lock' AND application_name = 'inboxd' "
                                  "AND datname = current_database()");
    long n;

    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK, "%s", PQerrorMessage(watch));
    n = atol(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

Test(loop, a_read_is_answered_while_writes_wait_on_a_lock)
{
    PGconn *watch;
    struct patcher pt[2];
    pthread_t th[2];
    char sql[300], path[128];
    struct resp r;

    /* The key is cached from here on: its check needs no job thread. */
    snprintf(path, sizeof(path), "/v1/conversations/%s", convs[1]);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);

    PQclear(th_sql(&t, "BEGIN"));
    snprintf(sql, sizeof(sql), "SELECT 1 FROM conversations WHERE id IN ('%s', '%s') FOR UPDATE",
             convs[0], convs[10]);
    PQclear(th_sql(&t, sql));
    for (int i = 0; i < 2; i++) {
        snprintf(pt[i].path, sizeof(pt[i].path), "/v1/conversations/%.36s", convs[i * 10]);
        cr_assert_eq(pthread_create(&th[i], NULL, patch_conversation, &pt[i]), 0);
    }
    /* pg_stat_activity is read from another session: inside the open
     * transaction it would stay as first seen. */
    watch = PQconnectdb(t.conninfo);
    cr_assert_eq(PQstatus(watch), CONNECTION_OK, "%s", PQerrorMessage(watch));
    TH_WAIT_UNTIL(lock_waiters(watch) >= 2, "the PATCHes never reached the lock");

    /* Both PATCHes wait; the reads need no job thread and no lock. */
    for (int i = 1; i < 6; i++) {
        snprintf(path, sizeof(path), "/v1/conversations/%s", convs[i]);
        th_get(&t, path, key, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        cr_assert_str_eq(json_string_value(json_object_get(r.json, "id")), convs[i]);
        resp_free(&r);
    }
    cr_assert_eq(lock_waiters(watch), 2, "the reads were answered while the PATCHes waited");
    PQfinish(watch);

    PQclear(th_sql(&t, "COMMIT"));
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(pt[i].r.status, 200, "%s", pt[i].r.body);
        resp_free(&pt[i].r);
    }
}

Test(loop, the_reader_sends_its_reads_again_when_its_connection_is_killed)
{
    char path[128];
    struct resp r;

    for (int round = 0; round < 3; round++) {
        /* The reader's connection is open and recently given back, so the
         * next read trusts it without a check. */
        snprintf(path, sizeof(path), "/v1/conversations/%.36s", convs[round]);
        th_get(&t, path, key, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        resp_free(&r);
        cr_assert_geq(th_sql_long(&t, "SELECT count(pg_terminate_backend(pid)) FROM "
                                      "pg_stat_activity WHERE application_name = 'inboxd' "
                                      "AND datname = current_database()"),
                      1);
        for (int i = 0; i < 8; i++) {
            snprintf(path, sizeof(path), "/v1/conversations/%.36s", convs[(round + i) % NCONV]);
            th_get(&t, path, key, &r);
            cr_assert_eq(r.status, 200, "round %d read %d: %s", round, i, r.body);
            cr_assert_str_eq(json_string_value(json_object_get(r.json, "id")),
                             convs[(round + i) % NCONV]);
            resp_free(&r);
        }
    }
}

/* Stopping the server stops the reader thread; a server started again in
 * the same process gets a new one. */
Test(loop, the_reader_starts_again_with_the_server)
{
    char path[128];
    struct resp r;

    for (int round = 0; round < 3; round++) {
        snprintf(path, sizeof(path), "/v1/conversations/%.36s", convs[round]);
        th_get(&t, path, key, &r);
        cr_assert_eq(r.status, 200, "round %d: %s", round, r.body);
        cr_assert_str_eq(json_string_value(json_object_get(r.json, "id")), convs[round]);
        resp_free(&r);
        th_app_stop(&t);
        th_app_start(&t);
    }
}

/* Reads handed to the reader so far, from the inboxd in this process. */
static unsigned long long
reads_handed(void)
{
    struct db_stats ds;

    db_stats(&ds);
    return ds.reads;
}

struct getter {
    char path[128];
    struct resp r;
    atomic_bool done; /* r holds the answer */
};

static void *
get_path(void *p)
{
    struct getter *g = p;

    th_get(&t, g->path, key, &g->r);
    atomic_store(&g->done, true);
    return NULL;
}

/* The reader never waits for a connection on the loop: a read that finds
 * the pool taken waits in its queue (503 after pool_wait_ms, longer than
 * this test here) while the loop goes on serving. */
Test(loop, a_read_waiting_for_a_connection_does_not_stop_the_loop)
{
    struct patcher pt;
    struct getter g = {.done = false};
    pthread_t patch_th, get_th;
    PGconn *watch;
    char sql[300];
    unsigned long long before;
    struct resp r;

    th_app_stop(&t);
    t.cf.pool_size = 1;
    t.cf.pool_wait_ms = 600000;
    /* Nothing here may end by the clock on a slow machine: the key stays
     * cached (its lookup would need the taken connection), and the PATCH
     * waits for the lock as long as the test holds it. */
    t.cf.key_cache_ms = 600000;
    t.cf.lock_timeout_ms = 0;
    t.cf.statement_timeout_ms = 0;
    th_app_start(&t);
    snprintf(g.path, sizeof(g.path), "/v1/conversations/%.36s", convs[2]);
    th_get(&t, g.path, key, &r); /* caches the key */
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);

    /* A PATCH waits on a row lock with the pool's only connection. */
    PQclear(th_sql(&t, "BEGIN"));
    snprintf(sql, sizeof(sql), "SELECT 1 FROM conversations WHERE id = '%s' FOR UPDATE", convs[0]);
    PQclear(th_sql(&t, sql));
    snprintf(pt.path, sizeof(pt.path), "/v1/conversations/%.36s", convs[0]);
    cr_assert_eq(pthread_create(&patch_th, NULL, patch_conversation, &pt), 0);
    watch = PQconnectdb(t.conninfo);
    cr_assert_eq(PQstatus(watch), CONNECTION_OK, "%s", PQerrorMessage(watch));
    TH_WAIT_UNTIL(lock_waiters(watch) >= 1, "the PATCH never reached the lock");

    /* A read now waits in the reader's queue for that connection (seen in
     * this process: /metrics would want a connection for queue depths)... */
    before = reads_handed();
    cr_assert_eq(pthread_create(&get_th, NULL, get_path, &g), 0);
    TH_WAIT_UNTIL(reads_handed() != before, "the read never reached the reader");
    /* ...and the loop still answers while the read still waits. */
    th_get(&t, "/healthz", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    cr_assert(!atomic_load(&g.done), "the read was answered while the lock was held: %s",
              g.r.body ? g.r.body : "");

    /* The lock goes, the PATCH commits, and the read gets the connection. */
    PQclear(th_sql(&t, "COMMIT"));
    pthread_join(patch_th, NULL);
    cr_assert_eq(pt.r.status, 200, "%s", pt.r.body);
    resp_free(&pt.r);
    pthread_join(get_th, NULL);
    cr_assert_eq(g.r.status, 200, "%s", g.r.body);
    resp_free(&g.r);
    PQfinish(watch);
}

/* --- writes sent ahead ------------------------------------------------------ */

static long long
trips_at_most(const char *le)
{
    char series[96];

    snprintf(series, sizeof(series), "inboxd_db_transaction_round_trips_bucket{le=\"%s\"}", le);
    return metric(series);
}

static void
post_message(const char *conv, const char *ext, struct resp *r)
{
    char path[128], body[256];

    snprintf(path, sizeof(path), "/v1/conversations/%s/messages", conv);
    snprintf(body, sizeof(body),
             "{\"externalId\":\"%s\",\"direction\":\"inbound\",\"bodyText\":\"Is it in stock?\"}",
             ext);
    th_post(&t, path, key, body, r);
}

/* BEGIN, the lock and the insert; the draft request, the touch, the audit
 * row and the render; COMMIT: three round trips, however many statements.
 * (Other transactions may land in the histogram meanwhile, never fewer.) */
Test(loop, an_inbound_message_and_an_approval_take_three_round_trips)
{
    long long before = trips_at_most("3");
    char chan[37], conv[37], draft[37], ext[32];
    struct resp r;

    for (int i = 0; i < 6; i++) {
        snprintf(ext, sizeof(ext), "trips-%d", i);
        post_message(convs[i], ext, &r);
        cr_assert_eq(r.status, 201, "%s", r.body);
        resp_free(&r);
    }
    mk_channel(account, "email", "trips", chan);
    for (int i = 0; i < 4; i++) {
        snprintf(ext, sizeof(ext), "trips-a%d", i);
        mk_pending(account, chan, ext, i, "It ships today.", NULL, conv, draft);
        act(draft, key, "approve", users[i], NULL, NULL, NULL, &r);
        cr_assert_eq(r.status, 201, "%s", r.body);
        resp_free(&r);
    }
    cr_assert_geq(trips_at_most("3") - before, 10);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests WHERE account_id = '%s'", account),
                 6);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE account_id = '%s' "
                          "AND action IN ('message.create', 'draft.action.approve')",
                          account),
                 10);
}

/* The audit row goes ahead with the render: when it fails, the message,
 * its draft request and the conversation's touch are not there either. */
Test(loop, a_failed_statement_sent_ahead_fails_the_whole_write)
{
    char before[64], after[64];
    struct resp r;

    sql_text(before, sizeof(before), "SELECT updated_at FROM conversations WHERE id = '%s'",
             convs[5]);
    sql_exec("CREATE FUNCTION pipeline_refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
             "BEGIN RAISE EXCEPTION 'refused by the test' USING ERRCODE = 'check_violation'; END $$");
    sql_exec("CREATE TRIGGER pipeline_refuse BEFORE INSERT ON audit_log FOR EACH ROW "
             "WHEN (NEW.action = 'message.create') EXECUTE FUNCTION pipeline_refuse()");
    post_message(convs[5], "refused-1", &r);
    expect_problem(&r, 422);
    resp_free(&r);
    sql_exec("DROP TRIGGER pipeline_refuse ON audit_log");

    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE external_id = 'refused-1'"), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests WHERE account_id = '%s'", account),
                 0);
    sql_text(after, sizeof(after), "SELECT updated_at FROM conversations WHERE id = '%s'",
             convs[5]);
    cr_assert_str_eq(after, before);
    /* The connection is fine after it: the same post now goes through. */
    post_message(convs[5], "refused-1", &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
}

/* A serialization failure of a statement sent ahead runs the transaction
 * again, as one of a statement waited for would: one message, once. */
Test(loop, a_retryable_failure_sent_ahead_runs_the_write_again)
{
    struct resp r;

    sql_exec("CREATE SEQUENCE pipeline_attempts");
    sql_exec("GRANT USAGE ON SEQUENCE pipeline_attempts TO PUBLIC");
    sql_exec("CREATE FUNCTION pipeline_once() RETURNS trigger LANGUAGE plpgsql AS $$ "
             "BEGIN IF nextval('pipeline_attempts') = 1 THEN "
             "RAISE EXCEPTION 'first attempt' USING ERRCODE = 'serialization_failure'; "
             "END IF; RETURN NEW; END $$");
    sql_exec("CREATE TRIGGER pipeline_once BEFORE INSERT ON audit_log FOR EACH ROW "
             "WHEN (NEW.action = 'message.create') EXECUTE FUNCTION pipeline_once()");
    post_message(convs[6], "retried-1", &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    sql_exec("DROP TRIGGER pipeline_once ON audit_log");

    cr_assert_eq(sql_long("SELECT last_value FROM pipeline_attempts"), 2);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE external_id = 'retried-1'"), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests WHERE account_id = '%s'", account),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'message.create' "
                          "AND account_id = '%s'",
                          account),
                 1);
}

/* --- notifications after COMMIT ------------------------------------------ */

static int
notifications(PGconn *l, const char *want)
{
    PGnotify *n;
    int seen = 0;

    cr_assert(PQconsumeInput(l), "%s", PQerrorMessage(l));
    while ((n = PQnotifies(l)) != NULL) {
        seen += strcmp(n->extra, want) == 0;
        PQfreemem(n);
    }
    return seen;
}

/* A transaction that says inboxd.notify = 'defer' keeps its wake-ups (once
 * each) until inboxd_notify_flush() after its COMMIT; a rollback drops
 * them; any other writer notifies at once, as before. */
Test(loop, a_write_defers_its_notifications_until_after_commit)
{
    PGconn *l = PQconnectdb(t.conninfo);
    char want[64], msg[37], req[37];

    cr_assert_eq(PQstatus(l), CONNECTION_OK, "%s", PQerrorMessage(l));
    PQclear(PQexec(l, "LISTEN inboxd_events"));
    snprintf(want, sizeof(want), "d %s", account);

    sql_exec("BEGIN");
    sql_exec("SELECT set_config('inboxd.notify', 'defer', true)");
    mk_request(account, convs[7], 0, msg, req);
    mk_request(account, convs[8], 0, msg, req);
    sql_exec("COMMIT");
    cr_assert_eq(notifications(l, want), 0, "a deferred wake-up went out at COMMIT");
    sql_exec("SELECT inboxd_notify_flush()");
    TH_WAIT_UNTIL(notifications(l, want) == 1, "the flush sent no wake-up");
    sql_exec("SELECT inboxd_notify_flush()"); /* nothing pending: nothing sent */

    sql_exec("BEGIN");
    sql_exec("SELECT set_config('inboxd.notify', 'defer', true)");
    mk_request(account, convs[9], 0, msg, req);
    sql_exec("ROLLBACK");
    sql_exec("SELECT inboxd_notify_flush()");

    mk_request(account, convs[10], 0, msg, req); /* not deferred */
    TH_WAIT_UNTIL(notifications(l, want) == 1, "a write that does not defer sent no wake-up");
    cr_assert_eq(notifications(l, want), 0, "the rolled-back or empty flush sent one");
    PQfinish(l);
}
