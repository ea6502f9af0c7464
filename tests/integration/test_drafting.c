/*
 * Drafting (issue #3): the draft-request queue (claim, lease expiry, fail
 * with backoff and attempt limit) and drafts (create, one per trigger,
 * supersede, notifications, validation, reads with actions and ETag).
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

TestSuite(drafting, .init = fx_setup, .fini = fx_teardown, .timeout = 90);
TestSuite(drafting_limits, .init = setup_limited, .fini = fx_teardown, .timeout = 90);

/* --- helpers --------------------------------------------------------------- */

static void
fail_req(const char *k, const char *id, const char *body, struct resp *r)
{
    char path[128];

    snprintf(path, sizeof(path), "/v1/draft-requests/%s/fail", id);
    th_post(&t, path, k, body, r);
}

static void
post_draft(const char *k, const char *conv, const char *body, struct resp *r)
{
    char path[128];

    snprintf(path, sizeof(path), "/v1/conversations/%s/drafts", conv);
    th_post(&t, path, k, body, r);
}

/* A minimal valid draft body for a trigger message (and request, or NULL). */
static void
draft_body(char *out, size_t outlen, const char *msg, const char *req)
{
    char reqpart[80] = "";

    if (req)
        snprintf(reqpart, sizeof(reqpart), "\"draftRequestId\": \"%s\", ", req);
    snprintf(out, outlen,
             "{\"triggerMessageId\": \"%s\", %s\"modelKey\": \"gpt-x\", "
             "\"promptVersion\": \"v3\", \"suggestedText\": \"Your order ships today.\", "
             "\"suggestedHtml\": \"<p>Your order ships today.</p>\", "
             "\"topSources\": [{\"url\": \"https://shop/faq\", \"title\": \"FAQ\", "
             "\"score\": 0.87}, {\"url\": \"https://shop/ship\", \"title\": null, \"score\": 1}]}",
             msg, reqpart);
}

/* --- claim ----------------------------------------------------------------- */

Test(drafting, claim_leases_oldest_first_up_to_the_limit)
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

Test(drafting, claim_validates_its_body_and_scope)
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

Test(drafting, claim_never_reaches_another_account_or_a_deleted_conversation)
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

Test(drafting, concurrent_claimers_never_share_a_request)
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

Test(drafting, an_expired_lease_is_claimable_again)
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

    usleep(1300 * 1000); /* the 1 s lease runs out */
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

Test(drafting, a_retryable_failure_requeues_with_exponential_backoff)
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

Test(drafting_limits, the_last_attempt_fails_with_one_notification)
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

Test(drafting, a_non_retryable_failure_fails_at_once)
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

Test(drafting, failing_a_request_that_is_not_leased_is_409_and_changes_nothing)
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

/* --- drafts ---------------------------------------------------------------- */

