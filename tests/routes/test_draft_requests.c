/*
 * routes/draft_requests.c: the draft-request queue (issue #3): claim, lease
 * expiry, fail with backoff and the attempt limit.
 *
 * Conversations, messages and draft requests are set up with direct SQL,
 * so these tests depend on nothing but the routes under test.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"

/* A lower attempt limit, for the tests that exhaust it. */
static void
setup_limited(void)
{
    static const char *const settings[] = {"draft_request_max_attempts=2",
                                           "draft_request_backoff_s=10", NULL};

    fx_start(NULL, settings);
}

TestSuite(draft_requests, .init = fx_setup, .fini = fx_teardown, .timeout = 90);
TestSuite(draft_requests_limits, .init = setup_limited, .fini = fx_teardown, .timeout = 90);

/* --- helpers --------------------------------------------------------------- */

static void
fail_req(const char *k, const char *id, const char *body, struct resp *r)
{
    char path[128];

    snprintf(path, sizeof(path), "/v1/draft-requests/%s/fail", id);
    th_post(&t, path, k, body, r);
}

/* --- claim ----------------------------------------------------------------- */

Test(draft_requests, claim_leases_oldest_first_up_to_the_limit)
{
    char ch[37], conv[37], msg[5][37], req[5][37];
    static const int ages[5] = {30, 50, 10, 40, 20}; /* oldest: 1, 3, 0, 4, 2 */
    static const int order[5] = {1, 3, 0, 4, 2};
    struct resp r;
    json_t *items, *it;

    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    for (int i = 0; i < 5; i++)
        mk_request(account, conv, ages[i], msg[i], req[i]);

    claim_requests(key, 3, 60, "worker-1", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 3, "%s", r.body);
    for (int i = 0; i < 3; i++) {
        int k = order[i];

        it = json_array_get(items, (size_t)i);
        cr_assert_str_eq(jstr(it, "id"), req[k], "item %d", i);
        cr_assert_str_eq(jstr(it, "status"), "leased");
        cr_assert_eq(json_integer_value(json_object_get(it, "attempts")), 1);
        cr_assert(json_is_string(json_object_get(it, "leaseExpiresAt")));
        cr_assert_str_eq(jstr(it, "conversationId"), conv);
        cr_assert_str_eq(jstr(it, "messageId"), msg[k]);
        cr_assert_str_eq(jstr(json_object_get(it, "conversation"), "id"), conv);
        cr_assert_str_eq(jstr(json_object_get(it, "channel"), "id"), ch);
        cr_assert_str_eq(jstr(json_object_get(it, "message"), "id"), msg[k]);
        cr_assert_str_eq(jstr(json_object_get(it, "message"), "bodyText"), "Where is my order?");
        cr_assert(json_is_array(json_object_get(json_object_get(it, "message"), "attachments")));
        cr_assert_null(json_object_get(it, "workerId"), "internal columns stay inside");
    }
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests WHERE status = 'leased' "
                          "AND worker_id = 'worker-1' AND attempts = 1 "
                          "AND lease_expires_at BETWEEN now() + interval '55 s' "
                          "AND now() + interval '61 s'"),
                 3);

    /* The rest, then nothing. */
    claim_requests(key, 10, 60, "worker-2", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 2);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), req[order[3]]);
    cr_assert_str_eq(jstr(json_array_get(items, 1), "id"), req[order[4]]);
    resp_free(&r);
    claim_requests(key, 10, 60, "worker-2", &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "{\"items\":[]}");
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'draft_request.claim'"),
                 5);
}

