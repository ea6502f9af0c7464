/*
 * test_webhooks: signed inbound deliveries, the event log, replay, the
 * registry and diagnostics (issue #4 "Inbound"; API.md "Inbound webhooks").
 *
 * Deliveries are signed for real with sig_sign() and sent over HTTP.
 * Webhook sources exist only in the environment or the file, so setup()
 * exports them (webhook_sources() in fixtures.h lists them) before
 * the server starts; they name their accounts by name, and the accounts
 * are made right after the server starts, since a source's account is
 * resolved per delivery: "Hook Shop" is A, "Other Shop" is B.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fixtures.h"
#include "inboxd/lib/sig.h"

/* account and key (fixtures.h) are A's, with every scope. */
static char account_b[37], key_b[64]; /* B, every scope */
static char reader[64];               /* A, read only */

static void
setup(void)
{
    webhook_sources();
    fx_start("Hook Shop", NULL);
    th_tenant(&t, "Other Shop", account_b, key_b);
    th_key(&t, account, "read", reader);
}

TestSuite(webhooks, .init = setup, .fini = fx_teardown, .timeout = 240);

/* --- helpers --------------------------------------------------------------- */

static long
events_of(const char *acct)
{
    return sql_long("SELECT count(*) FROM webhook_events WHERE account_id = '%s'", acct);
}

static long
all_rows(void)
{
    return sql_long(
        "SELECT (SELECT count(*) FROM webhook_events) + (SELECT count(*) FROM messages) "
        "     + (SELECT count(*) FROM channels) + (SELECT count(*) FROM draft_requests)");
}

/* --- a delivery -------------------------------------------------------------- */

Test(webhooks, signed_delivery_is_201_and_makes_channel_conversation_message_and_draft_request)
{
    char body[2048], v[256];
    struct resp r;
    struct webhook_ids x;

    webhook_delivery(body, sizeof(body), "d-1", "ZT-1042", "zoho-msg-1");
    deliver("hookshop", "shop-secret", body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert(json_is_false(json_object_get(r.json, "duplicate")), "%s", r.body);
    take_ids(&r, &x);
    resp_free(&r);

    /* The event: stored, succeeded, with its result and raw body. */
    cr_assert_eq(
        sql_long("SELECT count(*) FROM webhook_events WHERE account_id = '%s' AND id = '%s' "
                 "AND source = 'hookshop' AND delivery_id = 'd-1' "
                 "AND topic = 'message.created' AND status = 'succeeded' "
                 "AND processed_at IS NOT NULL AND error IS NULL AND raw_body = $b$%s$b$ "
                 "AND payload->'message'->>'externalId' = 'zoho-msg-1' "
                 "AND result->>'conversationId' = '%s' AND result->>'messageId' = '%s' "
                 "AND result->>'draftRequestId' = '%s'",
                 account, x.event, body, x.conv, x.msg, x.req),
        1);
    /* Channel, conversation, message, attachment and draft request, in A. */
    cr_assert_eq(sql_long("SELECT count(*) FROM channels WHERE account_id = '%s' "
                          "AND external_id = 'zoho-support' AND type = 'email' "
                          "AND name = 'Support inbox'",
                          account),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations c JOIN channels ch "
                          "ON ch.account_id = c.account_id AND ch.id = c.channel_id "
                          "WHERE c.account_id = '%s' AND c.id = '%s' AND c.external_id = 'ZT-1042' "
                          "AND ch.external_id = 'zoho-support' AND c.subject = 'Order 1042' "
                          "AND c.customer_email = 'anna@example.com' AND c.customer_name = 'Anna' "
                          "AND c.last_inbound_at = '2026-11-22T10:04:05.123Z'",
                          account, x.conv),
                 1);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM messages WHERE account_id = '%s' AND id = '%s' "
                 "AND conversation_id = '%s' AND direction = 'inbound' "
                 "AND external_id = 'zoho-msg-1' AND body_text = 'Where is my order 1042?' "
                 "AND body_html = '<p>Where?</p>' AND metadata = '{\"lang\":\"en\"}' "
                 "AND sent_at = '2026-11-22T10:04:05.123Z' AND delivery_status IS NULL",
                 account, x.msg, x.conv),
        1);
    cr_assert_eq(sql_long("SELECT count(*) FROM attachments WHERE account_id = '%s' "
                          "AND message_id = '%s' AND file_name = 'a.png' AND size_bytes = 12",
                          account, x.msg),
                 1);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM draft_requests WHERE account_id = '%s' AND id = '%s' "
                 "AND message_id = '%s' AND conversation_id = '%s' AND status = 'queued'",
                 account, x.req, x.msg, x.conv),
        1);
    /* Audited without a key: the delivery, and what it created. */
    sql_text(v, sizeof(v),
             "SELECT string_agg(action, ',' ORDER BY action) FROM audit_log "
             "WHERE account_id = '%s' AND actor_key_id IS NULL",
             account);
    cr_assert_str_eq(v, "channel.create,conversation.create,message.create,"
                        "webhook_event.process,webhook_event.receive");
    cr_assert_eq(events_of(account_b), 0);

    /* The event log shows it. */
    {
        char path[128];

        snprintf(path, sizeof(path), "/v1/webhooks/events/%s", x.event);
        th_get(&t, path, reader, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        cr_assert_str_eq(jstr(r.json, "status"), "succeeded");
        cr_assert_str_eq(jstr(r.json, "deliveryId"), "d-1");
        cr_assert_str_eq(jstr(r.json, "source"), "hookshop");
        cr_assert_str_eq(jstr(json_object_get(r.json, "result"), "messageId"), x.msg);
        cr_assert_str_eq(
            jstr(json_object_get(json_object_get(r.json, "payload"), "message"), "bodyText"),
            "Where is my order 1042?");
        resp_free(&r);
    }
}

