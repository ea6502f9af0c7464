/*
 * routes/drafts.c: drafts (issue #3): create (one per trigger, supersede,
 * notifications), validation, and the reads with actions and ETag.
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

TestSuite(drafts, .init = fx_setup, .fini = fx_teardown, .timeout = 90);

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

/* --- drafts ---------------------------------------------------------------- */

Test(drafts, a_draft_finishes_its_request_supersedes_and_notifies)
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

Test(drafts, a_closed_conversation_gets_its_draft_but_no_feed_position)
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

Test(drafts, a_second_draft_for_one_trigger_is_409)
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

Test(drafts, simultaneous_drafts_for_one_trigger_make_one)
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

Test(drafts, draft_references_are_checked)
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

Test(drafts, draft_fields_are_validated_and_named)
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

Test(drafts, drafts_of_other_accounts_and_deleted_conversations_are_404)
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

Test(drafts, get_draft_has_its_actions_and_etag)
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

Test(drafts, draft_list_filters_and_pages_oldest_first)
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

/* --- attachments (issue 17) ------------------------------------------------ */

#define TWO_ATTACHMENTS                                                                     \
    "\"attachments\": [{\"fileName\": \"invoice-1042.pdf\", \"mimeType\": \"application/pdf\", " \
    "\"sizeBytes\": 48213, \"fileUrl\": \"s3://files/invoice-1042.pdf\"}, "                   \
    "{\"fileName\": \"label.png\", \"mimeType\": \"image/png\", \"sizeBytes\": 0, "           \
    "\"fileUrl\": \"s3://files/label.png\"}]"

/* A pending draft with TWO_ATTACHMENTS (or none) for a new conversation. */
static void
draft_with_attachments(bool with, char conv[37], char draft[37], struct resp *r)
{
    char ch[37], msg[37], req[37], body[1024];

    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    mk_request(account, conv, 60, msg, req);
    snprintf(body, sizeof(body),
             "{\"triggerMessageId\": \"%s\", \"modelKey\": \"m\", \"promptVersion\": \"v\", "
             "\"suggestedText\": \"Here is your invoice.\"%s%s}",
             msg, with ? ", " : "", with ? TWO_ATTACHMENTS : "");
    post_draft(key, conv, body, r);
    cr_assert_eq(r->status, 201, "%s", r->body);
    snprintf(draft, 37, "%s", jstr(r->json, "id"));
}

/* The attachments array `arr` holds the two of TWO_ATTACHMENTS in order,
 * each with messageId `message` (NULL: null). */
static void
expect_two(const json_t *arr, const char *message)
{
    cr_assert_eq(json_array_size(arr), 2);
    cr_assert_str_eq(jstr(json_array_get(arr, 0), "fileName"), "invoice-1042.pdf");
    cr_assert_str_eq(jstr(json_array_get(arr, 0), "mimeType"), "application/pdf");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(arr, 0), "sizeBytes")), 48213);
    cr_assert_str_eq(jstr(json_array_get(arr, 1), "fileUrl"), "s3://files/label.png");
    for (size_t i = 0; i < 2; i++) {
        const json_t *m = json_object_get(json_array_get(arr, i), "messageId");

        if (message == NULL)
            cr_assert(json_is_null(m), "item %zu", i);
        else
            cr_assert_str_eq(json_string_value(m), message, "item %zu", i);
    }
}

Test(drafts, a_drafts_attachments_are_kept_in_order_and_shown_wherever_it_is)
{
    char conv[37], draft[37], path[128], first[37];
    struct resp r;

    draft_with_attachments(true, conv, draft, &r);
    expect_two(json_object_get(r.json, "attachments"), NULL);
    snprintf(first, sizeof(first), "%s", jstr(json_array_get(json_object_get(r.json,
                                                                             "attachments"), 0),
                                              "id"));
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM attachments WHERE draft_id = '%s' "
                          "AND message_id IS NULL",
                          draft),
                 2);

    snprintf(path, sizeof(path), "/v1/drafts/%s", draft);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    expect_two(json_object_get(r.json, "attachments"), NULL);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "attachments"), 0), "id"), first);
    cr_assert(json_is_array(json_object_get(r.json, "actions")));
    resp_free(&r);

    snprintf(path, sizeof(path), "/v1/drafts?conversationId=%s", conv);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    expect_two(json_object_get(json_array_get(json_object_get(r.json, "items"), 0), "attachments"),
               NULL);
    resp_free(&r);

    th_get(&t, "/v1/feed", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    expect_two(json_object_get(json_object_get(json_array_get(json_object_get(r.json, "items"), 0),
                                               "draft"),
                               "attachments"),
               NULL);
    resp_free(&r);

    snprintf(path, sizeof(path), "/v1/conversations/%s/timeline", conv);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    {
        const json_t *items = json_object_get(r.json, "items"), *it;
        size_t i;
        int drafts = 0;

        json_array_foreach (items, i, it)
            if (strcmp(jstr(it, "kind"), "draft") == 0) {
                expect_two(json_object_get(it, "attachments"), NULL);
                drafts++;
            }
        cr_assert_eq(drafts, 1);
    }
    resp_free(&r);
}

