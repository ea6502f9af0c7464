/*
 * Job runs, source documents and notifications (issue #5): every route's
 * happy path, the job state machine (every illegal step a 409, every legal
 * one with its timestamps), If-Match, the ingest.failed notification, the
 * source upsert, the filters, validation, tenancy, scopes and audit rows.
 * Each test checks statuses, bodies and the database.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"

TestSuite(jobs, .init = fx_setup, .fini = fx_teardown, .timeout = 120);
TestSuite(sources, .init = fx_setup, .fini = fx_teardown, .timeout = 120);
TestSuite(notifications, .init = fx_setup, .fini = fx_teardown, .timeout = 120);

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

    /* Malformed and weak tags are a 400. */
    patch_if(path, key, "{\"status\":\"succeeded\"}", "W/\"1\"", &r);
    expect_problem(&r, 400);
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

/* --- sources --------------------------------------------------------------- */

Test(sources, upsert_is_201_then_200_with_the_same_id_and_new_fields)
{
    char id[37], created[64], path[128];
    struct resp r;
    json_t *meta;

    th_http(&t, "PUT", "/v1/source-documents", key,
            "{\"sourceUrl\":\"https://hotrod.example/faq/shipping\",\"title\":\"Shipping\","
            "\"hash\":\"sha256:aa\",\"indexedAt\":\"2026-11-22T10:04:05.123+02:00\","
            "\"nextRefreshAt\":\"2026-12-01T00:00:00Z\",\"metadata\":{\"lang\":\"en\"}}",
            NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
    snprintf(created, sizeof(created), "%s", jstr(r.json, "createdAt"));
    cr_assert_str_eq(jstr(r.json, "accountId"), account);
    cr_assert_str_eq(jstr(r.json, "sourceUrl"), "https://hotrod.example/faq/shipping");
    cr_assert_str_eq(jstr(r.json, "title"), "Shipping");
    cr_assert_str_eq(jstr(r.json, "hash"), "sha256:aa");
    cr_assert_str_eq(jstr(r.json, "indexedAt"), "2026-11-22T08:04:05.123Z");
    cr_assert_str_eq(jstr(r.json, "nextRefreshAt"), "2026-12-01T00:00:00.000Z");
    cr_assert_str_eq(jstr(json_object_get(r.json, "metadata"), "lang"), "en");
    resp_free(&r);

    usleep(2000);
    /* Same URL: an update. title and indexedAt change, hash is omitted
     * (kept), nextRefreshAt is null (cleared), metadata replaced. */
    th_http(
        &t, "PUT", "/v1/source-documents", key,
        "{\"sourceUrl\":\"https://hotrod.example/faq/shipping\",\"title\":\"Shipping & returns\","
        "\"indexedAt\":\"2026-11-23T00:00:00Z\",\"nextRefreshAt\":null,"
        "\"metadata\":{\"lang\":\"de\"}}",
        NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "id"), id);
    cr_assert_str_eq(jstr(r.json, "createdAt"), created);
    cr_assert_str_neq(jstr(r.json, "updatedAt"), created);
    cr_assert_str_eq(jstr(r.json, "title"), "Shipping & returns");
    cr_assert_str_eq(jstr(r.json, "hash"), "sha256:aa");
    cr_assert_str_eq(jstr(r.json, "indexedAt"), "2026-11-23T00:00:00.000Z");
    cr_assert(json_is_null(json_object_get(r.json, "nextRefreshAt")));
    meta = json_object_get(r.json, "metadata");
    cr_assert_str_eq(jstr(meta, "lang"), "de");
    resp_free(&r);

    /* Only the URL: everything is kept. */
    th_http(&t, "PUT", "/v1/source-documents", key,
            "{\"sourceUrl\":\"https://hotrod.example/faq/shipping\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "title"), "Shipping & returns");
    cr_assert_str_eq(jstr(json_object_get(r.json, "metadata"), "lang"), "de");
    resp_free(&r);

    cr_assert_eq(sql_long("SELECT count(*) FROM source_documents WHERE account_id = '%s'", account),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM source_documents WHERE id = '%s' AND "
                          "title = 'Shipping & returns' AND hash = 'sha256:aa' AND "
                          "next_refresh_at IS NULL AND metadata = '{\"lang\":\"de\"}' AND "
                          "indexed_at = '2026-11-23T00:00:00Z'",
                          id),
                 1);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM audit_log WHERE resource_type = 'source_document' AND "
                 "resource_id = '%s' AND action = 'source_document.create'",
                 id),
        1);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM audit_log WHERE resource_type = 'source_document' AND "
                 "resource_id = '%s' AND action = 'source_document.update'",
                 id),
        2);

    snprintf(path, sizeof(path), "/v1/source-documents/%s", id);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "id"), id);
    cr_assert_str_eq(jstr(r.json, "sourceUrl"), "https://hotrod.example/faq/shipping");
    resp_free(&r);
}

