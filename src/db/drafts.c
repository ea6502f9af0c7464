/*
 * db_drafts: the SQL of drafts.
 *
 * Creating a draft touches five tables in one transaction (drafts,
 * draft_requests, conversations, notifications, audit_log). The
 * conversation row is locked first (FOR UPDATE): every draft write of one
 * conversation then runs one after the other, so the one-pending-draft and
 * one-draft-per-trigger rules are checked against committed state and a
 * racing second draft is a clean 409, never a unique-violation surprise.
 * The old pending draft is superseded BEFORE the new one is inserted (the
 * partial unique index allows one pending draft per conversation), and the
 * conversation is pointed at the new draft after it exists (foreign key).
 *
 * A soft-deleted conversation hides its drafts: they are neither listed
 * nor read, and no draft can be added to it. Every statement's $1 is the
 * caller's account; every JSON answer is rendered by inboxd_json_draft_v2
 * (a draft with its attachments) / inboxd_json_draft_action. Never build
 * SQL in C here.
 */
#include "inboxd/db/drafts.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inboxd/db/db.h"
#include "inboxd/db/audit.h"
#include "inboxd/db/rows.h"
#include "inboxd/db/etag.h"
#include "inboxd/db/messages.h"
#include "inboxd/lib/uuid7.h"

enum {
    S_CONV_LOCK,
    S_TRIGGER,
    S_TRIGGER_TAKEN,
    S_REQUEST_LOCK,
    S_REQUEST_DONE,
    S_REQUEST_DONE_BY_MESSAGE,
    S_SUPERSEDE,
    S_INSERT,
    S_RENDER,
    S_CONV_POINT,
    S_NOTIFY,
    S_LIST,
    S_LIST_STATUS,
    S_LIST_CONV,
    S_GET,
};

