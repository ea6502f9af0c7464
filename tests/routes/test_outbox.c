/*
 * test_outbox: outbound delivery (API.md "Outbound delivery (sync
 * service)", issue #4 "Outbound"): claim order, limit and channel filter,
 * lease expiry, concurrent claimers, delivered, failed with backoff and the
 * attempt limit, validation, the list, tenancy, scopes and audit rows.
 *
 * Conversations and outbound messages are made with SQL (the message
 * routes are tested in their own suite); everything under test goes
 * through HTTP, and every test checks the database as well as the answer.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"

/* outbox_max_attempts 3 so the attempt limit is reached in three rounds;
 * a 40 s backoff is long enough to tell "not yet" from "due". */
static void
setup(void)
{
    static const char *const settings[] = {"outbox_max_attempts=3", "outbox_backoff_s=40", NULL};

    fx_start(NULL, settings);
}

TestSuite(outbox, .init = setup, .fini = fx_teardown, .timeout = 120);

/* --- helpers --------------------------------------------------------------- */

/* An outbound message in the outbox (pending), created `age` seconds ago,
 * which is also when it becomes claimable. */
static void
mk_out(const char *acct, const char *conv, int age, char id[37])
{
    sql_text(id, 37,
             "INSERT INTO messages (account_id, id, conversation_id, direction, body_text, "
             "                      delivery_status, created_at, updated_at) "
             "VALUES ('%s', inboxd_uuid7(), '%s', 'outbound', 'Reply %d', 'pending', "
             "        now() - interval '%d seconds', now() - interval '%d seconds') RETURNING id",
             acct, conv, age, age, age);
}

static void
mk_in(const char *acct, const char *conv, const char *ext, int age, char id[37])
{
    sql_text(id, 37,
             "INSERT INTO messages (account_id, id, conversation_id, external_id, direction, "
             "                      body_text, created_at) "
             "VALUES ('%s', inboxd_uuid7(), '%s', '%s', 'inbound', 'Question', "
             "        now() - interval '%d seconds') RETURNING id",
             acct, conv, ext, age);
}

/* A channel, a conversation in it and n pending outbound messages, oldest
 * first in ids[]. */
static void
mk_outbox(const char *acct, const char *type, const char *ext, int n, char ids[][37], char conv[37])
{
    char ch[37];

    mk_channel(acct, type, ext, ch);
    mk_conv(acct, ch, ext, conv);
    for (int i = 0; i < n; i++)
        mk_out(acct, conv, 1000 - i * 10, ids[i]);
}

static void
claim(const char *k, int limit, int lease, const char *type, struct resp *r)
{
    char body[200];

    if (type)
        snprintf(body, sizeof(body),
                 "{\"limit\": %d, \"leaseSeconds\": %d, \"channelType\": \"%s\"}", limit, lease,
                 type);
    else
        snprintf(body, sizeof(body), "{\"limit\": %d, \"leaseSeconds\": %d}", limit, lease);
    th_post(&t, "/v1/outbox/claim", k, body, r);
}

/* Claims and asserts a 200 with exactly n items. */
static json_t *
claim_n(const char *k, int limit, int lease, const char *type, size_t n, struct resp *r)
{
    json_t *items;

    claim(k, limit, lease, type, r);
    cr_assert_eq(r->status, 200, "claim: %ld %s", r->status, r->body);
    items = json_object_get(r->json, "items");
    cr_assert(json_is_array(items), "%s", r->body);
    cr_assert_eq(json_array_size(items), n, "claimed %zu, expected %zu: %s", json_array_size(items),
                 n, r->body);
    return items;
}

static void
report(const char *k, const char *id, const char *what, const char *body, struct resp *r)
{
    char path[128];

    snprintf(path, sizeof(path), "/v1/outbox/%s/%s", id, what);
    th_post(&t, path, k, body, r);
}

static const json_t *
delivery(const json_t *msg)
{
    const json_t *d = json_object_get(msg, "delivery");

    cr_assert(json_is_object(d), "message without delivery");
    return d;
}

/* --- claim ----------------------------------------------------------------- */

