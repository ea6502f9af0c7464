/* Audit log and retention (issue #5; API.md "Administration", "Details
 * callers rely on"). */
#include <criterion/criterion.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"
#include "inboxd/routes/routes.h"
#include "inboxd/db/retention.h"

static void
setup(void)
{
    /* Tiny batches, so every retention rule goes round its loop. */
    static const char *const settings[] = {"retention_batch=2", NULL};

    fx_start(NULL, settings);
}

static void
setup_timer(void)
{
    static const char *const settings[] = {"retention_interval_s=1", NULL};

    fx_start(NULL, settings);
}

/* A timer that will not fire during the test. */
static void
setup_timer_idle(void)
{
    static const char *const settings[] = {"retention_interval_s=3600", NULL};

    fx_start(NULL, settings);
}

/* A timer that fires at once and works in tiny batches. */
static void
setup_timer_slow(void)
{
    static const char *const settings[] = {"retention_interval_s=1", "retention_batch=5", NULL};

    fx_start(NULL, settings);
}

/* One timeout for every suite: criterion 2.4's runner leaks (LeakSanitizer
 * fails the run) when tests with different timeouts run in parallel. */
TestSuite(audit, .init = setup, .fini = fx_teardown, .timeout = 600);
TestSuite(retention, .init = setup, .fini = fx_teardown, .timeout = 600);
TestSuite(retention_big, .init = fx_setup, .fini = fx_teardown, .timeout = 600);
TestSuite(retention_timer, .init = setup_timer, .fini = fx_teardown, .timeout = 600);
TestSuite(retention_timer_idle, .init = setup_timer_idle, .fini = fx_teardown, .timeout = 600);
TestSuite(retention_timer_slow, .init = setup_timer_slow, .fini = fx_teardown, .timeout = 600);

/* --- helpers --------------------------------------------------------------- */

static long long
ival(const json_t *o, const char *name)
{
    const json_t *v = json_object_get(o, name);

    cr_assert(json_is_integer(v), "%s is not an integer", name);
    return json_integer_value(v);
}

static void
sha256_hex(const char *data, char out[65])
{
    unsigned char d[32];

    cr_assert_eq(gnutls_hash_fast(GNUTLS_DIG_SHA256, data, strlen(data), d), 0);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* --- audit log ------------------------------------------------------------- */

/* Sends one write with a request id and user agent of our own, then checks
 * its audit entry over the API and in the table. Returns the resource id
 * (from the answer's "id", or `id` when given). */
static void
audited_write(const char *method, const char *path, const char *body, const char *action,
              const char *type, const char *id, char out_id[37])
{
    static int n;
    char rid[64], ua[64], rid_h[96], ua_h[96], hash[65], q[256], key_id[37];
    const char *hdrs[] = {rid_h, ua_h, NULL};
    struct resp r;
    json_t *e = NULL, *it;
    size_t i;

    snprintf(rid, sizeof(rid), "lr-audit-%d-%ld", ++n, (long)getpid());
    snprintf(ua, sizeof(ua), "lr-test/%d.0 (audit)", n);
    snprintf(rid_h, sizeof(rid_h), "X-Request-Id: %s", rid);
    snprintf(ua_h, sizeof(ua_h), "User-Agent: %s", ua);
    th_http(&t, method, path, key, body, hdrs, &r);
    cr_assert(r.status >= 200 && r.status < 300, "%s %s: %ld %s", method, path, r.status, r.body);
    snprintf(out_id, 37, "%s", id ? id : jstr(r.json, "id"));
    resp_free(&r);

    sha256_hex(body ? body : "", hash);
    sql_text(key_id, sizeof(key_id),
             "SELECT id FROM api_keys WHERE account_id = '%s' AND prefix = '%.12s'", account, key);
    snprintf(q, sizeof(q), "/v1/audit-log?resourceType=%s&resourceId=%s&limit=200", type, out_id);
    th_get(&t, q, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    json_array_foreach (json_object_get(r.json, "items"), i, it) {
        cr_assert_str_eq(jstr(it, "resourceType"), type);
        cr_assert_str_eq(jstr(it, "resourceId"), out_id);
        if (strcmp(jstr(it, "requestId"), rid) == 0) {
            cr_assert_null(e, "two entries for request %s", rid);
            e = it;
        }
    }
    cr_assert_not_null(e, "%s %s left no audit entry: %s", method, path, r.body);
    cr_assert_str_eq(jstr(e, "action"), action);
    cr_assert_str_eq(jstr(e, "requestHash"), hash, "%s %s", method, path);
    cr_assert_str_eq(jstr(e, "actorKeyId"), key_id);
    cr_assert(json_is_null(json_object_get(e, "actorUserId")));
    cr_assert_str_eq(jstr(e, "ip"), "127.0.0.1");
    cr_assert_str_eq(jstr(e, "userAgent"), ua);
    cr_assert(json_is_string(json_object_get(e, "at")));
    cr_assert(json_is_string(json_object_get(e, "id")));
    resp_free(&r);
    /* And in the table, in the same transaction as the write: one row. */
    cr_assert_eq(
        sql_long("SELECT count(*) FROM audit_log WHERE request_id = '%s' AND action = '%s' "
                 "AND request_hash = '%s'",
                 rid, action, hash),
        1);
}

Test(audit, write_routes_record_who_what_and_the_body_hash)
{
    char user[37], channel[37], conv[37], body[512], path[128], ignored[37];

    audited_write("POST", "/v1/users",
                  "{\"email\": \"dale@example.com\", \"displayName\": \"Dale\"}", "user.create",
                  "user", NULL, user);
    snprintf(path, sizeof(path), "/v1/users/%s", user);
    audited_write("PATCH", path, "{\"displayName\": \"Dale R.\"}", "user.update", "user", user,
                  ignored);
    audited_write("POST", "/v1/channels",
                  "{\"type\": \"email\", \"externalId\": \"zoho-support\", \"name\": \"Support\"}",
                  "channel.create", "channel", NULL, channel);
    snprintf(path, sizeof(path), "/v1/channels/%s", channel);
    audited_write("PATCH", path, "{\"name\": \"Support inbox\"}", "channel.update", "channel",
                  channel, ignored);
    snprintf(body, sizeof(body),
             "{\"channelId\": \"%s\", \"externalId\": \"ZT-1042\", \"subject\": \"AN fittings\"}",
             channel);
    audited_write("POST", "/v1/conversations", body, "conversation.create", "conversation", NULL,
                  conv);
    snprintf(path, sizeof(path), "/v1/conversations/%s", conv);
    audited_write("PATCH", path, "{\"status\": \"closed\"}", "conversation.update", "conversation",
                  conv, ignored);
    audited_write("DELETE", path, NULL, "conversation.delete", "conversation", conv, ignored);
    audited_write("POST", "/v1/admin/retention/run", NULL, "retention.run", "account", account,
                  ignored);
}

Test(audit, the_list_is_oldest_first_and_paginates)
{
    char ids[5][37], path[256], cur[128] = "";
    int seen = 0, pages = 0;
    char prev_at[40] = "";

    for (int i = 0; i < 5; i++) {
        char body[128];
        struct resp r;

        snprintf(body, sizeof(body), "{\"email\": \"u%d@example.com\"}", i);
        th_post(&t, "/v1/users", key, body, &r);
        cr_assert_eq(r.status, 201, "%s", r.body);
        snprintf(ids[i], 37, "%s", jstr(r.json, "id"));
        resp_free(&r);
    }
    do {
        struct resp r;
        json_t *it;
        size_t i;

        snprintf(path, sizeof(path), "/v1/audit-log?resourceType=user&limit=2%s%s",
                 cur[0] ? "&cursor=" : "", cur);
        th_get(&t, path, key, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        json_array_foreach (json_object_get(r.json, "items"), i, it) {
            cr_assert_str_eq(jstr(it, "resourceId"), ids[seen], "entry %d", seen);
            cr_assert_geq(strcmp(jstr(it, "at"), prev_at), 0);
            snprintf(prev_at, sizeof(prev_at), "%s", jstr(it, "at"));
            seen++;
        }
        cur[0] = '\0';
        if (json_is_string(json_object_get(r.json, "nextCursor")))
            snprintf(cur, sizeof(cur), "%s", jstr(r.json, "nextCursor"));
        resp_free(&r);
        pages++;
    } while (cur[0] && pages < 10);
    cr_assert_eq(seen, 5);
    cr_assert_eq(pages, 3);
}

Test(audit, filters_by_type_id_and_since)
{
    char chan[37], path[256], cutoff[64];
    struct resp r;
    json_t *items;

    th_post(&t, "/v1/users", key, "{\"email\": \"a@example.com\"}", &r);
    resp_free(&r);
    th_post(&t, "/v1/channels", key,
            "{\"type\": \"chat\", \"externalId\": \"chat-1\", \"name\": \"Chat\"}", &r);
    snprintf(chan, sizeof(chan), "%s", jstr(r.json, "id"));
    resp_free(&r);

    th_get(&t, "/v1/audit-log", key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 2);
    resp_free(&r);
    th_get(&t, "/v1/audit-log?resourceType=channel", key, &r);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 1);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "resourceId"), chan);
    resp_free(&r);
    /* An id alone, and an id with the wrong type. */
    snprintf(path, sizeof(path), "/v1/audit-log?resourceId=%s", chan);
    th_get(&t, path, key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/audit-log?resourceType=user&resourceId=%s", chan);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    resp_free(&r);

    /* since: at or after. Back-date the user's entry by an hour. */
    PQclear(th_sql(&t, "UPDATE audit_log SET at = at - interval '1 hour' "
                       "WHERE resource_type = 'user'"));
    sql_text(cutoff, sizeof(cutoff),
             "SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
             "FROM audit_log WHERE resource_type = 'channel'");
    snprintf(path, sizeof(path), "/v1/audit-log?since=%s", cutoff);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 1);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "resourceType"), "channel");
    resp_free(&r);
}