Test(webhooks, later_deliveries_reuse_channel_and_conversation_and_dedup_the_message)
{
    char body[2048];
    struct resp r;
    struct webhook_ids a, b, c;

    webhook_delivery(body, sizeof(body), "d-1", "ZT-7", "m-1");
    deliver("hookshop", "shop-secret", body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    take_ids(&r, &a);
    resp_free(&r);
    /* Another message of the conversation. */
    webhook_delivery(body, sizeof(body), "d-2", "ZT-7", "m-2");
    deliver("hookshop", "shop-secret", body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    take_ids(&r, &b);
    resp_free(&r);
    cr_assert_str_eq(b.conv, a.conv);
    cr_assert_str_neq(b.msg, a.msg);
    cr_assert_str_neq(b.req, a.req);
    /* A new delivery id carrying a message already stored: the stored
     * message, no second draft request. */
    webhook_delivery(body, sizeof(body), "d-3", "ZT-7", "m-1");
    deliver("hookshop", "shop-secret", body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    take_ids(&r, &c);
    cr_assert(json_is_null(json_object_get(r.json, "draftRequestId")), "%s", r.body);
    resp_free(&r);
    cr_assert_str_eq(c.msg, a.msg);
    cr_assert_eq(sql_long("SELECT count(*) FROM channels WHERE account_id = '%s'", account), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations WHERE account_id = '%s'", account),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE account_id = '%s'", account), 2);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests WHERE account_id = '%s'", account),
                 2);
    cr_assert_eq(events_of(account), 3);
}

Test(webhooks, a_channel_without_a_name_is_named_after_its_external_id_and_kept_as_it_is)
{
    struct resp r;

    deliver("hookshop", "shop-secret",
            "{\"deliveryId\":\"n-1\",\"topic\":\"message.created\","
            "\"channel\":{\"type\":\"chat\",\"externalId\":\"intercom-app\"},"
            "\"conversation\":{\"externalId\":\"IC-1\"},"
            "\"message\":{\"externalId\":\"ic-m-1\",\"bodyText\":\"hi\"}}",
            &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    /* A later delivery with another type and name does not change it. */
    deliver("hookshop", "shop-secret",
            "{\"deliveryId\":\"n-2\",\"topic\":\"message.created\","
            "\"channel\":{\"type\":\"email\",\"externalId\":\"intercom-app\",\"name\":\"X\"},"
            "\"conversation\":{\"externalId\":\"IC-1\"},"
            "\"message\":{\"externalId\":\"ic-m-2\",\"bodyText\":\"hi again\"}}",
            &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM channels WHERE account_id = '%s' "
                          "AND external_id = 'intercom-app' AND name = 'intercom-app' "
                          "AND type = 'chat'",
                          account),
                 1);
}

Test(webhooks, an_idempotency_key_replays_the_first_answer_and_refuses_another_body)
{
    char body[2048], other[2048], first[4096], replayed[16];
    const char *idem = "Idempotency-Key: sync-batch-17";
    struct resp r;

    webhook_delivery(body, sizeof(body), "d-idem-1", "ZT-idem", "m-idem-1");
    deliver_with("hookshop", "shop-secret", 0, idem, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_not(resp_header(&r, "Idempotent-Replayed", replayed, sizeof(replayed)));
    snprintf(first, sizeof(first), "%s", r.body);
    resp_free(&r);

    /* The same delivery again, freshly signed, with the key: the first
     * answer (201, same body), not the 200 "duplicate" of a delivery id
     * seen before. */
    deliver_with("hookshop", "shop-secret", 0, idem, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_str_eq(r.body, first);
    cr_assert(resp_header(&r, "Idempotent-Replayed", replayed, sizeof(replayed)));
    cr_assert_str_eq(replayed, "true");
    resp_free(&r);

    /* The key with another body: 422, and the other delivery is not stored. */
    webhook_delivery(other, sizeof(other), "d-idem-2", "ZT-idem", "m-idem-2");
    deliver_with("hookshop", "shop-secret", 0, idem, other, &r);
    expect_problem(&r, 422);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE account_id = '%s' "
                          "AND delivery_id LIKE 'd-idem-%%'",
                          account),
                 1);

    /* A bad signature never reaches the key: 401, and the key still
     * replays for the signed request. */
    deliver_with("hookshop", "wrong-secret", 0, idem, body, &r);
    expect_problem(&r, 401);
    resp_free(&r);
    deliver_with("hookshop", "shop-secret", 0, idem, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_str_eq(r.body, first);
    resp_free(&r);
}

/* --- signatures ---------------------------------------------------------------- */

Test(webhooks, bad_stale_or_missing_signatures_are_401_and_store_nothing)
{
    char body[2048], path[] = "/v1/webhooks/hookshop", ts_h[64], sig_h[128], sig[72];
    long long now = (long long)time(NULL);
    struct resp r;

    webhook_delivery(body, sizeof(body), "d-1", "ZT-1", "m-1");
    /* Another secret. */
    deliver("hookshop", "not-the-secret", body, &r);
    expect_problem(&r, 401);
    resp_free(&r);
    /* Stale both ways, past the 300 s window: just past it in the past
     * (time passing only makes it staler), a minute past it in the future
     * (a slow machine's delay before the check brings it nearer). */
    deliver_at("hookshop", "shop-secret", -301, body, &r);
    expect_problem(&r, 401);
    cr_assert(strstr(jstr(r.json, "detail"), "stale") || strstr(jstr(r.json, "detail"), "time"),
              "%s", r.body);
    resp_free(&r);
    deliver_at("hookshop", "shop-secret", 360, body, &r);
    expect_problem(&r, 401);
    resp_free(&r);
    /* No headers; one header; a malformed signature. */
    deliver("hookshop", NULL, body, &r);
    expect_problem(&r, 401);
    resp_free(&r);
    cr_assert_eq(sig_sign("shop-secret", now, body, strlen(body), sig), 0);
    snprintf(ts_h, sizeof(ts_h), "X-Inboxd-Timestamp: %lld", now);
    snprintf(sig_h, sizeof(sig_h), "X-Inboxd-Signature: %s", sig);
    {
        const char *only_ts[] = {ts_h, NULL};
        const char *only_sig[] = {sig_h, NULL};
        const char *md5[] = {ts_h, "X-Inboxd-Signature: md5=abc", NULL};
        const char *bad_ts[] = {"X-Inboxd-Timestamp: yesterday", sig_h, NULL};

        th_http(&t, "POST", path, NULL, body, only_ts, &r);
        expect_problem(&r, 401);
        resp_free(&r);
        th_http(&t, "POST", path, NULL, body, only_sig, &r);
        expect_problem(&r, 401);
        resp_free(&r);
        th_http(&t, "POST", path, NULL, body, md5, &r);
        expect_problem(&r, 401);
        resp_free(&r);
        th_http(&t, "POST", path, NULL, body, bad_ts, &r);
        expect_problem(&r, 401);
        resp_free(&r);
    }
    /* A signature of another body (the body was changed on the way). */
    {
        const char *h[] = {ts_h, sig_h, NULL};
        char other[2048];

        webhook_delivery(other, sizeof(other), "d-1", "ZT-1", "m-2");
        th_http(&t, "POST", path, NULL, other, h, &r);
        expect_problem(&r, 401);
        resp_free(&r);
        /* The same headers with the signed body pass. */
        th_http(&t, "POST", path, NULL, body, h, &r);
        cr_assert_eq(r.status, 201, "%s", r.body);
        resp_free(&r);
    }
    /* Only that last one was stored. */
    cr_assert_eq(events_of(account), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages"), 1);
    /* A bearer key does not stand in for a signature. */
    th_post(&t, path, key, body, &r);
    expect_problem(&r, 401);
    resp_free(&r);
    /* Inside the window (both ways) is fine. */
    webhook_delivery(body, sizeof(body), "d-2", "ZT-1", "m-2");
    deliver_at("hookshop", "shop-secret", -290, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    webhook_delivery(body, sizeof(body), "d-3", "ZT-1", "m-3");
    deliver_at("hookshop", "shop-secret", 290, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
}

Test(webhooks, both_secrets_verify_during_a_rotation)
{
    char body[2048];
    struct resp r;

    webhook_delivery(body, sizeof(body), "r-1", "ZT-1", "m-1");
    deliver("rot", "rot-old", body, &r);
    cr_assert_eq(r.status, 201, "previous secret: %s", r.body);
    resp_free(&r);
    webhook_delivery(body, sizeof(body), "r-2", "ZT-1", "m-2");
    deliver("rot", "rot-new", body, &r);
    cr_assert_eq(r.status, 201, "current secret: %s", r.body);
    resp_free(&r);
    webhook_delivery(body, sizeof(body), "r-3", "ZT-1", "m-3");
    deliver("rot", "shop-secret", body, &r);
    expect_problem(&r, 401);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE account_id = '%s' "
                          "AND source = 'rot' AND status = 'succeeded'",
                          account),
                 2);
}

/* --- Standard Webhooks (source "std") ------------------------------------------------ */

Test(webhooks, standard_webhooks_signed_by_python_verify_and_webhook_id_deduplicates)
{
    char body[2048], again[2048];
    struct webhook_ids first, second;
    struct resp r;

    webhook_delivery(body, sizeof(body), "std-body-1", "ZT-S1", "std-m-1");
    deliver_standard_signed("std", STD_SECRET_NEW, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 0, body,
                            &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    take_ids(&r, &first);
    resp_free(&r);
    /* The same webhook-id, even with another body deliveryId: a duplicate. */
    webhook_delivery(again, sizeof(again), "std-body-2", "ZT-S1", "std-m-2");
    deliver_standard_signed("std", STD_SECRET_NEW, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", 0, again,
                            &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(json_is_true(json_object_get(r.json, "duplicate")));
    take_ids(&r, &second);
    cr_assert_str_eq(second.event, first.event);
    cr_assert_str_eq(second.msg, first.msg);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE account_id = '%s' "
                          "AND source = 'std' AND delivery_id = 'msg_2KWPBgLlAfxdpx2AI54pPJ85f4W'",
                          account),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE account_id = '%s' "
                          "AND external_id LIKE 'std-m-%%'",
                          account),
                 1);
}

Test(webhooks, standard_webhooks_rotation_signs_with_both_and_any_one_suffices)
{
    char body[2048], good_old[128], good_new[128], list[512];
    struct resp r;
    long long now = (long long)time(NULL);

    webhook_delivery(body, sizeof(body), "std-rot-1", "ZT-S2", "std-rot-m1");
    standard_sign(STD_SECRET_OLD, "msg_rot_1", now, body, good_old, sizeof(good_old));
    standard_sign(STD_SECRET_NEW, "msg_rot_1", now, body, good_new, sizeof(good_new));
    /* A sender in a rotation sends both; an unknown v1a entry is skipped. */
    snprintf(list, sizeof(list), "v1a,AAAA %s %s", good_old, good_new);
    deliver_standard("std", "msg_rot_1", now, list, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    /* The previous secret alone still verifies. */
    webhook_delivery(body, sizeof(body), "std-rot-2", "ZT-S2", "std-rot-m2");
    deliver_standard_signed("std", STD_SECRET_OLD, "msg_rot_2", 0, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
}

Test(webhooks, standard_webhooks_bad_stale_or_other_scheme_is_401_and_stores_nothing)
{
    char body[2048], sig[128];
    struct resp r;
    long before = all_rows();
    long long now = (long long)time(NULL);

    webhook_delivery(body, sizeof(body), "std-bad", "ZT-S3", "std-bad-m");
    /* Signed with a key that is not the source's. */
    deliver_standard_signed("std", "whsec_d3Jvbmctc2VjcmV0LWtleS1vZi1hbnktc29ydHM=", "msg_b1", 0,
                            body, &r);
    expect_problem(&r, 401);
    resp_free(&r);
    /* Older than webhook_max_skew_s. */
    deliver_standard_signed("std", STD_SECRET_NEW, "msg_b2", -301, body, &r);
    expect_problem(&r, 401);
    cr_assert_not_null(strstr(r.body, "stale"), "%s", r.body);
    resp_free(&r);
    /* Signed for another webhook-id than the one sent. */
    standard_sign(STD_SECRET_NEW, "msg_b3", now, body, sig, sizeof(sig));
    deliver_standard("std", "msg_b4", now, sig, body, &r);
    expect_problem(&r, 401);
    resp_free(&r);
    /* inboxd's own headers do not sign for a standard source. */
    deliver("std", STD_SECRET_NEW, body, &r);
    expect_problem(&r, 401);
    cr_assert_not_null(strstr(r.body, "missing"), "%s", r.body);
    resp_free(&r);
    /* Nor do the standard headers for an inboxd source. */
    deliver_standard_signed("hookshop", STD_SECRET_NEW, "msg_b5", 0, body, &r);
    expect_problem(&r, 401);
    resp_free(&r);
    /* A webhook-id sent twice is refused before anything is read. */
    standard_sign(STD_SECRET_NEW, "msg_b6", now, body, sig, sizeof(sig));
    {
        char ts_h[64], sig_h[256];
        const char *h[] = {"webhook-id: msg_b6", "webhook-id: msg_b7", ts_h, sig_h, NULL};

        snprintf(ts_h, sizeof(ts_h), "webhook-timestamp: %lld", now);
        snprintf(sig_h, sizeof(sig_h), "webhook-signature: %s", sig);
        th_http(&t, "POST", "/v1/webhooks/std", NULL, body, h, &r);
        expect_problem(&r, 400);
        resp_free(&r);
    }
    cr_assert_eq(all_rows(), before);
}

Test(webhooks, unknown_or_reserved_sources_are_404_and_store_nothing)
{
    char body[2048];
    struct resp r;
    static const char *const names[] = {"nosuch",      "events",     "registry",
                                        "diagnostics", "HOOKSHOP-x", NULL};

    webhook_delivery(body, sizeof(body), "d-1", "ZT-1", "m-1");
    for (int i = 0; names[i]; i++) {
        deliver(names[i], "shop-secret", body, &r);
        expect_problem(&r, 404);
        resp_free(&r);
    }
    cr_assert_eq(all_rows(), 0);
    /* Source names are case-insensitive, as configured names are. */
    deliver("HookShop", "shop-secret", body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE source = 'hookshop'"), 1);
}

Test(webhooks, a_source_whose_account_does_not_exist_is_503_and_stores_nothing)
{
    char body[2048], ra[32];
    struct resp r;

    webhook_delivery(body, sizeof(body), "g-1", "ZT-1", "m-1");
    deliver("ghost", "ghost-secret", body, &r);
    expect_problem(&r, 503);
    cr_assert(resp_header(&r, "Retry-After", ra, sizeof(ra)));
    resp_free(&r);
    cr_assert_eq(all_rows(), 0);
}

Test(webhooks, a_body_that_is_not_a_json_object_is_400_and_not_stored)
{
    struct resp r;

    deliver("hookshop", "shop-secret", "{\"deliveryId\":", &r);
    expect_problem(&r, 400);
    resp_free(&r);
    deliver("hookshop", "shop-secret", "[1,2]", &r);
    expect_problem(&r, 400);
    resp_free(&r);
    deliver("hookshop", "shop-secret", "{\"a\":1,\"a\":2}", &r);
    expect_problem(&r, 400);
    resp_free(&r);
    cr_assert_eq(all_rows(), 0);
}

/* --- duplicates ---------------------------------------------------------------- */

struct racer {
    const char *body;
    pthread_barrier_t *go;
    long status;
    bool duplicate;
    struct webhook_ids x;
};

static void *
race(void *p)
{
    struct racer *a = p;
    struct resp r;

    pthread_barrier_wait(a->go);
    deliver("hookshop", "shop-secret", a->body, &r);
    a->status = r.status;
    memset(&a->x, 0, sizeof(a->x));
    if (r.json && jstr(r.json, "eventId")) {
        take_ids(&r, &a->x);
        a->duplicate = json_is_true(json_object_get(r.json, "duplicate"));
    }
    resp_free(&r);
    return NULL;
}

Test(webhooks, twenty_simultaneous_deliveries_of_one_id_make_one_message_and_one_201)
{
    enum { THREADS = 20, ROUNDS = 5 };
    struct racer a[THREADS];
    pthread_t th[THREADS];
    pthread_barrier_t go;
    char body[ROUNDS][2048], did[32], ext[32];

    for (int round = 0; round < ROUNDS; round++) {
        int created = 0, dup = 0, first = -1;

        snprintf(did, sizeof(did), "storm-%d", round);
        snprintf(ext, sizeof(ext), "storm-msg-%d", round);
        webhook_delivery(body[round], sizeof(body[round]), did, "ZT-storm", ext);
        pthread_barrier_init(&go, NULL, THREADS);
        for (int i = 0; i < THREADS; i++) {
            a[i] = (struct racer){.body = body[round], .go = &go};
            pthread_create(&th[i], NULL, race, &a[i]);
        }
        for (int i = 0; i < THREADS; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        for (int i = 0; i < THREADS; i++) {
            if (a[i].status == 201) {
                created++;
                first = i;
                cr_assert(!a[i].duplicate);
            } else {
                cr_assert_eq(a[i].status, 200, "round %d racer %d: %ld", round, i, a[i].status);
                cr_assert(a[i].duplicate, "round %d racer %d", round, i);
                dup++;
            }
        }
        cr_assert_eq(created, 1, "round %d: %d answers were 201", round, created);
        cr_assert_eq(dup, THREADS - 1);
        for (int i = 0; i < THREADS; i++) {
            cr_assert_str_eq(a[i].x.event, a[first].x.event);
            cr_assert_str_eq(a[i].x.conv, a[first].x.conv);
            cr_assert_str_eq(a[i].x.msg, a[first].x.msg);
            cr_assert_str_eq(a[i].x.req, a[first].x.req);
        }
        cr_assert_eq(strlen(a[first].x.req), 36, "a draft request was queued");
        cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE account_id = '%s' "
                              "AND delivery_id = '%s' AND status = 'succeeded'",
                              account, did),
                     1);
        cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE account_id = '%s' "
                              "AND external_id = '%s'",
                              account, ext),
                     1);
        cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests WHERE account_id = '%s' "
                              "AND message_id = '%s'",
                              account, a[first].x.msg),
                     1);
    }
    cr_assert_eq(events_of(account), ROUNDS);
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations WHERE account_id = '%s'", account),
                 1);
    /* Later repeats: the same answer, with duplicate: true. */
    {
        struct resp r;
        struct webhook_ids x;

        deliver("hookshop", "shop-secret", body[0], &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        cr_assert(json_is_true(json_object_get(r.json, "duplicate")));
        take_ids(&r, &x);
        resp_free(&r);
        cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE id = '%s' "
                              "AND result->>'messageId' = '%s'",
                              x.event, x.msg),
                     1);
    }
}

