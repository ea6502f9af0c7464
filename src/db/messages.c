/*
 * db_messages: the SQL of messages, their attachments, and what a new
 * message sets off.
 *
 * Why it is built so: a message post is exactly-once on its externalId.
 * The transaction first locks the conversation row (posts to one
 * conversation queue up behind it, and a soft delete cannot commit between
 * the check and the insert), then inserts with ON CONFLICT ... DO NOTHING
 * on the partial unique index (account, conversation, externalId). When
 * that inserts nothing, the stored message is selected in the same
 * transaction (a new statement, so a new snapshot that sees the committed
 * winner) and answered, and nothing else is written: no second draft
 * request, no second outbox entry, no conversation change. Twenty
 * identical requests thus make one row and twenty answers with its id.
 *
 * The post runs inside a caller's transaction (db_messages_create_in), so
 * a webhook delivery adds its inbound message, and queues its draft
 * request, with this same code.
 *
 * Every statement's $1 is the caller's account. Messages of a soft-deleted
 * conversation are never read or added. No HTTP here.
 */
#include "inboxd/db/messages.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inboxd/db/db.h"
#include "inboxd/db/audit.h"
#include "inboxd/db/rows.h"
#include "inboxd/lib/uuid7.h"
#include "inboxd/lib/jsontext.h"

/* A message rendered with its attachments (m: a messages row). */
#define MESSAGE_JSON "inboxd_json_message(m, inboxd_message_attachments(m.account_id, m.id))"

enum {
    S_LOCK,
    S_INSERT,
    S_EXISTING,
    S_ATTACH,
    S_REQUEST,
    S_TOUCH,
    S_RENDER,
    S_CONV_EXISTS,
    S_LIST,
    S_GET,
};

static const struct db_stmt stmts[] = {
    [S_LOCK] = {"msg_conv_lock",
                "SELECT 1 FROM conversations "
                "WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL "
                "FOR NO KEY UPDATE",
                2},
    /* An outbound message enters the outbox as 'pending' with no attempts;
     * inbound and system messages have no delivery state (the CHECK). A
     * missing sentAt is the time of receipt (API: "defaults to the time of
     * receipt"). */
    [S_INSERT] = {"msg_insert",
                  "INSERT INTO messages AS m (account_id, id, conversation_id, external_id, "
                  "    direction, subject, body_text, body_html, sent_at, metadata, "
                  "    delivery_status) "
                  "VALUES ($1, $2, $3, $4, $5::message_direction, $6, $7, $8, "
                  "        coalesce($9::timestamptz, now()), coalesce($10::jsonb, '{}'), "
                  "        CASE WHEN $5::message_direction = 'outbound' "
                  "             THEN 'pending'::delivery_status END) "
                  "ON CONFLICT (account_id, conversation_id, external_id) "
                  "    WHERE external_id IS NOT NULL DO NOTHING "
                  "RETURNING m.sent_at",
                  10},
    [S_EXISTING] = {"msg_existing",
                    "SELECT " MESSAGE_JSON ", m.id FROM messages m "
                    "WHERE m.account_id = $1 AND m.conversation_id = $2 AND m.external_id = $3",
                    3},
    /* ids are made by inboxd, in input order, so the attachments (rendered
     * by created_at, id) come back in the order they were given. Of a
     * message ($2) or of a draft ($4; 0013), never both. */
    [S_ATTACH] = {"msg_attach",
                  "INSERT INTO attachments (account_id, id, message_id, draft_id, file_name, "
                  "                         mime_type, size_bytes, file_url) "
                  "SELECT $1, x.id, $2, $4, x.\"fileName\", x.\"mimeType\", x.\"sizeBytes\", "
                  "       x.\"fileUrl\" "
                  "FROM json_to_recordset($3::json) AS x(id uuid, \"fileName\" text, "
                  "     \"mimeType\" text, \"sizeBytes\" bigint, \"fileUrl\" text)",
                  4},
    [S_REQUEST] = {"msg_draft_request",
                   "INSERT INTO draft_requests (account_id, id, conversation_id, message_id, "
                   "                            status, attempts) "
                   "VALUES ($1, $2, $3, $4, 'queued', 0)",
                   4},
    /* $3 the message time, $4 whether it is inbound. last_message_at for
     * every message, last_inbound_at for inbound ones; feed_at follows
     * last_inbound_at while the conversation is in the feed (open, with a
     * pending draft; deleted ones never get here). updated_at moves
     * strictly forward (the ETag). */
    [S_TOUCH] = {"msg_conv_touch",
                 "UPDATE conversations AS c SET "
                 "  last_message_at = greatest(c.last_message_at, $3::timestamptz), "
                 "  last_inbound_at = CASE WHEN $4::bool "
                 "      THEN greatest(c.last_inbound_at, $3::timestamptz) "
                 "      ELSE c.last_inbound_at END, "
                 "  feed_at = CASE WHEN $4::bool AND c.status = 'open' "
                 "                  AND c.pending_draft_id IS NOT NULL "
                 "      THEN greatest(c.last_inbound_at, $3::timestamptz) "
                 "      ELSE c.feed_at END, "
                 "  updated_at = greatest(now(), c.updated_at + interval '1 microsecond') "
                 "WHERE c.account_id = $1 AND c.id = $2",
                 4},
    [S_RENDER] = {"msg_render",
                  "SELECT " MESSAGE_JSON " FROM messages m WHERE m.account_id = $1 AND m.id = $2",
                  2},
    [S_CONV_EXISTS] = {"msg_conv_exists",
                       "SELECT 1 FROM conversations "
                       "WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL",
                       2},
    /* Conversation order: sentAt, else createdAt, then id. The inner query
     * picks the page; only its rows are rendered. */
    [S_LIST] = {"msg_list",
                "SELECT " MESSAGE_JSON ", p.at, p.id "
                "FROM (SELECT m.id, coalesce(m.sent_at, m.created_at) AS at "
                "      FROM messages m "
                "      JOIN conversations c ON c.account_id = m.account_id "
                "           AND c.id = m.conversation_id AND c.deleted_at IS NULL "
                "      WHERE m.account_id = $1 AND m.conversation_id = $2 "
                "        AND ($3::timestamptz IS NULL "
                "             OR (coalesce(m.sent_at, m.created_at), m.id) "
                "                > ($3::timestamptz, $4::uuid)) "
                "      ORDER BY 2, 1 LIMIT $5) p "
                "JOIN messages m ON m.account_id = $1 AND m.id = p.id "
                "ORDER BY p.at, p.id",
                5},
    [S_GET] = {"msg_get",
               "SELECT " MESSAGE_JSON " FROM messages m "
               "JOIN conversations c ON c.account_id = m.account_id "
               "     AND c.id = m.conversation_id AND c.deleted_at IS NULL "
               "WHERE m.account_id = $1 AND m.id = $2",
               2},
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
    if (*json == NULL)
        return problem_internal(pb, "out of memory");
    return 0;
}

