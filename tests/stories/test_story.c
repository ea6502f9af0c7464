/*
 * test_story: the whole review workflow as its callers play it, over HTTP
 * only (issue #3 "Tests"): an admin sets up a channel and a reviewer, the
 * sync service posts a conversation and an inbound message, the assistants
 * service claims the draft request and posts a draft, the dashboard sees it
 * in the feed and edits it, the outbox holds the reply, the timeline shows
 * the trail, and the edit became a learning sample.
 *
 * Each caller uses a key with only its own scopes (API.md "Typical keys").
 *
 * The sync service's own story starts one step earlier, at a signed webhook
 * delivery, and ends at the provider's delivery report.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "inboxd/lib/wdiff.h"

static char admin_key[64], sync_key[64], assistant_key[64], dashboard_key[64];

/* Each caller's key, with only its own scopes (API.md "Typical keys"); the
 * admin's is the tenant's key (fixtures.h), with every scope. */
static void
caller_keys(void)
{
    snprintf(admin_key, sizeof(admin_key), "%s", key);
    th_key(&t, account, "read messages:write outbox:write", sync_key);
    th_key(&t, account, "read drafts:write", assistant_key);
    th_key(&t, account, "read actions:write", dashboard_key);
}

static void
setup(void)
{
    fx_setup();
    caller_keys();
}

/* The sync service's story starts at a signed webhook delivery
 * (webhook_sources() in fixtures.h): the tenant is the "Hook Shop" its
 * source names. */
static void
setup_webhooks(void)
{
    webhook_sources();
    fx_start("Hook Shop", NULL);
    caller_keys();
}

TestSuite(story, .init = setup, .fini = fx_teardown, .timeout = 120);
TestSuite(story_webhooks, .init = setup_webhooks, .fini = fx_teardown, .timeout = 120);

/* A copy of member `name` (a string) of r's body into out. */
static void
take(const json_t *o, const char *name, char *out, size_t n)
{
    const char *v = jstr(o, name);

    cr_assert_not_null(v, "no %s", name);
    snprintf(out, n, "%s", v);
}

static const char *const suggested = "Hi Anna,\n\nyour order #1042 ships today.  Thanks!";
static const char *const final_text = "Hi Anna,\n\nyour order #1042 shipped today — tracking: "
                                      "ZX9.  Thanks, Jörg!";

