/* Conversations and their timeline (issue #3; API.md "Conversations and messages"). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"

TestSuite(conversations, .init = fx_setup, .fini = fx_teardown, .timeout = 180);

/* --- helpers --------------------------------------------------------------- */

static void
new_conv(const char *chan, const char *ext, char id[37])
{
    char body[512];

    snprintf(body, sizeof(body), "{\"channelId\":\"%s\",\"externalId\":\"%s\"}", chan, ext);
    post_status("/v1/conversations", key, body, 201, id);
}

/* The ETag of GET /v1/conversations/{id}. */
static void
get_etag(const char *id, char etag[72])
{
    char path[128];
    struct resp r;

    snprintf(path, sizeof(path), "/v1/conversations/%s", id);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(resp_header(&r, "ETag", etag, 72));
    resp_free(&r);
}

/* PATCH /v1/conversations/{id} with an optional If-Match. */
static void
patch(const char *id, const char *body, const char *if_match, struct resp *r)
{
    char path[128];

    snprintf(path, sizeof(path), "/v1/conversations/%s", id);
    patch_if(path, key, body, if_match, r);
}

static bool
has_id(char (*ids)[37], int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (strcmp(ids[i], id) == 0)
            return true;
    return false;
}

/* --- create (upsert) ------------------------------------------------------- */

Test(conversations, post_creates_201_then_answers_the_same_row_200)
{
    char chan[37], id[37], etag[72], etag2[72], body[512];
    struct resp r;

    mk_channel(account, NULL, "support", chan);
    snprintf(body, sizeof(body),
             "{\"channelId\":\"%s\",\"externalId\":\"ZT-1042\",\"subject\":\"Brakes\","
             "\"customerEmail\":\"Ann@Example.com\",\"customerName\":\"Ann\"}",
             chan);
    th_post(&t, "/v1/conversations", key, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
    cr_assert_str_eq(jstr(r.json, "accountId"), account);
    cr_assert_str_eq(jstr(r.json, "channelId"), chan);
    cr_assert_str_eq(jstr(r.json, "externalId"), "ZT-1042");
    cr_assert_str_eq(jstr(r.json, "subject"), "Brakes");
    cr_assert_str_eq(jstr(r.json, "status"), "open");
    cr_assert_str_eq(jstr(r.json, "customerEmail"), "Ann@Example.com");
    cr_assert_str_eq(jstr(r.json, "customerName"), "Ann");
    cr_assert(json_is_null(json_object_get(r.json, "lastMessageAt")));
    cr_assert(json_is_string(json_object_get(r.json, "createdAt")));
    cr_assert(json_is_string(json_object_get(r.json, "updatedAt")));
    cr_assert(resp_header(&r, "ETag", etag, sizeof(etag)));
    resp_free(&r);

    /* Same pair, other fields: the stored row, unchanged. */
    snprintf(body, sizeof(body),
             "{\"channelId\":\"%s\",\"externalId\":\"ZT-1042\",\"subject\":\"Other\"}", chan);
    th_post(&t, "/v1/conversations", key, body, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "id"), id);
    cr_assert_str_eq(jstr(r.json, "subject"), "Brakes");
    cr_assert(resp_header(&r, "ETag", etag2, sizeof(etag2)));
    cr_assert_str_eq(etag2, etag);
    resp_free(&r);

    cr_assert_eq(sql_long("SELECT count(*) FROM conversations"), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'conversation.create' "
                          "AND resource_id = '%s'",
                          id),
                 1);
    /* The same externalId on another channel is another conversation. */
    {
        char chan2[37], id2[37];

        mk_channel(account, NULL, "chat", chan2);
        new_conv(chan2, "ZT-1042", id2);
        cr_assert_str_neq(id2, id);
    }
}

struct race_arg {
    const char *body;
    long status;
    char id[37];
};

static void *
race_post(void *p)
{
    struct race_arg *a = p;
    struct resp r;

    th_post(&t, "/v1/conversations", key, a->body, &r);
    a->status = r.status;
    if (r.json && jstr(r.json, "id"))
        snprintf(a->id, sizeof(a->id), "%s", jstr(r.json, "id"));
    resp_free(&r);
    return NULL;
}

