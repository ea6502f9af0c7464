/*
 * db_webhooks: the SQL of webhook deliveries, the event log, the registry
 * and the diagnostics.
 *
 * DESIGN. A delivery is two transactions. The first only stores it
 * ('received') and commits, so an accepted delivery survives whatever
 * happens next. Its INSERT is ON CONFLICT (account, source, deliveryId) DO
 * NOTHING, which waits for a racing storer's commit and then finds its row:
 * however many deliveries of one id arrive, one event row exists. The second
 * transaction starts by locking that row FOR UPDATE and decides by the
 * status it finds under the lock: 'received' is processed (and only then
 * does the row change), anything else is answered from the row. Duplicates
 * thus queue on the row lock behind the one processing it and read its
 * committed result: exactly one 201, and the same ids in every answer. The
 * processing calls db_channels_upsert_in(), db_conversations_upsert_in()
 * and db_messages_create_in() inside its transaction: the one copy of that
 * logic the plain routes use too.
 *
 * Validation belongs to routes/ (body.h readers): it is handed in as a
 * callback and runs inside the processing transaction on the payload as
 * stored, so a first delivery and a replay (after an operator fixed the
 * stored payload) are validated and processed by the same code.
 *
 * Every statement's $1 is the caller's account. Nothing here knows HTTP,
 * and nothing here logs a payload.
 */
#include "inboxd/db/webhooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inboxd/db/db.h"
#include "inboxd/db/audit.h"
#include "inboxd/db/rows.h"
#include "inboxd/lib/sbuf.h"
#include "inboxd/lib/uuid7.h"

/* The WebhookResult of event row e, its ids from the stored result. */
#define RESULT_JSON(dup)                                                                           \
    "json_build_object('eventId', e.id, 'conversationId', e.result->'conversationId', "            \
    "'messageId', e.result->'messageId', 'draftRequestId', e.result->'draftRequestId', "           \
    "'duplicate', " dup ")"

/* A duplicate's answer: the processed event's result, duplicate true. */
#define ANSWER_SQL                                                                                 \
    "SELECT " RESULT_JSON("true") " FROM webhook_events e WHERE e.account_id = $1 AND e.id = $2"

enum {
    S_STORE,
    S_BY_DELIVERY,
    S_LOCK,
    S_DONE,
    S_FAIL,
    S_ANSWER,
    S_CORRECT,
    S_LIST,
    S_GET,
    S_REG_LIST,
    S_REG_PUT,
    S_REG_DELETE,
    S_DIAG,
};