static const struct db_stmt stmts[] = {
    [S_CONV_LOCK] = {"drafts_conv_lock",
                     "SELECT 1 FROM conversations "
                     "WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL FOR UPDATE",
                     2},
    [S_TRIGGER] = {"drafts_trigger",
                   "SELECT direction FROM messages "
                   "WHERE account_id = $1 AND id = $2 AND conversation_id = $3",
                   3},
    [S_TRIGGER_TAKEN] = {"drafts_trigger_taken",
                         "SELECT id FROM drafts WHERE account_id = $1 AND trigger_message_id = $2",
                         2},
    [S_REQUEST_LOCK] = {"drafts_request_lock",
                        "SELECT status, message_id FROM draft_requests "
                        "WHERE account_id = $1 AND id = $2 FOR UPDATE",
                        2},
    [S_REQUEST_DONE] = {"drafts_request_done",
                        "UPDATE draft_requests SET status = 'done', lease_expires_at = NULL, "
                        "       next_attempt_at = NULL, updated_at = now() "
                        "WHERE account_id = $1 AND id = $2 RETURNING id",
                        2},
    /* Without a draftRequestId: the trigger message's own request (at most
     * one: UNIQUE (account_id, message_id)), whatever its state, since a
     * draft now answers it and no worker should draft it again. */
    [S_REQUEST_DONE_BY_MESSAGE] = {"drafts_request_done_by_message",
                                   "UPDATE draft_requests SET status = 'done', "
                                   "       lease_expires_at = NULL, next_attempt_at = NULL, "
                                   "       updated_at = now() "
                                   "WHERE account_id = $1 AND message_id = $2 RETURNING id",
                                   2},
    [S_SUPERSEDE] = {"drafts_supersede",
                     "UPDATE drafts SET status = 'superseded', updated_at = now() "
                     "WHERE account_id = $1 AND conversation_id = $2 AND status = 'pending' "
                     "RETURNING id",
                     2},
    [S_INSERT] = {"drafts_insert",
                  "INSERT INTO drafts AS d (account_id, id, conversation_id, trigger_message_id, "
                  "    model_key, prompt_version, suggested_text, suggested_html, top_sources) "
                  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, coalesce($9::jsonb, '[]'::jsonb)) "
                  "RETURNING " ETAG_SQL("d"),
                  9},
    /* The new draft with its attachments, once they are inserted too. */
    [S_RENDER] = {"drafts_render",
                  "SELECT inboxd_json_draft_v2(d) FROM drafts d "
                  "WHERE d.account_id = $1 AND d.id = $2",
                  2},
    /* The review feed position (brief: draft create): the conversation now
     * waits on this draft, since its latest inbound message, while open. */
    [S_CONV_POINT] = {"drafts_conv_point",
                      "UPDATE conversations c SET pending_draft_id = $3, "
                      "       feed_at = CASE WHEN c.status = 'open' AND c.deleted_at IS NULL "
                      "                      THEN c.last_inbound_at END, "
                      "       updated_at = now() "
                      "WHERE c.account_id = $1 AND c.id = $2",
                      3},
    [S_NOTIFY] = {"drafts_notify_ready",
                  "INSERT INTO notifications (account_id, id, user_id, type, payload) "
                  "VALUES ($1, $2, NULL, 'draft.ready', "
                  "        jsonb_build_object('draftId', $3::uuid, 'conversationId', $4::uuid, "
                  "                           'messageId', $5::uuid, 'draftRequestId', $6::uuid))",
                  6},
    /* Lists: oldest first by (created_at, id), from drafts_created_idx, or
     * drafts_status_idx with a status filter, drafts_conversation_idx with
     * a conversation; DB_AFTER bounds the scan. */
    [S_LIST] = {"drafts_list",
                "SELECT inboxd_json_draft_v2(d), d.created_at, d.id FROM drafts d "
                "JOIN conversations c ON c.account_id = d.account_id "
                "     AND c.id = d.conversation_id AND c.deleted_at IS NULL "
                "WHERE d.account_id = $1 "
                "  AND " DB_AFTER("d.created_at", "d.id", "$2", "$3") " "
                "ORDER BY d.created_at, d.id LIMIT $4",
                4},
    [S_LIST_STATUS] = {"drafts_list_status",
                       "SELECT inboxd_json_draft_v2(d), d.created_at, d.id "
                       "FROM drafts d "
                       "JOIN conversations c ON c.account_id = d.account_id "
                       "     AND c.id = d.conversation_id AND c.deleted_at IS NULL "
                       "WHERE d.account_id = $1 AND d.status = $5::draft_status "
                       "  AND " DB_AFTER("d.created_at", "d.id", "$2", "$3") " "
                       "ORDER BY d.created_at, d.id LIMIT $4",
                       5},
    [S_LIST_CONV] = {"drafts_list_conv",
                     "SELECT inboxd_json_draft_v2(d), d.created_at, d.id "
                     "FROM drafts d "
                     "JOIN conversations c ON c.account_id = d.account_id "
                     "     AND c.id = d.conversation_id AND c.deleted_at IS NULL "
                     "WHERE d.account_id = $1 AND d.conversation_id = $6 "
                     "  AND ($5::draft_status IS NULL OR d.status = $5::draft_status) "
                     "  AND " DB_AFTER("d.created_at", "d.id", "$2", "$3") " "
                     "ORDER BY d.created_at, d.id LIMIT $4",
                     6},
    /* The draft's JSON with its actions spliced in before the closing brace
     * (keeps inboxd_json_draft_v2's key order), and its entity tag. */
    /* (clang-format would split the ETAG_SQL() line unreadably.) */
    /* clang-format off */
    [S_GET] = {"drafts_get",
               "SELECT left(inboxd_json_draft_v2(d)::text, -1) || ', \"actions\" : ' "
               "       || coalesce((SELECT json_agg(inboxd_json_draft_action(a) "
               "                                    ORDER BY a.created_at, a.id) "
               "                    FROM draft_actions a "
               "                    WHERE a.account_id = $1 AND a.draft_id = d.id), "
               "                   '[]'::json)::text "
               "       || '}', "
               "       " ETAG_SQL("d") " "
               "FROM drafts d "
               "JOIN conversations c ON c.account_id = d.account_id "
               "     AND c.id = d.conversation_id AND c.deleted_at IS NULL "
               "WHERE d.account_id = $1 AND d.id = $2",
               2},
    /* clang-format on */
};

/* --- create ---------------------------------------------------------------- */

struct insert {
    const struct who *w;
    const char *conv_id;
    const struct draft_in *in;
    char id[UUID7_STRLEN + 1];
    struct draft_out out;
};

/* The count of rows of the next result sent ahead (db_send), or -1; when
 * `first` is not NULL it gets row 0, column 0 (or "" without rows). */
static int
take(struct dbconn *c, char *first, size_t firstlen, struct problem *pb)
{
    PGresult *res = db_recv(c, pb);
    int n;

    if (res == NULL)
        return -1;
    n = PQntuples(res);
    if (first != NULL)
        snprintf(first, firstlen, "%s", n > 0 ? PQgetvalue(res, 0, 0) : "");
    PQclear(res);
    return n;
}