Test(sources, a_new_document_without_optional_fields_is_mostly_null)
{
    struct resp r;

    th_http(&t, "PUT", "/v1/source-documents", key, "{\"sourceUrl\":\"http://a.example\"}", NULL,
            &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert(json_is_null(json_object_get(r.json, "title")));
    cr_assert(json_is_null(json_object_get(r.json, "hash")));
    cr_assert(json_is_null(json_object_get(r.json, "indexedAt")));
    cr_assert(json_is_null(json_object_get(r.json, "nextRefreshAt")));
    cr_assert(json_is_object(json_object_get(r.json, "metadata")));
    cr_assert_eq(json_object_size(json_object_get(r.json, "metadata")), 0);
    resp_free(&r);
}

struct put_race {
    long status;
    char id[37];
};

static void *
race_put(void *arg)
{
    struct put_race *a = arg;
    struct resp r;

    th_http(&t, "PUT", "/v1/source-documents", key,
            "{\"sourceUrl\":\"https://hotrod.example/race\",\"title\":\"t\"}", NULL, &r);
    a->status = r.status;
    if (r.json && jstr(r.json, "id"))
        snprintf(a->id, sizeof(a->id), "%s", jstr(r.json, "id"));
    resp_free(&r);
    return NULL;
}

Test(sources, simultaneous_puts_of_one_url_make_one_row)
{
    enum { N = 8 };
    pthread_t th[N];
    struct put_race a[N];
    int created = 0, updated = 0;

    memset(a, 0, sizeof(a));
    for (int i = 0; i < N; i++)
        pthread_create(&th[i], NULL, race_put, &a[i]);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        created += a[i].status == 201;
        updated += a[i].status == 200;
    }
    cr_assert_eq(created, 1);
    cr_assert_eq(updated, N - 1);
    for (int i = 1; i < N; i++)
        cr_assert_str_eq(a[i].id, a[0].id);
    cr_assert_eq(sql_long("SELECT count(*) FROM source_documents"), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'source_document.create'"),
                 1);
}