Test(audit, malformed_filters_are_400)
{
    static const char *const bad[] = {
        "/v1/audit-log?resourceId=42",   "/v1/audit-log?resourceType=",
        "/v1/audit-log?since=last-week", "/v1/audit-log?limit=500",
        "/v1/audit-log?cursor=%%%",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct resp r;

        th_get(&t, bad[i], key, &r);
        expect_problem(&r, 400);
        resp_free(&r);
    }
}

Test(audit, another_accounts_entries_never_appear)
{
    char other[37], other_key[64];
    struct resp r;

    th_tenant(&t, "Other Shop", other, other_key);
    th_post(&t, "/v1/users", other_key, "{\"email\": \"them@example.com\"}", &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    th_get(&t, "/v1/audit-log", key, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    resp_free(&r);
    th_get(&t, "/v1/audit-log", other_key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1);
    resp_free(&r);
}

Test(audit, admin_routes_need_the_admin_scope)
{
    char reader[64];
    struct resp r;

    th_key(&t, account, "read messages:write drafts:write actions:write outbox:write jobs:write",
           reader);
    th_get(&t, "/v1/audit-log", reader, &r);
    expect_problem(&r, 403);
    resp_free(&r);
    th_post(&t, "/v1/admin/retention/run", reader, NULL, &r);
    expect_problem(&r, 403);
    resp_free(&r);
    th_get(&t, "/v1/admin/retention/run", key, &r);
    expect_problem(&r, 405);
    resp_free(&r);
}

/* --- retention ------------------------------------------------------------- */

/* Everything one account holds, young and old (see make_world). */
struct world {
    char acct[37], user[37], ch[37];
    char open[37], closed_old[37], closed_new[37], del_old[37], del_new[37];
};

static void
conv(const struct world *w, const char *ext, const char *extra_cols, const char *extra_vals,
     char id[37])
{
    sql_text(id, 37,
             "INSERT INTO conversations (account_id, id, channel_id, external_id, status%s) "
             "VALUES ('%s', inboxd_uuid7(), '%s', '%s', %s) RETURNING id",
             extra_cols, w->acct, w->ch, ext, extra_vals);
}

static void
msg(const struct world *w, const char *conv_id, const char *ext, const char *body, const char *html,
    char id[37])
{
    char h[256];

    snprintf(h, sizeof(h), html ? "'%s'" : "NULL", html);
    sql_text(id, 37,
             "INSERT INTO messages (account_id, id, conversation_id, external_id, direction, "
             "                      body_text, body_html) "
             "VALUES ('%s', inboxd_uuid7(), '%s', '%s', 'inbound', '%s', %s) RETURNING id",
             w->acct, conv_id, ext, body, h);
}

/* A draft of conv_id (triggered by a new message) named by model_key. */
static void
draft(const struct world *w, const char *conv_id, const char *name, const char *status, int days,
      char id[37])
{
    char trig[37];

    msg(w, conv_id, name, "question", NULL, trig);
    sql_text(id, 37,
             "INSERT INTO drafts (account_id, id, conversation_id, trigger_message_id, model_key, "
             "                    prompt_version, status, suggested_text, created_at, updated_at) "
             "VALUES ('%s', inboxd_uuid7(), '%s', '%s', '%s', 'v1', '%s', 'text', "
             "        now() - %d * interval '1 day', now() - %d * interval '1 day') RETURNING id",
             w->acct, conv_id, trig, name, status, days, days);
}

/* An action on a draft; with a learning sample when `sample`. */
static void
action(const struct world *w, const char *draft_id, const char *type, bool sample)
{
    char aid[37];

    sql_text(aid, 37,
             "INSERT INTO draft_actions (account_id, id, draft_id, user_id, type, final_text) "
             "VALUES ('%s', inboxd_uuid7(), '%s', '%s', '%s', %s) RETURNING id",
             w->acct, draft_id, w->user, type, strcmp(type, "edit") == 0 ? "'edited'" : "NULL");
    if (sample)
        sql_exec(
            "INSERT INTO learning_samples (account_id, id, draft_id, action_id, original_text, "
            "                              final_text) "
            "VALUES ('%s', inboxd_uuid7(), '%s', '%s', 'text', 'edited')",
            w->acct, draft_id, aid);
}

/*
 * One account's rows around every retention line, each table with a row
 * just past its default period and one inside it (back-dated in SQL).
 * What a sweep with the defaults must do (expect_swept): delete the
 * expired idempotency key, the four old webhook events of every status,
 * drafts d_arch_old (with its action) and d_sup_old, the old
 * notification, the draft request and the job run finished long ago;
 * blank the copied text of closed_old (messages, their subjects, its
 * draft, the draft's action, the webhook event that made a message, the
 * conversation's subject); remove del_old with its messages, draft and
 * sample. Everything else survives, the learning samples and the audit
 * log whatever their age.
 */
static void
make_world(const char *acct, struct world *w)
{
    char d[37], m[37];

    memset(w, 0, sizeof(*w));
    snprintf(w->acct, sizeof(w->acct), "%s", acct);
    sql_text(w->ch, 37,
             "INSERT INTO channels (account_id, id, type, external_id, name) "
             "VALUES ('%s', inboxd_uuid7(), 'email', 'support', 'Support') RETURNING id",
             acct);
    sql_text(w->user, 37,
             "INSERT INTO users (account_id, id, email) VALUES ('%s', inboxd_uuid7(), "
             "'agent@example.com') RETURNING id",
             acct);
    sql_exec("INSERT INTO webhook_events (account_id, id, source, delivery_id, topic, status, "
             "                            payload, raw_body, received_at) "
             "SELECT '%s', inboxd_uuid7(), 'shopify', d, 'orders/create', s::webhook_event_status, "
             "       '{\"body\": \"my card number\"}', '{\"body\": \"my card number\"}', "
             "       now() - a * interval '1 day' "
             "FROM (VALUES ('e_old_ok', 'succeeded', 20), ('e_old_skip', 'skipped', 15), "
             "             ('e_old_fail', 'failed', 30), ('e_old_recv', 'received', 30), "
             "             ('e_new_ok', 'succeeded', 13), ('e_new_fail', 'failed', 13)) v(d, s, a)",
             acct);
    sql_exec("INSERT INTO idempotency_keys (account_id, key, method, path, request_hash, state, "
             "                              response_status, response_body, created_at, "
             "                              expires_at) "
             "VALUES ('%1$s', 'k_old', 'POST', '/v1/x', 'h', 'done', 201, '{\"secret\": 1}', "
             "        now() - interval '25 hours', now() - interval '1 hour'), "
             "       ('%1$s', 'k_new', 'POST', '/v1/x', 'h', 'done', 201, '{\"secret\": 1}', "
             "        now() - interval '23 hours', now() + interval '1 hour')",
             acct);

    conv(w, "open", "", "'open'", w->open);
    conv(w, "closed_old", ", closed_at, updated_at, subject",
         "'closed', now() - interval '400 days', now() - interval '400 days', 'My order'",
         w->closed_old);
    conv(w, "closed_new", ", closed_at, subject", "'closed', now() - interval '10 days', 'Recent'",
         w->closed_new);
    conv(w, "del_old", ", deleted_at", "'open', now() - interval '40 days'", w->del_old);
    conv(w, "del_new", ", deleted_at", "'open', now() - interval '5 days'", w->del_new);

    draft(w, w->open, "d_arch_old", "archived", 100, d);
    action(w, d, "reject", false);
    draft(w, w->open, "d_sup_old", "superseded", 100, d);
    draft(w, w->open, "d_sup_sample", "superseded", 120, d);
    action(w, d, "edit", true);
    draft(w, w->open, "d_sent_old", "sent", 100, d);
    draft(w, w->open, "d_pending_old", "pending", 100, d);
    draft(w, w->open, "d_arch_new", "archived", 80, d);

    msg(w, w->closed_old, "c1", "my address is 1 Main St", "<p>my address</p>", m);
    sql_exec("UPDATE messages SET subject = 'Re: my address' WHERE id = '%s'", m);
    msg(w, w->closed_old, "c2", "my phone is 555", NULL, m);
    msg(w, w->closed_old, "c3", "", NULL, m);
    /* closed_old's draft (its trigger message is the fourth message), the
     * edit of it with a sample, and the delivery that made message c2. */
    draft(w, w->closed_old, "d_closed", "sent", 1, d);
    sql_exec("UPDATE drafts SET suggested_html = '<p>text</p>' WHERE id = '%s'", d);
    action(w, d, "edit", true);
    sql_exec("UPDATE draft_actions SET final_html = '<p>edited</p>', notes = 'customer is angry', "
             "diff_json = '[{\"op\": \"insert\", \"text\": \"edited\"}]' WHERE draft_id = '%s'",
             d);
    sql_exec("INSERT INTO webhook_events (account_id, id, source, delivery_id, topic, status, "
             "                            payload, raw_body, received_at, result) "
             "VALUES ('%s', inboxd_uuid7(), 'shopify', 'e_closed', 'message.created', "
             "        'succeeded', '{\"body\": \"my phone is 555\"}', 'my phone is 555', "
             "        now() - interval '1 day', jsonb_build_object('conversationId', '%s'::uuid))",
             acct, w->closed_old);
    msg(w, w->closed_new, "n1", "recent secret", "<p>recent</p>", m);
    sql_exec("INSERT INTO webhook_events (account_id, id, source, delivery_id, topic, status, "
             "                            payload, raw_body, received_at, result) "
             "VALUES ('%s', inboxd_uuid7(), 'shopify', 'e_recent', 'message.created', "
             "        'succeeded', '{\"body\": \"recent secret\"}', 'recent secret', "
             "        now() - interval '1 day', jsonb_build_object('conversationId', '%s'::uuid))",
             acct, w->closed_new);
    msg(w, w->del_old, "x1", "old deleted", NULL, m);
    draft(w, w->del_old, "d_in_deleted", "superseded", 1, d);
    action(w, d, "edit", true);
    msg(w, w->del_new, "y1", "young deleted", NULL, m);

    /* Notifications, finished queue rows and jobs, and the audit log. */
    sql_exec("INSERT INTO notifications (account_id, id, type, created_at) "
             "VALUES ('%1$s', inboxd_uuid7(), 'n_old', now() - interval '100 days'), "
             "       ('%1$s', inboxd_uuid7(), 'n_new', now() - interval '80 days')",
             acct);
    sql_exec("INSERT INTO draft_requests (account_id, id, conversation_id, message_id, status, "
             "                            created_at, updated_at) "
             "SELECT '%s', inboxd_uuid7(), '%s', x.id, v.s::draft_request_status, "
             "       now() - v.c * interval '1 day', now() - v.u * interval '1 day' "
             "FROM (VALUES ('d_sup_old', 'done', 41, 40), ('d_sent_old', 'failed', 40, 10), "
             "             ('d_pending_old', 'queued', 100, 100)) v(model, s, c, u) "
             "JOIN drafts dr ON dr.account_id = '%s' AND dr.model_key = v.model "
             "JOIN messages x ON x.account_id = dr.account_id AND x.id = dr.trigger_message_id",
             acct, w->open, acct);
    sql_exec("INSERT INTO job_runs (account_id, id, type, status, started_at, finished_at, "
             "                      created_at) "
             "VALUES ('%1$s', inboxd_uuid7(), 'crawl', 'succeeded', now() - interval '101 days', "
             "        now() - interval '100 days', now() - interval '101 days'), "
             "       ('%1$s', inboxd_uuid7(), 'crawl', 'failed', now() - interval '101 days', "
             "        now() - interval '80 days', now() - interval '101 days'), "
             "       ('%1$s', inboxd_uuid7(), 'crawl', 'running', now() - interval '101 days', "
             "        NULL, now() - interval '101 days')",
             acct);
    sql_exec("INSERT INTO audit_log (account_id, id, action, resource_type, at) "
             "VALUES ('%s', inboxd_uuid7(), 'a_ancient', 'x', now() - interval '3000 days')",
             acct);
}

/* The rows a sweep must have left in w's account. */
static void
expect_swept(const struct world *w)
{
    const char *a = w->acct;

    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE account_id = '%s' "
                          "AND delivery_id IN ('e_new_ok', 'e_new_fail', 'e_closed', 'e_recent')",
                          a),
                 4);
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE account_id = '%s'", a), 4);
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE account_id = '%s' "
                          "AND payload IS NULL AND raw_body IS NULL",
                          a),
                 1, "the delivery of the closed conversation's message lost its text");
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE account_id = '%s' "
                          "AND delivery_id = 'e_recent' AND raw_body = 'recent secret'",
                          a),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM idempotency_keys WHERE account_id = '%s' "
                          "AND key = 'k_new'",
                          a),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM idempotency_keys WHERE account_id = '%s'", a), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM drafts WHERE account_id = '%s' AND model_key IN "
                          "('d_sup_sample', 'd_sent_old', 'd_pending_old', 'd_arch_new', "
                          "'d_closed')",
                          a),
                 5);
    cr_assert_eq(sql_long("SELECT count(*) FROM drafts WHERE account_id = '%s'", a), 5);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_actions WHERE account_id = '%s'", a), 2,
                 "the rejected draft's action went with it; the kept edits stay");
    cr_assert_eq(sql_long("SELECT count(*) FROM learning_samples WHERE account_id = '%s'", a), 2);
    cr_assert_eq(sql_long("SELECT count(*) FROM learning_samples WHERE account_id = '%s' "
                          "AND original_text = 'text' AND final_text = 'edited'",
                          a),
                 2, "learning samples are the corrections export: kept whole");
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE account_id = '%s' "
                          "AND conversation_id = '%s' AND body_text = '' "
                          "AND body_html IS NULL AND subject IS NULL",
                          a, w->closed_old),
                 4);
    cr_assert_eq(sql_long("SELECT count(*) FROM drafts WHERE account_id = '%s' "
                          "AND model_key = 'd_closed' AND suggested_text = '' "
                          "AND suggested_html IS NULL",
                          a),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_actions x JOIN drafts d "
                          "ON d.account_id = x.account_id AND d.id = x.draft_id "
                          "WHERE x.account_id = '%s' AND d.model_key = 'd_closed' "
                          "AND x.final_text = '' AND x.final_html IS NULL AND x.notes IS NULL "
                          "AND x.diff_json IS NULL",
                          a),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations WHERE id = '%s' AND subject IS NULL",
                          w->closed_old),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations WHERE id = '%s' "
                          "AND subject = 'Recent'",
                          w->closed_new),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE account_id = '%s' "
                          "AND external_id = 'n1' AND body_text = 'recent secret' "
                          "AND body_html = '<p>recent</p>'",
                          a),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE account_id = '%s' "
                          "AND conversation_id = '%s' AND body_text = 'question'",
                          a, w->open),
                 6, "messages of an open conversation are never blanked");
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations WHERE account_id = '%s' "
                          "AND external_id IN ('open', 'closed_old', 'closed_new', 'del_new')",
                          a),
                 4);
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations WHERE account_id = '%s'", a), 4);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE account_id = '%s' "
                          "AND conversation_id = '%s'",
                          a, w->del_old),
                 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE account_id = '%s' "
                          "AND external_id = 'y1'",
                          a),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications WHERE account_id = '%s' "
                          "AND type = 'n_new'",
                          a),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications WHERE account_id = '%s'", a), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests WHERE account_id = '%s' "
                          "AND status IN ('failed', 'queued')",
                          a),
                 2, "a request finished 10 days ago and a queued one stay");
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests WHERE account_id = '%s'", a), 2);
    cr_assert_eq(sql_long("SELECT count(*) FROM job_runs WHERE account_id = '%s' "
                          "AND status IN ('failed', 'running')",
                          a),
                 2, "a job finished 80 days ago and a running one stay");
    cr_assert_eq(sql_long("SELECT count(*) FROM job_runs WHERE account_id = '%s'", a), 2);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE account_id = '%s' "
                          "AND action = 'a_ancient'",
                          a),
                 1, "the audit log is kept by default");
}