Test(story, inbound_message_to_draft_to_edit_to_outbox_and_timeline)
{
    char user[37], channel[37], conv[37], inbound[37], request[37], draft[37], action[37],
        outbound[37], path[160], body[1024];
    struct resp r;
    json_t *item, *items;

    /* Admin: a reviewer and a channel. */
    th_post(&t, "/v1/users", admin_key,
            "{\"email\":\"joerg@hotrod.example\",\"displayName\":\"Jörg\"}", &r);
    cr_assert_eq(r.status, 201, "users: %s", r.body);
    take(r.json, "id", user, sizeof(user));
    resp_free(&r);
    th_post(&t, "/v1/channels", admin_key,
            "{\"type\":\"email\",\"externalId\":\"zoho-support\",\"name\":\"Support inbox\"}", &r);
    cr_assert_eq(r.status, 201, "channels: %s", r.body);
    take(r.json, "id", channel, sizeof(channel));
    resp_free(&r);

    /* Sync service: the conversation and the customer's message. */
    snprintf(body, sizeof(body),
             "{\"channelId\":\"%s\",\"externalId\":\"ZT-1042\",\"subject\":\"Order 1042\","
             "\"customerEmail\":\"anna@example.com\",\"customerName\":\"Anna\"}",
             channel);
    th_post(&t, "/v1/conversations", sync_key, body, &r);
    cr_assert_eq(r.status, 201, "conversations: %s", r.body);
    take(r.json, "id", conv, sizeof(conv));
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/conversations/%s/messages", conv);
    th_post(&t, path, sync_key,
            "{\"externalId\":\"zoho-msg-1\",\"direction\":\"inbound\","
            "\"bodyText\":\"Where is my order 1042?\"}",
            &r);
    cr_assert_eq(r.status, 201, "messages: %s", r.body);
    take(r.json, "id", inbound, sizeof(inbound));
    resp_free(&r);

    /* Assistants service: claim the request the message queued, post the draft. */
    th_post(&t, "/v1/draft-requests/claim", assistant_key,
            "{\"limit\":5,\"leaseSeconds\":60,\"workerId\":\"worker-1\"}", &r);
    cr_assert_eq(r.status, 200, "claim: %s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 1, "%s", r.body);
    item = json_array_get(items, 0);
    take(item, "id", request, sizeof(request));
    cr_assert_str_eq(jstr(item, "status"), "leased");
    cr_assert_str_eq(jstr(item, "messageId"), inbound);
    cr_assert_str_eq(jstr(json_object_get(item, "conversation"), "id"), conv);
    cr_assert_str_eq(jstr(json_object_get(item, "channel"), "id"), channel);
    cr_assert_str_eq(jstr(json_object_get(item, "message"), "bodyText"), "Where is my order 1042?");
    resp_free(&r);
    {
        json_t *o =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:f}]}", "triggerMessageId", inbound,
                      "draftRequestId", request, "modelKey", "gpt-x", "promptVersion", "v7",
                      "suggestedText", suggested, "topSources", "url",
                      "https://hotrod.example/shipping", "title", "Shipping", "score", 0.9);
        char *text = json_dumps(o, JSON_COMPACT);

        snprintf(path, sizeof(path), "/v1/conversations/%s/drafts", conv);
        th_post(&t, path, assistant_key, text, &r);
        free(text);
        json_decref(o);
    }
    cr_assert_eq(r.status, 201, "drafts: %s", r.body);
    take(r.json, "id", draft, sizeof(draft));
    cr_assert_str_eq(jstr(r.json, "status"), "pending");
    resp_free(&r);

    /* Dashboard: the feed shows it; edit it. */
    th_get(&t, "/v1/feed", dashboard_key, &r);
    cr_assert_eq(r.status, 200, "feed: %s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 1, "%s", r.body);
    item = json_array_get(items, 0);
    cr_assert_str_eq(jstr(json_object_get(item, "conversation"), "id"), conv);
    cr_assert_str_eq(jstr(json_object_get(item, "channel"), "id"), channel);
    cr_assert_str_eq(jstr(json_object_get(item, "latestInbound"), "id"), inbound);
    cr_assert_str_eq(jstr(json_object_get(item, "draft"), "id"), draft);
    cr_assert_str_eq(jstr(json_object_get(item, "draft"), "suggestedText"), suggested);
    resp_free(&r);
    {
        json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "type", "edit", "userId", user, "finalText",
                              final_text, "notes", "added tracking");
        char *text = json_dumps(o, JSON_COMPACT);

        snprintf(path, sizeof(path), "/v1/drafts/%s/actions", draft);
        th_post(&t, path, dashboard_key, text, &r);
        free(text);
        json_decref(o);
    }
    cr_assert_eq(r.status, 201, "action: %s", r.body);
    take(json_object_get(r.json, "action"), "id", action, sizeof(action));
    take(json_object_get(r.json, "message"), "id", outbound, sizeof(outbound));
    cr_assert_str_eq(jstr(json_object_get(r.json, "draft"), "status"), "superseded");
    {
        const json_t *ops = json_object_get(json_object_get(r.json, "action"), "diffJson");
        size_t n;
        char *replayed = wdiff_apply(suggested, strlen(suggested), ops, &n);

        cr_assert_not_null(replayed);
        cr_assert_str_eq(replayed, final_text);
        free(replayed);
    }
    resp_free(&r);
    th_get(&t, "/v1/feed", dashboard_key, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0, "%s", r.body);
    resp_free(&r);

    /* The reply waits in the outbox. */
    snprintf(path, sizeof(path), "/v1/conversations/%s/messages", conv);
    th_get(&t, path, sync_key, &r);
    cr_assert_eq(r.status, 200, "messages: %s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 2, "%s", r.body);
    item = json_array_get(items, 1);
    cr_assert_str_eq(jstr(item, "id"), outbound);
    cr_assert_str_eq(jstr(item, "direction"), "outbound");
    cr_assert_str_eq(jstr(item, "bodyText"), final_text);
    cr_assert_str_eq(jstr(item, "subject"), "Order 1042");
    cr_assert_str_eq(jstr(json_object_get(item, "delivery"), "status"), "pending");
    resp_free(&r);
    {
        char sql[300];

        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM messages WHERE account_id = '%s' AND id = '%s' "
                 "AND delivery_status = 'pending' AND claimable_at <= now()",
                 account, outbound);
        cr_assert_eq(th_sql_long(&t, sql), 1, "claimable in the outbox");
    }

    /* The timeline: message, draft, action, the reply. */
    snprintf(path, sizeof(path), "/v1/conversations/%s/timeline", conv);
    th_get(&t, path, dashboard_key, &r);
    cr_assert_eq(r.status, 200, "timeline: %s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 4, "%s", r.body);
    {
        static const char *const kinds[] = {"message", "draft", "action", "message"};
        const char *ids[] = {inbound, draft, action, outbound};

        for (size_t i = 0; i < 4; i++) {
            item = json_array_get(items, i);
            cr_assert_str_eq(jstr(item, "kind"), kinds[i], "item %zu: %s", i, r.body);
            cr_assert_str_eq(jstr(item, "id"), ids[i], "item %zu: %s", i, r.body);
            cr_assert_not_null(jstr(item, "at"));
        }
    }
    resp_free(&r);

    /* The correction became a learning sample, and the request is done. */
    {
        char sql[400];

        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM learning_samples s JOIN draft_actions a "
                 "  ON a.account_id = s.account_id AND a.id = s.action_id "
                 "WHERE s.account_id = '%s' AND s.draft_id = '%s' AND a.id = '%s' "
                 "AND s.final_text = a.final_text AND jsonb_array_length(s.diff_json) > 1",
                 account, draft, action);
        cr_assert_eq(th_sql_long(&t, sql), 1, "one learning sample");
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM draft_requests WHERE account_id = '%s' AND id = '%s' "
                 "AND status = 'done'",
                 account, request);
        cr_assert_eq(th_sql_long(&t, sql), 1, "the draft request is done");
    }
}

