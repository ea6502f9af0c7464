/*
 * db_conversations: the SQL of conversations and their timeline.
 *
 * Why it is built so: the upsert is INSERT ... ON CONFLICT DO NOTHING and
 * a SELECT of the stored row in the same transaction, so any number of
 * racing creators end with one row and every one of them answers it. It
 * runs inside a caller's transaction (db_conversations_upsert_in), so a
 * webhook delivery upserts its conversation with this same code. A
 * PATCH compares If-Match inside its UPDATE, never in a prior SELECT. The
 * timeline is one UNION ALL statement per page that picks the page's
 * (kind, id, at) first and renders only those rows.
 *
 * Every statement's $1 is the caller's account, and every statement that
 * reads a conversation skips soft-deleted ones: a deleted conversation
 * must never be answered, listed or timelined again. No HTTP here.
 */
#include "inboxd/db/conversations.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inboxd/db/db.h"
#include "inboxd/db/audit.h"
#include "inboxd/db/rows.h"
#include "inboxd/db/etag.h"
#include "inboxd/lib/uuid7.h"

/* updated_at moves strictly forward on every change, even when two
 * transactions share a now() or one that started earlier commits later:
 * the ETag is updated_at, and If-Match only prevents lost updates when
 * every write changes it. */
#define TOUCH "updated_at = greatest(now(), c.updated_at + interval '1 microsecond')"

/* The ETag of conversation row c, selected beside its JSON. */
#define CONV_ETAG ETAG_SQL("c")

/* The conversation's status after a PATCH ($3 NULL keeps it). */
#define NEW_STATUS "coalesce($3::conversation_status, c.status)"

enum {
    S_CHANNEL,
    S_INSERT,
    S_BY_EXTERNAL,
    S_GET,
    S_UPDATE,
    S_EXISTS,
    S_DELETE,
    S_LIST,
    S_LIST_EMAIL,
    S_TIMELINE,
};

/* The conversation list's optional filters: $2 the cursor (an id), $3
 * status, $4 channel, $5 updated since. The cursor is a coalesce() rather
 * than `$2 IS NULL OR …` so that a generic plan keeps it as an index bound. */
#define LIST_FILTERS                                                                               \
    "  AND c.id > coalesce($2::uuid, '00000000-0000-0000-0000-000000000000') "                     \
    "  AND ($3::conversation_status IS NULL OR c.status = $3::conversation_status) "               \
    "  AND ($4::uuid IS NULL OR c.channel_id = $4::uuid) "                                         \
    "  AND ($5::timestamptz IS NULL OR c.updated_at >= $5::timestamptz) "