Test(outbox, claim_leases_oldest_first_up_to_the_limit_with_conversation_and_channel)
{
    char ids[3][37], conv[37], in[37], done[37];
    struct resp r;
    json_t *items, *it;
    size_t i;

    mk_outbox(account, "email", "zoho-support", 3, ids, conv);
    mk_in(account, conv, "in-1", 2000, in); /* older, but inbound: never in the outbox */
    mk_out(account, conv, 3000, done);      /* older, but already delivered */
    PQclear(sql_query("UPDATE messages SET delivery_status = 'delivered', delivered_at = now() "
                      "WHERE id = '%s'",
                      done));

    items = claim_n(key, 2, 120, NULL, 2, &r);
    json_array_foreach (items, i, it) {
        const json_t *cv = json_object_get(it, "conversation");
        const json_t *ch = json_object_get(it, "channel");

        cr_assert_str_eq(jstr(it, "id"), ids[i], "oldest first");
        cr_assert_str_eq(jstr(it, "direction"), "outbound");
        cr_assert_str_eq(jstr(it, "conversationId"), conv);
        cr_assert(json_is_array(json_object_get(it, "attachments")));
        cr_assert_str_eq(jstr(delivery(it), "status"), "leased");
        cr_assert_eq(json_integer_value(json_object_get(delivery(it), "attempts")), 1);
        cr_assert(json_is_null(json_object_get(delivery(it), "lastError")));
        cr_assert(json_is_null(json_object_get(delivery(it), "deliveredAt")));
        cr_assert_str_eq(jstr(cv, "id"), conv);
        cr_assert_str_eq(jstr(cv, "externalId"), "zoho-support");
        cr_assert_str_eq(jstr(ch, "externalId"), "zoho-support");
        cr_assert_str_eq(jstr(ch, "type"), "email");
        cr_assert_str_eq(jstr(ch, "id"), jstr(cv, "channelId"));
    }
    resp_free(&r);
    /* The database agrees: two leased for ~120 s, the third untouched. */
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE id IN ('%s', '%s') "
                          "AND delivery_status = 'leased' AND delivery_attempts = 1 "
                          "AND lease_expires_at BETWEEN now() + interval '115 s' "
                          "                         AND now() + interval '121 s'",
                          ids[0], ids[1]),
                 2);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE id = '%s' "
                          "AND delivery_status = 'pending' AND delivery_attempts = 0",
                          ids[2]),
                 1);

    items = claim_n(key, 50, 120, NULL, 1, &r);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), ids[2]);
    resp_free(&r);
    claim_n(key, 50, 120, NULL, 0, &r);
    resp_free(&r);
    cr_assert_eq(
        sql_long(
            "SELECT count(*) FROM messages WHERE id IN ('%s', '%s') "
            "AND delivery_status IS NOT DISTINCT FROM "
            "    CASE direction WHEN 'inbound' THEN NULL ELSE 'delivered'::delivery_status END "
            "AND delivery_attempts = 0",
            in, done),
        2, "inbound and delivered messages are never claimed");
}

Test(outbox, claim_filters_by_channel_type)
{
    char mail[2][37], shop[2][37], cmail[37], cshop[37];
    struct resp r;
    json_t *items, *it;
    size_t i;

    mk_outbox(account, "email", "mailbox", 2, mail, cmail);
    mk_outbox(account, "shopify", "shop", 2, shop, cshop);

    items = claim_n(key, 10, 60, "shopify", 2, &r);
    json_array_foreach (items, i, it) {
        cr_assert_str_eq(jstr(it, "id"), shop[i]);
        cr_assert_str_eq(jstr(json_object_get(it, "channel"), "type"), "shopify");
        cr_assert_str_eq(jstr(json_object_get(it, "conversation"), "id"), cshop);
    }
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE conversation_id = '%s' "
                          "AND delivery_status = 'pending'",
                          cmail),
                 2, "the email messages stay pending");
    claim_n(key, 10, 60, "slack", 0, &r);
    resp_free(&r);
    claim_n(key, 10, 60, "shopify", 0, &r);
    resp_free(&r);
    items = claim_n(key, 10, 60, "email", 2, &r);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), mail[0]);
    resp_free(&r);
}

Test(outbox, an_expired_lease_makes_a_message_claimable_again)
{
    char ids[1][37], conv[37];
    struct resp r;
    json_t *items;

    mk_outbox(account, "chat", "chat-1", 1, ids, conv);
    claim_n(key, 5, 1, NULL, 1, &r);
    resp_free(&r);
    claim_n(key, 5, 60, NULL, 0, &r); /* the lease is still running */
    resp_free(&r);
    sql_exec("UPDATE messages SET lease_expires_at = now() - interval '1 second' WHERE id = '%s'",
             ids[0]);
    items = claim_n(key, 5, 60, NULL, 1, &r);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), ids[0]);
    cr_assert_eq(
        json_integer_value(json_object_get(delivery(json_array_get(items, 0)), "attempts")), 2);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE id = '%s' AND delivery_status = "
                          "'leased' AND delivery_attempts = 2 AND lease_expires_at > now() + "
                          "interval '55 s'",
                          ids[0]),
                 1);
}