Test(drafting, a_draft_finishes_its_request_supersedes_and_notifies)
{
    char ch[37], conv[37], m1[37], r1[37], m2[37], r2[37], d1[37], d2[37], etag[80];
    char body[1024], got[512], want[512];
    struct resp r;
    json_t *ts;

    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    mk_request(account, conv, 60, m1, r1);
    mk_request(account, conv, 30, m2, r2);
    claim_requests(key, 2, 60, "w", &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 2);
    resp_free(&r);

    draft_body(body, sizeof(body), m1, r1);
    post_draft(key, conv, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(d1, sizeof(d1), "%s", jstr(r.json, "id"));
    cr_assert_str_eq(jstr(r.json, "conversationId"), conv);
    cr_assert_str_eq(jstr(r.json, "triggerMessageId"), m1);
    cr_assert(json_is_null(json_object_get(r.json, "authorUserId")));
    cr_assert_str_eq(jstr(r.json, "modelKey"), "gpt-x");
    cr_assert_str_eq(jstr(r.json, "promptVersion"), "v3");
    cr_assert_str_eq(jstr(r.json, "status"), "pending");
    cr_assert_str_eq(jstr(r.json, "suggestedText"), "Your order ships today.");
    cr_assert_str_eq(jstr(r.json, "suggestedHtml"), "<p>Your order ships today.</p>");
    ts = json_object_get(r.json, "topSources");
    cr_assert_eq(json_array_size(ts), 2);
    cr_assert_str_eq(jstr(json_array_get(ts, 0), "url"), "https://shop/faq");
    cr_assert_float_eq(json_number_value(json_object_get(json_array_get(ts, 0), "score")), 0.87,
                       1e-9);
    cr_assert(json_is_null(json_object_get(json_array_get(ts, 1), "title")));
    cr_assert(resp_header(&r, "ETag", etag, sizeof(etag)), "201 carries the ETag");
    resp_free(&r);

    sql_text(got, sizeof(got), "SELECT status FROM draft_requests WHERE id = '%s'", r1);
    cr_assert_str_eq(got, "done");
    sql_text(got, sizeof(got), "SELECT status FROM draft_requests WHERE id = '%s'", r2);
    cr_assert_str_eq(got, "leased");
    sql_text(got, sizeof(got),
             "SELECT pending_draft_id::text || ' ' || (feed_at = last_inbound_at) "
             "FROM conversations WHERE id = '%s'",
             conv);
    snprintf(want, sizeof(want), "%s true", d1);
    cr_assert_str_eq(got, want);

    /* A draft for the newer message, without draftRequestId: the trigger's
     * own request is finished and the first draft superseded. */
    draft_body(body, sizeof(body), m2, NULL);
    post_draft(key, conv, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(d2, sizeof(d2), "%s", jstr(r.json, "id"));
    resp_free(&r);
    sql_text(got, sizeof(got), "SELECT status FROM draft_requests WHERE id = '%s'", r2);
    cr_assert_str_eq(got, "done");
    sql_text(got, sizeof(got), "SELECT status FROM drafts WHERE id = '%s'", d1);
    cr_assert_str_eq(got, "superseded");
    sql_text(got, sizeof(got), "SELECT status FROM drafts WHERE id = '%s'", d2);
    cr_assert_str_eq(got, "pending");
    sql_text(got, sizeof(got),
             "SELECT pending_draft_id::text || ' ' || (feed_at = last_inbound_at) "
             "FROM conversations WHERE id = '%s'",
             conv);
    snprintf(want, sizeof(want), "%s true", d2);
    cr_assert_str_eq(got, want);

    /* One draft.ready per draft, carrying the ids it speaks of. */
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications WHERE type = 'draft.ready' "
                          "AND user_id IS NULL"),
                 2);
    sql_text(got, sizeof(got),
             "SELECT (payload->>'draftId') || ' ' || (payload->>'conversationId') || ' ' || "
             "(payload->>'messageId') || ' ' || (payload->>'draftRequestId') FROM notifications "
             "WHERE payload->>'draftId' = '%s'",
             d2);
    snprintf(want, sizeof(want), "%s %s %s %s", d2, conv, m2, r2);
    cr_assert_str_eq(got, want);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'draft.create'"), 2);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'draft.supersede' "
                          "AND resource_id = '%s'",
                          d1),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'draft_request.done'"), 2);
}

