/*
 * routes/jobs.c: job runs (issue #5): create, the state machine (every
 * illegal step a 409, every legal one with its timestamps), If-Match, the
 * ingest.failed notification, the list's filters, validation, tenancy,
 * scopes and audit rows. Each test checks statuses, bodies and the database.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"

TestSuite(jobs, .init = fx_setup, .fini = fx_teardown, .timeout = 120);

/* --- helpers --------------------------------------------------------------- */

/* POST /v1/jobs {type}; id and etag (may be NULL) filled. */
static void
new_job(const char *type, char id[37], char *etag, size_t etaglen)
{
    char body[128];
    struct resp r;

    snprintf(body, sizeof(body), "{\"type\":\"%s\"}", type);
    th_post(&t, "/v1/jobs", key, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(id, 37, "%s", jstr(r.json, "id"));
    if (etag)
        cr_assert(resp_header(&r, "ETag", etag, etaglen));
    resp_free(&r);
}

/* PATCHes job id to status, asserting 200. */
static void
move_job(const char *id, const char *status)
{
    char path[128], body[128];
    struct resp r;

    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    snprintf(body, sizeof(body), "{\"status\":\"%s\"}", status);
    patch_if(path, key, body, NULL, &r);
    cr_assert_eq(r.status, 200, "-> %s: %s", status, r.body);
    resp_free(&r);
}

/* --- jobs ------------------------------------------------------------------ */

Test(jobs, create_answers_201_queued_with_an_etag_and_audits)
{
    char etag[80], etag2[80], path[128];
    struct resp r;
    const char *id;

    th_post(&t, "/v1/jobs", key, "{\"type\":\"crawl\"}", &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    id = jstr(r.json, "id");
    cr_assert_not_null(id);
    cr_assert_str_eq(jstr(r.json, "accountId"), account);
    cr_assert_str_eq(jstr(r.json, "type"), "crawl");
    cr_assert_str_eq(jstr(r.json, "status"), "queued");
    cr_assert(json_is_null(json_object_get(r.json, "startedAt")));
    cr_assert(json_is_null(json_object_get(r.json, "finishedAt")));
    cr_assert(json_is_null(json_object_get(r.json, "error")));
    cr_assert_eq(json_object_size(json_object_get(r.json, "metrics")), 0);
    cr_assert(json_is_object(json_object_get(r.json, "metrics")));
    cr_assert(json_is_string(json_object_get(r.json, "createdAt")));
    cr_assert(json_is_string(json_object_get(r.json, "updatedAt")));
    cr_assert(resp_header(&r, "ETag", etag, sizeof(etag)));
    cr_assert_eq(etag[0], '"');
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    cr_assert_eq(sql_long("SELECT count(*) FROM job_runs WHERE account_id = '%s' AND id = '%s' "
                          "AND status = 'queued' AND started_at IS NULL AND finished_at IS NULL",
                          account, id),
                 1);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM audit_log WHERE account_id = '%s' AND "
                 "action = 'job_run.create' AND resource_type = 'job_run' AND "
                 "resource_id = '%s' AND actor_key_id IS NOT NULL AND request_hash IS NOT NULL",
                 account, id),
        1);
    resp_free(&r);

    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "status"), "queued");
    cr_assert(resp_header(&r, "ETag", etag2, sizeof(etag2)));
    cr_assert_str_eq(etag, etag2, "GET and POST agree on the ETag");
    resp_free(&r);
}