static const struct db_stmt stmts[] = {
    [S_CHANNEL] = {"conv_channel", "SELECT 1 FROM channels WHERE account_id = $1 AND id = $2", 2},
    [S_INSERT] = {"conv_insert",
                  "INSERT INTO conversations AS c (account_id, id, channel_id, external_id, "
                  "                                subject, customer_email, customer_name) "
                  "VALUES ($1, $2, $3, $4, $5, $6, $7) "
                  "ON CONFLICT (account_id, channel_id, external_id) DO NOTHING "
                  "RETURNING inboxd_json_conversation(c), " CONV_ETAG ", c.id",
                  7},
    [S_BY_EXTERNAL] = {"conv_by_external",
                       "SELECT inboxd_json_conversation(c), " CONV_ETAG ", "
                       "       c.deleted_at IS NOT NULL, c.id "
                       "FROM conversations c "
                       "WHERE c.account_id = $1 AND c.channel_id = $2 AND c.external_id = $3",
                       3},
    [S_GET] = {"conv_get",
               "SELECT inboxd_json_conversation(c), " CONV_ETAG " "
               "FROM conversations c "
               "WHERE c.account_id = $1 AND c.id = $2 AND c.deleted_at IS NULL",
               2},
    /* $3 status or NULL, $4 whether subject is set, $5 the subject, $6 the
     * If-Match tag or NULL. closed_at: kept while staying closed, now() on
     * closing, NULL otherwise (the CHECK wants NULL unless closed). feed_at:
     * only an open conversation with a pending draft is in the feed. */
    [S_UPDATE] = {"conv_update",
                  "UPDATE conversations AS c SET "
                  "  status = " NEW_STATUS ", "
                  "  subject = CASE WHEN $4::bool THEN $5::text ELSE c.subject END, "
                  "  closed_at = CASE WHEN " NEW_STATUS " <> 'closed' THEN NULL "
                  "                   WHEN c.status = 'closed' THEN c.closed_at "
                  "                   ELSE now() END, "
                  "  feed_at = CASE WHEN " NEW_STATUS " = 'open' "
                  "                  AND c.pending_draft_id IS NOT NULL "
                  "                 THEN c.last_inbound_at END, "
                  "  " TOUCH " "
                  "WHERE c.account_id = $1 AND c.id = $2 AND c.deleted_at IS NULL "
                  "  AND ($6::int8 IS NULL OR " CONV_ETAG " = $6::int8) "
                  "RETURNING inboxd_json_conversation(c), " CONV_ETAG,
                  6},
    [S_EXISTS] = {"conv_exists",
                  "SELECT 1 FROM conversations "
                  "WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL",
                  2},
    [S_DELETE] = {"conv_delete",
                  "UPDATE conversations AS c SET deleted_at = now(), feed_at = NULL, " TOUCH " "
                  "WHERE c.account_id = $1 AND c.id = $2 AND c.deleted_at IS NULL "
                  "RETURNING c.id",
                  2},
    /* Keyset on the primary key (account_id, id): ids are UUIDv7, so this
     * is creation order, and a page never skips or repeats a row however
     * many are inserted meanwhile. */
    [S_LIST] = {"conv_list",
                "SELECT inboxd_json_conversation(c), c.id FROM conversations c "
                "WHERE c.account_id = $1 AND c.deleted_at IS NULL " LIST_FILTERS
                "ORDER BY c.id LIMIT $6",
                6},
    /* By customer email: a statement of its own, so that even its generic
     * plan walks conversations_customer_email_idx (account_id,
     * lower(customer_email), id), already in page order. */
    [S_LIST_EMAIL] = {"conv_list_email",
                      "SELECT inboxd_json_conversation(c), c.id FROM conversations c "
                      "WHERE c.account_id = $1 AND c.deleted_at IS NULL "
                      "  AND c.customer_email IS NOT NULL "
                      "  AND lower(c.customer_email) = lower($7::text) " LIST_FILTERS
                      "ORDER BY c.id LIMIT $6",
                      7},
    /* $3/$4 the cursor (at, id), $5 the fetch size. The inner query picks
     * the page from the three tables by their indexed conversation columns;
     * only the picked rows are joined back and rendered. Each item is the
     * resource's JSON with "kind" and "at" spliced in front (json text from
     * json_build_object always starts with '{'), which keeps the resource's
     * own key order, unlike jsonb concatenation. */
    [S_TIMELINE] =
        {"conv_timeline",
         "SELECT '{\"kind\":\"' || p.kind || '\",\"at\":' || to_json(inboxd_ts(p.at))::text "
         "       || ',' || substr(CASE p.kind "
         "           WHEN 'message' THEN inboxd_json_message(m, "
         "                  inboxd_message_attachments(m.account_id, m.id))::text "
         "           WHEN 'draft' THEN inboxd_json_draft_v2(d)::text "
         "           ELSE inboxd_json_draft_action(a)::text END, 2), "
         "       p.at, p.id "
         "FROM (SELECT t.kind, t.id, t.at FROM ( "
         "        SELECT 'message'::text AS kind, m.id, coalesce(m.sent_at, m.created_at) AS at "
         "        FROM messages m WHERE m.account_id = $1 AND m.conversation_id = $2 "
         "        UNION ALL "
         "        SELECT 'draft', d.id, d.created_at "
         "        FROM drafts d WHERE d.account_id = $1 AND d.conversation_id = $2 "
         "        UNION ALL "
         "        SELECT 'action', a.id, a.created_at "
         "        FROM draft_actions a "
         "        JOIN drafts d ON d.account_id = a.account_id AND d.id = a.draft_id "
         "        WHERE a.account_id = $1 AND d.conversation_id = $2) t "
         "      WHERE EXISTS (SELECT 1 FROM conversations c WHERE c.account_id = $1 "
         "                    AND c.id = $2 AND c.deleted_at IS NULL) "
         "        AND " DB_AFTER("t.at", "t.id", "$3", "$4") " "
         "      ORDER BY t.at, t.id LIMIT $5) p "
         "LEFT JOIN messages m ON p.kind = 'message' AND m.account_id = $1 AND m.id = p.id "
         "LEFT JOIN drafts d ON p.kind = 'draft' AND d.account_id = $1 AND d.id = p.id "
         "LEFT JOIN draft_actions a ON p.kind = 'action' AND a.account_id = $1 AND a.id = p.id "
         "ORDER BY p.at, p.id",
         5},
};