static void
put_doc(const char *url, const char *next_refresh, char id[37])
{
    char body[512];
    struct resp r;

    if (next_refresh)
        snprintf(body, sizeof(body), "{\"sourceUrl\":\"%s\",\"nextRefreshAt\":\"%s\"}", url,
                 next_refresh);
    else
        snprintf(body, sizeof(body), "{\"sourceUrl\":\"%s\"}", url);
    th_http(&t, "PUT", "/v1/source-documents", key, body, NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(id, 37, "%s", jstr(r.json, "id"));
    resp_free(&r);
}

Test(sources, due_before_lists_only_documents_due_in_creation_order)
{
    char a[37], b[37], c[37], d[37], e[37];
    char ids[16][37];
    struct resp r;
    json_t *items;
    int n;

    put_doc("https://k.example/a", "2026-01-01T00:00:00Z", a);
    put_doc("https://k.example/b", "2030-01-01T00:00:00Z", b);
    put_doc("https://k.example/c", NULL, c);
    put_doc("https://k.example/d", "2025-06-01T12:00:00Z", d);
    put_doc("https://k.example/e", "2026-03-01T00:00:00Z", e);

    th_get(&t, "/v1/source-documents?dueBefore=2026-03-01T00:00:00Z", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 2, "%s", r.body);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), a);
    cr_assert_str_eq(jstr(json_array_get(items, 1), "id"), d);
    resp_free(&r);

    /* Any offset: 2026-03-01T00:00:00Z is 2026-03-01T01:00:00+01:00 (strictly before). */
    th_get(&t, "/v1/source-documents?dueBefore=2026-03-01T01:00:00.001%2B01:00", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 3, "%s", r.body);
    resp_free(&r);

    n = walk(key, "/v1/source-documents", 2, ids, 16, NULL);
    cr_assert_eq(n, 5);
    cr_assert_str_eq(ids[0], a);
    cr_assert_str_eq(ids[1], b);
    cr_assert_str_eq(ids[2], c);
    cr_assert_str_eq(ids[3], d);
    cr_assert_str_eq(ids[4], e);
    n = walk(key, "/v1/source-documents?dueBefore=2100-01-01T00:00:00Z", 2, ids, 16, NULL);
    cr_assert_eq(n, 4, "documents without nextRefreshAt are left out");
}