Test(draft_requests, claim_validates_its_body_and_scope)
{
    char readonly[64];
    struct resp r;

    th_post(&t, "/v1/draft-requests/claim", key, "{}", &r);
    expect_fields(&r, (const char *const[]){"limit", "leaseSeconds", "workerId", NULL});
    resp_free(&r);
    th_post(&t, "/v1/draft-requests/claim", key,
            "{\"limit\": 0, \"leaseSeconds\": 3601, \"workerId\": \"\"}", &r);
    expect_fields(&r, (const char *const[]){"limit", "leaseSeconds", "workerId", NULL});
    resp_free(&r);
    th_post(&t, "/v1/draft-requests/claim", key,
            "{\"limit\": 201, \"leaseSeconds\": 1.5, \"workerId\": \"w\\u0000x\"}", &r);
    expect_fields(&r, (const char *const[]){"limit", "leaseSeconds", "workerId", NULL});
    resp_free(&r);
    th_post(&t, "/v1/draft-requests/claim", key, "[1]", &r);
    expect_problem(&r, 400);
    resp_free(&r);

    th_key(&t, account, "read", readonly);
    claim_requests(readonly, 1, 60, "w", &r);
    expect_problem(&r, 403);
    resp_free(&r);
}

Test(draft_requests, claim_never_reaches_another_account_or_a_deleted_conversation)
{
    char other[37], other_key[64], ch[37], conv[37], gone[37], och[37], oconv[37];
    char msg[37], req[37], gmsg[37], greq[37], omsg[37], oreq[37];
    struct resp r;
    json_t *items;

    th_tenant(&t, "Other Shop", other, other_key);
    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    mk_conv(account, ch, NULL, gone);
    mk_channel(other, NULL, NULL, och);
    mk_conv(other, och, NULL, oconv);
    mk_request(other, oconv, 100, omsg, oreq);
    mk_request(account, gone, 90, gmsg, greq);
    mk_request(account, conv, 10, msg, req);
    sql_exec("UPDATE conversations SET deleted_at = now() WHERE id = '%s'", gone);

    claim_requests(key, 10, 60, "w", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 1, "%s", r.body);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), req);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests WHERE id IN ('%s', '%s') "
                          "AND status = 'queued'",
                          oreq, greq),
                 2);

    claim_requests(other_key, 10, 60, "w", &r);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 1);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), oreq);
    resp_free(&r);
}

#define RACE_THREADS 4
#define RACE_CLAIMS 10
#define RACE_LIMIT 5
#define RACE_REQUESTS 100

struct racer {
    char key[64];
    char ids[RACE_CLAIMS * RACE_LIMIT][37];
    int n;
    int bad; /* answers other than 200 */
};

static void *
race_thread(void *arg)
{
    struct racer *z = arg;

    for (int i = 0; i < RACE_CLAIMS; i++) {
        struct resp r;
        json_t *items;
        size_t j;
        json_t *it;

        claim_requests(z->key, RACE_LIMIT, 300, "racer", &r);
        if (r.status != 200) {
            z->bad++;
            resp_free(&r);
            continue;
        }
        items = json_object_get(r.json, "items");
        json_array_foreach (items, j, it) {
            if (z->n < RACE_CLAIMS * RACE_LIMIT)
                snprintf(z->ids[z->n++], 37, "%s", jstr(it, "id"));
        }
        resp_free(&r);
    }
    return NULL;
}

static int
cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

Test(draft_requests, concurrent_claimers_never_share_a_request)
{
    static struct racer z[RACE_THREADS];
    static char all[RACE_THREADS * RACE_CLAIMS * RACE_LIMIT][37];
    pthread_t th[RACE_THREADS];
    char ch[37], conv[37], msg[37], req[37];
    int total = 0;

    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    for (int i = 0; i < RACE_REQUESTS; i++)
        mk_request(account, conv, 1000 - i, msg, req);
    memset(z, 0, sizeof(z));
    for (int i = 0; i < RACE_THREADS; i++) {
        snprintf(z[i].key, sizeof(z[i].key), "%s", key);
        pthread_create(&th[i], NULL, race_thread, &z[i]);
    }
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < RACE_THREADS; i++) {
        cr_assert_eq(z[i].bad, 0, "thread %d had failed claims", i);
        for (int j = 0; j < z[i].n; j++)
            memcpy(all[total++], z[i].ids[j], 37);
    }
    qsort(all, (size_t)total, 37, cmp_id);
    for (int i = 1; i < total; i++)
        cr_assert_str_neq(all[i - 1], all[i], "request %s leased twice", all[i]);
    cr_assert_eq(total, RACE_REQUESTS, "claimed %d of %d", total, RACE_REQUESTS);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests WHERE status = 'leased' "
                          "AND attempts = 1"),
                 RACE_REQUESTS);
}