/* --- the sync service, end to end ---------------------------------------------- */

Test(story_webhooks, sync_service_end_to_end_delivery_draft_approve_outbox_delivered)
{
    char body[2048], path[160];
    char user[37], draft[37], outbound[37];
    struct resp r;
    struct webhook_ids x;
    const json_t *item;

    th_post(&t, "/v1/users", key, "{\"email\":\"joerg@hookshop.example\",\"displayName\":\"J\"}",
            &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(user, sizeof(user), "%s", jstr(r.json, "id"));
    resp_free(&r);

    /* The sync service posts the provider's message. */
    webhook_delivery(body, sizeof(body), "zoho-evt-1", "ZT-1042", "zoho-msg-1");
    deliver("hookshop", "shop-secret", body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    take_ids(&r, &x);
    resp_free(&r);

    /* The assistants service claims the request it queued and drafts. */
    th_post(&t, "/v1/draft-requests/claim", assistant_key,
            "{\"limit\":5,\"leaseSeconds\":60,\"workerId\":\"w-1\"}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1, "%s", r.body);
    item = json_array_get(json_object_get(r.json, "items"), 0);
    cr_assert_str_eq(jstr(item, "id"), x.req);
    cr_assert_str_eq(jstr(item, "messageId"), x.msg);
    cr_assert_str_eq(jstr(json_object_get(item, "channel"), "externalId"), "zoho-support");
    resp_free(&r);
    post_request_draft(&t, assistant_key, &x, draft);

    /* The dashboard approves it. */
    snprintf(path, sizeof(path), "/v1/drafts/%s/actions", draft);
    snprintf(body, sizeof(body), "{\"type\":\"approve\",\"userId\":\"%s\"}", user);
    th_post(&t, path, dashboard_key, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(outbound, sizeof(outbound), "%s", jstr(json_object_get(r.json, "message"), "id"));
    resp_free(&r);

    /* The sync service claims the reply with what the provider needs. */
    th_post(&t, "/v1/outbox/claim", sync_key, "{\"limit\":10,\"leaseSeconds\":60}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1, "%s", r.body);
    item = json_array_get(json_object_get(r.json, "items"), 0);
    cr_assert_str_eq(jstr(item, "id"), outbound);
    cr_assert_str_eq(jstr(item, "bodyText"), "It ships today.");
    cr_assert_str_eq(jstr(json_object_get(item, "conversation"), "externalId"), "ZT-1042");
    cr_assert_str_eq(jstr(json_object_get(item, "channel"), "externalId"), "zoho-support");
    cr_assert_str_eq(jstr(json_object_get(item, "channel"), "type"), "email");
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/outbox/%s/delivered", outbound);
    th_post(&t, path, sync_key, "{\"externalId\":\"zoho-reply-1\"}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE account_id = '%s' AND id = '%s' "
                          "AND delivery_status = 'delivered' AND external_id = 'zoho-reply-1' "
                          "AND conversation_id = '%s'",
                          account, outbound, x.conv),
                 1);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM draft_requests WHERE id = '%s' AND status = 'done'", x.req),
        1);
}