Test(sources, malformed_query_parameters_are_400_naming_them)
{
    static const struct {
        const char *query, *param;
    } cases[] = {
        {"dueBefore=tomorrow", "dueBefore"}, {"dueBefore=2026-02-30T00:00:00Z", "dueBefore"},
        {"dueBefore=", "dueBefore"},         {"limit=-1", "limit"},
        {"cursor=%25%25%25", "cursor"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[160];
        struct resp r;

        snprintf(path, sizeof(path), "/v1/source-documents?%s", cases[i].query);
        th_get(&t, path, key, &r);
        expect_param(&r, cases[i].param, NULL);
        resp_free(&r);
    }
}

Test(sources, delete_is_204_then_404)
{
    char id[37], keep[37], path[128];
    struct resp r;

    put_doc("https://k.example/gone", NULL, id);
    put_doc("https://k.example/kept", NULL, keep);
    snprintf(path, sizeof(path), "/v1/source-documents/%s", id);

    th_http(&t, "DELETE", path, key, NULL, NULL, &r);
    cr_assert_eq(r.status, 204, "%s", r.body);
    cr_assert_eq(r.len, 0);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM source_documents WHERE id = '%s'", id), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM source_documents WHERE id = '%s'", keep), 1);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM audit_log WHERE action = 'source_document.delete' AND "
                 "resource_id = '%s'",
                 id),
        1);

    th_get(&t, path, key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_http(&t, "DELETE", path, key, NULL, NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'source_document.delete'"),
                 1);

    /* The URL is free again: a new document, a new id. */
    th_http(&t, "PUT", "/v1/source-documents", key, "{\"sourceUrl\":\"https://k.example/gone\"}",
            NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_str_neq(jstr(r.json, "id"), id);
    resp_free(&r);
}

Test(sources, delete_needs_admin_and_put_needs_jobs_write)
{
    char crawler[64], reader[64], id[37], path[128];
    struct resp r;

    th_key(&t, account, "read jobs:write", crawler);
    th_key(&t, account, "read", reader);
    put_doc("https://k.example/x", NULL, id);
    snprintf(path, sizeof(path), "/v1/source-documents/%s", id);

    th_http(&t, "DELETE", path, crawler, NULL, NULL, &r);
    expect_problem(&r, 403);
    cr_assert_not_null(strstr(jstr(r.json, "detail"), "admin"));
    resp_free(&r);
    th_http(&t, "PUT", "/v1/source-documents", reader, "{\"sourceUrl\":\"https://k.example/y\"}",
            NULL, &r);
    expect_problem(&r, 403);
    resp_free(&r);
    th_http(&t, "PUT", "/v1/source-documents", crawler, "{\"sourceUrl\":\"https://k.example/y\"}",
            NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    th_get(&t, path, reader, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM source_documents"), 2);
}

Test(sources, invalid_bodies_are_422_naming_each_field)
{
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"{}", "sourceUrl"},
        {"{\"sourceUrl\":null}", "sourceUrl"},
        {"{\"sourceUrl\":\"\"}", "sourceUrl"},
        {"{\"sourceUrl\":42}", "sourceUrl"},
        {"{\"sourceUrl\":\"ftp://files.example/a\"}", "sourceUrl"},
        {"{\"sourceUrl\":\"hotrod.example/faq\"}", "sourceUrl"},
        {"{\"sourceUrl\":\"https://\"}", "sourceUrl"},
        {"{\"sourceUrl\":\"https:///path\"}", "sourceUrl"},
        {"{\"sourceUrl\":\"https://a.example/with space\"}", "sourceUrl"},
        {"{\"sourceUrl\":\"https://a.example/\\u0000\"}", "sourceUrl"},
        {"{\"sourceUrl\":\"https://a.example/caf\\u00e9\"}", "sourceUrl"},
        {"{\"sourceUrl\":\"https://a.example\",\"title\":\"a\\u0000b\"}", "title"},
        {"{\"sourceUrl\":\"https://a.example\",\"title\":5}", "title"},
        {"{\"sourceUrl\":\"https://a.example\",\"hash\":[]}", "hash"},
        {"{\"sourceUrl\":\"https://a.example\",\"indexedAt\":\"yesterday\"}", "indexedAt"},
        {"{\"sourceUrl\":\"https://a.example\",\"nextRefreshAt\":\"2026-13-01T00:00:00Z\"}",
         "nextRefreshAt"},
        {"{\"sourceUrl\":\"https://a.example\",\"metadata\":[1]}", "metadata"},
        {"{\"sourceUrl\":\"https://a.example\",\"metadata\":\"x\"}", "metadata"},
        {"{\"sourceUrl\":\"https://a.example\",\"url\":\"x\"}", "url"},
    };
    struct resp r;
    char *b;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        th_http(&t, "PUT", "/v1/source-documents", key, cases[i].body, NULL, &r);
        expect_field(&r, cases[i].field, NULL);
        resp_free(&r);
    }

    /* A URL of 2049 bytes is too long; 2048 is fine. */
    for (int len = 2048; len <= 2049; len++) {
        char *url = malloc((size_t)len + 64);
        const char *pre = "https://a.example/";
        size_t pl = strlen(pre);

        memcpy(url, pre, pl);
        memset(url + pl, 'p', (size_t)len - pl);
        url[len] = '\0';
        b = malloc((size_t)len + 64);
        snprintf(b, (size_t)len + 64, "{\"sourceUrl\":\"%s\"}", url);
        th_http(&t, "PUT", "/v1/source-documents", key, b, NULL, &r);
        if (len == 2048)
            cr_assert_eq(r.status, 201, "%s", r.body);
        else
            expect_field(&r, "sourceUrl", NULL);
        resp_free(&r);
        free(b);
        free(url);
    }

    /* A title over 1000 bytes. */
    b = malloc(2000);
    {
        int k = snprintf(b, 2000, "{\"sourceUrl\":\"https://a.example\",\"title\":\"");

        memset(b + k, 't', 1001);
        strcpy(b + k + 1001, "\"}");
    }
    th_http(&t, "PUT", "/v1/source-documents", key, b, NULL, &r);
    expect_field(&r, "title", NULL);
    resp_free(&r);
    free(b);

    /* metadata over 64 KiB. */
    b = big_object_body("\"sourceUrl\":\"https://a.example\",", "metadata");
    th_http(&t, "PUT", "/v1/source-documents", key, b, NULL, &r);
    expect_field(&r, "metadata", NULL);
    resp_free(&r);
    free(b);

    /* Several at once. */
    th_http(&t, "PUT", "/v1/source-documents", key,
            "{\"sourceUrl\":\"mailto:x@y\",\"title\":1,\"indexedAt\":\"no\"}", NULL, &r);
    expect_field(&r, "sourceUrl", NULL);
    expect_field(&r, "title", NULL);
    expect_field(&r, "indexedAt", NULL);
    resp_free(&r);

    th_http(&t, "PUT", "/v1/source-documents", key, "not json", NULL, &r);
    expect_problem(&r, 400);
    resp_free(&r);

    cr_assert_eq(sql_long("SELECT count(*) FROM source_documents"), 1, "only the 2048-byte URL");
}