Test(outbox, messages_of_a_soft_deleted_conversation_are_not_claimed)
{
    char ids[2][37], conv[37];
    struct resp r;

    mk_outbox(account, "email", "gone", 2, ids, conv);
    PQclear(sql_query("UPDATE conversations SET deleted_at = now() WHERE id = '%s'", conv));
    claim_n(key, 10, 60, NULL, 0, &r);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE delivery_status = 'pending'"), 2);
}

/* --- concurrent claimers --------------------------------------------------- */

#define RACE_MESSAGES 100
#define RACE_THREADS 4
#define RACE_LIMIT 5

struct racer {
    pthread_barrier_t *start;
    char ids[RACE_MESSAGES][37];
    int n;
    int claims;
    int bad;
};

static void *
race_thread(void *arg)
{
    struct racer *z = arg;

    pthread_barrier_wait(z->start);
    for (;;) {
        struct resp r;
        json_t *items, *it;
        size_t i;

        claim(key, RACE_LIMIT, 300, NULL, &r);
        z->claims++;
        items = json_object_get(r.json, "items");
        if (r.status != 200 || !json_is_array(items)) {
            z->bad++;
            resp_free(&r);
            break;
        }
        if (json_array_size(items) == 0) {
            resp_free(&r);
            break;
        }
        json_array_foreach (items, i, it) {
            if (z->n < RACE_MESSAGES && jstr(it, "id"))
                snprintf(z->ids[z->n++], 37, "%s", jstr(it, "id"));
            else
                z->bad++;
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

Test(outbox, concurrent_claimers_never_share_a_message_and_get_each_once)
{
    static struct racer z[RACE_THREADS];
    static char all[RACE_THREADS * RACE_MESSAGES][37];
    static char ids[RACE_MESSAGES][37];
    pthread_barrier_t start;
    pthread_t th[RACE_THREADS];
    char conv[37];
    int total = 0, claims = 0;

    mk_outbox(account, "email", "busy", RACE_MESSAGES, ids, conv);
    memset(z, 0, sizeof(z));
    pthread_barrier_init(&start, NULL, RACE_THREADS);
    for (int i = 0; i < RACE_THREADS; i++) {
        z[i].start = &start;
        pthread_create(&th[i], NULL, race_thread, &z[i]);
    }
    for (int i = 0; i < RACE_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < RACE_THREADS; i++) {
        cr_assert_eq(z[i].bad, 0, "thread %d had failed claims", i);
        claims += z[i].claims;
        for (int j = 0; j < z[i].n; j++)
            memcpy(all[total++], z[i].ids[j], 37);
    }
    cr_log_info("%d threads made %d claims of up to %d", RACE_THREADS, claims, RACE_LIMIT);
    cr_assert_eq(total, RACE_MESSAGES, "claimed %d of %d", total, RACE_MESSAGES);
    qsort(all, (size_t)total, 37, cmp_id);
    for (int i = 1; i < total; i++)
        cr_assert_str_neq(all[i - 1], all[i], "message %s leased twice", all[i]);
    /* Each message was leased exactly once: one attempt, one audit row. */
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE delivery_status = 'leased' "
                          "AND delivery_attempts = 1"),
                 RACE_MESSAGES);
    cr_assert_eq(sql_long("SELECT count(DISTINCT resource_id) FROM audit_log "
                          "WHERE action = 'message.claim'"),
                 RACE_MESSAGES);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'message.claim'"),
                 RACE_MESSAGES);
}

/* leaseExpiresAt (API.md v1.1): a claimed item shows when its lease ends,
 * as the database holds it, and so does the list while it is leased;
 * null once the lease is over. */
Test(outbox, items_carry_their_lease_expiry)
{
    char ids[2][37], conv[37], want[40];
    struct resp r;
    json_t *items;

    mk_outbox(account, "email", "zoho", 2, ids, conv);
    items = claim_n(key, 1, 90, NULL, 1, &r);
    sql_text(want, sizeof(want), "SELECT inboxd_ts(lease_expires_at) FROM messages WHERE id = '%s'",
             ids[0]);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "leaseExpiresAt"), want);
    resp_free(&r);

    th_get(&t, "/v1/outbox", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 2);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "leaseExpiresAt"), want);
    cr_assert(json_is_null(json_object_get(json_array_get(items, 1), "leaseExpiresAt")),
              "a pending message has no lease: %s", r.body);
    resp_free(&r);

    report(key, ids[0], "delivered", "{\"externalId\": \"p-1\"}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    th_get(&t, "/v1/outbox?status=delivered", key, &r);
    cr_assert(json_is_null(json_object_get(json_array_get(json_object_get(r.json, "items"), 0),
                                           "leaseExpiresAt")),
              "%s", r.body);
    resp_free(&r);
}

/* --- delivered ------------------------------------------------------------- */