static const struct db_stmt stmts[] = {
    /* $6 the payload, NULL when the body cannot be jsonb (a \u0000 in a
     * string); $7 the raw body, kept either way: the signed bytes. */
    [S_STORE] = {"wh_store",
                 "INSERT INTO webhook_events (account_id, id, source, delivery_id, topic, "
                 "                            payload, raw_body) "
                 "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) "
                 "ON CONFLICT (account_id, source, delivery_id) DO NOTHING RETURNING id",
                 7},
    [S_BY_DELIVERY] = {"wh_by_delivery",
                       "SELECT id FROM webhook_events "
                       "WHERE account_id = $1 AND source = $2 AND delivery_id = $3",
                       3},
    /* The payload as stored now: an operator may have fixed it for a replay. */
    [S_LOCK] = {"wh_lock",
                "SELECT e.status, coalesce(e.payload::text, e.raw_body), coalesce(e.error, '') "
                "FROM webhook_events e WHERE e.account_id = $1 AND e.id = $2 FOR UPDATE",
                2},
    /* $3 succeeded or skipped; $4/$5 the delivery's id and topic (a replayed
     * payload may have gained them; a stored deliveryId never changes, it
     * is the deduplication key); $6-$8 the ids or NULL. */
    [S_DONE] = {"wh_done",
                "UPDATE webhook_events AS e SET status = $3::webhook_event_status, "
                "  delivery_id = coalesce(e.delivery_id, $4), topic = $5, error = NULL, "
                "  processed_at = now(), "
                "  result = jsonb_build_object('eventId', e.id, 'conversationId', $6::uuid, "
                "      'messageId', $7::uuid, 'draftRequestId', $8::uuid, 'duplicate', false) "
                "WHERE e.account_id = $1 AND e.id = $2 "
                "RETURNING " RESULT_JSON("false"),
                8},
    /* Never over a processed event: a failure that lost the race to a
     * successful duplicate leaves the success alone. */
    [S_FAIL] = {"wh_fail",
                "UPDATE webhook_events AS e SET status = 'failed', error = $3, "
                "  processed_at = now(), result = NULL "
                "WHERE e.account_id = $1 AND e.id = $2 AND e.status IN ('received', 'failed') "
                "RETURNING e.id",
                3},
    [S_ANSWER] = {"wh_answer", ANSWER_SQL, 2},
    /* A replay's corrected payload (0013): payload and raw_body stay as
     * delivered. */
    [S_CORRECT] = {"wh_correct",
                   "UPDATE webhook_events SET corrected_payload = $3::jsonb, corrected_at = now() "
                   "WHERE account_id = $1 AND id = $2",
                   3},
    [S_LIST] = {"wh_list",
                "SELECT inboxd_json_webhook_event_v2(e), e.received_at, e.id FROM webhook_events e "
                "WHERE e.account_id = $1 "
                "  AND " DB_AFTER("e.received_at", "e.id", "$2", "$3") " "
                "  AND ($4::text IS NULL OR e.source = $4) "
                "  AND ($5::webhook_event_status IS NULL OR e.status = $5::webhook_event_status) "
                "ORDER BY e.received_at, e.id LIMIT $6",
                6},
    [S_GET] = {"wh_get",
               "SELECT inboxd_json_webhook_event_v2(e) FROM webhook_events e "
               "WHERE e.account_id = $1 AND e.id = $2",
               2},
    /* Keyset on (source, topic_key), the unique key, found from the id of
     * the last entry shown. */
    [S_REG_LIST] = {"wh_reg_list",
                    "SELECT inboxd_json_webhook_subscription(s), s.id "
                    "FROM webhook_subscriptions s WHERE s.account_id = $1 "
                    "  AND ($2::uuid IS NULL OR (s.source, s.topic_key) > "
                    "       (SELECT c.source, c.topic_key FROM webhook_subscriptions c "
                    "        WHERE c.account_id = $1 AND c.id = $2::uuid)) "
                    "ORDER BY s.source, s.topic_key LIMIT $3",
                    3},
    /* A replaced row keeps its id, so s.id = $2 tells a new row. */
    [S_REG_PUT] = {"wh_reg_put",
                   "INSERT INTO webhook_subscriptions AS s (account_id, id, source, topic_key, "
                   "    delivery_method, callback_url, last_handshake_at, last_handshake_result) "
                   "VALUES ($1, $2, $3, $4, $5, $6, $7::timestamptz, $8) "
                   "ON CONFLICT (account_id, source, topic_key) DO UPDATE SET "
                   "  delivery_method = excluded.delivery_method, "
                   "  callback_url = excluded.callback_url, "
                   "  last_handshake_at = excluded.last_handshake_at, "
                   "  last_handshake_result = excluded.last_handshake_result, "
                   "  updated_at = now() "
                   "RETURNING inboxd_json_webhook_subscription(s), s.id, s.id = $2::uuid",
                   8},
    [S_REG_DELETE] = {"wh_reg_delete",
                      "DELETE FROM webhook_subscriptions "
                      "WHERE account_id = $1 AND source = $2 AND topic_key = $3 RETURNING id",
                      3},
    /* Pairs: every registry entry and every topic delivered in the last
     * 24 h. Counts over those 24 h by status; lastDeliveryAt over all
     * time. Each lateral walks webhook_events_source_idx for its source. */
    [S_DIAG] = {"wh_diagnostics",
                "SELECT json_build_object('items', coalesce(json_agg(json_build_object("
                "    'source', p.source, 'topic', p.topic, "
                "    'subscription', CASE WHEN s.id IS NOT NULL "
                "                         THEN inboxd_json_webhook_subscription(s) END, "
                "    'lastDeliveryAt', inboxd_ts(l.last), "
                "    'counts', json_build_object('received', n.received, 'succeeded', n.succeeded, "
                "                                'failed', n.failed, 'skipped', n.skipped)) "
                "  ORDER BY p.source, p.topic), '[]'::json)) "
                "FROM (SELECT e.source, e.topic FROM webhook_events e "
                "      WHERE e.account_id = $1 AND e.received_at > now() - interval '24 hours' "
                "        AND e.topic IS NOT NULL "
                "      UNION "
                "      SELECT r.source, r.topic_key FROM webhook_subscriptions r "
                "      WHERE r.account_id = $1) p "
                "LEFT JOIN webhook_subscriptions s "
                "       ON s.account_id = $1 AND s.source = p.source AND s.topic_key = p.topic "
                "CROSS JOIN LATERAL ("
                "      SELECT count(*) FILTER (WHERE e.status = 'received') AS received, "
                "             count(*) FILTER (WHERE e.status = 'succeeded') AS succeeded, "
                "             count(*) FILTER (WHERE e.status = 'failed') AS failed, "
                "             count(*) FILTER (WHERE e.status = 'skipped') AS skipped "
                "      FROM webhook_events e WHERE e.account_id = $1 AND e.source = p.source "
                "        AND e.topic = p.topic AND e.received_at > now() - interval '24 hours') n "
                "CROSS JOIN LATERAL ("
                "      SELECT max(e.received_at) AS last FROM webhook_events e "
                "      WHERE e.account_id = $1 AND e.source = p.source AND e.topic = p.topic) l",
                1},
};