Test(jobs, every_legal_step_sets_its_timestamps)
{
    char a[37], b[37], path[128], started[64];
    struct resp r;

    new_job("ingest_goldens", a, NULL, 0);
    snprintf(path, sizeof(path), "/v1/jobs/%s", a);

    /* queued -> running: startedAt, no finishedAt. */
    patch_if(path, key, "{\"status\":\"running\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "status"), "running");
    cr_assert(json_is_string(json_object_get(r.json, "startedAt")));
    cr_assert(json_is_null(json_object_get(r.json, "finishedAt")));
    snprintf(started, sizeof(started), "%s", jstr(r.json, "startedAt"));
    resp_free(&r);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM job_runs WHERE id = '%s' AND status = 'running' AND "
                 "started_at IS NOT NULL AND finished_at IS NULL",
                 a),
        1);

    /* running -> succeeded: finishedAt, startedAt kept, metrics stored. */
    patch_if(path, key, "{\"status\":\"succeeded\",\"metrics\":{\"pages\":42,\"ok\":true}}", NULL,
             &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "status"), "succeeded");
    cr_assert_str_eq(jstr(r.json, "startedAt"), started);
    cr_assert(json_is_string(json_object_get(r.json, "finishedAt")));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(r.json, "metrics"), "pages")),
                 42);
    resp_free(&r);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM job_runs WHERE id = '%s' AND status = 'succeeded' AND "
                 "finished_at >= started_at AND metrics = '{\"pages\":42,\"ok\":true}'",
                 a),
        1);

    /* running -> failed: finishedAt and the error. */
    new_job("crawl", b, NULL, 0);
    move_job(b, "running");
    snprintf(path, sizeof(path), "/v1/jobs/%s", b);
    patch_if(path, key, "{\"status\":\"failed\",\"error\":\"robots.txt said no\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "status"), "failed");
    cr_assert_str_eq(jstr(r.json, "error"), "robots.txt said no");
    cr_assert(json_is_string(json_object_get(r.json, "startedAt")));
    cr_assert(json_is_string(json_object_get(r.json, "finishedAt")));
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM job_runs WHERE id = '%s' AND status = 'failed' AND "
                          "finished_at >= started_at AND error = 'robots.txt said no'",
                          b),
                 1);

    /* Each step is audited; only the failure notifies. */
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'job_run.update' AND "
                          "resource_id = '%s'",
                          a),
                 2);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'job_run.update' AND "
                          "resource_id = '%s'",
                          b),
                 2);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM notifications WHERE payload->>'jobRunId' = '%s'", a), 0);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM notifications WHERE payload->>'jobRunId' = '%s'", b), 1);
}

static const char *const states[] = {"queued", "running", "succeeded", "failed"};

static bool
legal_step(int from, int to)
{
    return (from == 0 && to == 1) || (from == 1 && (to == 2 || to == 3));
}

Test(jobs, every_illegal_transition_is_a_409_naming_the_status)
{
    char ids[4][37];
    int illegal = 0;

    /* One run in each state, reached through the legal steps. */
    new_job("crawl", ids[0], NULL, 0);
    new_job("crawl", ids[1], NULL, 0);
    move_job(ids[1], "running");
    new_job("crawl", ids[2], NULL, 0);
    move_job(ids[2], "running");
    move_job(ids[2], "succeeded");
    new_job("crawl", ids[3], NULL, 0);
    move_job(ids[3], "running");
    move_job(ids[3], "failed");
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'job_run.update'"), 5);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications"), 1);

    for (int from = 0; from < 4; from++) {
        for (int to = 0; to < 4; to++) {
            char path[128], body[160], before[128], after[128];
            struct resp r;

            if (legal_step(from, to))
                continue;
            illegal++;
            sql_text(before, sizeof(before),
                     "SELECT status || updated_at::text FROM job_runs "
                     "WHERE id = '%s'",
                     ids[from]);
            snprintf(path, sizeof(path), "/v1/jobs/%s", ids[from]);
            snprintf(body, sizeof(body), "{\"status\":\"%s\",\"error\":\"x\",\"metrics\":{}}",
                     states[to]);
            patch_if(path, key, body, NULL, &r);
            expect_problem(&r, 409);
            cr_assert_not_null(strstr(jstr(r.json, "detail"), states[from]), "%s -> %s: %s",
                               states[from], states[to], r.body);
            resp_free(&r);
            sql_text(after, sizeof(after),
                     "SELECT status || updated_at::text FROM job_runs "
                     "WHERE id = '%s'",
                     ids[from]);
            cr_assert_str_eq(before, after, "%s -> %s changed the run", states[from], states[to]);
        }
    }
    cr_assert_eq(illegal, 13);
    /* Refused steps write nothing: no audit row, no notification. */
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'job_run.update'"), 5);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications"), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM job_runs WHERE error IS NOT NULL"), 0);
}

