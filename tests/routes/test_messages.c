/* Messages (issue #3; API.md "Conversations and messages"). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"

static char chan[37], conv[37], msgs_path[160];

/* Every test starts with one channel and one open conversation. */
static void
setup(void)
{
    fx_setup();
    mk_channel(account, NULL, "support", chan);
    sql_text(conv, sizeof(conv),
             "INSERT INTO conversations (account_id, id, channel_id, external_id, updated_at) "
             "VALUES ('%s', inboxd_uuid7(), '%s', 'ZT-1', now() - interval '1 hour') RETURNING id",
             account, chan);
    snprintf(msgs_path, sizeof(msgs_path), "/v1/conversations/%s/messages", conv);
}

TestSuite(messages, .init = setup, .fini = fx_teardown, .timeout = 240);

/* --- helpers --------------------------------------------------------------- */

/* --- create ---------------------------------------------------------------- */

Test(messages, inbound_is_201_and_queues_exactly_one_draft_request)
{
    char id[37], before[64], after[64];
    struct resp r;
    const json_t *meta;

    sql_text(before, sizeof(before), "SELECT updated_at FROM conversations WHERE id = '%s'", conv);
    th_post(
        &t, msgs_path, key,
        "{\"externalId\":\"m-1\",\"direction\":\"inbound\",\"subject\":\"Brakes\","
        "\"bodyText\":\"My brakes squeal\",\"bodyHtml\":\"<p>My brakes squeal</p>\","
        "\"sentAt\":\"2026-11-22T11:04:05.123+01:00\",\"metadata\":{\"lang\":\"en\",\"n\":[1]}}",
        &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
    cr_assert_str_eq(jstr(r.json, "conversationId"), conv);
    cr_assert_str_eq(jstr(r.json, "externalId"), "m-1");
    cr_assert_str_eq(jstr(r.json, "direction"), "inbound");
    cr_assert_str_eq(jstr(r.json, "subject"), "Brakes");
    cr_assert_str_eq(jstr(r.json, "bodyText"), "My brakes squeal");
    cr_assert_str_eq(jstr(r.json, "bodyHtml"), "<p>My brakes squeal</p>");
    cr_assert_str_eq(jstr(r.json, "sentAt"), "2026-11-22T10:04:05.123Z");
    meta = json_object_get(r.json, "metadata");
    cr_assert_str_eq(jstr(meta, "lang"), "en");
    cr_assert_eq(json_array_size(json_object_get(r.json, "attachments")), 0);
    cr_assert(json_is_null(json_object_get(r.json, "delivery")), "no delivery on inbound");
    resp_free(&r);

    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests"), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests WHERE message_id = '%s' AND "
                          "conversation_id = '%s' AND status = 'queued' AND attempts = 0",
                          id, conv),
                 1);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM messages WHERE id = '%s' AND delivery_status IS NULL", id),
        1);
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations WHERE id = '%s' "
                          "AND last_inbound_at = '2026-11-22T10:04:05.123Z' "
                          "AND last_message_at = '2026-11-22T10:04:05.123Z' AND feed_at IS NULL",
                          conv),
                 1);
    sql_text(after, sizeof(after), "SELECT updated_at FROM conversations WHERE id = '%s'", conv);
    cr_assert_str_neq(after, before, "the conversation's updated_at moves");
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'message.create' "
                          "AND resource_id = '%s'",
                          id),
                 1);
}

Test(messages, outbound_enters_the_outbox_as_pending)
{
    char id[37], path[128];
    struct resp r;
    const json_t *d;

    th_post(&t, msgs_path, key, "{\"direction\":\"outbound\",\"bodyText\":\"On it.\"}", &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
    d = json_object_get(r.json, "delivery");
    cr_assert(json_is_object(d), "%s", r.body);
    cr_assert_str_eq(jstr(d, "status"), "pending");
    cr_assert_eq(json_integer_value(json_object_get(d, "attempts")), 0);
    cr_assert(json_is_integer(json_object_get(d, "attempts")));
    cr_assert(json_is_null(json_object_get(d, "lastError")));
    cr_assert(json_is_null(json_object_get(d, "deliveredAt")));
    cr_assert(json_is_null(json_object_get(r.json, "externalId")));
    cr_assert(json_is_string(json_object_get(r.json, "sentAt")), "sentAt defaults to receipt");
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE id = '%s' AND delivery_status = "
                          "'pending' AND delivery_attempts = 0 AND claimable_at IS NOT NULL",
                          id),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests"), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations WHERE id = '%s' "
                          "AND last_inbound_at IS NULL AND last_message_at IS NOT NULL",
                          conv),
                 1);

    snprintf(path, sizeof(path), "/v1/messages/%s", id);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(json_object_get(r.json, "delivery"), "status"), "pending");
    resp_free(&r);
}