/* Rows of make_world's worlds that a sweep with the default periods has
 * still to delete or blank, in every table. */
static long
due_left(void)
{
    return sql_long(
        "SELECT (SELECT count(*) FROM idempotency_keys WHERE key = 'k_old') "
        "     + (SELECT count(*) FROM webhook_events WHERE received_at < now() - interval '14 "
        "days') "
        "     + (SELECT count(*) FROM drafts WHERE model_key IN ('d_arch_old', 'd_sup_old')) "
        "     + (SELECT count(*) FROM conversations c JOIN messages m ON m.account_id = "
        "c.account_id "
        "        AND m.conversation_id = c.id WHERE c.external_id = 'closed_old' "
        "        AND (m.body_text <> '' OR m.subject IS NOT NULL)) "
        "     + (SELECT count(*) FROM drafts WHERE model_key = 'd_closed' AND suggested_text <> "
        "'') "
        "     + (SELECT count(*) FROM draft_actions a JOIN drafts d ON d.account_id = a.account_id "
        "        AND d.id = a.draft_id WHERE d.model_key = 'd_closed' AND a.notes IS NOT NULL) "
        "     + (SELECT count(*) FROM webhook_events WHERE delivery_id = 'e_closed' "
        "        AND raw_body IS NOT NULL) "
        "     + (SELECT count(*) FROM conversations WHERE external_id = 'closed_old' "
        "        AND subject IS NOT NULL) "
        "     + (SELECT count(*) FROM conversations WHERE external_id = 'del_old') "
        "     + (SELECT count(*) FROM notifications WHERE type = 'n_old') "
        "     + (SELECT count(*) FROM draft_requests WHERE status = 'done') "
        "     + (SELECT count(*) FROM job_runs WHERE status = 'succeeded')");
}