Test(draft_requests, an_expired_lease_is_claimable_again)
{
    char ch[37], conv[37], msg[37], req[37];
    struct resp r;
    json_t *it;

    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    mk_request(account, conv, 10, msg, req);

    claim_requests(key, 5, 1, "slow-worker", &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1);
    resp_free(&r);
    claim_requests(key, 5, 60, "other", &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0, "lease still running");
    resp_free(&r);

    /* The lease runs out: back-dated, not waited for. */
    sql_exec("UPDATE draft_requests SET lease_expires_at = now() - interval '1 s' WHERE id = '%s'",
             req);
    claim_requests(key, 5, 60, "other", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1, "%s", r.body);
    it = json_array_get(json_object_get(r.json, "items"), 0);
    cr_assert_str_eq(jstr(it, "id"), req);
    cr_assert_eq(json_integer_value(json_object_get(it, "attempts")), 2);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests WHERE id = '%s' AND worker_id = "
                          "'other' AND lease_expires_at > now() + interval '50 s'",
                          req),
                 1);
}

/* --- fail ------------------------------------------------------------------ */

/* One queued request, claimed: its id in req. */
static void
leased_request(char conv[37], char msg[37], char req[37])
{
    char ch[37];
    struct resp r;

    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    mk_request(account, conv, 10, msg, req);
    claim_requests(key, 1, 60, "w", &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1, "%s", r.body);
    resp_free(&r);
}

/* Seconds until the request is due again. */
static long
due_in(const char *req)
{
    return sql_long("SELECT round(extract(epoch FROM next_attempt_at - now())) FROM draft_requests "
                    "WHERE id = '%s'",
                    req);
}

Test(draft_requests, a_retryable_failure_requeues_with_exponential_backoff)
{
    char conv[37], msg[37], req[37];
    struct resp r;

    leased_request(conv, msg, req);
    fail_req(key, req, "{\"error\": \"model timeout\", \"retryable\": true}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "id"), req);
    cr_assert_str_eq(jstr(r.json, "status"), "queued");
    cr_assert_str_eq(jstr(r.json, "lastError"), "model timeout");
    cr_assert_eq(json_integer_value(json_object_get(r.json, "attempts")), 1);
    cr_assert(json_is_null(json_object_get(r.json, "leaseExpiresAt")));
    resp_free(&r);
    /* draft_request_backoff_s (10) * 2^0. */
    cr_assert_eq(due_in(req), 10);

    /* Not claimable during the backoff ... */
    claim_requests(key, 5, 60, "w", &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0, "%s", r.body);
    resp_free(&r);
    /* ... and claimable once it is over. */
    sql_exec("UPDATE draft_requests SET next_attempt_at = now() - interval '1 s' WHERE id = '%s'",
             req);
    claim_requests(key, 5, 60, "w", &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(
                     json_array_get(json_object_get(r.json, "items"), 0), "attempts")),
                 2);
    resp_free(&r);

    /* The second failure waits twice as long. */
    fail_req(key, req, "{\"error\": \"rate limited\", \"retryable\": true}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "lastError"), "rate limited");
    resp_free(&r);
    cr_assert_eq(due_in(req), 20);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications"), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'draft_request.retry' "
                          "AND resource_id = '%s'",
                          req),
                 2);
}