Test(webhooks, a_received_event_left_unprocessed_is_processed_by_the_next_delivery_of_its_id)
{
    char body[2048];
    struct resp r;
    struct webhook_ids x;

    webhook_delivery(body, sizeof(body), "d-1", "ZT-1", "m-1");
    /* As if the first delivery died between its two transactions. */
    {
        char q[8192];
        PGresult *res;

        snprintf(q, sizeof(q),
                 "INSERT INTO webhook_events (account_id, id, source, delivery_id, topic, "
                 "payload, raw_body) VALUES ('%s', inboxd_uuid7(), 'hookshop', 'd-1', "
                 "'message.created', $b$%s$b$::jsonb, $b$%s$b$)",
                 account, body, body);
        res = th_sql(&t, q);
        PQclear(res);
    }
    deliver("hookshop", "shop-secret", body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    take_ids(&r, &x);
    resp_free(&r);
    cr_assert_eq(events_of(account), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE id = '%s'", x.msg), 1);
}

/* --- validation, skipped topics, replay ---------------------------------------- */

Test(webhooks, an_invalid_delivery_is_stored_failed_and_replayed_after_the_fix)
{
    char body[2048], path[160], event[37], err[1024];
    struct resp r;
    struct webhook_ids x;

    snprintf(body, sizeof(body),
             "{\"deliveryId\":\"bad-1\",\"topic\":\"message.created\","
             "\"channel\":{\"type\":\"fax\",\"externalId\":\"zoho-support\"},"
             "\"conversation\":{\"externalId\":\"ZT-9\",\"customerEmail\":\"nope\"},"
             "\"message\":{\"externalId\":\"m-9\"}}");
    deliver("hookshop", "shop-secret", body, &r);
    expect_field(&r, "channel.type", NULL);
    expect_field(&r, "conversation.customerEmail", NULL);
    expect_field(&r, "message.bodyText", NULL);
    cr_assert_not_null(jstr(r.json, "eventId"), "%s", r.body);
    snprintf(event, sizeof(event), "%s", jstr(r.json, "eventId"));
    resp_free(&r);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM webhook_events WHERE account_id = '%s' AND id = '%s' "
                 "AND status = 'failed' AND delivery_id = 'bad-1' AND result IS NULL "
                 "AND processed_at IS NOT NULL",
                 account, event),
        1);
    sql_text(err, sizeof(err), "SELECT error FROM webhook_events WHERE id = '%s'", event);
    cr_assert(strstr(err, "channel.type") && strstr(err, "message.bodyText"), "%s", err);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages"), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM channels"), 0);

    /* Delivered again: the same failure and event, nothing new stored. */
    deliver("hookshop", "shop-secret", body, &r);
    expect_field(&r, "message.bodyText", NULL);
    cr_assert_str_eq(jstr(r.json, "eventId"), event);
    resp_free(&r);
    cr_assert_eq(events_of(account), 1);

    /* The event log lists it as failed. */
    th_get(&t, "/v1/webhooks/events?status=failed", reader, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "items"), 0), "error"), err);
    resp_free(&r);

    /* Replay needs admin; replaying the unfixed payload fails again. */
    snprintf(path, sizeof(path), "/v1/webhooks/events/%s/replay", event);
    th_post(&t, path, reader, NULL, &r);
    expect_problem(&r, 403);
    resp_free(&r);
    th_post(&t, path, key, NULL, &r);
    expect_field(&r, "channel.type", NULL);
    resp_free(&r);

    /* An operator fixes the stored payload; the replay processes it. */
    {
        char q[1024];

        snprintf(q, sizeof(q),
                 "UPDATE webhook_events SET payload = jsonb_set(jsonb_set(jsonb_set(payload, "
                 "'{channel,type}', '\"email\"'), '{conversation,customerEmail}', "
                 "'\"anna@example.com\"'), '{message,bodyText}', '\"fixed text\"') "
                 "WHERE id = '%s'",
                 event);
        PQclear(th_sql(&t, q));
    }
    th_post(&t, path, key, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(json_is_false(json_object_get(r.json, "duplicate")));
    take_ids(&r, &x);
    resp_free(&r);
    cr_assert_str_eq(x.event, event);
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE id = '%s' AND status = "
                          "'succeeded' AND error IS NULL AND result->>'messageId' = '%s'",
                          event, x.msg),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE account_id = '%s' AND id = '%s' "
                          "AND body_text = 'fixed text' AND external_id = 'm-9'",
                          account, x.msg),
                 1);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM draft_requests WHERE id = '%s' AND message_id = '%s'", x.req,
                 x.msg),
        1);
    /* Audited as a replay by the admin key. */
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'webhook_event.replay' "
                          "AND resource_id = '%s' AND actor_key_id IS NOT NULL",
                          event),
                 2);

    /* Processed now: a second replay is a 409, a redelivery the duplicate. */
    th_post(&t, path, key, NULL, &r);
    expect_problem(&r, 409);
    resp_free(&r);
    deliver("hookshop", "shop-secret", body, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(json_is_true(json_object_get(r.json, "duplicate")));
    cr_assert_str_eq(jstr(r.json, "messageId"), x.msg);
    resp_free(&r);

    /* Another account's key, or no such event: 404. */
    th_post(&t, path, key_b, NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_post(&t, "/v1/webhooks/events/0190d6a0-0000-7000-8000-000000000000/replay", key, NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
}

/* A delivery with an invalid payload; returns its event id in event. */
static void
failed_delivery(const char *delivery_id, const char *conv_ext, char event[37])
{
    char body[1024];
    struct resp r;

    snprintf(body, sizeof(body),
             "{\"deliveryId\":\"%s\",\"topic\":\"message.created\","
             "\"channel\":{\"type\":\"fax\",\"externalId\":\"zoho-support\"},"
             "\"conversation\":{\"externalId\":\"%s\"},"
             "\"message\":{\"externalId\":\"m-%s\",\"metadata\":{\"score\":0.82}}}",
             delivery_id, conv_ext, delivery_id);
    deliver("hookshop", "shop-secret", body, &r);
    expect_field(&r, "message.bodyText", NULL);
    snprintf(event, 37, "%s", jstr(r.json, "eventId"));
    resp_free(&r);
}

/* The corrected payload of failed_delivery(delivery_id, conv_ext). */
static void
corrected_body(char *out, size_t n, const char *delivery_id, const char *conv_ext,
               const char *body_text)
{
    snprintf(out, n,
             "{\"payload\":{\"deliveryId\":\"%s\",\"topic\":\"message.created\","
             "\"channel\":{\"type\":\"email\",\"externalId\":\"zoho-support\"},"
             "\"conversation\":{\"externalId\":\"%s\"},"
             "\"message\":{\"externalId\":\"m-%s\",\"bodyText\":\"%s\","
             "\"metadata\":{\"score\":0.82,\"n\":12345678901234567}}}}",
             delivery_id, conv_ext, delivery_id, body_text);
}

Test(webhooks, a_replay_with_a_corrected_payload_keeps_the_original_and_audits_the_change)
{
    char event[37], path[160], body[2048], original[2048], text[2048];
    struct webhook_ids x;
    struct resp r;

    failed_delivery("fix-1", "ZT-F1", event);
    sql_text(original, sizeof(original), "SELECT payload::text FROM webhook_events WHERE id = '%s'",
             event);
    snprintf(path, sizeof(path), "/v1/webhooks/events/%s/replay", event);

    /* A correction is validated as a delivery is, its fields named from the
     * replay's body; a failed one changes nothing. */
    th_post(&t, path, key,
            "{\"payload\":{\"deliveryId\":\"fix-1\",\"topic\":\"message.created\","
            "\"channel\":{\"type\":\"fax\",\"externalId\":\"x\"},\"conversation\":{},"
            "\"message\":{\"externalId\":\"m\",\"bodyText\":\"t\",\"extra\":1}}}",
            &r);
    expect_fields(&r, (const char *const[]){"payload.channel.type",
                                            "payload.conversation.externalId",
                                            "payload.message.extra", NULL});
    cr_assert_str_eq(jstr(r.json, "eventId"), event);
    resp_free(&r);
    th_post(&t, path, key, "{\"payloads\":{}}", &r);
    expect_field(&r, "payloads", NULL);
    resp_free(&r);
    th_post(&t, path, key, "{\"payload\":[1]}", &r);
    expect_field(&r, "payload", NULL);
    resp_free(&r);
    th_post(&t, path, key, "{\"payload\":{\"deliveryId\":\"fix-1\",\"topic\":\"x\\u0000\"}}", &r);
    expect_field(&r, "payload", NULL);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE id = '%s' AND status = "
                          "'failed' AND corrected_payload IS NULL AND corrected_at IS NULL",
                          event),
                 1);
    cr_assert_eq(audit_count("webhook_event.correct", event), 0);
    cr_assert_eq(audit_count("webhook_event.replay", event), 0);

    /* A valid correction is processed; the delivery stays as it came. */
    corrected_body(body, sizeof(body), "fix-1", "ZT-F1", "the corrected text");
    th_post(&t, path, key, body, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(json_is_false(json_object_get(r.json, "duplicate")));
    take_ids(&r, &x);
    resp_free(&r);
    cr_assert_str_eq(x.event, event);
    sql_text(text, sizeof(text), "SELECT payload::text FROM webhook_events WHERE id = '%s'", event);
    cr_assert_str_eq(text, original, "the original payload is kept");
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE id = '%s' AND status = "
                          "'succeeded' AND corrected_at IS NOT NULL AND raw_body LIKE '%%fax%%' "
                          "AND corrected_payload->'message'->>'bodyText' = 'the corrected text'",
                          event),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE id = '%s' "
                          "AND body_text = 'the corrected text' AND metadata::text = "
                          "'{\"n\": 12345678901234567, \"score\": 0.82}'",
                          x.msg),
                 1, "the corrected payload's numbers are stored as sent");
    /* Audited: who (the admin key) and what (the request body's hash). */
    cr_assert_eq(audit_count("webhook_event.correct", event), 1);
    cr_assert_eq(audit_count("webhook_event.replay", event), 1);
    {
        const char *p[] = {event, body};

        cr_assert_eq(sqlp_long("SELECT count(*) FROM audit_log WHERE action = "
                               "'webhook_event.correct' AND resource_id = $1 "
                               "AND actor_key_id IS NOT NULL "
                               "AND request_hash = encode(sha256(convert_to($2, 'UTF8')), 'hex')",
                               2, p),
                     1);
    }

    /* The event shows both payloads, each as it was sent. */
    snprintf(text, sizeof(text), "/v1/webhooks/events/%s", event);
    th_get(&t, text, reader, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(json_object_get(r.json, "payload"), "channel.type"), "fax");
    cr_assert_str_eq(jstr(json_object_get(r.json, "correctedPayload"), "channel.type"), "email");
    cr_assert_not_null(strstr(r.body, "\"score\": 0.82") ? r.body : strstr(r.body, "\"score\":0.82"),
                       "%s", r.body);
    cr_assert_not_null(jstr(r.json, "correctedAt"));
    resp_free(&r);

    /* Processed now: another correction is a 409, and so is a plain replay
     * (a null payload is no correction). */
    th_post(&t, path, key, body, &r);
    expect_problem(&r, 409);
    resp_free(&r);
    th_post(&t, path, key, "{\"payload\":null}", &r);
    expect_problem(&r, 409);
    resp_free(&r);
    cr_assert_eq(audit_count("webhook_event.correct", event), 1);
}