Test(drafting, a_closed_conversation_gets_its_draft_but_no_feed_position)
{
    char ch[37], conv[37], m[37], q[37], body[1024], got[128];
    struct resp r;

    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    mk_request(account, conv, 10, m, q);
    sql_exec("UPDATE conversations SET status = 'closed', closed_at = now() WHERE id = '%s'", conv);
    draft_body(body, sizeof(body), m, NULL);
    post_draft(key, conv, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    sql_text(got, sizeof(got),
             "SELECT (pending_draft_id IS NOT NULL) || ' ' || coalesce(feed_at::text, 'none') "
             "FROM conversations WHERE id = '%s'",
             conv);
    cr_assert_str_eq(got, "true none");
}

Test(drafting, a_second_draft_for_one_trigger_is_409)
{
    char ch[37], conv[37], m[37], q[37], body[1024];
    struct resp r;

    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    mk_request(account, conv, 10, m, q);
    draft_body(body, sizeof(body), m, NULL);
    post_draft(key, conv, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    post_draft(key, conv, body, &r);
    expect_problem(&r, 409);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM drafts"), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM drafts WHERE status = 'pending'"), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications"), 1);
}

#define DRAFT_RACERS 8

struct draft_racer {
    char key[64];
    char path[128];
    char body[1024];
    long status;
};

static void *
draft_thread(void *arg)
{
    struct draft_racer *z = arg;
    struct resp r;

    th_post(&t, z->path, z->key, z->body, &r);
    z->status = r.status;
    resp_free(&r);
    return NULL;
}

Test(drafting, simultaneous_drafts_for_one_trigger_make_one)
{
    static struct draft_racer z[DRAFT_RACERS];
    pthread_t th[DRAFT_RACERS];
    char ch[37], conv[37], m[37], q[37];
    int created = 0, conflicts = 0;

    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    mk_request(account, conv, 10, m, q);
    for (int i = 0; i < DRAFT_RACERS; i++) {
        snprintf(z[i].key, sizeof(z[i].key), "%s", key);
        snprintf(z[i].path, sizeof(z[i].path), "/v1/conversations/%s/drafts", conv);
        draft_body(z[i].body, sizeof(z[i].body), m, NULL);
        pthread_create(&th[i], NULL, draft_thread, &z[i]);
    }
    for (int i = 0; i < DRAFT_RACERS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < DRAFT_RACERS; i++) {
        created += z[i].status == 201;
        conflicts += z[i].status == 409;
    }
    cr_assert_eq(created, 1);
    cr_assert_eq(conflicts, DRAFT_RACERS - 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM drafts"), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications"), 1);
}

Test(drafting, draft_references_are_checked)
{
    char ch[37], conv[37], conv2[37], m[37], q[37], m2[37], q2[37], out[37], body[1024];
    char snap_before[512], snap_after[512];
    struct resp r;
    static const char *snap = "SELECT string_agg(status::text || attempts, ',' ORDER BY id) "
                              "FROM draft_requests";

    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    mk_conv(account, ch, NULL, conv2);
    mk_request(account, conv, 20, m, q);
    mk_request(account, conv2, 10, m2, q2);
    mk_msg(account, conv, "outbound", 5, out);
    sql_text(snap_before, sizeof(snap_before), "%s", snap);

    /* A message of another conversation. */
    draft_body(body, sizeof(body), m2, NULL);
    post_draft(key, conv, body, &r);
    expect_fields(&r, (const char *const[]){"triggerMessageId", NULL});
    resp_free(&r);
    /* An outbound message of this conversation. */
    draft_body(body, sizeof(body), out, NULL);
    post_draft(key, conv, body, &r);
    expect_fields(&r, (const char *const[]){"triggerMessageId", NULL});
    resp_free(&r);
    /* An unknown message. */
    draft_body(body, sizeof(body), "0190a4b2-0000-7000-8000-000000000001", NULL);
    post_draft(key, conv, body, &r);
    expect_fields(&r, (const char *const[]){"triggerMessageId", NULL});
    resp_free(&r);
    /* An unknown draft request. */
    draft_body(body, sizeof(body), m, "0190a4b2-0000-7000-8000-000000000002");
    post_draft(key, conv, body, &r);
    expect_fields(&r, (const char *const[]){"draftRequestId", NULL});
    resp_free(&r);
    /* The request of another message. */
    draft_body(body, sizeof(body), m, q2);
    post_draft(key, conv, body, &r);
    expect_fields(&r, (const char *const[]){"draftRequestId", NULL});
    resp_free(&r);
    /* A queued (not leased) request: openapi.json says 409. */
    draft_body(body, sizeof(body), m, q);
    post_draft(key, conv, body, &r);
    expect_problem(&r, 409);
    resp_free(&r);

    cr_assert_eq(sql_long("SELECT count(*) FROM drafts"), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications"), 0);
    sql_text(snap_after, sizeof(snap_after), "%s", snap);
    cr_assert_str_eq(snap_before, snap_after);
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations WHERE pending_draft_id IS NOT NULL"),
                 0);
}