static PGresult *
run(struct dbconn *c, int s, const char *const *p, struct problem *pb)
{
    return db_exec(c, &stmts[s], p, pb);
}

/* Copies row 0, column 0 (JSON text) into *json / *len. */
static int
take_json(const PGresult *res, char **json, size_t *len, struct problem *pb)
{
    *len = (size_t)PQgetlength(res, 0, 0);
    *json = db_strdup(res, 0, 0);
    return *json ? 0 : problem_internal(pb, "webhooks: out of memory");
}

/* The event's error column for a failure: the field errors ("field:
 * message; ...") of a validation problem, else its detail. Both are
 * caller-safe by construction (they never echo input). */
static void
error_text(const struct problem *p, char *out, size_t outlen)
{
    struct sbuf b;
    char *text;
    size_t len;

    if (p->nfields == 0) {
        snprintf(out, outlen, "%s", p->detail[0] ? p->detail : "processing failed");
        return;
    }
    sbuf_init(&b);
    for (int i = 0; i < p->nfields; i++)
        sbuf_addf(&b, "%s%s: %s", i ? "; " : "",
                  p->fields[i].field[0] ? p->fields[i].field : "(body)", p->fields[i].message);
    text = sbuf_steal(&b, &len);
    snprintf(out, outlen, "%s", text ? text : p->detail);
    free(text);
}

/* --- storing a delivery ------------------------------------------------------ */

struct store {
    const struct who *w;
    const struct webhook_delivery *d;
    char id[UUID7_STRLEN + 1]; /* the new event's id */
    char found[UUID7_STRLEN + 1];
};