Test(webhooks, a_correction_whose_processing_fails_changes_nothing)
{
    char event[37], path[160], body[2048];
    struct resp r;

    failed_delivery("fix-2", "ZT-F2", event);
    /* The conversation the correction names exists, then is deleted. */
    webhook_delivery(body, sizeof(body), "fix-2-ok", "ZT-F2", "m-ok");
    deliver("hookshop", "shop-secret", body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    sql_exec("UPDATE conversations SET deleted_at = now() WHERE external_id = 'ZT-F2'");

    snprintf(path, sizeof(path), "/v1/webhooks/events/%s/replay", event);
    corrected_body(body, sizeof(body), "fix-2", "ZT-F2", "too late");
    th_post(&t, path, key, body, &r);
    expect_problem(&r, 409);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE id = '%s' AND status = "
                          "'failed' AND corrected_payload IS NULL AND error LIKE '%%bodyText%%'",
                          event),
                 1, "the event stays as it was");
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE body_text = 'too late'"), 0);
    cr_assert_eq(audit_count("webhook_event.correct", event), 0);
}

Test(webhooks, missing_delivery_id_or_topic_is_stored_failed)
{
    struct resp r;

    deliver("hookshop", "shop-secret", "{\"topic\":7}", &r);
    expect_field(&r, "deliveryId", NULL);
    expect_field(&r, "topic", NULL);
    cr_assert_not_null(jstr(r.json, "eventId"));
    resp_free(&r);
    /* Twice: no deliveryId, no deduplication, two events. */
    deliver("hookshop", "shop-secret", "{\"topic\":7}", &r);
    expect_problem(&r, 422);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE account_id = '%s' AND "
                          "status = 'failed' AND delivery_id IS NULL AND topic IS NULL "
                          "AND payload = '{\"topic\":7}'",
                          account),
                 2);
}