/* --- create ---------------------------------------------------------------- */

/* The attachments as the JSON array the insert statement reads, each with
 * a new id. Returns a new malloc()ed string, or NULL on OOM. */
static char *
attachments_param(const struct attachment_in *atts, size_t n)
{
    json_t *arr = json_array();
    char *text = NULL;

    if (arr == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const struct attachment_in *a = &atts[i];
        char id[UUID7_STRLEN + 1];
        json_t *o;

        uuid7_new(id);
        o = json_pack("{s:s, s:s, s:s?, s:I, s:s}", "id", id, "fileName", a->file_name, "mimeType",
                      a->mime_type, "sizeBytes", (json_int_t)a->size_bytes, "fileUrl", a->file_url);
        if (o == NULL || json_array_append_new(arr, o) != 0)
            goto out;
    }
    text = json_dumps(arr, JSON_COMPACT);
out:
    json_decref(arr);
    return text;
}

int
db_attachments_insert_in(struct dbconn *c, const struct who *w, const char *message_id,
                         const char *draft_id, const struct attachment_in *atts, size_t n,
                         struct problem *pb)
{
    char *text;
    int rc;

    if (n == 0)
        return 0;
    if ((text = attachments_param(atts, n)) == NULL)
        return problem_internal(pb, "attachments: out of memory");
    {
        const char *p[] = {w->account_id, message_id, text, draft_id};

        rc = db_exec_later(c, &stmts[S_ATTACH], p, pb);
    }
    free(text);
    return rc;
}