/* Runs a statement whose answer we only count (as take()). */
static int
run(struct dbconn *c, int st, const char *const *p, char *first, size_t firstlen,
    struct problem *pb)
{
    if (db_send(c, &stmts[st], p, pb) != 0)
        return -1;
    return take(c, first, firstlen, pb);
}

/* Sends the checks of the trigger message (check_trigger takes them). */
static int
send_trigger_checks(struct dbconn *c, const struct insert *x, struct problem *pb)
{
    const char *p[] = {x->w->account_id, x->in->trigger_message_id, x->conv_id};

    if (db_send(c, &stmts[S_TRIGGER], p, pb) != 0 ||
        db_send(c, &stmts[S_TRIGGER_TAKEN], p, pb) != 0)
        return -1;
    return 0;
}

/* Checks the trigger message: an inbound message of this conversation, with
 * no draft yet. Returns 0 or -1 (422, 409). */
static int
check_trigger(struct dbconn *c, struct problem *pb)
{
    char dir[16];
    int n = take(c, dir, sizeof(dir), pb);

    if (n < 0)
        return -1;
    if (n == 0 || strcmp(dir, "inbound") != 0)
        return problem_field(pb, "triggerMessageId",
                             "must be an inbound message of this conversation");
    n = take(c, NULL, 0, pb);
    if (n < 0)
        return -1;
    if (n > 0)
        return problem_set(pb, 409, "draft-exists",
                           "the trigger message already has a draft (one draft per message)");
    return 0;
}

/* Marks the draft request done: the one named (which must be leased and of
 * the trigger message) or the trigger message's own. req_id gets its id,
 * or "" when the trigger message has none. Returns 0 or -1 (422, 409). */
static int
finish_request(struct dbconn *c, const struct insert *x, char req_id[UUID7_STRLEN + 1],
               struct problem *pb)
{
    const char *acct = x->w->account_id;
    const char *want = x->in->draft_request_id;
    PGresult *res;
    int n;

    req_id[0] = '\0';
    if (want == NULL) {
        const char *p[] = {acct, x->in->trigger_message_id};

        n = run(c, S_REQUEST_DONE_BY_MESSAGE, p, req_id, UUID7_STRLEN + 1, pb);
        if (n < 0)
            return -1;
        if (n > 0)
            return db_audit(c, x->w, "draft_request.done", "draft_request", req_id, NULL, pb);
        return 0;
    }

    {
        const char *p[] = {acct, want};
        char status[16];
        bool same_message;

        res = db_exec(c, &stmts[S_REQUEST_LOCK], p, pb);
        if (res == NULL)
            return -1;
        if (PQntuples(res) == 0) {
            PQclear(res);
            return problem_field(pb, "draftRequestId", "must be a draft request of this account");
        }
        snprintf(status, sizeof(status), "%s", PQgetvalue(res, 0, 0));
        same_message = strcasecmp(PQgetvalue(res, 0, 1), x->in->trigger_message_id) == 0;
        PQclear(res);
        if (!same_message)
            return problem_field(pb, "draftRequestId",
                                 "must be the draft request of triggerMessageId");
        /* openapi.json: a draftRequestId that is not leased is a 409. */
        if (strcmp(status, "leased") != 0)
            return problem_set(pb, 409, "draft-request-not-leased",
                               "the draft request is %s, not leased", status);
        n = run(c, S_REQUEST_DONE, p, req_id, UUID7_STRLEN + 1, pb);
        if (n < 0)
            return -1;
        return db_audit(c, x->w, "draft_request.done", "draft_request", req_id, NULL, pb);
    }
}