Test(outbox, delivered_stores_the_external_id_and_only_once)
{
    char ids[1][37], conv[37], before[64], after[64], *first;
    struct resp r;

    mk_outbox(account, "email", "zoho", 1, ids, conv);
    claim_n(key, 1, 60, NULL, 1, &r);
    resp_free(&r);

    report(key, ids[0], "delivered", "{\"externalId\": \"zoho-msg-77\"}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "id"), ids[0]);
    cr_assert_str_eq(jstr(r.json, "externalId"), "zoho-msg-77");
    cr_assert_str_eq(jstr(delivery(r.json), "status"), "delivered");
    cr_assert_eq(json_integer_value(json_object_get(delivery(r.json), "attempts")), 1);
    cr_assert(json_is_string(json_object_get(delivery(r.json), "deliveredAt")));
    first = strdup(r.body);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE id = '%s' AND external_id = "
                          "'zoho-msg-77' AND delivery_status = 'delivered' AND delivered_at IS NOT "
                          "NULL AND lease_expires_at IS NULL AND claimable_at IS NULL",
                          ids[0]),
                 1);
    sql_text(before, sizeof(before), "SELECT updated_at FROM messages WHERE id = '%s'", ids[0]);

    /* The same report again, its answer lost: the same answer, and
     * nothing written (no second audit row). */
    for (int i = 0; i < 2; i++) {
        report(key, ids[0], "delivered", "{\"externalId\": \"zoho-msg-77\"}", &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        cr_assert_str_eq(r.body, first);
        resp_free(&r);
    }
    free(first);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'message.deliver' "
                          "AND resource_id = '%s'",
                          ids[0]),
                 1);

    /* Another externalId: it is no longer leased. */
    report(key, ids[0], "delivered", "{\"externalId\": \"zoho-msg-78\"}", &r);
    expect_problem(&r, 409);
    cr_assert_str_eq(jstr(r.json, "type"), "/problems/message-not-leased");
    resp_free(&r);
    sql_text(after, sizeof(after), "SELECT updated_at FROM messages WHERE id = '%s'", ids[0]);
    cr_assert_str_eq(before, after, "nothing changed");
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE external_id = 'zoho-msg-77'"), 1);
}

struct twin_report {
    const char *id;
    pthread_barrier_t *go;
    long status;
};

static void *
twin_delivered(void *arg)
{
    struct twin_report *z = arg;
    struct resp r;

    pthread_barrier_wait(z->go);
    report(key, z->id, "delivered", "{\"externalId\": \"twin-1\"}", &r);
    z->status = r.status;
    resp_free(&r);
    return NULL;
}

/* A retry that overtakes the first report: both are the same report, so
 * both are answered 200, and it is stored once. */
Test(outbox, simultaneous_identical_delivered_reports_are_both_200_and_one_write)
{
    enum { TWINS = 8 };
    char ids[1][37], conv[37];
    struct twin_report z[TWINS];
    pthread_t th[TWINS];
    pthread_barrier_t go;
    struct resp r;

    mk_outbox(account, "email", "zoho", 1, ids, conv);
    claim_n(key, 1, 60, NULL, 1, &r);
    resp_free(&r);
    pthread_barrier_init(&go, NULL, TWINS);
    for (int i = 0; i < TWINS; i++) {
        z[i] = (struct twin_report){.id = ids[0], .go = &go};
        cr_assert_eq(pthread_create(&th[i], NULL, twin_delivered, &z[i]), 0);
    }
    for (int i = 0; i < TWINS; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(z[i].status, 200, "report %d: %ld", i, z[i].status);
    }
    pthread_barrier_destroy(&go);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'message.deliver' "
                          "AND resource_id = '%s'",
                          ids[0]),
                 1);
}

Test(outbox, delivered_on_a_message_that_is_not_leased_is_409_and_changes_nothing)
{
    char ids[2][37], conv[37];
    struct resp r;

    mk_outbox(account, "email", "zoho", 2, ids, conv);
    report(key, ids[0], "delivered", "{\"externalId\": \"x-1\"}", &r);
    expect_problem(&r, 409);
    cr_assert_str_eq(jstr(r.json, "type"), "/problems/message-not-leased");
    cr_assert_not_null(strstr(jstr(r.json, "detail"), "pending"));
    resp_free(&r);
    PQclear(sql_query("UPDATE messages SET delivery_status = 'failed' WHERE id = '%s'", ids[1]));
    report(key, ids[1], "delivered", "{\"externalId\": \"x-2\"}", &r);
    expect_problem(&r, 409);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE external_id IS NULL "
                          "AND delivered_at IS NULL AND delivery_attempts = 0"),
                 2);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE resource_type = 'message'"), 0);
}