/* Row counts of an account, as one text, to compare before and after. */
static void
fingerprint(const char *acct, char out[512])
{
    sql_text(out, 512,
             "SELECT concat_ws(',', "
             " (SELECT count(*) FROM webhook_events WHERE account_id = '%1$s'), "
             " (SELECT count(*) FROM drafts WHERE account_id = '%1$s'), "
             " (SELECT count(*) FROM draft_actions WHERE account_id = '%1$s'), "
             " (SELECT count(*) FROM learning_samples WHERE account_id = '%1$s'), "
             " (SELECT count(*) FROM conversations WHERE account_id = '%1$s'), "
             " (SELECT count(*) FROM messages WHERE account_id = '%1$s'), "
             " (SELECT count(*) FROM messages WHERE account_id = '%1$s' AND body_text = ''), "
             " (SELECT max(updated_at) FROM conversations WHERE account_id = '%1$s'))",
             acct);
}

/* What a sweep with the default periods does to make_world's rows. */
#define ALL_DUE                                                                                    \
    "idempotencyKeys=1 webhookEvents=4 drafts=2 messageBodies=3 draftTexts=1 actionTexts=1 "       \
    "webhookPayloads=1 conversationSubjects=1 conversations=1 notifications=1 draftRequests=1 "    \
    "jobRuns=1"

