/*
 * routes/events.c: the live event stream (issue 17): what the writes
 * send, in commit order; filters; account scoping; resuming with
 * Last-Event-ID; reset; the heartbeat; the watermark holding an event
 * back while an older writer is open.
 *
 * The stream is read off a raw connection (fixtures.h, sse_*); rows are
 * made with direct SQL and through the routes that write events.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"
#include "inboxd/http/live.h"

TestSuite(events, .init = fx_setup, .fini = fx_teardown, .timeout = 120);

static void
post_draft(const char *conv, const char *msg, char draft[37])
{
    char path[128], body[512];

    snprintf(path, sizeof(path), "/v1/conversations/%s/drafts", conv);
    snprintf(body, sizeof(body),
             "{\"triggerMessageId\": \"%s\", \"modelKey\": \"m\", \"promptVersion\": \"v1\", "
             "\"suggestedText\": \"Your order ships today.\"}",
             msg);
    post_status(path, key, body, 201, draft);
}

/* A conversation of channel ch with an inbound message and its draft. */
static void
draft_in(const char *ch, char conv[37], char draft[37])
{
    char msg[37], req[37];

    mk_conv(account, ch, NULL, conv);
    mk_request(account, conv, 30, msg, req);
    post_draft(conv, msg, draft);
}

/* The next event must be `type` and its data must hold `needle`. */
static void
expect_event(struct sse *s, const char *type, const char *needle, struct sse_event *e)
{
    struct sse_event mine;

    if (e == NULL)
        e = &mine;
    sse_next(s, e);
    cr_assert_str_eq(e->type, type, "expected %s, got %s %s", type, e->type, e->data);
    if (needle != NULL)
        cr_assert_not_null(strstr(e->data, needle), "%s: %s not in %s", type, needle, e->data);
}

static void
open_stream(struct sse *s, const char *path, const char *k, const char *last)
{
    sse_open(s, t.base, path, k, last);
    cr_assert_eq(s->status, 200, "GET %s: %ld", path, s->status);
}

/* Ids are positions: each later than the one before. */
static void
expect_after(const char *before, const char *after)
{
    struct event_pos a, b;

    cr_assert(live_id_decode(before, &a), "%s", before);
    cr_assert(live_id_decode(after, &b), "%s", after);
    cr_assert_lt(event_pos_cmp(&a, &b), 0, "%s is not after %s", after, before);
}