Test(webhooks, a_nul_character_is_a_422_kept_as_raw_text)
{
    const char *body = "{\"deliveryId\":\"nul-1\",\"topic\":\"message.created\","
                       "\"channel\":{\"type\":\"email\",\"externalId\":\"c\"},"
                       "\"conversation\":{\"externalId\":\"ZT-1\"},"
                       "\"message\":{\"externalId\":\"m\",\"bodyText\":\"a\\u0000b\"}}";
    struct resp r;
    char path[160];

    deliver("hookshop", "shop-secret", body, &r);
    expect_field(&r, "message.bodyText", NULL);
    snprintf(path, sizeof(path), "/v1/webhooks/events/%s", jstr(r.json, "eventId"));
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE status = 'failed' "
                          "AND payload IS NULL AND raw_body = $b$%s$b$",
                          body),
                 1);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(json_is_null(json_object_get(r.json, "payload")));
    resp_free(&r);
}

/* Unknown members are refused on every route (README "Request bodies"),
 * at every depth of a message.created delivery; the delivery is kept as a
 * failed event. metadata is free-form and takes any member. */
Test(webhooks, an_unknown_member_of_a_message_created_delivery_is_a_422)
{
    const char *body = "{\"deliveryId\":\"unk-1\",\"topic\":\"message.created\",\"extra\":1,"
                       "\"channel\":{\"type\":\"email\",\"externalId\":\"c\",\"colour\":\"red\"},"
                       "\"conversation\":{\"externalId\":\"ZT-1\"},"
                       "\"message\":{\"externalId\":\"m\",\"bodyText\":\"hi\",\"bodyTxt\":\"x\","
                       "\"metadata\":{\"anything\":1},"
                       "\"attachments\":[{\"fileName\":\"a\",\"mimeType\":\"t/p\",\"sizeBytes\":1,"
                       "\"fileUrl\":\"https://x/a\",\"sha\":\"1\"}]}}";
    struct resp r;

    deliver("hookshop", "shop-secret", body, &r);
    expect_fields(&r, (const char *const[]){"extra", "channel.colour", "message.bodyTxt",
                                            "message.attachments[0].sha", NULL});
    cr_assert_not_null(jstr(r.json, "eventId"));
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE delivery_id = 'unk-1' "
                          "AND status = 'failed'"),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages"), 0);
}