static int
store_tx(struct dbconn *c, void *arg, struct problem *pb)
{
    struct store *s = arg;
    const struct webhook_delivery *d = s->d;
    const char *p[] = {s->w->account_id, s->id,    d->source,
                       d->delivery_id,   d->topic, d->payload_storable ? d->body : NULL,
                       d->body};
    const char *q[] = {s->w->account_id, d->source, d->delivery_id};
    PGresult *res;
    int n;

    s->found[0] = '\0';
    if ((res = run(c, S_STORE, p, pb)) == NULL)
        return -1;
    n = PQntuples(res);
    PQclear(res);
    if (n == 1) {
        snprintf(s->found, sizeof(s->found), "%s", s->id);
        return db_audit(c, s->w, "webhook_event.receive", "webhook_event", s->id, NULL, pb);
    }
    /* A delivery of this id is stored (ON CONFLICT waited for its commit;
     * this statement's new snapshot sees it). */
    if ((res = run(c, S_BY_DELIVERY, q, pb)) == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return problem_internal(pb, "webhook store: conflicting event not found");
    }
    snprintf(s->found, sizeof(s->found), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

/* --- processing ---------------------------------------------------------------- */

struct proc {
    const struct who *w;
    const char *event_id;
    bool replay;
    const char *corrected; /* a replay's corrected payload (JSON text), or NULL */
    webhook_parse_fn parse;
    /* Reset by every run of the transaction. */
    bool found;      /* the event exists */
    bool processing; /* the payload is being processed (a failure is the delivery's) */
    bool failed;     /* committed without an answer: `fail` is the problem */
    bool duplicate;  /* answered from a processed event */
    struct problem fail;
    char *json;
    size_t len;
    /* Scratch of one run. */
    struct webhook_in in;
    struct channel_upsert ch;
    struct conversation_out conv;
    struct message_created msg;
};

static void
proc_reset(struct proc *x)
{
    free(x->json);
    x->json = NULL;
    x->len = 0;
    x->found = x->processing = x->failed = x->duplicate = false;
    memset(&x->fail, 0, sizeof(x->fail));
}

static void
proc_cleanup(struct proc *x)
{
    free(x->json);
    free(x->ch.json);
    free(x->conv.json);
    free(x->msg.json);
}

/* Marks the event failed with p's error, in c's transaction. */
static int
mark_failed(struct dbconn *c, const struct who *w, const char *event_id, const struct problem *p,
            struct problem *pb)
{
    char err[1024];
    const char *q[] = {w->account_id, event_id, err};
    PGresult *res;

    error_text(p, err, sizeof(err));
    if ((res = run(c, S_FAIL, q, pb)) == NULL)
        return -1;
    PQclear(res);
    return 0;
}

/* The processing proper: channel, conversation, inbound message and its
 * draft request, then the event 'succeeded'; or 'skipped' for another
 * topic. Fills x->json with the result. */
static int
process_payload(struct dbconn *c, struct proc *x, struct problem *pb)
{
    const char *acct = x->w->account_id;
    struct webhook_in *in = &x->in;
    const char *status = "skipped";
    const char *conv_id = NULL, *msg_id = NULL, *req_id = NULL;
    PGresult *res;
    int rc;

    if (strcmp(in->topic, WEBHOOKS_TOPIC_MESSAGE_CREATED) == 0) {
        char ch_id[UUID7_STRLEN + 1], conv_new[UUID7_STRLEN + 1];

        uuid7_new(ch_id);
        uuid7_new(conv_new);
        /* An existing channel or conversation is used as it is: a delivery
         * never renames a channel or rewrites a conversation. */
        if (db_channels_upsert_in(c, x->w, &in->channel, ch_id, &x->ch, pb) != 0)
            return -1;
        in->conversation.channel_id = x->ch.id;
        if (db_conversations_upsert_in(c, x->w, &in->conversation, conv_new, &x->conv, pb) != 0)
            return -1;
        if (db_messages_create_in(c, x->w, x->conv.id, &in->message, false, &x->msg, pb) != 0)
            return -1;
        status = "succeeded";
        conv_id = x->conv.id;
        msg_id = x->msg.id;
        /* A message stored before (same externalId) queued nothing now. */
        req_id = x->msg.draft_request_id[0] ? x->msg.draft_request_id : NULL;
    }
    {
        const char *p[] = {acct,      x->event_id, status, in->delivery_id,
                           in->topic, conv_id,     msg_id, req_id};

        if ((res = run(c, S_DONE, p, pb)) == NULL)
            return -1;
    }
    if (PQntuples(res) != 1) {
        PQclear(res);
        return problem_internal(pb, "webhook process: event vanished");
    }
    rc = take_json(res, &x->json, &x->len, pb);
    PQclear(res);
    return rc;
}

/* A replay with a corrected payload, after the event was locked and found
 * 'failed' or 'received': validation of the correction, then the stored
 * correction, the processing, and their audit rows, all in c's
 * transaction. A correction that fails validation, or whose processing
 * fails, changes nothing (the transaction rolls back): the call fails
 * with that problem and the event stays as it was. */
static int
process_corrected(struct dbconn *c, struct proc *x, struct problem *pb)
{
    const char *p[] = {x->w->account_id, x->event_id, x->corrected};
    PGresult *res;
    json_t *doc;
    int rc;

    doc = x->parse(x->corrected, strlen(x->corrected), &x->in, pb);
    if (doc == NULL)
        return -1;
    rc = -1;
    if ((res = run(c, S_CORRECT, p, pb)) == NULL)
        goto out;
    PQclear(res);
    if (db_audit(c, x->w, "webhook_event.correct", "webhook_event", x->event_id, NULL, pb) != 0 ||
        process_payload(c, x, pb) != 0)
        goto out;
    rc = db_audit(c, x->w, "webhook_event.replay", "webhook_event", x->event_id, NULL, pb);
out:
    json_decref(doc);
    return rc;
}

static int
process_tx(struct dbconn *c, void *arg, struct problem *pb)
{
    struct proc *x = arg;
    const char *p[] = {x->w->account_id, x->event_id};
    PGresult *res;
    char status[16];
    const char *payload;
    size_t plen;
    json_t *doc;
    struct problem vpb = {0};
    int rc;

    proc_reset(x);
    if ((res = run(c, S_LOCK, p, pb)) == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return problem_set(pb, 404, "not-found", "no such webhook event");
    }
    x->found = true;
    snprintf(status, sizeof(status), "%s", PQgetvalue(res, 0, 0));
    payload = PQgetvalue(res, 0, 1);
    plen = (size_t)PQgetlength(res, 0, 1);

    if (strcmp(status, "succeeded") == 0 || strcmp(status, "skipped") == 0) {
        PQclear(res);
        if (x->replay)
            return problem_set(pb, 409, "webhook-event-processed",
                               "the event is %s: only failed or received events are replayed",
                               status);
        /* A duplicate: the first delivery's committed result. */
        if ((res = run(c, S_ANSWER, p, pb)) == NULL)
            return -1;
        rc = take_json(res, &x->json, &x->len, pb);
        PQclear(res);
        x->duplicate = true;
        return rc;
    }

    /* A replay with a corrected payload validates and processes that
     * instead: with the same parse, as if it had been delivered. */
    if (x->corrected != NULL) {
        PQclear(res);
        return process_corrected(c, x, pb);
    }
    /* Validation runs on the payload as stored, into scratch that the
     * parsed document backs until the end of this run. */
    doc = x->parse(payload, plen, &x->in, &vpb);
    if (strcmp(status, "failed") == 0 && !x->replay) {
        /* A duplicate of a failed delivery changes nothing: it gets the
         * failure again (a replay is the way to process it). */
        if (doc == NULL && vpb.status == 422) {
            x->fail = vpb;
        } else {
            problem_set(&x->fail, 409, "webhook-event-failed",
                        "this delivery is stored as failed (%.150s); replay it once fixed",
                        PQgetvalue(res, 0, 2));
        }
        json_decref(doc);
        PQclear(res);
        x->failed = true;
        return 0;
    }
    PQclear(res);
    if (doc == NULL) {
        if (vpb.status >= 500) {
            *pb = vpb;
            return -1;
        }
        /* Kept as failed with its errors; the caller gets the 422. */
        if (mark_failed(c, x->w, x->event_id, &vpb, pb) != 0)
            return -1;
        x->fail = vpb;
        x->failed = true;
        return db_audit(c, x->w, x->replay ? "webhook_event.replay" : "webhook_event.process",
                        "webhook_event", x->event_id, NULL, pb);
    }
    x->processing = true;
    rc = process_payload(c, x, pb);
    json_decref(doc);
    if (rc != 0)
        return -1;
    return db_audit(c, x->w, x->replay ? "webhook_event.replay" : "webhook_event.process",
                    "webhook_event", x->event_id, NULL, pb);
}

struct failure {
    const struct who *w;
    const char *event_id;
    const struct problem *why;
};

static int
fail_tx(struct dbconn *c, void *arg, struct problem *pb)
{
    struct failure *f = arg;

    if (mark_failed(c, f->w, f->event_id, f->why, pb) != 0)
        return -1;
    return db_audit(c, f->w, "webhook_event.fail", "webhook_event", f->event_id, NULL, pb);
}

/* Runs the processing transaction on a stored event and turns its outcome
 * into out (success) or pb (failure). */
static int
process(const struct who *w, bool replay, const char *corrected, webhook_parse_fn parse,
        struct webhook_result *out, struct problem *pb)
{
    struct proc *x = calloc(1, sizeof(*x));
    int rc = -1;

    if (x == NULL)
        return problem_internal(pb, "webhooks: out of memory");
    x->w = w;
    x->event_id = out->event_id;
    x->replay = replay;
    x->corrected = corrected;
    x->parse = parse;
    if (db_tx(process_tx, x, pb) != 0) {
        if (!x->found)
            out->event_id[0] = '\0';
        /* The delivery's own fault (409 deleted conversation, 422 a value
         * the database refused): roll back happened; keep the event as
         * failed with the reason. Ours (5xx): it stays as it was, for the
         * next delivery of its id or a replay. */
        if (x->processing && pb->status >= 400 && pb->status < 500 && !db_is_retryable(pb)) {
            struct problem fpb = {0};
            struct failure f = {w, out->event_id, pb};

            if (db_tx(fail_tx, &f, &fpb) != 0)
                *pb = fpb;
        }
        goto out;
    }
    if (x->failed) {
        *pb = x->fail;
        goto out;
    }
    out->status = replay || x->duplicate ? 200 : 201;
    out->json = x->json;
    out->len = x->len;
    x->json = NULL;
    rc = 0;
out:
    proc_cleanup(x);
    free(x);
    return rc;
}

int
db_webhooks_receive(const struct who *w, const struct webhook_delivery *d, webhook_parse_fn parse,
                    struct webhook_result *out, struct problem *pb)
{
    struct store s = {.w = w, .d = d};

    memset(out, 0, sizeof(*out));
    uuid7_new(s.id);
    if (db_tx(store_tx, &s, pb) != 0)
        return -1;
    snprintf(out->event_id, sizeof(out->event_id), "%s", s.found);
    return process(w, false, NULL, parse, out, pb);
}

int
db_webhooks_replay(const struct who *w, const char *id, const char *corrected,
                   webhook_parse_fn parse, struct webhook_result *out, struct problem *pb)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->event_id, sizeof(out->event_id), "%s", id);
    return process(w, true, corrected, parse, out, pb);
}