Test(sources, another_tenants_document_is_a_404_and_urls_are_per_account)
{
    char other_acct[37], other_key[64], id[37], path[128];
    struct resp r;

    put_doc("https://shared.example/page", NULL, id);
    th_tenant(&t, "Other Shop", other_acct, other_key);
    snprintf(path, sizeof(path), "/v1/source-documents/%s", id);

    th_get(&t, path, other_key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_http(&t, "DELETE", path, other_key, NULL, NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_get(&t, "/v1/source-documents", other_key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    resp_free(&r);
    /* The same URL in another account is that account's own document. */
    th_http(&t, "PUT", "/v1/source-documents", other_key,
            "{\"sourceUrl\":\"https://shared.example/page\",\"title\":\"theirs\"}", NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_str_neq(jstr(r.json, "id"), id);
    resp_free(&r);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM source_documents WHERE id = '%s' AND title IS NULL", id), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM source_documents"), 2);
}
/* --- notifications --------------------------------------------------------- */

static void
list_ids(const char *path, char ids[][37], int *n)
{
    struct resp r;
    json_t *it;
    size_t i;

    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s: %s", path, r.body);
    *n = 0;
    json_array_foreach (json_object_get(r.json, "items"), i, it) {
        snprintf(ids[(*n)++], 37, "%s", jstr(it, "id"));
    }
    resp_free(&r);
}

Test(notifications, create_is_201_and_audited)
{
    char user[37];
    struct resp r;
    char body[256];

    th_post(&t, "/v1/notifications", key, "{\"type\":\"kb.stale\",\"payload\":{\"count\":3}}", &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "accountId"), account);
    cr_assert(json_is_null(json_object_get(r.json, "userId")));
    cr_assert_str_eq(jstr(r.json, "type"), "kb.stale");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(r.json, "payload"), "count")),
                 3);
    cr_assert(json_is_null(json_object_get(r.json, "readAt")));
    cr_assert(json_is_string(json_object_get(r.json, "createdAt")));
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'notification.create' AND "
                          "resource_type = 'notification' AND resource_id = '%s'",
                          jstr(r.json, "id")),
                 1);
    resp_free(&r);

    mk_user(account, "agent@hotrod.example", user);
    snprintf(body, sizeof(body), "{\"type\":\"hello\",\"userId\":\"%s\"}", user);
    /* Upper-case ids are the same ids. */
    for (char *p = strstr(body, user); p && *p != '"'; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    th_post(&t, "/v1/notifications", key, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "userId"), user);
    cr_assert_eq(json_object_size(json_object_get(r.json, "payload")), 0);
    resp_free(&r);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM notifications WHERE user_id = '%s' AND payload = '{}'",
                 user),
        1);
}

