/*
 * test_pipeline: single-statement reads of concurrent requests sharing a
 * round trip (db_query, read_pipeline). Every reader must get its own
 * answer: the right row, or its own 404, never a neighbour's, and batches
 * must really form.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define NCONV 24
#define NTHREADS 16
#define ROUNDS 60

static struct th t;
static char account[37], key[64];
static char convs[NCONV][37];
static char users[NCONV][37];

/* One batch at a time and a small pool, so concurrent reads must queue and
 * share round trips. */
static const char *const settings[] = {"read_pipeline=16", "read_pipeline_batches=1",
                                       "pool_size=3", "http_threads=32", NULL};

static void
setup(void)
{
    PGresult *r;

    th_start(&t, true, settings);
    th_tenant(&t, "Hot Rod AN", account, key);
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

static void
teardown(void)
{
    th_stop(&t);
}

TestSuite(pipeline, .init = setup, .fini = teardown, .timeout = 180);

static long long
metric(const char *series)
{
    return th_metric(&t, key, series);
}

struct worker {
    unsigned seed;
    int wrong;
    int asked;
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

Test(pipeline, concurrent_reads_each_get_their_own_answer_in_shared_round_trips)
{
    pthread_t th[NTHREADS];
    struct worker w[NTHREADS];
    long long before = metric("inboxd_db_reads_pipelined_total");
    int asked = 0;

    for (int i = 0; i < NTHREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].seed = (unsigned)i * 7919u + 1u;
        cr_assert_eq(pthread_create(&th[i], NULL, reader, &w[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        cr_expect_eq(w[i].wrong, 0, "thread %d: %d wrong answers, first: %s", i, w[i].wrong,
                     w[i].first_error);
        asked += w[i].asked;
    }
    cr_assert_eq(asked, NTHREADS * ROUNDS);
    /* Shared round trips happened (the point of the test), and no more
     * reads were answered in them than were asked. */
    cr_assert_gt(metric("inboxd_db_reads_pipelined_total") - before, 0,
                 "no read shared a round trip");
    cr_assert_leq(metric("inboxd_db_reads_pipelined_total") - before, asked);
}

/* A read with nothing else in flight runs alone and carries its ETag. */
Test(pipeline, a_read_alone_answers_as_before)
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