static int
insert_tx(struct dbconn *c, void *arg, struct problem *pb)
{
    struct insert *x = arg;
    const struct draft_in *in = x->in;
    const char *acct = x->w->account_id;
    char req_id[UUID7_STRLEN + 1], old[UUID7_STRLEN + 1], nid[UUID7_STRLEN + 1];
    PGresult *res;
    int n;

    /* db_tx may run this again: start from nothing, with a fresh id. */
    free(x->out.json);
    memset(&x->out, 0, sizeof(x->out));
    uuid7_new(x->id);

    /* The conversation's lock and the trigger's checks go together. */
    {
        const char *p[] = {acct, x->conv_id};

        if (db_send(c, &stmts[S_CONV_LOCK], p, pb) != 0 || send_trigger_checks(c, x, pb) != 0)
            return -1;
        n = take(c, NULL, 0, pb);
        if (n < 0)
            return -1;
        if (n == 0)
            return problem_set(pb, 404, "not-found", "no such conversation");
    }
    if (check_trigger(c, pb) != 0 || finish_request(c, x, req_id, pb) != 0)
        return -1;

    /* The rest reads only what it answers: one round trip (with COMMIT
     * after it the audit rows, sent ahead). */
    {
        const char *p[] = {acct, x->conv_id};

        if (db_send(c, &stmts[S_SUPERSEDE], p, pb) != 0)
            return -1;
    }
    {
        const char *p[] = {acct,
                           x->id,
                           x->conv_id,
                           in->trigger_message_id,
                           in->model_key,
                           in->prompt_version,
                           in->suggested_text,
                           in->suggested_html,
                           in->top_sources};

        if (db_send(c, &stmts[S_INSERT], p, pb) != 0)
            return -1;
    }
    if (db_attachments_insert_in(c, x->w, NULL, x->id, in->attachments, in->nattachments, pb) != 0)
        return -1;
    {
        const char *p[] = {acct, x->id};

        if (db_send(c, &stmts[S_RENDER], p, pb) != 0)
            return -1;
    }
    {
        const char *p[] = {acct, x->conv_id, x->id};

        if (db_exec_later(c, &stmts[S_CONV_POINT], p, pb) != 0)
            return -1;
    }
    {
        const char *p[] = {
            acct, nid, x->id, x->conv_id, in->trigger_message_id, req_id[0] ? req_id : NULL};

        uuid7_new(nid);
        if (db_exec_later(c, &stmts[S_NOTIFY], p, pb) != 0)
            return -1;
    }
    n = take(c, old, sizeof(old), pb);
    if (n < 0)
        return -1;
    if (n > 0 && db_audit(c, x->w, "draft.supersede", "draft", old, NULL, pb) != 0)
        return -1;
    n = take(c, x->out.etag, sizeof(x->out.etag), pb);
    if (n < 0)
        return -1;
    if (n != 1)
        return problem_internal(pb, "drafts: insert returned no row");
    if ((res = db_recv(c, pb)) == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return problem_internal(pb, "drafts: new draft not found");
    }
    x->out.len = (size_t)PQgetlength(res, 0, 0);
    x->out.json = db_strdup(res, 0, 0);
    PQclear(res);
    if (x->out.json == NULL)
        return problem_internal(pb, "drafts: out of memory");
    return db_audit(c, x->w, "draft.create", "draft", x->id, NULL, pb);
}

int
db_drafts_insert(const struct who *w, const char *conv_id, const struct draft_in *in,
                 struct draft_out *out, struct problem *pb)
{
    struct insert x = {.w = w, .conv_id = conv_id, .in = in};

    if (db_tx(insert_tx, &x, pb) != 0) {
        free(x.out.json);
        return -1;
    }
    *out = x.out;
    return 0;
}

/* --- reads ----------------------------------------------------------------- */

int
db_drafts_list(const struct who *w, const struct draft_filter *f, const struct page *pg,
               char **json, size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, pg->after_ts, pg->after_id,
                       pg->fetch,     f->status,    f->conversation_id};
    int st = f->conversation_id ? S_LIST_CONV : f->status ? S_LIST_STATUS : S_LIST;

    /* Each statement takes only the parameters it names ($1..$n). */
    return db_list(&stmts[st], p, pg, 1, 2, json, len, pb);
}

struct get {
    const char *const *params;
    struct draft_out out;
};

static int
get_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct get *g = arg;
    PGresult *res = db_exec(c, &stmts[S_GET], g->params, pb);

    if (res == NULL)
        return -1;
    free(g->out.json);
    memset(&g->out, 0, sizeof(g->out));
    if (PQntuples(res) == 0) {
        PQclear(res);
        return problem_set(pb, 404, "not-found", "no such draft");
    }
    g->out.len = (size_t)PQgetlength(res, 0, 0);
    g->out.json = db_strdup(res, 0, 0);
    snprintf(g->out.etag, sizeof(g->out.etag), "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    return g->out.json ? 0 : problem_internal(pb, "drafts: out of memory");
}

int
db_drafts_get(const struct who *w, const char *id, struct draft_out *out, struct problem *pb)
{
    const char *p[] = {w->account_id, id};
    struct get g = {p, {0}};

    /* The primary, not a replica: the ETag read here comes back as the
     * If-Match of a write, compared with the primary's row. */
    if (db_read(get_fn, &g, false, pb) != 0) {
        free(g.out.json);
        return -1;
    }
    *out = g.out;
    return 0;
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