Test(webhooks, a_delivery_into_a_deleted_conversation_is_409_and_kept_failed)
{
    char body[2048], path[160];
    struct resp r;
    struct webhook_ids x;

    webhook_delivery(body, sizeof(body), "d-1", "ZT-1", "m-1");
    deliver("hookshop", "shop-secret", body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    take_ids(&r, &x);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/conversations/%s", x.conv);
    th_http(&t, "DELETE", path, key, NULL, NULL, &r);
    cr_assert_eq(r.status, 204, "%s", r.body);
    resp_free(&r);

    webhook_delivery(body, sizeof(body), "d-2", "ZT-1", "m-2");
    deliver("hookshop", "shop-secret", body, &r);
    expect_problem(&r, 409);
    cr_assert_not_null(jstr(r.json, "eventId"), "%s", r.body);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE delivery_id = 'd-2' "
                          "AND status = 'failed' AND error LIKE '%%deleted conversation%%'"),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages"), 1);
    /* Its redelivery answers the stored failure. */
    deliver("hookshop", "shop-secret", body, &r);
    expect_problem(&r, 409);
    resp_free(&r);
}

Test(webhooks, another_topic_is_stored_skipped_with_null_ids)
{
    /* Another topic's data is not read: nothing in it is "unknown". */
    const char *body = "{\"deliveryId\":\"s-1\",\"topic\":\"conversation.closed\","
                       "\"conversation\":{\"externalId\":\"ZT-1\",\"closedBy\":\"x\"},\"extra\":1}";
    struct resp r;

    deliver("hookshop", "shop-secret", body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert(json_is_null(json_object_get(r.json, "conversationId")));
    cr_assert(json_is_null(json_object_get(r.json, "messageId")));
    cr_assert(json_is_null(json_object_get(r.json, "draftRequestId")));
    cr_assert(json_is_false(json_object_get(r.json, "duplicate")));
    resp_free(&r);
    deliver("hookshop", "shop-secret", body, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(json_is_true(json_object_get(r.json, "duplicate")));
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE status = 'skipped' "
                          "AND topic = 'conversation.closed' AND result IS NOT NULL"),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations"), 0);
}

/* --- the event log ------------------------------------------------------------- */

Test(webhooks, events_list_oldest_first_with_filters_and_pages)
{
    char body[2048], did[16], ext[16], cursor[256], path[400];
    struct resp r;

    for (int i = 0; i < 5; i++) {
        snprintf(did, sizeof(did), "p-%d", i);
        snprintf(ext, sizeof(ext), "m-%d", i);
        webhook_delivery(body, sizeof(body), did, "ZT-1", ext);
        deliver(i == 4 ? "rot" : "hookshop", i == 4 ? "rot-new" : "shop-secret", body, &r);
        cr_assert_eq(r.status, 201, "%s", r.body);
        resp_free(&r);
    }
    th_get(&t, "/v1/webhooks/events?limit=2", reader, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 2);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "items"), 0), "deliveryId"),
                     "p-0");
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "items"), 1), "deliveryId"),
                     "p-1");
    snprintf(cursor, sizeof(cursor), "%s", jstr(r.json, "nextCursor"));
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/webhooks/events?limit=2&cursor=%s", cursor);
    th_get(&t, path, reader, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "items"), 0), "deliveryId"),
                     "p-2");
    resp_free(&r);
    th_get(&t, "/v1/webhooks/events?source=rot", reader, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "items"), 0), "deliveryId"),
                     "p-4");
    resp_free(&r);
    th_get(&t, "/v1/webhooks/events?source=hookshop&status=succeeded", reader, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 4, "%s", r.body);
    resp_free(&r);
    th_get(&t, "/v1/webhooks/events?status=skipped", reader, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0, "%s", r.body);
    resp_free(&r);

    /* Bad query parameters are 400s naming them. */
    {
        static const char *const bad[] = {"/v1/webhooks/events?status=done",
                                          "/v1/webhooks/events?source=a%20b",
                                          "/v1/webhooks/events?source=",
                                          "/v1/webhooks/events?limit=0",
                                          "/v1/webhooks/events?cursor=garbage",
                                          "/v1/webhooks/registry?limit=x",
                                          NULL};

        for (int i = 0; bad[i]; i++) {
            th_get(&t, bad[i], reader, &r);
            expect_problem(&r, 400);
            resp_free(&r);
        }
    }
    /* Unknown ids are 404; a malformed one too (the router's rule). */
    th_get(&t, "/v1/webhooks/events/0190d6a0-0000-7000-8000-000000000000", reader, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    /* No key, no events. */
    th_get(&t, "/v1/webhooks/events", NULL, &r);
    expect_problem(&r, 401);
    resp_free(&r);
}