Test(drafting, draft_fields_are_validated_and_named)
{
    char ch[37], conv[37], m[37], q[37], body[2048];
    struct resp r;
    char *big;
    size_t bigcap = 128 * 1024;

    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    mk_request(account, conv, 10, m, q);

    post_draft(key, conv, "{}", &r);
    expect_fields(&r, (const char *const[]){"triggerMessageId", "modelKey", "promptVersion",
                                            "suggestedText", NULL});
    resp_free(&r);

    post_draft(key, conv,
               "{\"triggerMessageId\": \"not-a-uuid\", \"draftRequestId\": 7, "
               "\"modelKey\": \"\", \"promptVersion\": 3, \"suggestedText\": \"a\\u0000b\", "
               "\"suggestedHtml\": false, \"topSources\": {}}",
               &r);
    expect_fields(&r, (const char *const[]){"triggerMessageId", "draftRequestId", "modelKey",
                                            "promptVersion", "suggestedText", "suggestedHtml",
                                            "topSources", NULL});
    resp_free(&r);

    snprintf(body, sizeof(body),
             "{\"triggerMessageId\": \"%s\", \"modelKey\": \"m\", \"promptVersion\": \"v\", "
             "\"suggestedText\": \"t\", \"topSources\": ["
             "1, "
             "{\"title\": \"t\", \"score\": 1}, "
             "{\"url\": \"u\", \"title\": null, \"score\": \"high\"}, "
             "{\"url\": \"u\", \"score\": 0.5}, "
             "{\"url\": \"u\", \"title\": 5, \"score\": 0.5}, "
             "{\"url\": \"u\\u0000\", \"title\": \"t\"}, "
             "{\"url\": \"ok\", \"title\": \"ok\", \"score\": -2.5e3}]}",
             m);
    post_draft(key, conv, body, &r);
    expect_fields(&r,
                  (const char *const[]){"topSources[0]", "topSources[1].url", "topSources[2].score",
                                        "topSources[3].title", "topSources[4].title",
                                        "topSources[5].url", "topSources[5].score", NULL});
    resp_free(&r);

    /* A NUL anywhere else inside topSources is reported on the array. */
    snprintf(body, sizeof(body),
             "{\"triggerMessageId\": \"%s\", \"modelKey\": \"m\", \"promptVersion\": \"v\", "
             "\"suggestedText\": \"t\", \"topSources\": [{\"url\": \"u\", \"title\": \"t\", "
             "\"score\": 1, \"note\": [\"\\u0000\"]}]}",
             m);
    post_draft(key, conv, body, &r);
    expect_fields(&r, (const char *const[]){"topSources", NULL});
    resp_free(&r);

    /* topSources over 64 KiB as JSON. */
    big = malloc(bigcap);
    cr_assert_not_null(big);
    {
        size_t n = (size_t)snprintf(big, bigcap,
                                    "{\"triggerMessageId\": \"%s\", \"modelKey\": \"m\", "
                                    "\"promptVersion\": \"v\", \"suggestedText\": \"t\", "
                                    "\"topSources\": [",
                                    m);

        for (int i = 0; i < 800; i++)
            n += (size_t)snprintf(big + n, bigcap - n,
                                  "%s{\"url\": \"https://shop.example/%060d\", \"title\": "
                                  "\"t\", \"score\": 1}",
                                  i ? "," : "", i);
        snprintf(big + n, bigcap - n, "]}");
    }
    post_draft(key, conv, big, &r);
    expect_fields(&r, (const char *const[]){"topSources", NULL});
    resp_free(&r);
    free(big);

    post_draft(key, conv, "not json", &r);
    expect_problem(&r, 400);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM drafts"), 0);
}