Test(outbox, delivered_with_an_external_id_taken_in_the_conversation_is_409)
{
    char ids[1][37], other[1][37], conv[37], conv2[37], in[37];
    struct resp r;

    mk_outbox(account, "email", "zoho", 1, ids, conv);
    mk_outbox(account, "chat", "chat", 1, other, conv2);
    mk_in(account, conv, "provider-9", 5000, in);
    claim_n(key, 5, 60, NULL, 2, &r);
    resp_free(&r);

    report(key, ids[0], "delivered", "{\"externalId\": \"provider-9\"}", &r);
    expect_problem(&r, 409);
    cr_assert_str_eq(jstr(r.json, "type"), "/problems/external-id-conflict");
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE id = '%s' AND external_id IS NULL "
                          "AND delivery_status = 'leased'",
                          ids[0]),
                 1, "still leased, nothing stored");
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'message.deliver'"), 0);

    /* The same provider id in another conversation is fine (unique per conversation). */
    report(key, other[0], "delivered", "{\"externalId\": \"provider-9\"}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
}

/* --- failed ---------------------------------------------------------------- */

Test(outbox, a_retryable_failure_backs_off_exponentially)
{
    char ids[1][37], conv[37];
    struct resp r;

    mk_outbox(account, "email", "zoho", 1, ids, conv);
    claim_n(key, 1, 60, NULL, 1, &r);
    resp_free(&r);

    report(key, ids[0], "failed", "{\"error\": \"smtp 451\", \"retryable\": true}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(delivery(r.json), "status"), "pending");
    cr_assert_eq(json_integer_value(json_object_get(delivery(r.json), "attempts")), 1);
    cr_assert_str_eq(jstr(delivery(r.json), "lastError"), "smtp 451");
    resp_free(&r);
    /* First retry after outbox_backoff_s (40 s) * 2^0. */
    cr_assert_eq(
        sql_long("SELECT count(*) FROM messages WHERE id = '%s' AND delivery_status = "
                 "'pending' AND lease_expires_at IS NULL AND delivery_last_error = 'smtp 451' "
                 "AND next_attempt_at BETWEEN now() + interval '35 s' AND now() + "
                 "interval '41 s'",
                 ids[0]),
        1);
    claim_n(key, 5, 60, NULL, 0, &r); /* not before next_attempt_at */
    resp_free(&r);

    PQclear(sql_query(
        "UPDATE messages SET next_attempt_at = now() - interval '1 s' WHERE id = '%s'", ids[0]));
    claim_n(key, 5, 60, NULL, 1, &r);
    resp_free(&r);
    report(key, ids[0], "failed", "{\"error\": \"smtp 452\", \"retryable\": true}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_integer_value(json_object_get(delivery(r.json), "attempts")), 2);
    resp_free(&r);
    /* Second retry after 40 s * 2^1. */
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE id = '%s' AND next_attempt_at "
                          "BETWEEN now() + interval '75 s' AND now() + interval '81 s'",
                          ids[0]),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications"), 0);
}

Test(outbox, retry_after_seconds_replaces_the_backoff)
{
    char ids[1][37], conv[37];
    struct resp r;

    mk_outbox(account, "shopify", "shop", 1, ids, conv);
    claim_n(key, 1, 60, NULL, 1, &r);
    resp_free(&r);
    report(key, ids[0], "failed",
           "{\"error\": \"429\", \"retryable\": true, \"retryAfterSeconds\": 600}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE id = '%s' AND next_attempt_at "
                          "BETWEEN now() + interval '595 s' AND now() + interval '601 s'",
                          ids[0]),
                 1);

    /* 0: claimable again at once. */
    PQclear(sql_query(
        "UPDATE messages SET next_attempt_at = now() - interval '1 s' WHERE id = '%s'", ids[0]));
    claim_n(key, 1, 60, NULL, 1, &r);
    resp_free(&r);
    report(key, ids[0], "failed",
           "{\"error\": \"429\", \"retryable\": true, \"retryAfterSeconds\": 0}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    claim_n(key, 1, 60, NULL, 1, &r);
    resp_free(&r);
}

Test(outbox, the_attempt_limit_fails_the_message_with_one_notification)
{
    char ids[1][37], conv[37], payload[256], expect[256];
    struct resp r;

    mk_outbox(account, "email", "zoho", 1, ids, conv);
    for (int attempt = 1; attempt <= 3; attempt++) {
        claim_n(key, 1, 60, NULL, 1, &r);
        resp_free(&r);
        report(key, ids[0], "failed", "{\"error\": \"mailbox full\", \"retryable\": true}", &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        cr_assert_eq(json_integer_value(json_object_get(delivery(r.json), "attempts")), attempt);
        cr_assert_str_eq(jstr(delivery(r.json), "status"), attempt < 3 ? "pending" : "failed",
                         "attempt %d", attempt);
        resp_free(&r);
        PQclear(sql_query("UPDATE messages SET next_attempt_at = now() - interval '1 s' "
                          "WHERE id = '%s' AND delivery_status = 'pending'",
                          ids[0]));
    }
    cr_assert_eq(
        sql_long("SELECT count(*) FROM messages WHERE id = '%s' AND delivery_status = "
                 "'failed' AND delivery_attempts = 3 AND delivery_last_error = 'mailbox full' "
                 "AND claimable_at IS NULL",
                 ids[0]),
        1);
    claim_n(key, 5, 60, NULL, 0, &r);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications WHERE type = 'delivery.failed'"), 1);
    sql_text(payload, sizeof(payload),
             "SELECT payload::text FROM notifications WHERE type = 'delivery.failed' "
             "AND account_id = '%s' AND user_id IS NULL",
             account);
    snprintf(expect, sizeof(expect), "{\"messageId\": \"%s\", \"conversationId\": \"%s\"}", ids[0],
             conv);
    cr_assert_str_eq(payload, expect);

    /* A late report changes nothing and notifies nobody again. */
    report(key, ids[0], "failed", "{\"error\": \"again\", \"retryable\": true}", &r);
    expect_problem(&r, 409);
    cr_assert_not_null(strstr(jstr(r.json, "detail"), "failed"));
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications"), 1);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM messages WHERE delivery_last_error = 'mailbox full'"), 1);
}