Test(messages, system_message_neither_queues_nor_enters_the_outbox)
{
    char id[37];

    post_status(msgs_path, key, "{\"direction\":\"system\",\"bodyText\":\"Assigned to Ann\"}", 201,
                id);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests"), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE delivery_status IS NOT NULL"), 0);
}

Test(messages, inbound_moves_feed_at_when_a_draft_is_pending)
{
    char m1[37], draft[37];

    post_status(
        msgs_path, key,
        "{\"direction\":\"inbound\",\"bodyText\":\"a\",\"sentAt\":\"2026-01-01T10:00:00Z\"}", 201,
        m1);
    sql_text(draft, sizeof(draft),
             "INSERT INTO drafts (account_id, id, conversation_id, trigger_message_id, model_key, "
             "prompt_version, suggested_text) VALUES ('%s', inboxd_uuid7(), '%s', '%s', 'm', 'p', "
             "'x') RETURNING id",
             account, conv, m1);
    PQclear(th_sql(&t, "UPDATE conversations SET pending_draft_id = "
                       "(SELECT id FROM drafts LIMIT 1), feed_at = last_inbound_at"));
    post_status(
        msgs_path, key,
        "{\"direction\":\"inbound\",\"bodyText\":\"b\",\"sentAt\":\"2026-01-01T12:00:00Z\"}", 201,
        NULL);
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations WHERE id = '%s' AND "
                          "feed_at = '2026-01-01T12:00:00Z' AND last_inbound_at = feed_at",
                          conv),
                 1);
    /* An outbound reply leaves the waiting time alone. */
    post_status(
        msgs_path, key,
        "{\"direction\":\"outbound\",\"bodyText\":\"c\",\"sentAt\":\"2026-01-01T13:00:00Z\"}", 201,
        NULL);
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations WHERE id = '%s' AND "
                          "feed_at = '2026-01-01T12:00:00Z' AND "
                          "last_message_at = '2026-01-01T13:00:00Z'",
                          conv),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests"), 2);
}