Test(events, a_draft_and_its_approval_reach_the_stream_in_commit_order)
{
    struct sse s;
    struct sse_event e[6];
    char ch[37], conv[37], draft[37], uid[37];
    struct resp r;

    mk_channel(account, NULL, NULL, ch);
    mk_user(account, "rev@example.com", uid);
    open_stream(&s, "/v1/events", key, NULL);
    draft_in(ch, conv, draft);
    expect_event(&s, "draft.ready", draft, &e[0]);
    cr_assert_not_null(strstr(e[0].data, conv));
    expect_event(&s, "feed.changed", "\"entered\"", &e[1]);
    cr_assert_not_null(strstr(e[1].data, conv));
    cr_assert_not_null(strstr(e[1].data, "feedAt"));
    expect_event(&s, "notification.created", "draft.ready", &e[2]);
    act(draft, key, "approve", uid, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    expect_event(&s, "draft.acted", "\"sent\"", &e[3]);
    cr_assert_not_null(strstr(e[3].data, "\"approve\""));
    expect_event(&s, "feed.changed", "\"left\"", &e[4]);
    for (int i = 1; i < 5; i++)
        expect_after(e[i - 1].id, e[i].id);
    sse_close(&s);
}

Test(events, deliveries_jobs_and_notifications_are_events)
{
    struct sse s;
    char ch[37], conv[37], msg[37], path[128], job[37];
    struct resp r;

    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    mk_msg(account, conv, "outbound", 0, msg);
    open_stream(&s, "/v1/events", key, NULL);
    th_post(&t, "/v1/outbox/claim", key, "{\"limit\": 1, \"leaseSeconds\": 60}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/outbox/%s/delivered", msg);
    th_post(&t, path, key, "{\"externalId\": \"prov-1\"}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    expect_event(&s, "message.delivered", msg, NULL);
    post_status("/v1/jobs", key, "{\"type\": \"crawl\"}", 201, job);
    expect_event(&s, "job.updated", job, NULL);
    post_status("/v1/notifications", key, "{\"type\": \"ingest.failed\"}", 201, NULL);
    expect_event(&s, "notification.created", "ingest.failed", NULL);
    sse_close(&s);
}

Test(events, filters_by_type_and_by_channel)
{
    struct sse only_ready, only_b;
    struct sse_event e;
    char a[37], b[37], conv_a[37], conv_b[37], d_a[37], d_b[37], path[160];

    mk_channel(account, NULL, NULL, a);
    mk_channel(account, NULL, NULL, b);
    open_stream(&only_ready, "/v1/events?types=draft.ready,job.updated", key, NULL);
    snprintf(path, sizeof(path), "/v1/events?channelId=%s", b);
    open_stream(&only_b, path, key, NULL);
    draft_in(a, conv_a, d_a);
    draft_in(b, conv_b, d_b);
    expect_event(&only_ready, "draft.ready", d_a, NULL);
    expect_event(&only_ready, "draft.ready", d_b, NULL);
    /* Channel b's: its draft and its feed entry; no notification (no
     * channel) and nothing of channel a. */
    expect_event(&only_b, "draft.ready", d_b, NULL);
    expect_event(&only_b, "feed.changed", conv_b, NULL);
    /* Something after both, to know nothing else was on the way. */
    post_status("/v1/jobs", key, "{\"type\": \"crawl\"}", 201, NULL);
    expect_event(&only_ready, "job.updated", NULL, NULL);
    cr_assert_not(sse_poll(&only_b, &e, 300), "channel b's stream got %s %s", e.type, e.data);
    sse_close(&only_ready);
    sse_close(&only_b);
}

Test(events, a_stream_sees_only_its_own_account)
{
    struct sse mine, theirs;
    char other[37], other_key[64], ch[37], conv[37], draft[37], job[37];

    th_tenant(&t, "Other Shop", other, other_key);
    mk_channel(account, NULL, NULL, ch);
    open_stream(&mine, "/v1/events", key, NULL);
    open_stream(&theirs, "/v1/events", other_key, NULL);
    draft_in(ch, conv, draft);
    expect_event(&mine, "draft.ready", draft, NULL);
    /* The other account's first event is its own job, not our draft. */
    post_status("/v1/jobs", other_key, "{\"type\": \"crawl\"}", 201, job);
    expect_event(&theirs, "job.updated", job, NULL);
    sse_close(&mine);
    sse_close(&theirs);
}

/* A channel, and the draft.ready of a first draft in it, seen on a
 * stream that is closed again. */
static void
first_draft(char ch[37], struct sse_event *first)
{
    struct sse s;
    char conv[37], draft[37];

    mk_channel(account, NULL, NULL, ch);
    open_stream(&s, "/v1/events?types=draft.ready", key, NULL);
    draft_in(ch, conv, draft);
    expect_event(&s, "draft.ready", draft, first);
    sse_close(&s);
}

Test(events, last_event_id_resumes_after_that_event)
{
    struct sse s;
    struct sse_event first, second, e;
    char ch[37], c2[37], d2[37];

    first_draft(ch, &first);
    /* Written while no stream is open. */
    draft_in(ch, c2, d2);
    open_stream(&s, "/v1/events?types=draft.ready", key, first.id);
    expect_event(&s, "draft.ready", d2, &second);
    expect_after(first.id, second.id);
    sse_close(&s);
    /* Again from the first: the same event, with the same id. */
    open_stream(&s, "/v1/events?types=draft.ready", key, first.id);
    expect_event(&s, "draft.ready", d2, &e);
    cr_assert_str_eq(e.id, second.id);
    sse_close(&s);
    /* ?lastEventId= for clients that cannot send the header. */
    {
        char path[200];

        snprintf(path, sizeof(path), "/v1/events?types=draft.ready&lastEventId=%s", first.id);
        open_stream(&s, path, key, NULL);
        expect_event(&s, "draft.ready", d2, &e);
        sse_close(&s);
    }
}

Test(events, an_id_past_retention_or_not_ours_gets_one_reset)
{
    struct resp r;
    struct sse s;
    struct sse_event first, e;
    char ch[37], c2[37], d2[37];

    first_draft(ch, &first);
    /* Retention sweeps everything written so far, once it is 8 days old. */
    sql_exec("UPDATE events SET created_at = now() - interval '8 days' WHERE account_id = '%s'",
             account);
    th_post(&t, "/v1/admin/retention/run", key, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_gt(json_integer_value(json_object_get(r.json, "events")), 0, "%s", r.body);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM events WHERE account_id = '%s'", account), 0);
    open_stream(&s, "/v1/events?types=draft.ready", key, first.id);
    expect_event(&s, "reset", NULL, &e);
    /* From there on, as a new stream. */
    draft_in(ch, c2, d2);
    expect_event(&s, "draft.ready", d2, NULL);
    sse_close(&s);
    /* The reset's id resumes too. */
    open_stream(&s, "/v1/events?types=draft.ready", key, e.id);
    expect_event(&s, "draft.ready", d2, NULL);
    sse_close(&s);
    open_stream(&s, "/v1/events", key, "not-an-id");
    expect_event(&s, "reset", NULL, NULL);
    sse_close(&s);
}

Test(events, an_event_waits_for_older_writers_to_end)
{
    struct sse s;
    struct sse_event e;
    char ch[37], conv[37], draft[37];
    PGconn *older = PQconnectdb(t.conninfo);
    PGresult *res;

    cr_assert_eq(PQstatus(older), CONNECTION_OK);
    mk_channel(account, NULL, NULL, ch);
    open_stream(&s, "/v1/events?types=draft.ready", key, NULL);
    /* A writer that began before the draft's transaction, still open. */
    res = PQexec(older, "BEGIN; SELECT pg_current_xact_id()");
    cr_assert_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    draft_in(ch, conv, draft);
    cr_assert_not(sse_poll(&s, &e, 500), "sent past an open older writer: %s", e.data);
    res = PQexec(older, "COMMIT");
    PQclear(res);
    PQfinish(older);
    expect_event(&s, "draft.ready", draft, NULL);
    sse_close(&s);
}

Test(events, bad_filters_and_scopes_are_refused)
{
    struct resp r;
    char read_less[64];

    th_get(&t, "/v1/events?types=draft.ready,draft.eaten", key, &r);
    expect_param(&r, "types", "unknown type");
    resp_free(&r);
    th_get(&t, "/v1/events?channelId=nope", key, &r);
    expect_param(&r, "channelId", "bad channel");
    resp_free(&r);
    th_key(&t, account, "drafts:write", read_less);
    th_get(&t, "/v1/events", read_less, &r);
    expect_problem(&r, 403);
    resp_free(&r);
    th_get(&t, "/v1/events", NULL, &r);
    expect_problem(&r, 401);
    resp_free(&r);
}

/* The heartbeat, and the request timeouts that must not cut a stream. */
static void
short_timeouts(void)
{
    fx_start(NULL, (const char *const[]){"events_heartbeat_s=1", "http_connection_timeout_s=1",
                                         "http_header_timeout_s=1", NULL});
}

TestSuite(heartbeat, .init = short_timeouts, .fini = fx_teardown, .timeout = 120);

Test(heartbeat, idle_streams_get_one_and_outlive_request_timeouts)
{
    struct sse s;
    char ch[37], conv[37], draft[37];

    mk_channel(account, NULL, NULL, ch);
    open_stream(&s, "/v1/events?types=draft.ready", key, NULL);
    /* ": connected", then three ": keepalive": three times both timeouts. */
    sse_wait_comments(&s, 4);
    draft_in(ch, conv, draft);
    expect_event(&s, "draft.ready", draft, NULL);
    sse_close(&s);
}

/* The hub's LISTEN connection, as PostgreSQL sees it. */
static long
listener_pid(void)
{
    return sql_long("SELECT coalesce(max(pid), 0) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                    "AND (query LIKE 'LISTEN inboxd_events%%' OR query LIKE '%%inboxd_watermark() AS mark%%')");
}

Test(events, a_lost_listening_connection_is_reopened_and_nothing_is_lost)
{
    struct sse s;
    char ch[37], conv[37], draft[37];
    long before;

    mk_channel(account, NULL, NULL, ch);
    open_stream(&s, "/v1/events?types=draft.ready", key, NULL);
    TH_WAIT_UNTIL((before = listener_pid()) > 0, "no listening connection");
    sql_exec("SELECT pg_terminate_backend(%ld)", before);
    /* Written while the hub may be deaf. */
    draft_in(ch, conv, draft);
    expect_event(&s, "draft.ready", draft, NULL);
    TH_WAIT_UNTIL(listener_pid() > 0 && listener_pid() != before, "not reopened");
    cr_assert_eq(th_metric(&t, NULL, "inboxd_events_listening"), 1);
    sse_close(&s);
}