Test(jobs, if_match_is_honoured_and_a_stale_tag_is_a_412)
{
    char id[37], etag[80], etag2[80], path[128], h[128];
    struct resp r;

    new_job("corrections_sync", id, etag, sizeof(etag));
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);

    patch_if(path, key, "{\"status\":\"running\"}", etag, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(resp_header(&r, "ETag", etag2, sizeof(etag2)));
    cr_assert_str_neq(etag, etag2, "a change gives a new ETag");
    resp_free(&r);

    /* The first tag is stale now: 412, nothing changes, even though
     * running -> succeeded would be legal. */
    patch_if(path, key, "{\"status\":\"succeeded\"}", etag, &r);
    expect_problem(&r, 412);
    resp_free(&r);
    /* A stale tag on an illegal step: the precondition is judged first. */
    patch_if(path, key, "{\"status\":\"queued\"}", etag, &r);
    expect_problem(&r, 412);
    resp_free(&r);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM job_runs WHERE id = '%s' AND status = 'running'", id), 1);

    /* A weak tag never matches (412); only a malformed header is a 400. */
    patch_if(path, key, "{\"status\":\"succeeded\"}", "W/\"1\"", &r);
    expect_problem(&r, 412);
    resp_free(&r);
    patch_if(path, key, "{\"status\":\"succeeded\"}", "nonsense", &r);
    expect_problem(&r, 400);
    resp_free(&r);

    /* The current tag works, and so does "*". */
    th_get(&t, path, key, &r);
    cr_assert(resp_header(&r, "ETag", etag, sizeof(etag)));
    cr_assert_str_eq(etag, etag2);
    resp_free(&r);
    patch_if(path, key, "{\"status\":\"succeeded\"}", etag2, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    snprintf(h, sizeof(h), "%s", "*");
    patch_if(path, key, "{\"status\":\"failed\"}", h, &r);
    expect_problem(&r, 409);
    resp_free(&r);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM job_runs WHERE id = '%s' AND status = 'succeeded'", id), 1);
}

Test(jobs, a_failed_job_writes_exactly_one_ingest_failed_notification)
{
    char id[37], path[128];
    struct resp r;
    json_t *items, *n, *payload;

    new_job("ingest_goldens", id, NULL, 0);
    move_job(id, "running");
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    patch_if(path, key, "{\"status\":\"failed\",\"error\":\"golden set missing\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    /* A repeat is a 409 and must not notify twice. */
    patch_if(path, key, "{\"status\":\"failed\",\"error\":\"again\"}", NULL, &r);
    expect_problem(&r, 409);
    resp_free(&r);

    cr_assert_eq(sql_long("SELECT count(*) FROM notifications WHERE type = 'ingest.failed'"), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications WHERE account_id = '%s' AND "
                          "type = 'ingest.failed' AND user_id IS NULL AND read_at IS NULL AND "
                          "payload->>'jobRunId' = '%s' AND payload->>'type' = 'ingest_goldens' AND "
                          "payload->>'error' = 'golden set missing'",
                          account, id),
                 1);

    /* And the dashboard sees it. */
    th_get(&t, "/v1/notifications?unread=true", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 1);
    n = json_array_get(items, 0);
    cr_assert_str_eq(jstr(n, "type"), "ingest.failed");
    cr_assert(json_is_null(json_object_get(n, "userId")));
    payload = json_object_get(n, "payload");
    cr_assert_str_eq(jstr(payload, "jobRunId"), id);
    cr_assert_str_eq(jstr(payload, "type"), "ingest_goldens");
    cr_assert_str_eq(jstr(payload, "error"), "golden set missing");
    resp_free(&r);
}

Test(jobs, list_filters_by_type_and_status_oldest_first_and_paginates)
{
    char c1[37], c2[37], c3[37], g1[37], g2[37];
    char ids[16][37];
    struct resp r;
    json_t *items;
    int n;

    new_job("crawl", c1, NULL, 0);
    new_job("ingest_goldens", g1, NULL, 0);
    new_job("crawl", c2, NULL, 0);
    new_job("ingest_goldens", g2, NULL, 0);
    new_job("crawl", c3, NULL, 0);
    move_job(c2, "running");
    move_job(g2, "running");

    th_get(&t, "/v1/jobs?type=crawl", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 3);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), c1);
    cr_assert_str_eq(jstr(json_array_get(items, 1), "id"), c2);
    cr_assert_str_eq(jstr(json_array_get(items, 2), "id"), c3);
    cr_assert(json_is_null(json_object_get(r.json, "nextCursor")));
    resp_free(&r);

    th_get(&t, "/v1/jobs?status=running", key, &r);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 2);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), c2);
    cr_assert_str_eq(jstr(json_array_get(items, 1), "id"), g2);
    resp_free(&r);

    th_get(&t, "/v1/jobs?type=ingest_goldens&status=queued", key, &r);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 1);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), g1);
    resp_free(&r);

    th_get(&t, "/v1/jobs?type=corrections_sync", key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    resp_free(&r);

    n = walk(key, "/v1/jobs", 2, ids, 16, NULL);
    cr_assert_eq(n, 5);
    cr_assert_str_eq(ids[0], c1);
    cr_assert_str_eq(ids[1], g1);
    cr_assert_str_eq(ids[2], c2);
    cr_assert_str_eq(ids[3], g2);
    cr_assert_str_eq(ids[4], c3);
    n = walk(key, "/v1/jobs?type=crawl", 2, ids, 16, NULL);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(ids[2], c3);
}