Test(drafts, a_drafts_attachments_are_validated_as_a_messages)
{
    char ch[37], conv[37], msg[37], req[37], body[2048];
    struct resp r;

    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    mk_request(account, conv, 60, msg, req);
    snprintf(body, sizeof(body),
             "{\"triggerMessageId\": \"%s\", \"modelKey\": \"m\", \"promptVersion\": \"v\", "
             "\"suggestedText\": \"x\", \"attachments\": [{\"fileName\": \"\", "
             "\"mimeType\": \"a/b\", \"sizeBytes\": -1, \"fileUrl\": \"s3://x\", \"extra\": 1}, 7]}",
             msg);
    post_draft(key, conv, body, &r);
    expect_fields(&r, (const char *const[]){"attachments[0].extra", "attachments[0].fileName",
                                            "attachments[0].sizeBytes", "attachments[1]", NULL});
    resp_free(&r);
    snprintf(body, sizeof(body),
             "{\"triggerMessageId\": \"%s\", \"modelKey\": \"m\", \"promptVersion\": \"v\", "
             "\"suggestedText\": \"x\", \"attachments\": {}}",
             msg);
    post_draft(key, conv, body, &r);
    expect_field(&r, "attachments", NULL);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM drafts"), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM attachments"), 0);
}

Test(drafts, approve_and_edit_copy_the_drafts_attachments_onto_the_outbound_message)
{
    char conv[37], draft[37], user[37], msg[37];
    struct resp r;

    mk_user(account, "rev@example.com", user);
    for (int i = 0; i < 3; i++) {
        /* approve, edit, and an approve of a draft without attachments */
        draft_with_attachments(i < 2, conv, draft, &r);
        resp_free(&r);
        act(draft, key, i == 1 ? "edit" : "approve", user, i == 1 ? "Here it is." : NULL, NULL,
            NULL, &r);
        cr_assert_eq(r.status, 201, "%s", r.body);
        snprintf(msg, sizeof(msg), "%s", jstr(r.json, "message.id"));
        if (i < 2) {
            expect_two(json_object_get(json_object_get(r.json, "message"), "attachments"), msg);
            expect_two(json_object_get(json_object_get(r.json, "draft"), "attachments"), NULL);
        } else {
            cr_assert_eq(json_array_size(json_object_get(json_object_get(r.json, "message"),
                                                         "attachments")),
                         0);
        }
        resp_free(&r);
        /* New rows of the message; the draft keeps its own. */
        cr_assert_eq(sql_long("SELECT count(*) FROM attachments WHERE message_id = '%s' "
                              "AND draft_id IS NULL",
                              msg),
                     i < 2 ? 2 : 0);
        cr_assert_eq(sql_long("SELECT count(*) FROM attachments WHERE draft_id = '%s'", draft),
                     i < 2 ? 2 : 0);
        /* The message as read later and as the outbox hands it out. */
        {
            char path[128];

            snprintf(path, sizeof(path), "/v1/messages/%s", msg);
            th_get(&t, path, key, &r);
            cr_assert_eq(r.status, 200, "%s", r.body);
            if (i < 2)
                expect_two(json_object_get(r.json, "attachments"), msg);
            resp_free(&r);
        }
    }
    /* The sync service gets them with the outbox items. */
    th_post(&t, "/v1/outbox/claim", key, "{\"limit\": 10, \"leaseSeconds\": 60}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    {
        const json_t *items = json_object_get(r.json, "items"), *it;
        size_t i;
        int with = 0;

        cr_assert_eq(json_array_size(items), 3);
        json_array_foreach (items, i, it)
            if (json_array_size(json_object_get(it, "attachments")) > 0) {
                expect_two(json_object_get(it, "attachments"), jstr(it, "id"));
                with++;
            }
        cr_assert_eq(with, 2);
    }
    resp_free(&r);
}