Test(messages, a_repeated_external_id_answers_the_stored_message_200)
{
    char id[37], path[160];
    struct resp r;

    post_status(msgs_path, key,
                "{\"externalId\":\"dup\",\"direction\":\"inbound\",\"bodyText\":\"first\"}", 201,
                id);
    th_post(&t, msgs_path, key,
            "{\"externalId\":\"dup\",\"direction\":\"inbound\",\"bodyText\":\"second\"}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "id"), id);
    cr_assert_str_eq(jstr(r.json, "bodyText"), "first", "the stored message, unchanged");
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages"), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests"), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'message.create'"), 1);

    /* The same externalId in another conversation is another message. */
    {
        char other[37];
        PGresult *res;

        res = th_sql(&t, "INSERT INTO conversations (account_id, id, channel_id, external_id) "
                         "SELECT account_id, inboxd_uuid7(), channel_id, 'ZT-2' FROM conversations "
                         "RETURNING id");
        snprintf(other, sizeof(other), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        snprintf(path, sizeof(path), "/v1/conversations/%s/messages", other);
        th_post(&t, path, key,
                "{\"externalId\":\"dup\",\"direction\":\"inbound\",\"bodyText\":\"first\"}", &r);
        cr_assert_eq(r.status, 201, "%s", r.body);
        cr_assert_str_neq(jstr(r.json, "id"), id);
        resp_free(&r);
    }
    /* Messages without an externalId are never deduplicated. */
    post_status(msgs_path, key, "{\"direction\":\"inbound\",\"bodyText\":\"same\"}", 201, NULL);
    post_status(msgs_path, key, "{\"direction\":\"inbound\",\"bodyText\":\"same\"}", 201, NULL);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE external_id IS NULL"), 2);
}

struct racer {
    const char *body;
    pthread_barrier_t *go;
    long status;
    char id[37];
};

static void *
race(void *p)
{
    struct racer *a = p;
    struct resp r;

    pthread_barrier_wait(a->go);
    th_post(&t, msgs_path, key, a->body, &r);
    a->status = r.status;
    a->id[0] = '\0';
    if (r.json && jstr(r.json, "id"))
        snprintf(a->id, sizeof(a->id), "%s", jstr(r.json, "id"));
    resp_free(&r);
    return NULL;
}

Test(messages, twenty_identical_racing_posts_make_one_row)
{
    enum { THREADS = 20, ROUNDS = 5 };
    struct racer a[THREADS];
    pthread_t th[THREADS];
    pthread_barrier_t go;
    char body[ROUNDS][256];
    long long start = th_now_ms();

    for (int round = 0; round < ROUNDS; round++) {
        int created = 0, stored = 0;

        snprintf(body[round], sizeof(body[round]),
                 "{\"externalId\":\"race-%d\",\"direction\":\"%s\",\"bodyText\":\"hello\","
                 "\"attachments\":[{\"fileName\":\"a.txt\",\"mimeType\":\"text/plain\","
                 "\"sizeBytes\":1,\"fileUrl\":\"s3://b/a.txt\"}]}",
                 round, round % 2 ? "outbound" : "inbound");
        pthread_barrier_init(&go, NULL, THREADS);
        for (int i = 0; i < THREADS; i++) {
            a[i] = (struct racer){.body = body[round], .go = &go};
            pthread_create(&th[i], NULL, race, &a[i]);
        }
        for (int i = 0; i < THREADS; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        for (int i = 0; i < THREADS; i++) {
            created += a[i].status == 201;
            stored += a[i].status == 200;
            cr_assert_str_eq(a[i].id, a[0].id, "round %d: thread %d answered another id", round, i);
        }
        cr_assert_eq(created, 1, "round %d: %d answers were 201", round, created);
        cr_assert_eq(stored, THREADS - 1, "round %d: %d answers were 200", round, stored);
        cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE external_id = 'race-%d'", round),
                     1);
        cr_assert_eq(sql_long("SELECT count(*) FROM attachments a JOIN messages m ON m.id = "
                              "a.message_id WHERE m.external_id = 'race-%d'",
                              round),
                     1);
    }
    /* Rounds 0, 2, 4 were inbound: one draft request each; 1, 3 outbound. */
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests"), 3);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE delivery_status = 'pending'"), 2);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'message.create'"),
                 ROUNDS);
    cr_log_info("message race: %d threads x %d rounds in %lld ms", THREADS, ROUNDS,
                th_now_ms() - start);
}