Test(drafting, drafts_of_other_accounts_and_deleted_conversations_are_404)
{
    char ch[37], conv[37], m[37], q[37], other[37], okey[64], readonly[64], body[1024];
    char path[128], d[37];
    struct resp r;

    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    mk_request(account, conv, 10, m, q);
    th_tenant(&t, "Other Shop", other, okey);
    draft_body(body, sizeof(body), m, NULL);

    post_draft(okey, conv, body, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    post_draft(key, "0190a4b2-0000-7000-8000-000000000003", body, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_key(&t, account, "read", readonly);
    post_draft(readonly, conv, body, &r);
    expect_problem(&r, 403);
    resp_free(&r);

    post_draft(key, conv, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(d, sizeof(d), "%s", jstr(r.json, "id"));
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/drafts/%s", d);
    th_get(&t, path, okey, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_get(&t, "/v1/drafts", okey, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    resp_free(&r);

    /* A soft-deleted conversation hides its drafts and takes no new one. */
    sql_exec("UPDATE conversations SET deleted_at = now(), feed_at = NULL WHERE id = '%s'", conv);
    th_get(&t, path, key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_get(&t, "/v1/drafts", key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    resp_free(&r);
    {
        char m2[37], q2[37];

        mk_request(account, conv, 5, m2, q2);
        draft_body(body, sizeof(body), m2, NULL);
        post_draft(key, conv, body, &r);
        expect_problem(&r, 404);
        resp_free(&r);
    }
    cr_assert_eq(sql_long("SELECT count(*) FROM drafts"), 1);
}

Test(drafting, get_draft_has_its_actions_and_etag)
{
    char ch[37], conv[37], m[37], q[37], body[1024], path[128], d[37], etag1[80], etag2[80];
    char user[37], action[37];
    struct resp r;
    json_t *acts;

    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    mk_request(account, conv, 10, m, q);
    draft_body(body, sizeof(body), m, NULL);
    post_draft(key, conv, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(d, sizeof(d), "%s", jstr(r.json, "id"));
    cr_assert(resp_header(&r, "ETag", etag1, sizeof(etag1)));
    resp_free(&r);

    snprintf(path, sizeof(path), "/v1/drafts/%s", d);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "id"), d);
    cr_assert_str_eq(jstr(r.json, "status"), "pending");
    cr_assert_eq(json_array_size(json_object_get(r.json, "topSources")), 2);
    acts = json_object_get(r.json, "actions");
    cr_assert(json_is_array(acts));
    cr_assert_eq(json_array_size(acts), 0);
    cr_assert(resp_header(&r, "ETag", etag2, sizeof(etag2)));
    cr_assert_str_eq(etag1, etag2, "same draft, same tag");
    resp_free(&r);

    /* An action (written by SQL here; routes/actions.c owns the route). */
    sql_text(user, 37,
             "INSERT INTO users (account_id, id, email) VALUES ('%s', gen_random_uuid(), "
             "'agent@shop') RETURNING id",
             account);
    sql_text(action, 37,
             "INSERT INTO draft_actions (account_id, id, draft_id, user_id, type, notes) "
             "VALUES ('%s', gen_random_uuid(), '%s', '%s', 'reject', 'off topic') RETURNING id",
             account, d, user);
    sql_exec("UPDATE drafts SET status = 'archived', updated_at = now() + interval '1 ms' "
             "WHERE id = '%s'",
             d);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "status"), "archived");
    acts = json_object_get(r.json, "actions");
    cr_assert_eq(json_array_size(acts), 1, "%s", r.body);
    cr_assert_str_eq(jstr(json_array_get(acts, 0), "id"), action);
    cr_assert_str_eq(jstr(json_array_get(acts, 0), "type"), "reject");
    cr_assert_str_eq(jstr(json_array_get(acts, 0), "notes"), "off topic");
    cr_assert_str_eq(jstr(json_array_get(acts, 0), "draftId"), d);
    cr_assert(resp_header(&r, "ETag", etag2, sizeof(etag2)));
    cr_assert_str_neq(etag1, etag2, "a changed draft has a new tag");
    resp_free(&r);

    th_get(&t, "/v1/drafts/0190a4b2-0000-7000-8000-000000000004", key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
}

Test(drafting, draft_list_filters_and_pages_oldest_first)
{
    char ch[37], conv[3][37], m[6][37], q[6][37], d[6][37], body[1024], path[400];
    char cursor[256] = "";
    int seen = 0, pages = 0;
    struct resp r;
    json_t *items;

    mk_channel(account, NULL, NULL, ch);
    for (int i = 0; i < 3; i++)
        mk_conv(account, ch, NULL, conv[i]);
    /* Two drafts per conversation: the first of each gets superseded. */
    for (int i = 0; i < 6; i++) {
        mk_request(account, conv[i % 3], 100 - i, m[i], q[i]);
        draft_body(body, sizeof(body), m[i], NULL);
        post_draft(key, conv[i % 3], body, &r);
        cr_assert_eq(r.status, 201, "%s", r.body);
        snprintf(d[i], sizeof(d[i]), "%s", jstr(r.json, "id"));
        resp_free(&r);
    }

    /* Every draft once, in creation order, over pages of 4. */
    do {
        if (cursor[0])
            snprintf(path, sizeof(path), "/v1/drafts?limit=4&cursor=%s", cursor);
        else
            snprintf(path, sizeof(path), "/v1/drafts?limit=4");
        th_get(&t, path, key, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        items = json_object_get(r.json, "items");
        for (size_t i = 0; i < json_array_size(items); i++, seen++)
            cr_assert_str_eq(jstr(json_array_get(items, i), "id"), d[seen]);
        cursor[0] = '\0';
        if (json_is_string(json_object_get(r.json, "nextCursor")))
            snprintf(cursor, sizeof(cursor), "%s", jstr(r.json, "nextCursor"));
        pages++;
        resp_free(&r);
    } while (cursor[0] && pages < 5);
    cr_assert_eq(seen, 6);
    cr_assert_eq(pages, 2);

    th_get(&t, "/v1/drafts?status=pending", key, &r);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 3, "%s", r.body);
    for (size_t i = 0; i < 3; i++)
        cr_assert_str_eq(jstr(json_array_get(items, i), "id"), d[3 + i]);
    resp_free(&r);
    th_get(&t, "/v1/drafts?status=superseded&limit=1", key, &r);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 1, "%s", r.body);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), d[0]);
    cr_assert(json_is_string(json_object_get(r.json, "nextCursor")));
    resp_free(&r);

    snprintf(path, sizeof(path), "/v1/drafts?conversationId=%s", conv[1]);
    th_get(&t, path, key, &r);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 2, "%s", r.body);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), d[1]);
    cr_assert_str_eq(jstr(json_array_get(items, 1), "id"), d[4]);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/drafts?conversationId=%s&status=superseded", conv[2]);
    th_get(&t, path, key, &r);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 1, "%s", r.body);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), d[2]);
    resp_free(&r);

    static const char *const bad[] = {"/v1/drafts?status=sent,pending", "/v1/drafts?status=",
                                      "/v1/drafts?conversationId=42",   "/v1/drafts?limit=0",
                                      "/v1/drafts?cursor=zzzz",         NULL};
    for (int i = 0; bad[i]; i++) {
        th_get(&t, bad[i], key, &r);
        expect_problem(&r, 400);
        resp_free(&r);
    }
}