Test(notifications, list_filters_by_user_and_read_state_oldest_first)
{
    char ua[37], ub[37], na[37], nb[37], nall[37], na2[37], path[256];
    char ids[16][37];
    char body[256];
    struct resp r;
    int n;

    mk_user(account, "a@hotrod.example", ua);
    mk_user(account, "b@hotrod.example", ub);
    snprintf(body, sizeof(body), "{\"type\":\"t\",\"userId\":\"%s\"}", ua);
    post_status("/v1/notifications", key, body, 201, na);
    snprintf(body, sizeof(body), "{\"type\":\"t\",\"userId\":\"%s\"}", ub);
    post_status("/v1/notifications", key, body, 201, nb);
    post_status("/v1/notifications", key, "{\"type\":\"t\"}", 201, nall);
    snprintf(body, sizeof(body), "{\"type\":\"t2\",\"userId\":\"%s\"}", ua);
    post_status("/v1/notifications", key, body, 201, na2);

    list_ids("/v1/notifications", ids, &n);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(ids[0], na);
    cr_assert_str_eq(ids[1], nb);
    cr_assert_str_eq(ids[2], nall);
    cr_assert_str_eq(ids[3], na2);

    /* userId: that user's and the account-wide ones. */
    snprintf(path, sizeof(path), "/v1/notifications?userId=%s", ua);
    list_ids(path, ids, &n);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(ids[0], na);
    cr_assert_str_eq(ids[1], nall);
    cr_assert_str_eq(ids[2], na2);
    snprintf(path, sizeof(path), "/v1/notifications?userId=%s", ub);
    list_ids(path, ids, &n);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(ids[0], nb);
    cr_assert_str_eq(ids[1], nall);

    /* Read one of A's: unread=true leaves it out, unread=false has only it. */
    snprintf(path, sizeof(path), "/v1/notifications/%s/read", na);
    th_post(&t, path, key, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/notifications?userId=%s&unread=true", ua);
    list_ids(path, ids, &n);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(ids[0], nall);
    cr_assert_str_eq(ids[1], na2);
    snprintf(path, sizeof(path), "/v1/notifications?userId=%s&unread=false", ua);
    list_ids(path, ids, &n);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(ids[0], na);
    list_ids("/v1/notifications?unread=true", ids, &n);
    cr_assert_eq(n, 3);
    snprintf(path, sizeof(path), "/v1/notifications?userId=%s&unread=false", ub);
    list_ids(path, ids, &n);
    cr_assert_eq(n, 0);

    n = walk(key, "/v1/notifications", 2, ids, 16, NULL);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(ids[3], na2);
    snprintf(path, sizeof(path), "/v1/notifications?userId=%s&unread=true", ua);
    n = walk(key, path, 2, ids, 16, NULL);
    cr_assert_eq(n, 2);
}

Test(notifications, mark_read_is_idempotent_and_keeps_the_first_read_at)
{
    char id[37], path[128], first[64], db_first[64], db_again[64];
    struct resp r;

    post_status("/v1/notifications", key, "{\"type\":\"t\"}", 201, id);
    snprintf(path, sizeof(path), "/v1/notifications/%s/read", id);

    th_post(&t, path, key, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "id"), id);
    cr_assert(json_is_string(json_object_get(r.json, "readAt")));
    snprintf(first, sizeof(first), "%s", jstr(r.json, "readAt"));
    resp_free(&r);
    sql_text(db_first, sizeof(db_first), "SELECT read_at::text FROM notifications WHERE id = '%s'",
             id);

    usleep(20 * 1000);
    th_post(&t, path, key, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "readAt"), first);
    resp_free(&r);
    sql_text(db_again, sizeof(db_again), "SELECT read_at::text FROM notifications WHERE id = '%s'",
             id);
    cr_assert_str_eq(db_first, db_again);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'notification.read' AND "
                          "resource_id = '%s'",
                          id),
                 2);
}

Test(notifications, a_user_outside_the_account_is_a_422_on_user_id)
{
    char other_acct[37], other_key[64], theirs[37], body[256];
    struct resp r;

    th_tenant(&t, "Other Shop", other_acct, other_key);
    mk_user(other_acct, "them@other.example", theirs);
    snprintf(body, sizeof(body), "{\"type\":\"t\",\"userId\":\"%s\"}", theirs);
    th_post(&t, "/v1/notifications", key, body, &r);
    expect_field(&r, "userId", NULL);
    resp_free(&r);
    th_post(&t, "/v1/notifications", key,
            "{\"type\":\"t\",\"userId\":\"01890000-0000-7000-8000-000000000000\"}", &r);
    expect_field(&r, "userId", NULL);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications"), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'notification.create'"),
                 0);
    /* The other account may address its own user. */
    th_post(&t, "/v1/notifications", other_key, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
}