Test(messages, attachments_round_trip_in_order)
{
    char id[37], path[128];
    struct resp r;
    const json_t *atts, *a;

    th_post(&t, msgs_path, key,
            "{\"direction\":\"inbound\",\"bodyText\":\"see files\",\"attachments\":["
            "{\"fileName\":\"invoice.pdf\",\"mimeType\":\"application/pdf\",\"sizeBytes\":12345,"
            "\"fileUrl\":\"https://files.example.com/a/invoice.pdf\"},"
            "{\"fileName\":\"\xc3\xa9t\xc3\xa9.png\",\"mimeType\":\"image/png\",\"sizeBytes\":0,"
            "\"fileUrl\":\"s3://bucket/b.png\"},"
            "{\"fileName\":\"big.bin\",\"mimeType\":\"application/octet-stream\","
            "\"sizeBytes\":9007199254740993,\"fileUrl\":\"s3://bucket/c\"}]}",
            &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
    resp_free(&r);

    snprintf(path, sizeof(path), "/v1/messages/%s", id);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    atts = json_object_get(r.json, "attachments");
    cr_assert_eq(json_array_size(atts), 3, "%s", r.body);
    a = json_array_get(atts, 0);
    cr_assert_str_eq(jstr(a, "fileName"), "invoice.pdf");
    cr_assert_str_eq(jstr(a, "mimeType"), "application/pdf");
    cr_assert_eq(json_integer_value(json_object_get(a, "sizeBytes")), 12345);
    cr_assert_str_eq(jstr(a, "fileUrl"), "https://files.example.com/a/invoice.pdf");
    cr_assert_str_eq(jstr(a, "messageId"), id);
    cr_assert(json_is_string(json_object_get(a, "id")));
    cr_assert(json_is_string(json_object_get(a, "createdAt")));
    a = json_array_get(atts, 1);
    cr_assert_str_eq(jstr(a, "fileName"), "\xc3\xa9t\xc3\xa9.png");
    cr_assert_eq(json_integer_value(json_object_get(a, "sizeBytes")), 0);
    a = json_array_get(atts, 2);
    cr_assert_eq(json_integer_value(json_object_get(a, "sizeBytes")), 9007199254740993LL);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM attachments WHERE message_id = '%s'", id), 3);
    cr_assert_eq(sql_long("SELECT count(*) FROM attachments WHERE account_id = '%s'", account), 3);
}

Test(messages, every_field_is_validated)
{
    static const struct {
        const char *body;
        const char *field;
    } cases[] = {
        {"{\"bodyText\":\"x\"}", "direction"},
        {"{\"direction\":\"sideways\",\"bodyText\":\"x\"}", "direction"},
        {"{\"direction\":\"INBOUND\",\"bodyText\":\"x\"}", "direction"},
        {"{\"direction\":1,\"bodyText\":\"x\"}", "direction"},
        {"{\"direction\":null,\"bodyText\":\"x\"}", "direction"},
        {"{\"direction\":\"inbound\"}", "bodyText"},
        {"{\"direction\":\"inbound\",\"bodyText\":5}", "bodyText"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"a\\u0000b\"}", "bodyText"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"externalId\":\"\"}", "externalId"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"externalId\":12}", "externalId"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"externalId\":\"\\u0000\"}", "externalId"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"subject\":false}", "subject"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"subject\":\"\\u0000\"}", "subject"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"bodyHtml\":[]}", "bodyHtml"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"bodyHtml\":\"<\\u0000>\"}", "bodyHtml"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"sentAt\":\"yesterday\"}", "sentAt"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"sentAt\":\"2026-02-30T00:00:00Z\"}",
         "sentAt"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"sentAt\":\"2026-01-01T00:00:00\"}",
         "sentAt"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"sentAt\":1767225600}", "sentAt"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"metadata\":[]}", "metadata"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"metadata\":\"{}\"}", "metadata"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"metadata\":{\"a\":\"\\u0000\"}}",
         "metadata"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"attachments\":{}}", "attachments"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"attachments\":[1]}", "attachments[0]"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"attachments\":[{\"mimeType\":\"a/b\","
         "\"sizeBytes\":1,\"fileUrl\":\"u\"}]}",
         "attachments[0].fileName"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"attachments\":[{\"fileName\":\"f\","
         "\"mimeType\":\"a/b\",\"sizeBytes\":1,\"fileUrl\":\"u\"},{\"fileName\":\"\","
         "\"mimeType\":\"a/b\",\"sizeBytes\":1,\"fileUrl\":\"u\"}]}",
         "attachments[1].fileName"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"attachments\":[{\"fileName\":\"f\","
         "\"sizeBytes\":1,\"fileUrl\":\"u\"}]}",
         "attachments[0].mimeType"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"attachments\":[{\"fileName\":\"f\","
         "\"mimeType\":\"a/b\",\"sizeBytes\":-1,\"fileUrl\":\"u\"}]}",
         "attachments[0].sizeBytes"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"attachments\":[{\"fileName\":\"f\","
         "\"mimeType\":\"a/b\",\"sizeBytes\":\"1\",\"fileUrl\":\"u\"}]}",
         "attachments[0].sizeBytes"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"attachments\":[{\"fileName\":\"f\","
         "\"mimeType\":\"a/b\",\"sizeBytes\":1.5,\"fileUrl\":\"u\"}]}",
         "attachments[0].sizeBytes"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"attachments\":[{\"fileName\":\"f\","
         "\"mimeType\":\"a/b\",\"sizeBytes\":1}]}",
         "attachments[0].fileUrl"},
        {"{\"direction\":\"inbound\",\"bodyText\":\"x\",\"attachments\":[{\"fileName\":\"f\","
         "\"mimeType\":\"a/b\",\"sizeBytes\":1,\"fileUrl\":\"u\\u0000\"}]}",
         "attachments[0].fileUrl"},
    };
    struct resp r;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        th_post(&t, msgs_path, key, cases[i].body, &r);
        expect_field(&r, cases[i].field, cases[i].body);
        resp_free(&r);
    }
    /* Every bad field in one answer. */
    th_post(&t, msgs_path, key, "{\"direction\":\"up\",\"bodyText\":1,\"sentAt\":\"x\"}", &r);
    expect_field(&r, "direction", "all");
    expect_field(&r, "bodyText", "all");
    expect_field(&r, "sentAt", "all");
    resp_free(&r);
    /* Not JSON / not an object: 400. */
    th_post(&t, msgs_path, key, "\"text\"", &r);
    expect_problem(&r, 400);
    resp_free(&r);
    th_post(&t, msgs_path, key, "{\"direction\":", &r);
    expect_problem(&r, 400);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages"), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests"), 0);
}