Test(outbox, a_failure_that_is_not_retryable_fails_at_once)
{
    char ids[1][37], conv[37];
    struct resp r;

    mk_outbox(account, "slack", "slack", 1, ids, conv);
    claim_n(key, 1, 60, NULL, 1, &r);
    resp_free(&r);
    report(key, ids[0], "failed",
           "{\"error\": \"channel archived\", \"retryable\": false, \"retryAfterSeconds\": 5}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(delivery(r.json), "status"), "failed");
    cr_assert_str_eq(jstr(delivery(r.json), "lastError"), "channel archived");
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE id = '%s' AND delivery_status = "
                          "'failed' AND next_attempt_at IS NULL AND lease_expires_at IS NULL",
                          ids[0]),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications WHERE type = 'delivery.failed' "
                          "AND payload->>'messageId' = '%s'",
                          ids[0]),
                 1);
}

Test(outbox, failed_on_a_message_that_is_not_leased_is_409_and_changes_nothing)
{
    char ids[2][37], conv[37], before[512], after[512];
    static const char *const q = "SELECT string_agg(concat_ws('|', id, delivery_status, "
                                 "delivery_attempts, delivery_last_error, next_attempt_at, "
                                 "updated_at), ',' ORDER BY id) FROM messages";
    struct resp r;

    mk_outbox(account, "email", "zoho", 2, ids, conv);
    PQclear(sql_query("UPDATE messages SET delivery_status = 'delivered', delivered_at = now() "
                      "WHERE id = '%s'",
                      ids[1]));
    sql_text(before, sizeof(before), "%s", q);
    for (int i = 0; i < 2; i++) {
        report(key, ids[i], "failed", "{\"error\": \"boom\", \"retryable\": false}", &r);
        expect_problem(&r, 409);
        cr_assert_str_eq(jstr(r.json, "type"), "/problems/message-not-leased");
        resp_free(&r);
    }
    sql_text(after, sizeof(after), "%s", q);
    cr_assert_str_eq(before, after);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications"), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE resource_type = 'message'"), 0);
}

/* --- validation ------------------------------------------------------------ */