/* The count `field` has in `want` ("field=n field=n ..."), 0 when absent. */
static long long
wanted(const char *want, const char *field)
{
    size_t n = strlen(field);

    for (const char *p = want; (p = strstr(p, field)) != NULL; p += n)
        if ((p == want || p[-1] == ' ') && p[n] == '=')
            return atoll(p + n + 1);
    return 0;
}

/* A sweep of k's account over HTTP answers every table's count (14
 * fields), each as in `want`. */
static void
run_http(const char *k, const char *want)
{
    static const char *const fields[] = {
        "idempotencyKeys", "webhookEvents",   "learningSamples",
        "drafts",          "messageBodies",   "draftTexts",
        "actionTexts",     "webhookPayloads", "conversationSubjects",
        "conversations",   "notifications",   "draftRequests",
        "jobRuns",         "auditLog",        "events"};
    struct resp r;

    th_post(&t, "/v1/admin/retention/run", k, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_object_size(r.json), 15, "%s", r.body);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        cr_assert_eq(ival(r.json, fields[i]), wanted(want, fields[i]), "%s: %s", fields[i], r.body);
    resp_free(&r);
}

Test(retention, a_sweep_removes_and_blanks_exactly_what_is_due)
{
    struct world w;
    char closed_updated[64], after[64];

    make_world(account, &w);
    sql_text(closed_updated, sizeof(closed_updated),
             "SELECT updated_at FROM conversations WHERE id = '%s'", w.closed_old);
    run_http(key, ALL_DUE);
    expect_swept(&w);
    /* Blanking is not an edit of the conversation. */
    sql_text(after, sizeof(after), "SELECT updated_at FROM conversations WHERE id = '%s'",
             w.closed_old);
    cr_assert_str_eq(after, closed_updated);
}