/* Empties out, freeing what a previous run of a transaction left there. */
static void
out_reset(struct conversation_out *out)
{
    free(out->json);
    memset(out, 0, sizeof(*out));
}

/* Copies row 0's JSON (col 0) and tag (col 1) into out. */
static int
out_take(const PGresult *res, struct conversation_out *out, struct problem *pb)
{
    out->len = (size_t)PQgetlength(res, 0, 0);
    out->json = db_strdup(res, 0, 0);
    if (out->json == NULL)
        return problem_internal(pb, "out of memory");
    etag_format(PQgetvalue(res, 0, 1), out->etag);
    return 0;
}

/* Runs a statement and keeps its result; NULL with pb on failure. */
static PGresult *
run(struct dbconn *c, int s, const char *const *p, struct problem *pb)
{
    return db_exec(c, &stmts[s], p, pb);
}

/* --- upsert ---------------------------------------------------------------- */

int
db_conversations_upsert_in(struct dbconn *c, const struct who *w, const struct conversation_in *in,
                           const char *new_id, struct conversation_out *out, struct problem *pb)
{
    const char *acct = w->account_id;
    const char *pc[] = {acct, in->channel_id};
    const char *pi[] = {acct,
                        new_id,
                        in->channel_id,
                        in->external_id,
                        in->subject,
                        in->customer_email,
                        in->customer_name};
    const char *pe[] = {acct, in->channel_id, in->external_id};
    PGresult *res;
    int rc;

    out_reset(out);
    /* The channel check, the insert and the look-up of the stored row go
     * in one round trip. The channel is checked here, not left to the
     * foreign key, so the caller learns which field is wrong (the insert's
     * failure then is nobody's answer). When the externalId exists, ON
     * CONFLICT waited for any concurrent inserter to commit, and the
     * look-up, a new statement, takes a new snapshot: the stored row is
     * visible to it. When the insert made the row, the look-up is dropped. */
    if (db_send(c, &stmts[S_CHANNEL], pc, pb) != 0 || db_send(c, &stmts[S_INSERT], pi, pb) != 0 ||
        db_send(c, &stmts[S_BY_EXTERNAL], pe, pb) != 0)
        return -1;
    if ((res = db_recv(c, pb)) == NULL)
        return -1;
    rc = PQntuples(res);
    PQclear(res);
    if (rc == 0)
        return problem_field(pb, "channelId", "is not a channel of this account");

    if ((res = db_recv(c, pb)) == NULL)
        return -1;
    if (PQntuples(res) == 1) {
        rc = out_take(res, out, pb);
        if (rc == 0)
            snprintf(out->id, sizeof(out->id), "%s", PQgetvalue(res, 0, 2));
        PQclear(res);
        PQclear(db_recv(c, pb));
        if (rc != 0 || pb->status != 0)
            return -1;
        out->created = true;
        return db_audit(c, w, "conversation.create", "conversation", new_id, NULL, pb);
    }
    PQclear(res);
    if ((res = db_recv(c, pb)) == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return problem_internal(pb, "conversation upsert: conflicting row not found");
    }
    if (PQgetvalue(res, 0, 2)[0] == 't') {
        PQclear(res);
        return problem_set(pb, 409, "conversation-deleted",
                           "a deleted conversation of this channel has this externalId");
    }
    rc = out_take(res, out, pb);
    if (rc == 0)
        snprintf(out->id, sizeof(out->id), "%s", PQgetvalue(res, 0, 3));
    PQclear(res);
    return rc;
}

struct upsert {
    const struct who *w;
    const struct conversation_in *in;
    const char *id;
    struct conversation_out *out;
};

static int
upsert_tx(struct dbconn *c, void *arg, struct problem *pb)
{
    struct upsert *u = arg;

    return db_conversations_upsert_in(c, u->w, u->in, u->id, u->out, pb);
}

int
db_conversations_upsert(const struct who *w, const struct conversation_in *in,
                        struct conversation_out *out, struct problem *pb)
{
    char id[UUID7_STRLEN + 1];
    struct upsert u = {w, in, id, out};

    memset(out, 0, sizeof(*out));
    uuid7_new(id);
    if (db_tx(upsert_tx, &u, pb) != 0) {
        out_reset(out);
        return -1;
    }
    return 0;
}

/* --- get ------------------------------------------------------------------- */