Test(outbox, validation_errors_are_422_naming_each_field)
{
    char ids[1][37], conv[37], body[400];
    char big[260];
    struct resp r;

    mk_outbox(account, "email", "zoho", 1, ids, conv);

    th_post(&t, "/v1/outbox/claim", key, "{}", &r);
    expect_fields(&r, (const char *const[]){"limit", "leaseSeconds", NULL});
    resp_free(&r);
    th_post(&t, "/v1/outbox/claim", key,
            "{\"limit\": 0, \"leaseSeconds\": 3601, \"channelType\": \"fax\"}", &r);
    expect_fields(&r, (const char *const[]){"limit", "leaseSeconds", "channelType", NULL});
    resp_free(&r);
    th_post(&t, "/v1/outbox/claim", key, "{\"limit\": 201, \"leaseSeconds\": 1.5}", &r);
    expect_fields(&r, (const char *const[]){"limit", "leaseSeconds", NULL});
    resp_free(&r);
    th_post(&t, "/v1/outbox/claim", key, "{\"limit\": \"5\", \"leaseSeconds\": null}", &r);
    expect_fields(&r, (const char *const[]){"limit", "leaseSeconds", NULL});
    resp_free(&r);
    th_post(&t, "/v1/outbox/claim", key, "[1]", &r);
    expect_problem(&r, 400);
    resp_free(&r);
    th_post(&t, "/v1/outbox/claim", key, "{\"limit\": ", &r);
    expect_problem(&r, 400);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE delivery_status = 'pending'"), 1);

    claim_n(key, 1, 60, NULL, 1, &r);
    resp_free(&r);
    report(key, ids[0], "delivered", "{}", &r);
    expect_fields(&r, (const char *const[]){"externalId", NULL});
    resp_free(&r);
    report(key, ids[0], "delivered", "{\"externalId\": \"\"}", &r);
    expect_fields(&r, (const char *const[]){"externalId", NULL});
    resp_free(&r);
    report(key, ids[0], "delivered", "{\"externalId\": \"a\\u0000b\"}", &r);
    expect_fields(&r, (const char *const[]){"externalId", NULL});
    resp_free(&r);
    memset(big, 'x', 201);
    big[201] = '\0';
    snprintf(body, sizeof(body), "{\"externalId\": \"%s\"}", big);
    report(key, ids[0], "delivered", body, &r);
    expect_fields(&r, (const char *const[]){"externalId", NULL});
    resp_free(&r);

    report(key, ids[0], "failed", "{}", &r);
    expect_fields(&r, (const char *const[]){"error", "retryable", NULL});
    resp_free(&r);
    report(key, ids[0], "failed",
           "{\"error\": \"\", \"retryable\": \"yes\", \"retryAfterSeconds\": -1}", &r);
    expect_fields(&r, (const char *const[]){"error", "retryable", "retryAfterSeconds", NULL});
    resp_free(&r);
    report(key, ids[0], "failed",
           "{\"error\": 5, \"retryable\": true, \"retryAfterSeconds\": 86401}", &r);
    expect_fields(&r, (const char *const[]){"error", "retryAfterSeconds", NULL});
    resp_free(&r);

    /* None of it touched the leased message. */
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE id = '%s' AND delivery_status = "
                          "'leased' AND external_id IS NULL AND delivery_last_error IS NULL "
                          "AND delivery_attempts = 1",
                          ids[0]),
                 1);
}

/* --- list ------------------------------------------------------------------ */

Test(outbox, list_by_status_oldest_first_and_a_bad_status_is_400)
{
    char ids[5][37], conv[37], in[37], path[256], cur[128];
    struct resp r;
    json_t *items, *it;
    size_t i;
    const char *expect_pending[] = {ids[0], ids[2], ids[4]};
    int seen = 0, pages = 0;

    mk_outbox(account, "email", "zoho", 5, ids, conv);
    mk_in(account, conv, "in-1", 10, in);
    PQclear(sql_query("UPDATE messages SET delivery_status = 'delivered', delivered_at = now() "
                      "WHERE id IN ('%s', '%s')",
                      ids[1], ids[3]));

    th_get(&t, "/v1/outbox?status=pending", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 3, "%s", r.body);
    json_array_foreach (items, i, it) {
        cr_assert_str_eq(jstr(it, "id"), expect_pending[i]);
        cr_assert_str_eq(jstr(delivery(it), "status"), "pending");
    }
    cr_assert(json_is_null(json_object_get(r.json, "nextCursor")));
    resp_free(&r);

    th_get(&t, "/v1/outbox?status=delivered", key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 2, "%s", r.body);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "items"), 0), "id"), ids[1]);
    resp_free(&r);
    th_get(&t, "/v1/outbox?status=leased", key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0, "%s", r.body);
    resp_free(&r);

    /* No filter: every outbound message (never the inbound one), in pages. */
    snprintf(path, sizeof(path), "/v1/outbox?limit=2");
    do {
        json_t *next;

        th_get(&t, path, key, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        json_array_foreach (json_object_get(r.json, "items"), i, it) {
            cr_assert_lt(seen, 5);
            cr_assert_str_eq(jstr(it, "id"), ids[seen], "item %d", seen);
            seen++;
        }
        pages++;
        next = json_object_get(r.json, "nextCursor");
        cur[0] = '\0';
        if (json_is_string(next))
            snprintf(cur, sizeof(cur), "%s", json_string_value(next));
        resp_free(&r);
        snprintf(path, sizeof(path), "/v1/outbox?limit=2&cursor=%s", cur);
    } while (cur[0] && pages < 10);
    cr_assert_eq(seen, 5);
    cr_assert_eq(pages, 3);

    th_get(&t, "/v1/outbox?status=sent", key, &r);
    expect_problem(&r, 400);
    cr_assert_not_null(strstr(jstr(r.json, "detail"), "status"), "%s", r.body);
    resp_free(&r);
    th_get(&t, "/v1/outbox?limit=0", key, &r);
    expect_problem(&r, 400);
    resp_free(&r);
    th_get(&t, "/v1/outbox?cursor=%25%25%25", key, &r);
    expect_problem(&r, 400);
    resp_free(&r);
}