Test(conversations, racing_creates_make_one_row)
{
    enum { N = 12 };
    char chan[37], body[256];
    struct race_arg a[N];
    pthread_t th[N];
    int created = 0, existing = 0;

    mk_channel(account, NULL, "support", chan);
    snprintf(body, sizeof(body), "{\"channelId\":\"%s\",\"externalId\":\"race\"}", chan);
    for (int i = 0; i < N; i++) {
        a[i] = (struct race_arg){.body = body};
        pthread_create(&th[i], NULL, race_post, &a[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        created += a[i].status == 201;
        existing += a[i].status == 200;
        cr_assert_str_eq(a[i].id, a[0].id);
    }
    cr_assert_eq(created, 1);
    cr_assert_eq(existing, N - 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations"), 1);
}

Test(conversations, channel_not_in_the_account_is_422_on_channelId)
{
    char other_acct[37], other_key[64], other_chan[37], body[256];
    struct resp r;

    th_tenant(&t, "Other Shop", other_acct, other_key);
    mk_channel(other_acct, NULL, "theirs", other_chan);
    snprintf(body, sizeof(body), "{\"channelId\":\"%s\",\"externalId\":\"x\"}", other_chan);
    th_post(&t, "/v1/conversations", key, body, &r);
    expect_field(&r, "channelId", "another account's channel");
    resp_free(&r);
    th_post(&t, "/v1/conversations", key,
            "{\"channelId\":\"0190a000-0000-7000-8000-000000000000\",\"externalId\":\"x\"}", &r);
    expect_field(&r, "channelId", "unknown channel");
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations"), 0);
}

Test(conversations, create_validates_every_field)
{
    char chan[37];
    struct {
        const char *body; /* %s = the channel id */
        const char *field;
    } cases[] = {
        {"{\"externalId\":\"a\"}", "channelId"},
        {"{\"channelId\":\"nope\",\"externalId\":\"a\"}", "channelId"},
        {"{\"channelId\":42,\"externalId\":\"a\"}", "channelId"},
        {"{\"channelId\":\"%s\"}", "externalId"},
        {"{\"channelId\":\"%s\",\"externalId\":\"\"}", "externalId"},
        {"{\"channelId\":\"%s\",\"externalId\":7}", "externalId"},
        {"{\"channelId\":\"%s\",\"externalId\":null}", "externalId"},
        {"{\"channelId\":\"%s\",\"externalId\":\"a\\u0000b\"}", "externalId"},
        {"{\"channelId\":\"%s\",\"externalId\":\"a\",\"subject\":[]}", "subject"},
        {"{\"channelId\":\"%s\",\"externalId\":\"a\",\"subject\":\"x\\u0000\"}", "subject"},
        {"{\"channelId\":\"%s\",\"externalId\":\"a\",\"customerEmail\":\"not-an-email\"}",
         "customerEmail"},
        {"{\"channelId\":\"%s\",\"externalId\":\"a\",\"customerEmail\":\"a b@c.d\"}",
         "customerEmail"},
        {"{\"channelId\":\"%s\",\"externalId\":\"a\",\"customerEmail\":true}", "customerEmail"},
        {"{\"channelId\":\"%s\",\"externalId\":\"a\",\"customerName\":{}}", "customerName"},
    };
    struct resp r;
    char body[4096];

    mk_channel(account, NULL, "support", chan);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body), cases[i].body, chan);
        th_post(&t, "/v1/conversations", key, body, &r);
        expect_field(&r, cases[i].field, body);
        resp_free(&r);
    }
    /* Too long: externalId over 200 bytes, subject over 1000, name over 200. */
    {
        static const struct {
            const char *field;
            int len;
        } longs[] = {{"externalId", 201}, {"subject", 1001}, {"customerName", 201}};

        for (size_t i = 0; i < 3; i++) {
            char big[1100];

            memset(big, 'x', (size_t)longs[i].len);
            big[longs[i].len] = '\0';
            if (strcmp(longs[i].field, "externalId") == 0)
                snprintf(body, sizeof(body), "{\"channelId\":\"%s\",\"externalId\":\"%s\"}", chan,
                         big);
            else
                snprintf(body, sizeof(body),
                         "{\"channelId\":\"%s\",\"externalId\":\"ok\",\"%s\":\"%s\"}", chan,
                         longs[i].field, big);
            th_post(&t, "/v1/conversations", key, body, &r);
            expect_field(&r, longs[i].field, longs[i].field);
            resp_free(&r);
        }
    }
    /* Every bad field is named in one answer. */
    th_post(&t, "/v1/conversations", key, "{\"channelId\":1,\"externalId\":2,\"subject\":3}", &r);
    expect_field(&r, "channelId", "all");
    expect_field(&r, "externalId", "all");
    expect_field(&r, "subject", "all");
    resp_free(&r);
    /* Not an object, not JSON: 400. */
    th_post(&t, "/v1/conversations", key, "[1]", &r);
    expect_problem(&r, 400);
    resp_free(&r);
    th_post(&t, "/v1/conversations", key, "{\"channelId\":", &r);
    expect_problem(&r, 400);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations"), 0);
}