/* A get's answer into out: 404 when there is no row. Clears res. */
static int
get_take(PGresult *res, struct conversation_out *out, struct problem *pb)
{
    int rc;

    if (PQntuples(res) == 0) {
        PQclear(res);
        return problem_set(pb, 404, "not-found", "no such conversation");
    }
    rc = out_take(res, out, pb);
    PQclear(res);
    if (rc != 0)
        out_reset(out);
    return rc;
}

struct get_call {
    const char *p[2];
    struct conversation_out *out;
    db_conversations_done_fn done;
    void *arg;
};

static void
got(void *arg, PGresult *res, const struct problem *dbpb)
{
    struct get_call *g = arg;
    struct problem pb;
    int rc = -1;

    problem_init(&pb);
    if (res != NULL)
        rc = get_take(res, g->out, &pb);
    else
        pb = *dbpb;
    g->done(g->arg, rc, &pb);
    free(g);
}

void
db_conversations_get_start(const struct who *w, const char *id, struct conversation_out *out,
                           db_conversations_done_fn done, void *arg)
{
    struct get_call *g = malloc(sizeof(*g));

    /* The primary, not a replica: an ETag read here is compared with the
     * primary's row by the next PATCH, so it must not be stale. */
    memset(out, 0, sizeof(*out));
    if (g == NULL) {
        struct problem pb = {0};

        problem_internal(&pb, "out of memory");
        done(arg, -1, &pb);
        return;
    }
    *g = (struct get_call){.p = {w->account_id, id}, .out = out, .done = done, .arg = arg};
    db_query_start(&stmts[S_GET], g->p, got, g);
}

void
db_conversations_out_cleanup(struct conversation_out *out)
{
    out_reset(out);
}

/* --- update ---------------------------------------------------------------- */

struct update {
    const struct who *w;
    const char *id;
    const struct conversation_patch *in;
    struct conversation_out *out;
};

static int
update_tx(struct dbconn *c, void *arg, struct problem *pb)
{
    struct update *u = arg;
    const char *acct = u->w->account_id;
    const char *p[] = {acct,           u->id,
                       u->in->status,  u->in->set_subject ? "true" : "false",
                       u->in->subject, u->in->if_match};
    const char *pe[] = {acct, u->id};
    PGresult *res;
    int rc;

    out_reset(u->out);
    if ((res = run(c, S_UPDATE, p, pb)) == NULL)
        return -1;
    if (PQntuples(res) == 1) {
        rc = out_take(res, u->out, pb);
        PQclear(res);
        if (rc != 0)
            return -1;
        return db_audit(c, u->w, "conversation.update", "conversation", u->id, NULL, pb);
    }
    PQclear(res);
    /* Nothing changed: either there is no such conversation, or the tag
     * did not match. */
    if ((res = run(c, S_EXISTS, pe, pb)) == NULL)
        return -1;
    rc = PQntuples(res);
    PQclear(res);
    if (rc == 0)
        return problem_set(pb, 404, "not-found", "no such conversation");
    return problem_set(pb, 412, "precondition-failed",
                       "the conversation has changed since that ETag; read it again");
}

int
db_conversations_update(const struct who *w, const char *id, const struct conversation_patch *in,
                        struct conversation_out *out, struct problem *pb)
{
    struct update u = {w, id, in, out};

    memset(out, 0, sizeof(*out));
    if (db_tx(update_tx, &u, pb) != 0) {
        out_reset(out);
        return -1;
    }
    return 0;
}

/* --- delete ---------------------------------------------------------------- */

int
db_conversations_delete(const struct who *w, const char *id, struct problem *pb)
{
    const char *p[] = {w->account_id, id};
    const struct db_write wr = {.st = &stmts[S_DELETE],
                                .params = p,
                                .action = "conversation.delete",
                                .type = "conversation",
                                .id = id,
                                .what = "conversation"};

    return db_write(w, &wr, NULL, NULL, pb);
}

/* --- list ------------------------------------------------------------------ */

int
db_conversations_list(const struct who *w, const struct conversation_filter *f,
                      const struct page *pg, char **json, size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id,    pg->after_id, f->status,        f->channel_id,
                       f->updated_since, pg->fetch,    f->customer_email};

    return db_list(&stmts[f->customer_email ? S_LIST_EMAIL : S_LIST], p, pg, -1, 1, json, len,
                   pb);
}

/* --- timeline -------------------------------------------------------------- */

int
db_conversations_timeline(const struct who *w, const char *id, const struct page *pg, char **json,
                          size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, id, pg->after_ts, pg->after_id, pg->fetch};

    return db_list_in(&stmts[S_TIMELINE], &stmts[S_EXISTS], "conversation", p, pg, 1, 2, json,
                      len, pb);
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