Test(jobs, malformed_query_parameters_are_400_naming_them)
{
    static const struct {
        const char *query, *param;
    } cases[] = {
        {"type=nope", "type"},     {"type=", "type"},
        {"status=done", "status"}, {"status=QUEUED", "status"},
        {"limit=0", "limit"},      {"limit=201", "limit"},
        {"limit=x", "limit"},      {"cursor=garbage", "cursor"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[160];
        struct resp r;

        snprintf(path, sizeof(path), "/v1/jobs?%s", cases[i].query);
        th_get(&t, path, key, &r);
        expect_param(&r, cases[i].param, NULL);
        resp_free(&r);
    }
}

Test(jobs, invalid_bodies_are_422_naming_each_field)
{
    static const struct {
        const char *body, *field;
    } post_cases[] = {
        {"{}", "type"},
        {"{\"type\":null}", "type"},
        {"{\"type\":\"nope\"}", "type"},
        {"{\"type\":7}", "type"},
        {"{\"type\":\"crawl\",\"status\":\"running\"}", "status"},
    };
    static const struct {
        const char *body, *field;
    } patch_cases[] = {
        {"{}", "status"},
        {"{\"status\":\"done\"}", "status"},
        {"{\"status\":\"running\",\"metrics\":[1,2]}", "metrics"},
        {"{\"status\":\"running\",\"metrics\":\"fast\"}", "metrics"},
        {"{\"status\":\"running\",\"metrics\":{\"a\":\"x\\u0000y\"}}", "metrics"},
        {"{\"status\":\"running\",\"error\":\"bad\\u0000byte\"}", "error"},
        {"{\"status\":\"running\",\"error\":12}", "error"},
        {"{\"status\":\"running\",\"startedAt\":\"2026-01-01T00:00:00Z\"}", "startedAt"},
    };
    char id[37], path[128];
    struct resp r;
    char *big;
    json_t *errs;

    for (size_t i = 0; i < sizeof(post_cases) / sizeof(post_cases[0]); i++) {
        th_post(&t, "/v1/jobs", key, post_cases[i].body, &r);
        expect_field(&r, post_cases[i].field, NULL);
        resp_free(&r);
    }
    cr_assert_eq(sql_long("SELECT count(*) FROM job_runs"), 0);

    new_job("crawl", id, NULL, 0);
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    for (size_t i = 0; i < sizeof(patch_cases) / sizeof(patch_cases[0]); i++) {
        patch_if(path, key, patch_cases[i].body, NULL, &r);
        expect_field(&r, patch_cases[i].field, NULL);
        resp_free(&r);
    }

    /* Several bad fields: one answer names each. */
    patch_if(path, key, "{\"status\":\"x\",\"metrics\":[]}", NULL, &r);
    expect_field(&r, "status", NULL);
    errs = json_object_get(r.json, "errors");
    cr_assert_eq(json_array_size(errs), 2, "%s", r.body);
    resp_free(&r);

    /* metrics over 64 KiB. */
    big = big_object_body("\"status\":\"running\",", "metrics");
    patch_if(path, key, big, NULL, &r);
    expect_field(&r, "metrics", NULL);
    resp_free(&r);
    free(big);

    /* An error text over the limit. */
    {
        size_t n = 64 * 1024 + 1;
        char *b = malloc(n + 64);
        int k = snprintf(b, 64, "{\"status\":\"running\",\"error\":\"");

        memset(b + k, 'e', n);
        strcpy(b + k + n, "\"}");
        patch_if(path, key, b, NULL, &r);
        expect_field(&r, "error", NULL);
        resp_free(&r);
        free(b);
    }

    /* Not JSON, not an object: 400. */
    patch_if(path, key, "{\"status\":", NULL, &r);
    expect_problem(&r, 400);
    resp_free(&r);
    th_post(&t, "/v1/jobs", key, "[\"crawl\"]", &r);
    expect_problem(&r, 400);
    resp_free(&r);

    cr_assert_eq(sql_long("SELECT count(*) FROM job_runs WHERE status = 'queued'"), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'job_run.update'"), 0);
}

Test(jobs, another_tenants_run_is_a_404)
{
    char other_acct[37], other_key[64], id[37], path[128];
    struct resp r;

    new_job("crawl", id, NULL, 0);
    th_tenant(&t, "Other Shop", other_acct, other_key);
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);

    th_get(&t, path, other_key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    patch_if(path, other_key, "{\"status\":\"running\"}", NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_get(&t, "/v1/jobs", other_key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    resp_free(&r);
    /* The other key changed nothing: the run is still queued for its owner. */
    patch_if(path, key, "{\"status\":\"running\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    /* A missing id is the same 404. */
    th_get(&t, "/v1/jobs/01890000-0000-7000-8000-000000000000", key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE account_id = '%s'", other_acct), 0);
}

Test(jobs, scopes_read_for_reads_jobs_write_for_writes)
{
    char reader[64], writer[64], id[37], path[128];
    struct resp r;

    th_key(&t, account, "read", reader);
    th_key(&t, account, "jobs:write", writer);
    th_post(&t, "/v1/jobs", reader, "{\"type\":\"crawl\"}", &r);
    expect_problem(&r, 403);
    resp_free(&r);
    th_post(&t, "/v1/jobs", writer, "{\"type\":\"crawl\"}", &r);
    cr_assert_eq(r.status, 201);
    snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/jobs/%s", id);
    patch_if(path, reader, "{\"status\":\"running\"}", NULL, &r);
    expect_problem(&r, 403);
    resp_free(&r);
    th_get(&t, path, writer, &r);
    expect_problem(&r, 403);
    resp_free(&r);
    th_get(&t, path, reader, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
}

struct race {
    char path[128];
    long status;
};

static void *
race_start(void *arg)
{
    struct race *a = arg;
    struct resp r;

    patch_if(a->path, key, "{\"status\":\"running\"}", NULL, &r);
    a->status = r.status;
    resp_free(&r);
    return NULL;
}

Test(jobs, of_simultaneous_starts_exactly_one_wins)
{
    enum { N = 8 };
    pthread_t th[N];
    struct race a[N];
    char id[37];
    int ok = 0, conflict = 0;

    new_job("crawl", id, NULL, 0);
    for (int i = 0; i < N; i++) {
        snprintf(a[i].path, sizeof(a[i].path), "/v1/jobs/%s", id);
        pthread_create(&th[i], NULL, race_start, &a[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ok += a[i].status == 200;
        conflict += a[i].status == 409;
    }
    cr_assert_eq(ok, 1);
    cr_assert_eq(conflict, N - 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'job_run.update'"), 1);
}