Test(draft_requests_limits, the_last_attempt_fails_with_one_notification)
{
    char conv[37], msg[37], req[37], payload[512];
    struct resp r;

    leased_request(conv, msg, req);
    fail_req(key, req, "{\"error\": \"e1\", \"retryable\": true}", &r);
    cr_assert_str_eq(jstr(r.json, "status"), "queued", "%s", r.body);
    resp_free(&r);
    sql_exec("UPDATE draft_requests SET next_attempt_at = now() - interval '1 s' WHERE id = '%s'",
             req);
    claim_requests(key, 1, 60, "w", &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1);
    resp_free(&r);

    /* attempts = 2 = draft_request_max_attempts: retryable or not, it fails. */
    fail_req(key, req, "{\"error\": \"e2\", \"retryable\": true}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "status"), "failed");
    cr_assert_str_eq(jstr(r.json, "lastError"), "e2");
    cr_assert_eq(json_integer_value(json_object_get(r.json, "attempts")), 2);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications"), 1);
    sql_text(payload, sizeof(payload),
             "SELECT type || ' ' || coalesce(user_id::text, 'everyone') || ' ' || "
             "       (payload->>'draftRequestId') || ' ' || (payload->>'conversationId') || ' ' || "
             "       (payload->>'messageId') FROM notifications");
    {
        char want[512];

        snprintf(want, sizeof(want), "draft.failed everyone %s %s %s", req, conv, msg);
        cr_assert_str_eq(payload, want);
    }
    claim_requests(key, 5, 60, "w", &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0, "failed stays out");
    resp_free(&r);
    /* A failed request is no longer leased. */
    fail_req(key, req, "{\"error\": \"e3\", \"retryable\": false}", &r);
    expect_problem(&r, 409);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications"), 1);
}

Test(draft_requests, a_non_retryable_failure_fails_at_once)
{
    char conv[37], msg[37], req[37];
    struct resp r;

    leased_request(conv, msg, req);
    fail_req(key, req, "{\"error\": \"prompt rejected\", \"retryable\": false}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "status"), "failed");
    cr_assert_eq(json_integer_value(json_object_get(r.json, "attempts")), 1);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications WHERE type = 'draft.failed' "
                          "AND payload->>'draftRequestId' = '%s'",
                          req),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests WHERE id = '%s' "
                          "AND claimable_at IS NULL AND lease_expires_at IS NULL",
                          req),
                 1);
}

Test(draft_requests, failing_a_request_that_is_not_leased_is_409_and_changes_nothing)
{
    char ch[37], conv[37], msg[37], req[37], before[256], after[256], other[37], okey[64];
    char path_req[37];
    struct resp r;
    static const char *snap = "SELECT status::text || attempts || coalesce(last_error, '-') || "
                              "updated_at::text || coalesce(next_attempt_at::text, '-') "
                              "FROM draft_requests WHERE id = '%s'";

    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    mk_request(account, conv, 10, msg, req);
    sql_text(before, sizeof(before), snap, req);
    fail_req(key, req, "{\"error\": \"x\", \"retryable\": true}", &r);
    expect_problem(&r, 409);
    cr_assert_not_null(strstr(jstr(r.json, "detail"), "queued"), "%s", r.body);
    resp_free(&r);
    sql_text(after, sizeof(after), snap, req);
    cr_assert_str_eq(before, after);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications"), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action LIKE 'draft_request.%%'"),
                 0);

    /* Unknown id, another account's request: 404. */
    fail_req(key, "0190a4b2-0000-7000-8000-000000000000", "{\"error\": \"x\", \"retryable\": true}",
             &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_tenant(&t, "Other Shop", other, okey);
    claim_requests(key, 1, 60, "w", &r);
    resp_free(&r);
    fail_req(okey, req, "{\"error\": \"x\", \"retryable\": true}", &r);
    expect_problem(&r, 404);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests WHERE id = '%s' "
                          "AND status = 'leased'",
                          req),
                 1);

    /* Validation, with every bad field named. */
    snprintf(path_req, sizeof(path_req), "%s", req);
    fail_req(key, path_req, "{\"retryable\": \"yes\"}", &r);
    expect_fields(&r, (const char *const[]){"error", "retryable", NULL});
    resp_free(&r);
    fail_req(key, path_req, "{\"error\": \"a\\u0000b\", \"retryable\": true}", &r);
    expect_fields(&r, (const char *const[]){"error", NULL});
    resp_free(&r);
    fail_req(key, path_req, "{\"error\": \"\"}", &r);
    expect_fields(&r, (const char *const[]){"error", "retryable", NULL});
    resp_free(&r);
}