/* A body of `n` bytes of 'x' for field `field` (the rest valid). */
static char *
big_body(const char *field, size_t n, bool as_metadata)
{
    size_t cap = n + 256;
    char *b = malloc(cap);
    char *fill = malloc(n + 1);

    cr_assert(b && fill);
    memset(fill, 'x', n);
    fill[n] = '\0';
    if (as_metadata)
        snprintf(b, cap,
                 "{\"direction\":\"inbound\",\"bodyText\":\"x\",\"metadata\":{\"k\":\"%s\"}}",
                 fill);
    else if (strcmp(field, "bodyText") == 0)
        snprintf(b, cap, "{\"direction\":\"inbound\",\"bodyText\":\"%s\"}", fill);
    else
        snprintf(b, cap, "{\"direction\":\"inbound\",\"bodyText\":\"x\",\"%s\":\"%s\"}", field,
                 fill);
    free(fill);
    return b;
}

Test(messages, too_long_fields_are_422)
{
    static const struct {
        const char *field;
        size_t max;
    } cases[] = {
        {"externalId", 200},
        {"subject", 1000},
        {"bodyText", 512 * 1024},
        {"bodyHtml", 512 * 1024},
    };
    struct resp r;
    char *b;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        b = big_body(cases[i].field, cases[i].max + 1, false);
        th_post(&t, msgs_path, key, b, &r);
        expect_field(&r, cases[i].field, cases[i].field);
        resp_free(&r);
        free(b);
        /* At the limit it is fine. */
        b = big_body(cases[i].field, cases[i].max, false);
        th_post(&t, msgs_path, key, b, &r);
        cr_assert_eq(r.status, 201, "%s at its limit: %.300s", cases[i].field, r.body);
        resp_free(&r);
        free(b);
    }
    /* metadata: {"k":"…"} of 64 KiB + 1 as compact JSON is too big. */
    b = big_body("metadata", 64 * 1024 - 8 + 1, true);
    th_post(&t, msgs_path, key, b, &r);
    expect_field(&r, "metadata", "metadata 64 KiB + 1");
    resp_free(&r);
    free(b);
    b = big_body("metadata", 64 * 1024 - 8, true);
    th_post(&t, msgs_path, key, b, &r);
    cr_assert_eq(r.status, 201, "metadata of exactly 64 KiB: %.300s", r.body);
    resp_free(&r);
    free(b);
    /* More than 100 attachments. */
    {
        size_t cap = 101 * 100 + 128;
        char *s = malloc(cap);
        size_t len = 0;

        len += (size_t)snprintf(s + len, cap - len,
                                "{\"direction\":\"inbound\",\"bodyText\":\"x\",\"attachments\":[");
        for (int i = 0; i < 101; i++)
            len += (size_t)snprintf(s + len, cap - len,
                                    "%s{\"fileName\":\"f\",\"mimeType\":\"a/b\",\"sizeBytes\":1,"
                                    "\"fileUrl\":\"u\"}",
                                    i ? "," : "");
        snprintf(s + len, cap - len, "]}");
        th_post(&t, msgs_path, key, s, &r);
        expect_field(&r, "attachments", "101 attachments");
        resp_free(&r);
        free(s);
    }
}

/* --- reads ----------------------------------------------------------------- */