Test(webhooks, a_source_bound_to_b_writes_only_into_b_and_b_events_are_invisible_to_a)
{
    char body[2048], path[160];
    struct resp r;
    struct webhook_ids x;

    webhook_delivery(body, sizeof(body), "d-1", "ZT-1", "m-1");
    deliver("other", "other-secret", body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    take_ids(&r, &x);
    resp_free(&r);
    /* Everything it made is B's. */
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE account_id = '%s'", account_b),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE account_id = '%s' AND id = '%s'",
                          account_b, x.msg),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM channels WHERE account_id = '%s'", account_b), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE account_id = '%s'", account), 0);
    cr_assert_eq(events_of(account), 0);
    /* The same delivery id at A's source is another delivery. */
    deliver("hookshop", "shop-secret", body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_str_neq(jstr(r.json, "eventId"), x.event);
    resp_free(&r);

    /* A sees only its own. */
    th_get(&t, "/v1/webhooks/events", key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1, "%s", r.body);
    cr_assert_str_neq(jstr(json_array_get(json_object_get(r.json, "items"), 0), "id"), x.event);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/webhooks/events/%s", x.event);
    th_get(&t, path, key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_get(&t, path, key_b, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/messages/%s", x.msg);
    th_get(&t, path, key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_get(&t, "/v1/webhooks/diagnostics", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1, "%s", r.body);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "items"), 0), "source"),
                     "hookshop");
    resp_free(&r);
}

/* --- registry and diagnostics -------------------------------------------------- */