/* The statements of one message post, once its metadata is text. */
static int
create_run(struct dbconn *c, const struct who *w, const char *conv, const struct message_in *in,
           const char *metadata, bool render, struct message_created *out, struct problem *pb)
{
    const char *acct = w->account_id;
    bool inbound = strcmp(in->direction, "inbound") == 0;
    char id[UUID7_STRLEN + 1], request_id[UUID7_STRLEN + 1];
    const char *pl[] = {acct, conv};
    const char *pi[] = {acct,          id,          conv,          in->external_id,
                        in->direction, in->subject, in->body_text, in->body_html,
                        in->sent_at,   metadata};
    const char *pe[] = {acct, conv, in->external_id};
    const char *pr[] = {acct, request_id, conv, id};
    const char *pm[] = {acct, id};
    char at[64];
    PGresult *res;
    int rc;

    uuid7_new(id);
    uuid7_new(request_id);
    /* The lock and the insert go together: when the conversation is gone
     * the insert is rolled back with the 404 (or failed on its reference,
     * which nobody reads then). */
    if (db_send(c, &stmts[S_LOCK], pl, pb) != 0 || db_send(c, &stmts[S_INSERT], pi, pb) != 0)
        return -1;
    if ((res = db_recv(c, pb)) == NULL)
        return -1;
    rc = PQntuples(res);
    PQclear(res);
    if (rc == 0)
        return problem_set(pb, 404, "not-found", "no such conversation");

    if ((res = db_recv(c, pb)) == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        /* The externalId is stored already: answer that message, write nothing. */
        PQclear(res);
        if ((res = run(c, S_EXISTING, pe, pb)) == NULL)
            return -1;
        if (PQntuples(res) != 1) {
            PQclear(res);
            return problem_internal(pb, "message insert: conflicting row not found");
        }
        snprintf(out->id, sizeof(out->id), "%s", PQgetvalue(res, 0, 1));
        rc = render ? take_json(res, &out->json, &out->len, pb) : 0;
        PQclear(res);
        return rc;
    }
    snprintf(at, sizeof(at), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    snprintf(out->id, sizeof(out->id), "%s", id);

    /* What follows has no answer anyone reads: it goes ahead, with the
     * render (or the caller's next statement, or COMMIT). */
    if (db_attachments_insert_in(c, w, id, NULL, in->attachments, in->nattachments, pb) != 0)
        return -1;
    if (inbound) {
        if (db_exec_later(c, &stmts[S_REQUEST], pr, pb) != 0)
            return -1;
        snprintf(out->draft_request_id, sizeof(out->draft_request_id), "%s", request_id);
    }
    {
        const char *pt[] = {acct, conv, at, inbound ? "true" : "false"};

        if (db_exec_later(c, &stmts[S_TOUCH], pt, pb) != 0)
            return -1;
    }
    if (db_audit(c, w, "message.create", "message", id, NULL, pb) != 0)
        return -1;
    out->created = true;
    if (!render)
        return 0;
    if ((res = run(c, S_RENDER, pm, pb)) == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return problem_internal(pb, "message insert: new row not found");
    }
    rc = take_json(res, &out->json, &out->len, pb);
    PQclear(res);
    return rc;
}

int
db_messages_create_in(struct dbconn *c, const struct who *w, const char *conversation_id,
                      const struct message_in *in, bool render, struct message_created *out,
                      struct problem *pb)
{
    char *metadata = NULL;
    int rc = -1;

    /* The caller's transaction may run this again: start from nothing. */
    free(out->json);
    memset(out, 0, sizeof(*out));
    if (in->metadata != NULL &&
        (metadata = jsontext_dump(in->metadata)) == NULL) {
        problem_internal(pb, "message metadata: out of memory");
        goto out;
    }
    rc = create_run(c, w, conversation_id, in, metadata, render, out, pb);
    if (rc != 0) {
        free(out->json);
        out->json = NULL;
        out->created = false;
    }
out:
    free(metadata);
    return rc;
}

struct create {
    const struct who *w;
    const char *conv;
    const struct message_in *in;
    struct message_created out;
};

static int
create_tx(struct dbconn *c, void *arg, struct problem *pb)
{
    struct create *k = arg;

    return db_messages_create_in(c, k->w, k->conv, k->in, true, &k->out, pb);
}

int
db_messages_create(const struct who *w, const char *conversation_id, const struct message_in *in,
                   char **json, size_t *len, bool *created, struct problem *pb)
{
    struct create k = {.w = w, .conv = conversation_id, .in = in};

    if (db_tx(create_tx, &k, pb) != 0) {
        free(k.out.json);
        return -1;
    }
    *json = k.out.json;
    *len = k.out.len;
    *created = k.out.created;
    return 0;
}

/* --- reads ----------------------------------------------------------------- */

int
db_messages_list(const struct who *w, const char *conversation_id, const struct page *pg,
                 char **json, size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, conversation_id, pg->after_ts, pg->after_id, pg->fetch};

    return db_list_in(&stmts[S_LIST], &stmts[S_CONV_EXISTS], "conversation", p, pg, 1, 2, json,
                      len, pb);
}

int
db_messages_get(const struct who *w, const char *id, char **json, size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, id};

    return db_one(&stmts[S_GET], p, "message", json, len, pb);
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