Test(retention, a_second_sweep_finds_nothing_and_a_new_message_is_blanked_once)
{
    struct world w;
    char m[37];

    make_world(account, &w);
    run_http(key, ALL_DUE);
    run_http(key, "");
    expect_swept(&w);
    /* A message arrives in the long-closed conversation, as the messages
     * route writes it (the conversation's updated_at moves forward). */
    msg(&w, w.closed_old, "c4", "late reply with details", NULL, m);
    sql_exec("UPDATE conversations SET updated_at = greatest(now(), updated_at + interval "
             "'1 microsecond') WHERE id = '%s'",
             w.closed_old);
    run_http(key, "messageBodies=1 conversationSubjects=1");
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE id = '%s' AND body_text = ''", m),
                 1);
    run_http(key, "");
}

Test(retention, reopened_and_closed_again_counts_from_the_new_close)
{
    struct world w;

    make_world(account, &w);
    /* Closed 400 days ago, reopened and closed again yesterday: not due. */
    sql_exec("UPDATE conversations SET closed_at = now() - interval '1 day', updated_at = now() "
             "WHERE id = '%s'",
             w.closed_old);
    run_http(key, "idempotencyKeys=1 webhookEvents=4 drafts=2 conversations=1 notifications=1 "
                  "draftRequests=1 jobRuns=1");
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE conversation_id = '%s' "
                          "AND body_text <> ''",
                          w.closed_old),
                 3);
    cr_assert_eq(sql_long("SELECT count(*) FROM drafts WHERE conversation_id = '%s' "
                          "AND suggested_text <> ''",
                          w.closed_old),
                 1);
}

Test(retention, the_http_route_sweeps_the_callers_account_only)
{
    char other[37], other_key[64], before[512], after[512];
    struct world mine, theirs;

    th_tenant(&t, "Other Shop", other, other_key);
    make_world(account, &mine);
    make_world(other, &theirs);
    fingerprint(other, before);
    run_http(key, ALL_DUE);
    expect_swept(&mine);
    fingerprint(other, after);
    cr_assert_str_eq(after, before, "another account's rows were touched");
    run_http(other_key, ALL_DUE);
    expect_swept(&theirs);
}

Test(retention, the_closed_period_comes_from_the_configuration)
{
    struct world w;

    th_app_stop(&t);
    t.cf.retention_closed_days = 5;
    th_app_start(&t);
    make_world(account, &w);
    /* closed_new (10 days) is now due as well: its message, the delivery
     * that made it, its subject. */
    run_http(key, "idempotencyKeys=1 webhookEvents=4 drafts=2 messageBodies=4 draftTexts=1 "
                  "actionTexts=1 webhookPayloads=2 conversationSubjects=2 conversations=1 "
                  "notifications=1 draftRequests=1 jobRuns=1");
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE external_id = 'n1' "
                          "AND body_text = ''"),
                 1);
}

Test(retention, every_period_comes_from_the_configuration)
{
    struct world w;

    th_app_stop(&t);
    t.cf.retention_webhook_events_days = 31;   /* the oldest events are 30 days old */
    t.cf.retention_drafts_days = 101;          /* d_arch_old and d_sup_old are 100 */
    t.cf.retention_deleted_days = 41;          /* del_old was deleted 40 days ago */
    t.cf.retention_notifications_days = 101;   /* n_old is 100 */
    t.cf.retention_draft_requests_days = 5;    /* the failed one finished 10 days ago */
    t.cf.retention_job_runs_days = 50;         /* the failed one finished 80 days ago */
    t.cf.retention_learning_samples_days = 10; /* one sample is back-dated to 20 */
    t.cf.retention_audit_log_days = 365;       /* a_ancient is 3000 days old */
    th_app_start(&t);
    make_world(account, &w);
    sql_exec("UPDATE learning_samples s SET created_at = now() - interval '20 days' "
             "FROM drafts d WHERE d.account_id = s.account_id AND d.id = s.draft_id "
             "AND d.model_key = 'd_sup_sample'");
    /* The sample goes first, which frees its 120-day-old draft. */
    run_http(key, "idempotencyKeys=1 learningSamples=1 drafts=1 messageBodies=3 draftTexts=1 "
                  "actionTexts=1 webhookPayloads=1 conversationSubjects=1 draftRequests=2 "
                  "jobRuns=2 auditLog=1");
    cr_assert_eq(sql_long("SELECT count(*) FROM drafts WHERE model_key = 'd_sup_sample'"), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM learning_samples"), 2);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'a_ancient'"), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'retention.run'"), 1,
                 "this run's own entry is inside the period");
    cr_assert_eq(sql_long("SELECT count(*) FROM job_runs WHERE status = 'running'"), 1,
                 "a job that has not finished is never removed");
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests WHERE status = 'queued'"), 1,
                 "a request still queued is never removed");
}

Test(retention, a_period_of_0_keeps_a_table_forever)
{
    struct world w;

    th_app_stop(&t);
    t.cf.retention_webhook_events_days = 0;
    t.cf.retention_drafts_days = 0;
    t.cf.retention_deleted_days = 0;
    t.cf.retention_notifications_days = 0;
    t.cf.retention_draft_requests_days = 0;
    t.cf.retention_job_runs_days = 0;
    th_app_start(&t);
    make_world(account, &w);
    run_http(key, "idempotencyKeys=1 messageBodies=3 draftTexts=1 actionTexts=1 "
                  "webhookPayloads=1 conversationSubjects=1");
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events"), 8);
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations WHERE external_id = 'del_old'"), 1);
}