/* --- tenancy, scopes, audit ------------------------------------------------ */

Test(outbox, another_accounts_messages_are_404_and_never_claimed)
{
    char ids[2][37], conv[37], other_acct[37], other_key[64], in[37], before[512], after[512];
    static const char *const q = "SELECT string_agg(concat_ws('|', id, delivery_status, "
                                 "delivery_attempts, external_id, updated_at), ',' ORDER BY id) "
                                 "FROM messages";
    struct resp r;

    mk_outbox(account, "email", "zoho", 2, ids, conv);
    mk_in(account, conv, "in-1", 10, in);
    claim_n(key, 1, 60, NULL, 1, &r); /* ids[0] leased by A */
    resp_free(&r);
    th_tenant(&t, "Other Shop", other_acct, other_key);
    sql_text(before, sizeof(before), "%s", q);

    report(other_key, ids[0], "delivered", "{\"externalId\": \"steal\"}", &r);
    expect_problem(&r, 404);
    resp_free(&r);
    report(other_key, ids[0], "failed", "{\"error\": \"x\", \"retryable\": false}", &r);
    expect_problem(&r, 404);
    resp_free(&r);
    claim_n(other_key, 200, 60, NULL, 0, &r);
    resp_free(&r);
    th_get(&t, "/v1/outbox", other_key, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    resp_free(&r);
    sql_text(after, sizeof(after), "%s", q);
    cr_assert_str_eq(before, after, "account B changed nothing of A's");

    /* An inbound message, an unknown id and a malformed one are no outbox message either. */
    report(key, in, "failed", "{\"error\": \"x\", \"retryable\": false}", &r);
    expect_problem(&r, 404);
    resp_free(&r);
    report(key, "01890000-0000-7000-8000-000000000000", "delivered", "{\"externalId\": \"e\"}", &r);
    expect_problem(&r, 404);
    resp_free(&r);
    report(key, "not-a-uuid", "delivered", "{\"externalId\": \"e\"}", &r);
    expect_problem(&r, 404);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications"), 0);
}

Test(outbox, routes_need_their_scopes)
{
    char ids[1][37], conv[37], readonly[64], writer[64];
    struct resp r;

    mk_outbox(account, "email", "zoho", 1, ids, conv);
    th_key(&t, account, "read messages:write", readonly);
    th_key(&t, account, "outbox:write", writer);
    claim(readonly, 5, 60, NULL, &r);
    expect_problem(&r, 403);
    resp_free(&r);
    report(readonly, ids[0], "failed", "{\"error\": \"x\", \"retryable\": false}", &r);
    expect_problem(&r, 403);
    resp_free(&r);
    report(readonly, ids[0], "delivered", "{\"externalId\": \"x\"}", &r);
    expect_problem(&r, 403);
    resp_free(&r);
    th_get(&t, "/v1/outbox", writer, &r);
    expect_problem(&r, 403);
    resp_free(&r);
    th_get(&t, "/v1/outbox", readonly, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE delivery_status = 'pending'"), 1);
    claim_n(writer, 5, 60, NULL, 1, &r);
    resp_free(&r);
}

Test(outbox, every_write_is_audited)
{
    char ids[3][37], conv[37];
    struct resp r;
    const char *const rid[] = {"X-Request-Id: outbox-audit-1", NULL};

    mk_outbox(account, "email", "zoho", 3, ids, conv);
    th_http(&t, "POST", "/v1/outbox/claim", key, "{\"limit\": 3, \"leaseSeconds\": 60}", rid, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    report(key, ids[0], "delivered", "{\"externalId\": \"p-1\"}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    report(key, ids[1], "failed", "{\"error\": \"later\", \"retryable\": true}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    report(key, ids[2], "failed", "{\"error\": \"never\", \"retryable\": false}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);

    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'message.claim' "
                          "AND resource_type = 'message' AND request_id = 'outbox-audit-1' "
                          "AND resource_id IN ('%s', '%s', '%s') AND actor_key_id IS NOT NULL "
                          "AND request_hash ~ '^[0-9a-f]{64}$'",
                          ids[0], ids[1], ids[2]),
                 3);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'message.deliver' "
                          "AND resource_id = '%s'",
                          ids[0]),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'message.retry' "
                          "AND resource_id = '%s'",
                          ids[1]),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'message.fail' "
                          "AND resource_id = '%s'",
                          ids[2]),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log"), 6);
    /* An empty claim wrote nothing, so it audits nothing. */
    claim_n(key, 3, 60, NULL, 0, &r);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log"), 6);
}