/* --- event log -------------------------------------------------------------------- */

int
db_webhooks_events_list(const struct who *w, const struct webhook_event_filter *f,
                        const struct page *pg, char **json, size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, pg->after_ts, pg->after_id, f->source, f->status, pg->fetch};

    return db_list(&stmts[S_LIST], p, pg, 1, 2, json, len, pb);
}

int
db_webhooks_event_get(const struct who *w, const char *id, char **json, size_t *len,
                      struct problem *pb)
{
    const char *p[] = {w->account_id, id};

    return db_one(&stmts[S_GET], p, "webhook event", json, len, pb);
}

/* --- registry ------------------------------------------------------------------- */

int
db_webhooks_registry_list(const struct who *w, const struct page *pg, char **json, size_t *len,
                          struct problem *pb)
{
    const char *p[] = {w->account_id, pg->after_id, pg->fetch};

    return db_list(&stmts[S_REG_LIST], p, pg, -1, 1, json, len, pb);
}

/* What the registry's put and delete learn from their row. */
struct entry {
    char id[UUID7_STRLEN + 1];
    bool created;
};

/* The row() of a put: the entry's id (column 1) and whether the put
 * created it (column 2). */
static const char *
put_row(const PGresult *res, void *arg)
{
    struct entry *e = arg;

    snprintf(e->id, sizeof(e->id), "%s", PQgetvalue(res, 0, 1));
    e->created = PQgetvalue(res, 0, 2)[0] == 't';
    return e->created ? "webhook_subscription.create" : "webhook_subscription.replace";
}