Test(retention, every_table_swept_is_a_metric)
{
    struct resp r;
    struct world w;
    char line[128];

    make_world(account, &w);
    run_http(key, ALL_DUE);
    th_get(&t, "/metrics", NULL, &r);
    cr_assert_eq(r.status, 200);
    cr_assert(strstr(r.body, "inboxd_retention_rows_total{table=\"webhook_events\"} 4\n") != NULL,
              "%s", r.body);
    cr_assert(strstr(r.body, "inboxd_retention_rows_total{table=\"message_bodies\"} 3\n") != NULL);
    cr_assert(strstr(r.body, "inboxd_retention_rows_total{table=\"audit_log\"} 0\n") != NULL);
    snprintf(line, sizeof(line), "inboxd_retention_last_sweep_timestamp_seconds 0\n");
    cr_assert(strstr(r.body, "inboxd_retention_last_sweep_timestamp_seconds ") != NULL);
    cr_assert(strstr(r.body, line) == NULL, "a sweep ran to its end: its time is set");
    resp_free(&r);
}

Test(retention, the_timer_is_on_by_default_and_0_turns_it_off)
{
    struct config cf = {0};
    char err[256], *argv[] = {"inboxd", NULL};
    int argc = 1;
    struct world w;

    cr_assert_eq(config_load(&cf, "/dev/null", &argc, argv, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(cf.retention_interval_s, 3600, "the default sweeps every hour");
    config_cleanup(&cf);
    /* Off: nothing is swept however long the instance runs. */
    th_app_stop(&t);
    t.cf.retention_interval_s = 0;
    th_app_start(&t);
    make_world(account, &w);
    th_app_stop(&t);
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE delivery_id = 'e_old_ok'"), 1);
}

Test(retention, the_command_line_sweeps_every_account)
{
    char other[37], other_key[64], bin[PATH_MAX], cmd[PATH_MAX + 1024], line[256], want[1024];
    struct world mine, theirs;
    int nlines = 0, status;
    FILE *p;

    th_tenant(&t, "Other Shop", other, other_key);
    make_world(account, &mine);
    make_world(other, &theirs);
    th_inboxd_path(bin);
    snprintf(cmd, sizeof(cmd),
             "DATABASE_URL='%s' '%s' --config /dev/null --log-level error --retention-batch 3 "
             "retention",
             t.app_conninfo, bin);
    /* One line per table, "name count", both accounts' rows together. */
    snprintf(want, sizeof(want),
             "idempotency_keys=2 webhook_events=8 drafts=4 message_bodies=6 draft_texts=2 "
             "action_texts=2 webhook_payloads=2 conversation_subjects=2 conversations=2 "
             "notifications=2 draft_requests=2 job_runs=2");
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    while (fgets(line, sizeof(line), p)) {
        char name[64];
        long long n;

        cr_assert_eq(sscanf(line, "%63s %lld", name, &n), 2, "unexpected output: %s", line);
        cr_assert_eq(n, wanted(want, name), "%s", line);
        nlines++;
    }
    status = pclose(p);
    cr_assert_eq(status, 0, "inboxd retention exited with %d", status);
    cr_assert_eq(nlines, 15);
    expect_swept(&mine);
    expect_swept(&theirs);
}

/* Of two all-accounts sweeps at once (two instances' timers, or the
 * command line beside one), one runs and the other skips and says so:
 * the test's own session holds the retention lock as the other sweep
 * would. */
Test(retention, of_two_sweeps_at_once_one_runs_and_the_other_skips)
{
    struct retention_opts o;
    struct retention_counts n;
    struct problem pb = {0};
    char bin[PATH_MAX], cmd[PATH_MAX + 1024], line[256] = "", before[512], after[512];
    struct world w;
    FILE *p;
    int convs = 0;

    routes_retention_opts(&t.cf, NULL, &o);
    while (strcmp(retention_table_name(convs), "conversations") != 0)
        convs++;
    make_world(account, &w);
    fingerprint(account, before);
    sql_exec("SELECT pg_advisory_lock(7345102205)");
    cr_assert_eq(db_retention_run_all(&o, &n, &pb), 1, "the sweep ran under another's lock");
    th_inboxd_path(bin);
    snprintf(cmd, sizeof(cmd),
             "DATABASE_URL='%s' '%s' --config /dev/null --log-level error retention", t.conninfo,
             bin);
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    cr_assert_not_null(fgets(line, sizeof(line), p));
    cr_assert_eq(pclose(p), 0);
    cr_assert(strncmp(line, "skipped: another retention sweep is running", 43) == 0, "%s", line);
    fingerprint(account, after);
    cr_assert_str_eq(after, before, "a skipped sweep changed something");

    sql_exec("SELECT pg_advisory_unlock(7345102205)");
    cr_assert_eq(db_retention_run_all(&o, &n, &pb), 0, "%s", pb.detail);
    cr_assert_eq(n.rows[convs], 1);
    expect_swept(&w);
}

/* --- the timer ------------------------------------------------------------- */

Test(retention_timer, the_timer_sweeps_every_account_and_stops_promptly)
{
    char other[37], other_key[64];
    struct world mine, theirs;

    th_tenant(&t, "Other Shop", other, other_key);
    make_world(account, &mine);
    make_world(other, &theirs);
    /* A sweep may have begun while the rows were being made and passed a
     * table before its rows were there: wait until what is due in every
     * table is gone, whichever sweeps did it. */
    TH_WAIT_UNTIL(due_left() == 0, "the 1 s timer never swept everything");
    th_app_stop(&t);
    expect_swept(&mine);
    expect_swept(&theirs);
}

Test(retention_timer_idle, a_waiting_timer_does_not_delay_shutdown)
{
    struct world w;

    make_world(account, &w);
    /* The timer waits an hour: were the stop to wait for it, the test
     * would hang until its timeout and fail. */
    th_app_stop(&t);
    /* The first sweep comes one interval after the start, not at once. */
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE delivery_id = 'e_old_ok'"), 1);
}

Test(retention_timer_slow, a_sweep_in_progress_stops_between_batches)
{
    long left;

    /* 20,000 old events in batches of 5: a sweep of thousands of batches. */
    sql_exec("INSERT INTO webhook_events (account_id, id, source, delivery_id, topic, status, "
             "                            received_at) "
             "SELECT '%s', inboxd_uuid7(), 'shopify', 'd' || g, 't', 'succeeded', "
             "       now() - interval '20 days' "
             "FROM generate_series(1, 20000) g",
             account);
    TH_WAIT_UNTIL(sql_long("SELECT count(*) FROM webhook_events") < 20000,
                  "the 1 s timer never swept");
    th_app_stop(&t);
    /* Stopped (the timer thread is joined) with thousands of batches to go:
     * what was done stays done; the rest waits for the next sweep. */
    left = sql_long("SELECT count(*) FROM webhook_events");
    cr_assert_gt(left, 0, "the sweep ran to its end instead of stopping");
}

/* --- 100,000 back-dated rows ----------------------------------------------- */

Test(retention_big, a_sweep_of_100000_back_dated_rows)
{
    char open[37], ch[37], user[37], survivor_before[512], survivor_after[512], other[37];
    char other_key[64];
    struct resp r;
    long long t0, ms;
    const char *a = account;

    th_tenant(&t, "Other Shop", other, other_key);
    sql_text(ch, 37,
             "INSERT INTO channels (account_id, id, type, external_id, name) "
             "VALUES ('%s', inboxd_uuid7(), 'email', 'support', 'Support') RETURNING id",
             a);
    sql_text(user, 37,
             "INSERT INTO users (account_id, id, email) VALUES ('%s', inboxd_uuid7(), "
             "'agent@example.com') RETURNING id",
             a);
    sql_text(open, 37,
             "INSERT INTO conversations (account_id, id, channel_id, external_id) "
             "VALUES ('%s', inboxd_uuid7(), '%s', 'open') RETURNING id",
             a, ch);
    /* 25,000 old succeeded webhook events (and 1,000 recent ones). */
    sql_exec("INSERT INTO webhook_events (account_id, id, source, delivery_id, topic, status, "
             "                            received_at) "
             "SELECT '%s', md5('e' || g)::uuid, 'shopify', 'd' || g, 't', 'succeeded', "
             "       now() - interval '20 days' - g * interval '1 second' "
             "FROM generate_series(1, 26000) g",
             a);
    sql_exec("UPDATE webhook_events SET received_at = now() WHERE account_id = '%s' "
             "AND delivery_id IN (SELECT 'd' || g FROM generate_series(25001, 26000) g)",
             a);
    /* 25,000 old archived drafts, each with its trigger message. */
    sql_exec("INSERT INTO messages (account_id, id, conversation_id, direction, body_text) "
             "SELECT '%s', md5('t' || g)::uuid, '%s', 'inbound', 'question ' || g "
             "FROM generate_series(1, 25000) g",
             a, open);
    sql_exec("INSERT INTO drafts (account_id, id, conversation_id, trigger_message_id, model_key, "
             "                    prompt_version, status, suggested_text, created_at) "
             "SELECT '%s', md5('d' || g)::uuid, '%s', md5('t' || g)::uuid, 'm', 'v1', 'archived', "
             "       'draft', now() - interval '100 days' "
             "FROM generate_series(1, 25000) g",
             a, open);
    /* 250 conversations closed 400 days ago with 100 messages each, and
     * 250 soft-deleted 40 days ago with 100 messages each. */
    sql_exec(
        "INSERT INTO conversations (account_id, id, channel_id, external_id, status, closed_at, "
        "                           deleted_at) "
        "SELECT '%s', md5('c' || g)::uuid, '%s', 'c' || g, "
        "       CASE WHEN g <= 250 THEN 'closed' ELSE 'open' END::conversation_status, "
        "       CASE WHEN g <= 250 THEN now() - interval '400 days' END, "
        "       CASE WHEN g > 250 THEN now() - interval '40 days' END "
        "FROM generate_series(1, 500) g",
        a, ch);
    sql_exec(
        "INSERT INTO messages (account_id, id, conversation_id, direction, body_text, body_html) "
        "SELECT '%s', md5('m' || g)::uuid, md5('c' || (1 + (g - 1) / 100))::uuid, 'inbound', "
        "       'customer text with an address ' || g, '<p>html</p>' "
        "FROM generate_series(1, 50000) g",
        a);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE account_id = '%s'", a), 75000);
    PQclear(th_sql(&t, "ANALYZE"));
    fingerprint(other, survivor_before);

    t0 = th_now_ms();
    th_post(&t, "/v1/admin/retention/run", key, NULL, &r);
    ms = th_now_ms() - t0;
    cr_assert_eq(r.status, 200, "%s", r.body);
    fprintf(stderr,
            "retention: swept 100,000 back-dated rows (25,000 events, 25,000 drafts, "
            "25,000 message bodies, 250 conversations with 25,000 messages) in %lld ms: %s\n",
            ms, r.body);
    cr_assert_eq(ival(r.json, "webhookEvents"), 25000);
    cr_assert_eq(ival(r.json, "drafts"), 25000);
    cr_assert_eq(ival(r.json, "messageBodies"), 25000);
    cr_assert_eq(ival(r.json, "conversations"), 250);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM webhook_events WHERE account_id = '%s'", a), 1000);
    cr_assert_eq(sql_long("SELECT count(*) FROM drafts WHERE account_id = '%s'", a), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE account_id = '%s' "
                          "AND body_text <> ''",
                          a),
                 25000, "the open conversation's messages keep their text");
    cr_assert_eq(sql_long("SELECT count(*) FROM conversations WHERE account_id = '%s'", a), 251);
    fingerprint(other, survivor_after);
    cr_assert_str_eq(survivor_after, survivor_before);

    /* The next sweep has nothing to do, and finds that out quickly. */
    t0 = th_now_ms();
    th_post(&t, "/v1/admin/retention/run", key, NULL, &r);
    ms = th_now_ms() - t0;
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "{\"idempotencyKeys\":0,\"webhookEvents\":0,\"learningSamples\":0,"
                             "\"drafts\":0,\"messageBodies\":0,\"draftTexts\":0,"
                             "\"actionTexts\":0,\"webhookPayloads\":0,"
                             "\"conversationSubjects\":0,\"conversations\":0,"
                             "\"notifications\":0,\"draftRequests\":0,\"jobRuns\":0,"
                             "\"auditLog\":0,\"events\":0}");
    fprintf(stderr, "retention: the following empty sweep took %lld ms\n", ms);
    resp_free(&r);
}