Test(webhooks, registry_put_get_delete_with_a_topic_key_holding_a_slash)
{
    struct resp r;
    const json_t *items;
    char id[37], cursor[256], path[400];

    th_http(&t, "PUT", "/v1/webhooks/registry/shopify/orders/create", key,
            "{\"deliveryMethod\":\"http\",\"callbackUrl\":\"https://sync.example/shopify\","
            "\"lastHandshakeAt\":\"2026-11-22T11:00:00+01:00\",\"lastHandshakeResult\":\"ok\"}",
            NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "source"), "shopify");
    cr_assert_str_eq(jstr(r.json, "topicKey"), "orders/create");
    cr_assert_str_eq(jstr(r.json, "lastHandshakeAt"), "2026-11-22T10:00:00.000Z");
    snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
    resp_free(&r);
    /* The same key percent-encoded replaces it, whole. */
    th_http(&t, "PUT", "/v1/webhooks/registry/shopify/orders%2Fcreate", key,
            "{\"deliveryMethod\":\"pubsub\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "id"), id);
    cr_assert_str_eq(jstr(r.json, "deliveryMethod"), "pubsub");
    cr_assert(json_is_null(json_object_get(r.json, "callbackUrl")));
    cr_assert(json_is_null(json_object_get(r.json, "lastHandshakeAt")));
    resp_free(&r);
    th_http(&t, "PUT", "/v1/webhooks/registry/zoho/message.created", key,
            "{\"deliveryMethod\":\"http\",\"callbackUrl\":null}", NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    th_http(&t, "PUT", "/v1/webhooks/registry/intercom/conversation.user.replied", key,
            "{\"deliveryMethod\":\"http\"}", NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);

    /* Listed by source, then topic key, page by page. */
    th_get(&t, "/v1/webhooks/registry?limit=2", reader, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 2);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "source"), "intercom");
    cr_assert_str_eq(jstr(json_array_get(items, 1), "source"), "shopify");
    cr_assert_str_eq(jstr(json_array_get(items, 1), "topicKey"), "orders/create");
    snprintf(cursor, sizeof(cursor), "%s", jstr(r.json, "nextCursor"));
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/webhooks/registry?limit=2&cursor=%s", cursor);
    th_get(&t, path, reader, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 1, "%s", r.body);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "source"), "zoho");
    cr_assert(json_is_null(json_object_get(r.json, "nextCursor")));
    resp_free(&r);

    /* Writes need admin; bodies are validated. */
    th_http(&t, "PUT", "/v1/webhooks/registry/zoho/x", reader, "{\"deliveryMethod\":\"http\"}",
            NULL, &r);
    expect_problem(&r, 403);
    resp_free(&r);
    th_http(&t, "PUT", "/v1/webhooks/registry/zoho/x", key,
            "{\"callbackUrl\":\"not a url\",\"lastHandshakeAt\":\"yesterday\",\"extra\":1}", NULL,
            &r);
    expect_field(&r, "deliveryMethod", NULL);
    expect_field(&r, "callbackUrl", NULL);
    expect_field(&r, "lastHandshakeAt", NULL);
    expect_field(&r, "extra", NULL);
    resp_free(&r);
    th_http(&t, "PUT", "/v1/webhooks/registry/zo%20ho/x", key, "{\"deliveryMethod\":\"http\"}",
            NULL, &r);
    expect_problem(&r, 400);
    resp_free(&r);

    /* Delete: 204, then 404; another account cannot. */
    th_http(&t, "DELETE", "/v1/webhooks/registry/shopify/orders%2Fcreate", key_b, NULL, NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_http(&t, "DELETE", "/v1/webhooks/registry/shopify/orders%2Fcreate", key, NULL, NULL, &r);
    cr_assert_eq(r.status, 204, "%s", r.body);
    resp_free(&r);
    th_http(&t, "DELETE", "/v1/webhooks/registry/shopify/orders/create", key, NULL, NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM webhook_subscriptions WHERE account_id = '%s'", account), 2);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE account_id = '%s' "
                          "AND action LIKE 'webhook_subscription.%%'",
                          account),
                 5);
    /* Literal paths are not shadowed by POST /v1/webhooks/{source}. */
    th_http(&t, "PATCH", "/v1/webhooks/registry", key, NULL, NULL, &r);
    expect_problem(&r, 405);
    resp_free(&r);
}

Test(webhooks, diagnostics_count_by_status_per_source_and_topic)
{
    char body[2048];
    struct resp r;
    const json_t *items, *it, *counts;

    th_http(&t, "PUT", "/v1/webhooks/registry/hookshop/message.created", key,
            "{\"deliveryMethod\":\"http\"}", NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    th_http(&t, "PUT", "/v1/webhooks/registry/shopify/orders/create", key,
            "{\"deliveryMethod\":\"http\"}", NULL, &r);
    resp_free(&r);
    for (int i = 0; i < 3; i++) {
        char did[16], ext[16];

        snprintf(did, sizeof(did), "ok-%d", i);
        snprintf(ext, sizeof(ext), "m-%d", i);
        webhook_delivery(body, sizeof(body), did, "ZT-1", ext);
        deliver("hookshop", "shop-secret", body, &r);
        cr_assert_eq(r.status, 201, "%s", r.body);
        resp_free(&r);
    }
    deliver("hookshop", "shop-secret", "{\"deliveryId\":\"f-1\",\"topic\":\"message.created\"}",
            &r);
    expect_problem(&r, 422);
    resp_free(&r);
    deliver("hookshop", "shop-secret", "{\"deliveryId\":\"s-1\",\"topic\":\"ticket.closed\"}", &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    /* One success two days ago: not counted, but the latest of its topic is. */
    PQclear(th_sql(&t, "UPDATE webhook_events SET received_at = now() - interval '2 days' "
                       "WHERE delivery_id = 'ok-0'"));
    PQclear(th_sql(&t, "UPDATE webhook_events SET received_at = now() - interval '3 days' "
                       "WHERE delivery_id = 's-1'"));

    th_get(&t, "/v1/webhooks/diagnostics", reader, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    items = json_object_get(r.json, "items");
    /* hookshop/message.created, shopify/orders/create; ticket.closed is
     * older than 24 h and has no registry entry. */
    cr_assert_eq(json_array_size(items), 2, "%s", r.body);
    it = json_array_get(items, 0);
    cr_assert_str_eq(jstr(it, "source"), "hookshop");
    cr_assert_str_eq(jstr(it, "topic"), "message.created");
    cr_assert_str_eq(jstr(json_object_get(it, "subscription"), "deliveryMethod"), "http");
    cr_assert_not_null(jstr(it, "lastDeliveryAt"));
    counts = json_object_get(it, "counts");
    cr_assert_eq(json_integer_value(json_object_get(counts, "succeeded")), 2, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(counts, "failed")), 1, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(counts, "received")), 0);
    cr_assert_eq(json_integer_value(json_object_get(counts, "skipped")), 0);
    it = json_array_get(items, 1);
    cr_assert_str_eq(jstr(it, "source"), "shopify");
    cr_assert_str_eq(jstr(it, "topic"), "orders/create");
    cr_assert(json_is_null(json_object_get(it, "lastDeliveryAt")));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(it, "counts"), "succeeded")),
                 0);
    resp_free(&r);
    /* A topic delivered in the last 24 h without a registry entry. */
    PQclear(th_sql(&t, "UPDATE webhook_events SET received_at = now() WHERE delivery_id = 's-1'"));
    th_get(&t, "/v1/webhooks/diagnostics", reader, &r);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 3, "%s", r.body);
    it = json_array_get(items, 1);
    cr_assert_str_eq(jstr(it, "topic"), "ticket.closed");
    cr_assert(json_is_null(json_object_get(it, "subscription")));
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(it, "counts"), "skipped")), 1);
    resp_free(&r);
    th_get(&t, "/v1/webhooks/diagnostics", key_b, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0, "%s", r.body);
    resp_free(&r);
}