/* --- get ------------------------------------------------------------------- */

Test(conversations, get_answers_the_row_with_its_etag)
{
    char chan[37], id[37], path[128], etag[72];
    struct resp r;

    mk_channel(account, NULL, "support", chan);
    new_conv(chan, "c1", id);
    snprintf(path, sizeof(path), "/v1/conversations/%s", id);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "id"), id);
    cr_assert(resp_header(&r, "ETag", etag, sizeof(etag)));
    cr_assert_eq(etag[0], '"');
    resp_free(&r);
    th_get(&t, "/v1/conversations/0190a000-0000-7000-8000-000000000000", key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_get(&t, "/v1/conversations/not-a-uuid", key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
}

/* --- list ------------------------------------------------------------------ */

Test(conversations, list_filters_by_status_channel_email_and_updated_since)
{
    char ch1[37], ch2[37], a[37], b[37], c[37], d[37], body[512];
    char ids[16][37];
    struct resp r;
    int n;

    mk_channel(account, NULL, "one", ch1);
    mk_channel(account, NULL, "two", ch2);
    snprintf(body, sizeof(body),
             "{\"channelId\":\"%s\",\"externalId\":\"a\",\"customerEmail\":\"Ann@Example.com\"}",
             ch1);
    post_status("/v1/conversations", key, body, 201, a);
    new_conv(ch1, "b", b);
    snprintf(body, sizeof(body),
             "{\"channelId\":\"%s\",\"externalId\":\"c\",\"customerEmail\":\"bob@example.com\"}",
             ch2);
    post_status("/v1/conversations", key, body, 201, c);
    new_conv(ch2, "d", d);
    patch(b, "{\"status\":\"closed\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    patch(d, "{\"status\":\"pending\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    sql_exec(
        "UPDATE conversations SET updated_at = '2020-01-01T00:00:00Z' WHERE id IN ('%s', '%s')", a,
        c);

    n = walk(key, "/v1/conversations?x=1", 50, ids, 16, NULL);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(ids[0], a, "oldest first");
    cr_assert_str_eq(ids[3], d);

    n = walk(key, "/v1/conversations?status=closed", 50, ids, 16, NULL);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(ids[0], b);
    n = walk(key, "/v1/conversations?status=open", 50, ids, 16, NULL);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(ids[0], a);
    cr_assert_str_eq(ids[1], c);

    {
        char path[128];

        snprintf(path, sizeof(path), "/v1/conversations?channelId=%s", ch2);
        n = walk(key, path, 50, ids, 16, NULL);
        cr_assert_eq(n, 2);
        cr_assert_str_eq(ids[0], c);
        cr_assert_str_eq(ids[1], d);
        snprintf(path, sizeof(path), "/v1/conversations?channelId=%s&status=pending", ch2);
        n = walk(key, path, 50, ids, 16, NULL);
        cr_assert_eq(n, 1);
        cr_assert_str_eq(ids[0], d);
    }

    n = walk(key, "/v1/conversations?customerEmail=ann@EXAMPLE.com", 50, ids, 16, NULL);
    cr_assert_eq(n, 1, "case-insensitive");
    cr_assert_str_eq(ids[0], a);
    n = walk(key, "/v1/conversations?customerEmail=nobody@example.com", 50, ids, 16, NULL);
    cr_assert_eq(n, 0);

    n = walk(key, "/v1/conversations?updatedSince=2021-01-01T00:00:00%2B02:00", 50, ids, 16, NULL);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(ids[0], b);
    cr_assert_str_eq(ids[1], d);
    n = walk(key, "/v1/conversations?updatedSince=2020-01-01T00:00:00Z", 50, ids, 16, NULL);
    cr_assert_eq(n, 4, "at or after");
    n = walk(key, "/v1/conversations?updatedSince=2020-01-01T00:00:00.001Z", 50, ids, 16, NULL);
    cr_assert_eq(n, 2);
}

Test(conversations, malformed_list_parameters_are_400)
{
    static const struct {
        const char *query;
        const char *param;
    } cases[] = {
        {"status=archived", "status"},
        {"status=", "status"},
        {"channelId=nope", "channelId"},
        {"channelId=0190a000-0000-7000-8000-00000000000", "channelId"},
        {"customerEmail=not-an-email", "customerEmail"},
        {"customerEmail=", "customerEmail"},
        {"updatedSince=yesterday", "updatedSince"},
        {"updatedSince=2026-02-30T00:00:00Z", "updatedSince"},
        {"limit=0", "limit"},
        {"limit=201", "limit"},
        {"limit=ten", "limit"},
        {"cursor=garbage", "cursor"},
    };
    struct resp r;
    char path[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(path, sizeof(path), "/v1/conversations?%s", cases[i].query);
        th_get(&t, path, key, &r);
        expect_param(&r, cases[i].param, cases[i].query);
        resp_free(&r);
    }
}

struct inserter {
    const char *chan;
    int n;
    volatile int done;
};

static void *
insert_many(void *p)
{
    struct inserter *in = p;

    for (int i = 0; i < in->n; i++) {
        char body[256];
        struct resp r;

        snprintf(body, sizeof(body), "{\"channelId\":\"%s\",\"externalId\":\"late-%d\"}", in->chan,
                 i);
        th_post(&t, "/v1/conversations", key, body, &r);
        resp_free(&r);
    }
    in->done = 1;
    return NULL;
}

Test(conversations, pagination_neither_skips_nor_repeats_while_rows_are_inserted)
{
    enum { BEFORE = 40, DURING = 60 };
    static char before[BEFORE][37], seen[BEFORE + DURING][37];
    char chan[37];
    struct inserter ins;
    pthread_t th;
    int n, rounds = 0;

    mk_channel(account, NULL, "support", chan);
    for (int i = 0; i < BEFORE; i++) {
        char ext[32];

        snprintf(ext, sizeof(ext), "early-%d", i);
        new_conv(chan, ext, before[i]);
    }
    ins = (struct inserter){chan, DURING, 0};
    pthread_create(&th, NULL, insert_many, &ins);
    /* Page (small pages, so the scan spans the inserts) until the inserter
     * is done, at least once. */
    do {
        n = walk(key, "/v1/conversations?x=1", 3, seen, BEFORE + DURING, NULL);
        for (int i = 0; i < BEFORE; i++)
            cr_assert(has_id(seen, n, before[i]), "round %d: row %d skipped", rounds, i);
        for (int i = 1; i < n; i++)
            cr_assert_lt(strcmp(seen[i - 1], seen[i]), 0, "round %d: repeat or disorder at %d",
                         rounds, i);
        rounds++;
    } while (!ins.done);
    pthread_join(th, NULL);
    n = walk(key, "/v1/conversations?x=1", 7, seen, BEFORE + DURING, NULL);
    cr_assert_eq(n, BEFORE + DURING);
    cr_log_info("pagination: %d rounds of paging while %d rows were inserted", rounds, DURING);
}

/* --- patch ----------------------------------------------------------------- */

Test(conversations, patch_honours_if_match)
{
    char chan[37], id[37], etag[72], etag2[72], etag3[72];
    struct resp r;

    mk_channel(account, NULL, "support", chan);
    new_conv(chan, "c1", id);
    get_etag(id, etag);

    patch(id, "{\"subject\":\"New subject\"}", etag, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "subject"), "New subject");
    cr_assert(resp_header(&r, "ETag", etag2, sizeof(etag2)));
    cr_assert_str_neq(etag2, etag, "a change gives a new ETag");
    resp_free(&r);
    get_etag(id, etag3);
    cr_assert_str_eq(etag3, etag2, "GET answers the PATCH's ETag");

    /* The old tag is stale now: 412 and nothing changes. */
    patch(id, "{\"subject\":\"Lost update\",\"status\":\"closed\"}", etag, &r);
    expect_problem(&r, 412);
    cr_assert_not_null(strstr(jstr(r.json, "type"), "precondition-failed"), "%s", r.body);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations WHERE subject = 'New subject' "
                          "AND status = 'open'"),
                 1);

    /* "*" and no If-Match at all are unconditional. */
    patch(id, "{\"status\":\"pending\"}", "*", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    patch(id, "{\"subject\":null}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(json_is_null(json_object_get(r.json, "subject")), "null clears the subject");
    cr_assert_str_eq(jstr(r.json, "status"), "pending", "status untouched");
    resp_free(&r);

    /* Only a header that is not entity-tag syntax is a 400 (RFC 9110). */
    {
        const char *malformed[] = {"garbage", "\"unterminated", "\"1\" junk", "W/1", ",", NULL};

        for (int i = 0; malformed[i] != NULL; i++) {
            patch(id, "{\"status\":\"open\"}", malformed[i], &r);
            cr_assert_eq(r.status, 400, "If-Match: %s -> %ld", malformed[i], r.status);
            resp_free(&r);
        }
    }
    /* A well-formed tag inboxd never issued does not match: 412, whatever
     * it looks like (weak, not decimal, past int8, in a list). */
    {
        const char *foreign[] = {"W/\"1\"", "\"abc\"", "\"\"", "\"99999999999999999999\"",
                                 "\"-5\"", "W/\"1\", \"xyz\"", NULL};

        for (int i = 0; foreign[i] != NULL; i++) {
            patch(id, "{\"status\":\"open\"}", foreign[i], &r);
            cr_assert_eq(r.status, 412, "If-Match: %s -> %ld %s", foreign[i], r.status, r.body);
            resp_free(&r);
        }
    }
    /* The current tag inside a list with foreign ones matches. */
    {
        char list[128];

        get_etag(id, etag3);
        snprintf(list, sizeof(list), "W/\"7\", \"zz\", %s", etag3);
        patch(id, "{\"status\":\"pending\"}", list, &r);
        cr_assert_eq(r.status, 200, "If-Match: %s -> %ld %s", list, r.status, r.body);
        resp_free(&r);
    }
    /* If-Match on a missing conversation: 404, not 412. */
    patch("0190a000-0000-7000-8000-000000000000", "{\"status\":\"open\"}", etag2, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'conversation.update'"),
                 4);
}

struct patch_race {
    const char *id;
    const char *etag;
    const char *body;
    long status;
};

static void *
race_patch(void *p)
{
    struct patch_race *a = p;
    struct resp r;

    patch(a->id, a->body, a->etag, &r);
    a->status = r.status;
    resp_free(&r);
    return NULL;
}

Test(conversations, racing_patches_with_one_etag_one_wins)
{
    enum { N = 10 };
    char chan[37], id[37], etag[72];
    char bodies[N][64];
    struct patch_race a[N];
    pthread_t th[N];
    int ok = 0, stale = 0;

    mk_channel(account, NULL, "support", chan);
    new_conv(chan, "c1", id);
    get_etag(id, etag);
    for (int i = 0; i < N; i++) {
        snprintf(bodies[i], sizeof(bodies[i]), "{\"subject\":\"writer %d\"}", i);
        a[i] = (struct patch_race){id, etag, bodies[i], 0};
        pthread_create(&th[i], NULL, race_patch, &a[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++) {
        ok += a[i].status == 200;
        stale += a[i].status == 412;
    }
    cr_assert_eq(ok, 1);
    cr_assert_eq(stale, N - 1);
}

Test(conversations, patch_keeps_closed_at_and_feed_at)
{
    char chan[37], id[37], msg[37], draft[37], v[64], closed1[64];
    struct resp r;

    mk_channel(account, NULL, "support", chan);
    new_conv(chan, "c1", id);
    /* A pending draft on an inbound message, as the drafting routes leave it. */
    sql_text(
        msg, sizeof(msg),
        "INSERT INTO messages (account_id, id, conversation_id, direction, body_text, sent_at) "
        "VALUES ('%s', inboxd_uuid7(), '%s', 'inbound', 'hi', '2026-01-01T10:00:00Z') "
        "RETURNING id",
        account, id);
    sql_text(draft, sizeof(draft),
             "INSERT INTO drafts (account_id, id, conversation_id, trigger_message_id, model_key, "
             "prompt_version, suggested_text) VALUES ('%s', inboxd_uuid7(), '%s', '%s', 'm', 'p', "
             "'hello') RETURNING id",
             account, id, msg);
    sql_exec(
        "UPDATE conversations SET last_inbound_at = '2026-01-01T10:00:00Z', pending_draft_id = "
        "'%s', feed_at = '2026-01-01T10:00:00Z' WHERE id = '%s'",
        draft, id);

    patch(id, "{\"status\":\"closed\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "status"), "closed");
    resp_free(&r);
    sql_text(v, sizeof(v), "SELECT feed_at FROM conversations WHERE id = '%s'", id);
    cr_assert_str_eq(v, "NULL", "closing takes it out of the feed");
    sql_text(closed1, sizeof(closed1), "SELECT closed_at FROM conversations WHERE id = '%s'", id);
    cr_assert_str_neq(closed1, "NULL", "closing sets closed_at");

    /* Closed again (a subject change while closed): closed_at stays. */
    patch(id, "{\"status\":\"closed\",\"subject\":\"s\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    sql_text(v, sizeof(v), "SELECT closed_at FROM conversations WHERE id = '%s'", id);
    cr_assert_str_eq(v, closed1);

    patch(id, "{\"status\":\"open\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM conversations WHERE id = '%s' AND closed_at IS NULL "
                 "AND feed_at = '2026-01-01T10:00:00Z'",
                 id),
        1, "reopening clears closed_at and puts it back in the feed");

    patch(id, "{\"status\":\"pending\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM conversations WHERE id = '%s' AND feed_at IS NULL", id), 1,
        "only open conversations are in the feed");
}

Test(conversations, patch_validates)
{
    static const struct {
        const char *body;
        const char *field;
    } cases[] = {
        {"{}", "status"},
        {"{\"status\":null}", "status"},
        {"{\"status\":\"archived\"}", "status"},
        {"{\"status\":3}", "status"},
        {"{\"subject\":5}", "subject"},
        {"{\"subject\":\"a\\u0000\"}", "subject"},
    };
    char chan[37], id[37], big[1100], body[1200];
    struct resp r;

    mk_channel(account, NULL, "support", chan);
    new_conv(chan, "c1", id);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        patch(id, cases[i].body, NULL, &r);
        expect_field(&r, cases[i].field, cases[i].body);
        resp_free(&r);
    }
    memset(big, 'x', 1001);
    big[1001] = '\0';
    snprintf(body, sizeof(body), "{\"subject\":\"%s\"}", big);
    patch(id, body, NULL, &r);
    expect_field(&r, "subject", "long subject");
    resp_free(&r);
    patch(id, "nope", NULL, &r);
    expect_problem(&r, 400);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'conversation.update'"),
                 0);
}

/* --- delete ---------------------------------------------------------------- */

Test(conversations, soft_delete_hides_it_from_every_read)
{
    char chan[37], id[37], keep[37], msg[37], path[160], body[256], v[64];
    char ids[8][37];
    struct resp r;
    char writer[64];

    mk_channel(account, NULL, "support", chan);
    new_conv(chan, "gone", id);
    new_conv(chan, "kept", keep);
    snprintf(path, sizeof(path), "/v1/conversations/%s/messages", id);
    th_post(&t, path, key, "{\"direction\":\"inbound\",\"bodyText\":\"hi\"}", &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(msg, sizeof(msg), "%s", jstr(r.json, "id"));
    resp_free(&r);

    /* Deleting needs admin. */
    th_key(&t, account, "read messages:write", writer);
    snprintf(path, sizeof(path), "/v1/conversations/%s", id);
    th_http(&t, "DELETE", path, writer, NULL, NULL, &r);
    expect_problem(&r, 403);
    resp_free(&r);

    th_http(&t, "DELETE", path, key, NULL, NULL, &r);
    cr_assert_eq(r.status, 204, "%s", r.body);
    cr_assert_eq(r.len, 0);
    resp_free(&r);
    sql_text(v, sizeof(v),
             "SELECT deleted_at IS NOT NULL AND feed_at IS NULL FROM conversations "
             "WHERE id = '%s'",
             id);
    cr_assert_str_eq(v, "t", "kept, marked deleted");
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'conversation.delete'"),
                 1);

    th_get(&t, path, key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    patch(id, "{\"status\":\"closed\"}", NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_http(&t, "DELETE", path, key, NULL, NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/conversations/%s/timeline", id);
    th_get(&t, path, key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/conversations/%s/messages", id);
    th_get(&t, path, key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_post(&t, path, key, "{\"direction\":\"inbound\",\"bodyText\":\"again\"}", &r);
    expect_problem(&r, 404);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/messages/%s", msg);
    th_get(&t, path, key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    cr_assert_eq(walk(key, "/v1/conversations?x=1", 50, ids, 8, NULL), 1);
    cr_assert_str_eq(ids[0], keep);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE conversation_id = '%s'", id), 1);

    /* Its {channelId, externalId} is not handed out again while it is kept. */
    snprintf(body, sizeof(body), "{\"channelId\":\"%s\",\"externalId\":\"gone\"}", chan);
    th_post(&t, "/v1/conversations", key, body, &r);
    expect_problem(&r, 409);
    resp_free(&r);
}

/* --- tenancy and scopes ---------------------------------------------------- */

Test(conversations, another_tenants_conversation_is_a_404)
{
    char chan[37], id[37], other_acct[37], other_key[64], path[160], etag[72];
    char ids[4][37];
    struct resp r;

    mk_channel(account, NULL, "support", chan);
    new_conv(chan, "mine", id);
    get_etag(id, etag);
    th_tenant(&t, "Other Shop", other_acct, other_key);

    snprintf(path, sizeof(path), "/v1/conversations/%s", id);
    th_get(&t, path, other_key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_http(&t, "PATCH", path, other_key, "{\"status\":\"closed\"}", NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_http(&t, "DELETE", path, other_key, NULL, NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/conversations/%s/timeline", id);
    th_get(&t, path, other_key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    cr_assert_eq(walk(other_key, "/v1/conversations?x=1", 50, ids, 4, NULL), 0);
    {
        char q[160];

        snprintf(q, sizeof(q), "/v1/conversations?channelId=%s", chan);
        cr_assert_eq(walk(other_key, q, 50, ids, 4, NULL), 0);
    }
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations WHERE status = 'open' "
                          "AND deleted_at IS NULL"),
                 1);
}

Test(conversations, scopes_are_enforced)
{
    char chan[37], reader[64], body[256];
    struct resp r;

    mk_channel(account, NULL, "support", chan);
    th_key(&t, account, "read", reader);
    snprintf(body, sizeof(body), "{\"channelId\":\"%s\",\"externalId\":\"x\"}", chan);
    th_post(&t, "/v1/conversations", reader, body, &r);
    expect_problem(&r, 403);
    resp_free(&r);
    th_get(&t, "/v1/conversations", reader, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
}

/* --- timeline -------------------------------------------------------------- */

Test(conversations, timeline_merges_messages_drafts_and_actions_in_time_order)
{
    static const char *const want_kind[] = {"message", "draft",   "message",
                                            "action",  "message", "message"};
    static const char *const want_at[] = {"2026-03-01T10:00:00.000Z", "2026-03-01T10:01:00.000Z",
                                          "2026-03-01T10:02:00.000Z", "2026-03-01T10:03:00.000Z",
                                          "2026-03-01T10:04:00.000Z", "2026-03-01T10:04:00.000Z"};
    char chan[37], id[37], path[200], m1[37], m3[37], draft[37], action[37], user[37];
    char page_ids[8][37];
    struct resp r;
    const json_t *items, *it;
    size_t i;

    mk_channel(account, NULL, "support", chan);
    new_conv(chan, "t1", id);
    mk_user(account, "agent@example.com", user);
    snprintf(path, sizeof(path), "/v1/conversations/%s/messages", id);
    /* Posted out of order: the timeline orders by sentAt. */
    th_post(&t, path, key,
            "{\"direction\":\"inbound\",\"bodyText\":\"third\","
            "\"sentAt\":\"2026-03-01T11:02:00+01:00\",\"attachments\":[{\"fileName\":\"a.pdf\","
            "\"mimeType\":\"application/pdf\",\"sizeBytes\":3,\"fileUrl\":\"s3://b/a.pdf\"}]}",
            &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(m3, sizeof(m3), "%s", jstr(r.json, "id"));
    resp_free(&r);
    th_post(
        &t, path, key,
        "{\"direction\":\"inbound\",\"bodyText\":\"first\",\"sentAt\":\"2026-03-01T10:00:00Z\"}",
        &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(m1, sizeof(m1), "%s", jstr(r.json, "id"));
    resp_free(&r);
    /* Two at the same time: ordered by id (the later post has the larger id). */
    th_post(
        &t, path, key,
        "{\"direction\":\"outbound\",\"bodyText\":\"fifth\",\"sentAt\":\"2026-03-01T10:04:00Z\"}",
        &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    th_post(&t, path, key,
            "{\"direction\":\"system\",\"bodyText\":\"sixth\",\"sentAt\":\"2026-03-01T10:04:00Z\"}",
            &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    /* A draft and its action, as the drafting routes would write them. */
    sql_text(draft, sizeof(draft),
             "INSERT INTO drafts (account_id, id, conversation_id, trigger_message_id, model_key, "
             "prompt_version, suggested_text, created_at) VALUES ('%s', inboxd_uuid7(), '%s', "
             "'%s', 'gpt', 'v1', 'Hello', '2026-03-01T10:01:00Z') RETURNING id",
             account, id, m1);
    sql_text(action, sizeof(action),
             "INSERT INTO draft_actions (account_id, id, draft_id, user_id, type, created_at) "
             "VALUES ('%s', inboxd_uuid7(), '%s', '%s', 'reject', '2026-03-01T10:03:00Z') "
             "RETURNING id",
             account, draft, user);

    snprintf(path, sizeof(path), "/v1/conversations/%s/timeline", id);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 6, "%s", r.body);
    json_array_foreach (items, i, it) {
        cr_assert_str_eq(jstr(it, "kind"), want_kind[i], "item %zu: %s", i, r.body);
        cr_assert_str_eq(jstr(it, "at"), want_at[i], "item %zu", i);
        cr_assert(json_is_string(json_object_get(it, "id")));
        cr_assert(json_is_string(json_object_get(it, "createdAt")));
    }
    /* Each item carries its resource's fields. */
    it = json_array_get(items, 0);
    cr_assert_str_eq(jstr(it, "id"), m1);
    cr_assert_str_eq(jstr(it, "bodyText"), "first");
    cr_assert_str_eq(jstr(it, "direction"), "inbound");
    cr_assert(json_is_array(json_object_get(it, "attachments")));
    it = json_array_get(items, 1);
    cr_assert_str_eq(jstr(it, "id"), draft);
    cr_assert_str_eq(jstr(it, "suggestedText"), "Hello");
    cr_assert_str_eq(jstr(it, "triggerMessageId"), m1);
    it = json_array_get(items, 2);
    cr_assert_str_eq(jstr(it, "id"), m3);
    cr_assert_eq(json_array_size(json_object_get(it, "attachments")), 1);
    it = json_array_get(items, 3);
    cr_assert_str_eq(jstr(it, "id"), action);
    cr_assert_str_eq(jstr(it, "type"), "reject");
    cr_assert_str_eq(jstr(it, "draftId"), draft);
    it = json_array_get(items, 4);
    cr_assert_str_eq(jstr(it, "bodyText"), "fifth");
    cr_assert_str_eq(jstr(json_object_get(it, "delivery"), "status"), "pending");
    cr_assert_str_eq(jstr(json_array_get(items, 5), "bodyText"), "sixth");
    /* "kind" and "at" lead each item, then the resource's own order. */
    cr_assert_eq(strncmp(strstr(r.body, "{\"kind\""), "{\"kind\":\"message\",\"at\":", 23), 0, "%s",
                 r.body);
    cr_assert(json_is_null(json_object_get(r.json, "nextCursor")));
    resp_free(&r);

    /* Paged by two: the same sequence, nothing skipped or repeated. */
    snprintf(path, sizeof(path), "/v1/conversations/%s/timeline?x=1", id);
    cr_assert_eq(walk(key, path, 2, page_ids, 8, NULL), 6);
    cr_assert_str_eq(page_ids[0], m1);
    cr_assert_str_eq(page_ids[1], draft);
    cr_assert_str_eq(page_ids[2], m3);
    cr_assert_str_eq(page_ids[3], action);
    /* A cursor of an id-ordered list does not fit this one. */
    {
        char cid[8][37], cpath[300];
        struct resp lr;
        const char *cur;

        th_get(&t, "/v1/conversations?limit=1", key, &lr);
        /* One conversation: no next cursor; make one with a second. */
        resp_free(&lr);
        new_conv(chan, "t2", cid[0]);
        th_get(&t, "/v1/conversations?limit=1", key, &lr);
        cur = jstr(lr.json, "nextCursor");
        cr_assert_not_null(cur);
        snprintf(cpath, sizeof(cpath), "/v1/conversations/%s/timeline?cursor=%s", id, cur);
        resp_free(&lr);
        th_get(&t, cpath, key, &lr);
        expect_param(&lr, "cursor", "id cursor on the timeline");
        resp_free(&lr);
    }
}

Test(conversations, timeline_of_an_empty_or_unknown_conversation)
{
    char chan[37], id[37], path[160];
    struct resp r;

    mk_channel(account, NULL, "support", chan);
    new_conv(chan, "empty", id);
    snprintf(path, sizeof(path), "/v1/conversations/%s/timeline", id);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    cr_assert(json_is_null(json_object_get(r.json, "nextCursor")));
    resp_free(&r);
    th_get(&t, "/v1/conversations/0190a000-0000-7000-8000-000000000000/timeline", key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/conversations/%s/timeline?limit=0", id);
    th_get(&t, path, key, &r);
    expect_param(&r, "limit", "limit=0");
    resp_free(&r);
}

Test(conversations, last_message_at_follows_messages)
{
    char chan[37], id[37], path[160], etag[72], etag2[72];
    struct resp r;

    mk_channel(account, NULL, "support", chan);
    new_conv(chan, "c", id);
    get_etag(id, etag);
    snprintf(path, sizeof(path), "/v1/conversations/%s/messages", id);
    th_post(&t, path, key,
            "{\"direction\":\"outbound\",\"bodyText\":\"x\",\"sentAt\":\"2026-05-01T08:00:00Z\"}",
            &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    /* An older message does not move it back. */
    th_post(&t, path, key,
            "{\"direction\":\"inbound\",\"bodyText\":\"y\",\"sentAt\":\"2026-04-01T08:00:00Z\"}",
            &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/conversations/%s", id);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(jstr(r.json, "lastMessageAt"), "2026-05-01T08:00:00.000Z");
    cr_assert(resp_header(&r, "ETag", etag2, sizeof(etag2)));
    cr_assert_str_neq(etag2, etag, "a new message changes the conversation");
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations WHERE id = '%s' "
                          "AND last_inbound_at = '2026-04-01T08:00:00Z'",
                          id),
                 1);
}