int
db_webhooks_registry_put(const struct who *w, const struct subscription_in *in, char **json,
                         size_t *len, bool *created, struct problem *pb)
{
    char new_id[UUID7_STRLEN + 1];
    struct entry e = {0};
    const char *p[] = {w->account_id,
                       new_id,
                       in->source,
                       in->topic_key,
                       in->delivery_method,
                       in->callback_url,
                       in->last_handshake_at,
                       in->last_handshake_result};
    const struct db_write wr = {.st = &stmts[S_REG_PUT],
                                .params = p,
                                .type = "webhook_subscription",
                                .id = e.id,
                                .row = put_row,
                                .arg = &e};

    uuid7_new(new_id);
    if (db_write(w, &wr, json, len, pb) != 0)
        return -1;
    *created = e.created;
    return 0;
}

/* The row() of a delete: the entry's id (column 0), for its audit row. */
static const char *
deleted_row(const PGresult *res, void *arg)
{
    struct entry *e = arg;

    snprintf(e->id, sizeof(e->id), "%s", PQgetvalue(res, 0, 0));
    return NULL;
}

int
db_webhooks_registry_delete(const struct who *w, const char *source, const char *topic_key,
                            struct problem *pb)
{
    struct entry e = {0};
    const char *p[] = {w->account_id, source, topic_key};
    const struct db_write wr = {.st = &stmts[S_REG_DELETE],
                                .params = p,
                                .action = "webhook_subscription.delete",
                                .type = "webhook_subscription",
                                .id = e.id,
                                .what = "registry entry",
                                .row = deleted_row,
                                .arg = &e};

    return db_write(w, &wr, NULL, NULL, pb);
}

/* --- diagnostics ------------------------------------------------------------------ */

int
db_webhooks_diagnostics(const struct who *w, char **json, size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id};

    return db_one(&stmts[S_DIAG], p, "diagnostics", json, len, pb);
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