Test(messages, list_is_in_conversation_order_and_pages_completely)
{
    static const char *const sent[] = {"2026-01-01T10:05:00Z", "2026-01-01T10:01:00Z",
                                       "2026-01-01T10:03:00Z", "2026-01-01T10:02:00Z",
                                       "2026-01-01T10:04:00Z", "2026-01-01T10:03:00Z"};
    char ids[6][37], seen[8][37], url[400], cur[128] = "";
    int n = 0;

    for (int i = 0; i < 6; i++) {
        char body[200];

        snprintf(body, sizeof(body),
                 "{\"direction\":\"inbound\",\"bodyText\":\"%d\",\"sentAt\":\"%s\"}", i, sent[i]);
        post_status(msgs_path, key, body, 201, ids[i]);
    }
    for (int pages = 0;; pages++) {
        struct resp r;
        const json_t *items, *it, *next;
        size_t i;

        cr_assert_lt(pages, 10);
        snprintf(url, sizeof(url), "%s?limit=4%s%s", msgs_path, cur[0] ? "&cursor=" : "", cur);
        th_get(&t, url, key, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        items = json_object_get(r.json, "items");
        json_array_foreach (items, i, it) {
            cr_assert_lt(n, 6);
            snprintf(seen[n++], 37, "%s", jstr(it, "id"));
        }
        next = json_object_get(r.json, "nextCursor");
        if (!json_is_string(next)) {
            resp_free(&r);
            break;
        }
        snprintf(cur, sizeof(cur), "%s", json_string_value(next));
        resp_free(&r);
    }
    cr_assert_eq(n, 6);
    /* By sentAt; the two at 10:03 by id (posted 2nd then 5th). */
    cr_assert_str_eq(seen[0], ids[1]);
    cr_assert_str_eq(seen[1], ids[3]);
    cr_assert_str_eq(seen[2], ids[2]);
    cr_assert_str_eq(seen[3], ids[5]);
    cr_assert_str_eq(seen[4], ids[4]);
    cr_assert_str_eq(seen[5], ids[0]);
}

Test(messages, list_and_get_404_and_400)
{
    struct resp r;
    char path[200];

    th_get(&t, msgs_path, key, &r);
    cr_assert_eq(r.status, 200, "an empty conversation: %s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    cr_assert(json_is_null(json_object_get(r.json, "nextCursor")));
    resp_free(&r);
    th_get(&t, "/v1/conversations/0190a000-0000-7000-8000-000000000000/messages", key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_post(&t, "/v1/conversations/0190a000-0000-7000-8000-000000000000/messages", key,
            "{\"direction\":\"inbound\",\"bodyText\":\"x\"}", &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_get(&t, "/v1/messages/0190a000-0000-7000-8000-000000000000", key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    snprintf(path, sizeof(path), "%s?limit=500", msgs_path);
    th_get(&t, path, key, &r);
    expect_problem(&r, 400);
    resp_free(&r);
    snprintf(path, sizeof(path), "%s?cursor=AAAA", msgs_path);
    th_get(&t, path, key, &r);
    expect_problem(&r, 400);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages"), 0);
}

Test(messages, another_tenant_gets_404_everywhere)
{
    char other_acct[37], other_key[64], id[37], path[200];
    struct resp r;

    post_status(msgs_path, key,
                "{\"direction\":\"inbound\",\"bodyText\":\"mine\",\"externalId\":\"e1\"}", 201, id);
    th_tenant(&t, "Other Shop", other_acct, other_key);
    th_get(&t, msgs_path, other_key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_post(&t, msgs_path, other_key,
            "{\"direction\":\"inbound\",\"bodyText\":\"theirs\",\"externalId\":\"e1\"}", &r);
    expect_problem(&r, 404);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/messages/%s", id);
    th_get(&t, path, other_key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages"), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests"), 1);
}

Test(messages, scopes_are_enforced)
{
    char reader[64], drafter[64];
    struct resp r;

    th_key(&t, account, "read", reader);
    th_key(&t, account, "drafts:write", drafter);
    th_post(&t, msgs_path, reader, "{\"direction\":\"inbound\",\"bodyText\":\"x\"}", &r);
    expect_problem(&r, 403);
    resp_free(&r);
    th_get(&t, msgs_path, drafter, &r);
    expect_problem(&r, 403);
    resp_free(&r);
    th_get(&t, msgs_path, reader, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages"), 0);
}