Test(notifications, invalid_bodies_are_422_naming_each_field)
{
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"{}", "type"},
        {"{\"type\":\"\"}", "type"},
        {"{\"type\":null}", "type"},
        {"{\"type\":1}", "type"},
        {"{\"type\":\"a\\u0000b\"}", "type"},
        {"{\"type\":\"t\",\"userId\":\"nope\"}", "userId"},
        {"{\"type\":\"t\",\"userId\":12}", "userId"},
        {"{\"type\":\"t\",\"payload\":[]}", "payload"},
        {"{\"type\":\"t\",\"payload\":\"x\"}", "payload"},
        {"{\"type\":\"t\",\"payload\":{\"a\":\"\\u0000\"}}", "payload"},
        {"{\"type\":\"t\",\"readAt\":\"2026-01-01T00:00:00Z\"}", "readAt"},
    };
    struct resp r;
    char *b;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        th_post(&t, "/v1/notifications", key, cases[i].body, &r);
        expect_field(&r, cases[i].field, NULL);
        resp_free(&r);
    }
    b = malloc(512);
    {
        int k = snprintf(b, 512, "{\"type\":\"");

        memset(b + k, 'y', 201);
        strcpy(b + k + 201, "\"}");
    }
    th_post(&t, "/v1/notifications", key, b, &r);
    expect_field(&r, "type", NULL);
    resp_free(&r);
    free(b);
    b = big_object_body("\"type\":\"t\",", "payload");
    th_post(&t, "/v1/notifications", key, b, &r);
    expect_field(&r, "payload", NULL);
    resp_free(&r);
    free(b);
    th_post(&t, "/v1/notifications", key, "\"t\"", &r);
    expect_problem(&r, 400);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications"), 0);
}

Test(notifications, malformed_query_parameters_are_400_naming_them)
{
    static const struct {
        const char *query, *param;
    } cases[] = {
        {"userId=bob", "userId"}, {"userId=01890000-0000-7000-8000-00000000000", "userId"},
        {"unread=yes", "unread"}, {"unread=", "unread"},
        {"limit=1.5", "limit"},   {"cursor=AAAA", "cursor"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[160];
        struct resp r;

        snprintf(path, sizeof(path), "/v1/notifications?%s", cases[i].query);
        th_get(&t, path, key, &r);
        expect_param(&r, cases[i].param, NULL);
        resp_free(&r);
    }
}

Test(notifications, another_tenants_notification_is_a_404)
{
    char other_acct[37], other_key[64], id[37], path[128];
    struct resp r;

    post_status("/v1/notifications", key, "{\"type\":\"t\"}", 201, id);
    th_tenant(&t, "Other Shop", other_acct, other_key);
    snprintf(path, sizeof(path), "/v1/notifications/%s/read", id);
    th_post(&t, path, other_key, NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_post(&t, "/v1/notifications/01890000-0000-7000-8000-000000000000/read", key, NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_get(&t, "/v1/notifications", other_key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications WHERE read_at IS NOT NULL"), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'notification.read'"), 0);
}

Test(notifications, the_dashboard_key_marks_read_and_the_crawler_key_creates)
{
    char dashboard[64], crawler[64], id[37], path[128];
    struct resp r;

    th_key(&t, account, "read actions:write", dashboard);
    th_key(&t, account, "read jobs:write", crawler);
    post_status("/v1/notifications", crawler, "{\"type\":\"t\"}", 201, id);
    th_post(&t, "/v1/notifications", dashboard, "{\"type\":\"t\"}", &r);
    expect_problem(&r, 403);
    resp_free(&r);

    snprintf(path, sizeof(path), "/v1/notifications/%s/read", id);
    th_post(&t, path, crawler, NULL, &r);
    expect_problem(&r, 403);
    cr_assert_not_null(strstr(jstr(r.json, "detail"), "actions:write"));
    resp_free(&r);
    th_post(&t, path, dashboard, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    th_get(&t, "/v1/notifications?unread=false", dashboard, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1);
    resp_free(&r);
}
