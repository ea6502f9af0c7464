/*
 * db_actions: approve / edit / reject of a draft, and the action lists.
 *
 * WHY SO. "Exactly one action per draft" is decided by the first statement
 * of the transaction, a conditional UPDATE of the draft (status 'pending',
 * and the If-Match tag when one was given). Under READ COMMITTED a second
 * action on the same draft waits for the first one's row lock, re-checks the
 * condition against the committed row and updates nothing: it then only
 * reads why (404, 412 or 409) and rolls back. Everything the winner writes
 * (outbound message, action, learning sample, conversation, audit) follows
 * in the same transaction, and the word-level diff of an edit is computed
 * here in C between reading the draft and writing the rows.
 *
 * Lists are keyset-paginated on (created_at, id); a cursor's absence is a
 * sentinel bound (-infinity, nil uuid) so that every statement has one index
 * range condition and a generic plan never scans from the start.
 *
 * Must never: build SQL at run time, act on a draft it did not first win
 * with the conditional UPDATE, or render resource JSON in C (the envelope
 * `{action, draft, message, learningSample}` only joins what the schema's
 * render functions produced).
 */
#include "inboxd/db/actions.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "inboxd/db/db.h"
#include "inboxd/db/audit.h"
#include "inboxd/db/rows.h"
#include "inboxd/db/etag.h"
#include "inboxd/lib/sbuf.h"
#include "inboxd/lib/uuid7.h"
#include "inboxd/lib/wdiff.h"

const char *const action_type_names[] = {"approve", "edit", "reject", NULL};

/* The draft status each action type leaves behind. */
static const char *const draft_status_after[] = {
    [ACTION_APPROVE] = "sent",
    [ACTION_EDIT] = "superseded",
    [ACTION_REJECT] = "archived",
};

#define NIL_UUID "00000000-0000-0000-0000-000000000000"
#define DRAFT_ETAG ETAG_SQL("d")

enum {
    S_CLAIM,
    S_PROBE,
    S_USER,
    S_MESSAGE,
    S_COPY_ATTACHMENTS,
    S_ACTION,
    S_SAMPLE,
    S_CONVERSATION,
    S_DRAFT_VISIBLE,
    S_LIST_DRAFT,
    S_LIST_ALL,
    S_LIST_USER,
    S_GET,
};

static const struct db_stmt stmts[] = {
    /* $3 the new status, $4 the If-Match tag or NULL. A draft of a deleted
     * conversation is hidden like the conversation. */
    [S_CLAIM] = {"actions_claim",
                 "UPDATE drafts d SET status = $3::draft_status, updated_at = now() "
                 "FROM conversations c "
                 "WHERE d.account_id = $1 AND d.id = $2 AND d.status = 'pending' "
                 "  AND ($4::int8 IS NULL OR " DRAFT_ETAG " = $4::int8) "
                 "  AND c.account_id = d.account_id AND c.id = d.conversation_id "
                 "  AND c.deleted_at IS NULL "
                 "RETURNING d.conversation_id, d.suggested_text, d.suggested_html, "
                 "          inboxd_json_draft_v2(d), "
                 "          (SELECT count(*) FROM attachments a "
                 "           WHERE a.account_id = d.account_id AND a.draft_id = d.id)",
                 4},
    [S_PROBE] = {"actions_probe",
                 "SELECT d.status, " DRAFT_ETAG " FROM drafts d "
                 "JOIN conversations c ON c.account_id = d.account_id "
                 "                    AND c.id = d.conversation_id "
                 "WHERE d.account_id = $1 AND d.id = $2 AND c.deleted_at IS NULL",
                 2},
    /* The acting user must be active. FOR SHARE: a deactivation waits for
     * the actions already past this check to commit, and an action waits
     * for a deactivation in flight and then reads its outcome, so no
     * action of a user commits after the commit that deactivated them. */
    [S_USER] = {"actions_user",
                "SELECT active FROM users WHERE account_id = $1 AND id = $2 FOR SHARE", 2},
    /* The outbox entry: outbound, delivery pending, the conversation's subject. */
    [S_MESSAGE] = {"actions_message",
                   "INSERT INTO messages (account_id, id, conversation_id, direction, subject, "
                   "                      body_text, body_html, delivery_status) "
                   "SELECT c.account_id, $2, c.id, 'outbound', c.subject, $4, $5, 'pending' "
                   "FROM conversations c WHERE c.account_id = $1 AND c.id = $3 "
                   "RETURNING id, inboxd_json_message(messages, '[]'::json)",
                   5},
    /* The draft's attachments copied onto its outbound message $2 (0013),
     * as new rows with the ids $4 (made by inboxd, in order, so that they
     * render in the draft's order), and the message rendered with them: a
     * statement does not see its own inserts, so the copies are rendered
     * from RETURNING. */
    [S_COPY_ATTACHMENTS] = {"actions_copy_attachments",
                            "WITH src AS ("
                            "  SELECT a.*, row_number() OVER (ORDER BY a.created_at, a.id) AS k "
                            "  FROM attachments a WHERE a.account_id = $1 AND a.draft_id = $3), "
                            "ins AS ("
                            "  INSERT INTO attachments (account_id, id, message_id, file_name, "
                            "                           mime_type, size_bytes, file_url) "
                            "  SELECT src.account_id, n.id, $2, src.file_name, src.mime_type, "
                            "         src.size_bytes, src.file_url "
                            "  FROM src JOIN unnest($4::uuid[]) WITH ORDINALITY AS n(id, k) "
                            "       ON n.k = src.k "
                            "  RETURNING attachments AS r) "
                            "SELECT inboxd_json_message(m, coalesce("
                            "    (SELECT json_agg(inboxd_json_attachment(ins.r) "
                            "                     ORDER BY (ins.r).created_at, (ins.r).id) "
                            "     FROM ins), '[]'::json)) "
                            "FROM messages m WHERE m.account_id = $1 AND m.id = $2",
                            4},
    [S_ACTION] = {"actions_insert",
                  "INSERT INTO draft_actions (account_id, id, draft_id, user_id, type, "
                  "                           final_text, final_html, notes, diff_json, "
                  "                           message_id) "
                  "VALUES ($1, $2, $3, $4, $5::action_type, $6, $7, $8, $9::jsonb, $10) "
                  "RETURNING inboxd_json_draft_action(draft_actions)",
                  10},
    /* The sample copies the texts and the diff from the rows just written,
     * so they are not sent to the server a second time. */
    [S_SAMPLE] = {"actions_sample",
                  "INSERT INTO learning_samples (account_id, id, draft_id, action_id, "
                  "                              original_text, final_text, diff_json) "
                  "SELECT a.account_id, $2, a.draft_id, a.id, d.suggested_text, a.final_text, "
                  "       a.diff_json "
                  "FROM draft_actions a "
                  "JOIN drafts d ON d.account_id = a.account_id AND d.id = a.draft_id "
                  "WHERE a.account_id = $1 AND a.id = $3 "
                  "RETURNING inboxd_json_learning_sample(learning_samples)",
                  3},
    /* The draft leaves the review feed. Cleared only when it is the
     * conversation's pending draft (it is, while the invariants hold), so a
     * newer draft's feed position can never be erased. $4: a message was
     * written now. */
    [S_CONVERSATION] = {"actions_conversation",
                        "UPDATE conversations SET "
                        "  pending_draft_id = CASE WHEN pending_draft_id = $3 THEN NULL "
                        "                          ELSE pending_draft_id END, "
                        "  feed_at = CASE WHEN pending_draft_id = $3 THEN NULL ELSE feed_at END, "
                        "  last_message_at = CASE WHEN $4::bool "
                        "                         THEN greatest(last_message_at, now()) "
                        "                         ELSE last_message_at END, "
                        "  updated_at = now() "
                        "WHERE account_id = $1 AND id = $2",
                        4},
    [S_DRAFT_VISIBLE] = {"actions_draft_visible",
                         "SELECT 1 FROM drafts d "
                         "JOIN conversations c ON c.account_id = d.account_id "
                         "                    AND c.id = d.conversation_id "
                         "WHERE d.account_id = $1 AND d.id = $2 AND c.deleted_at IS NULL",
                         2},
    [S_LIST_DRAFT] = {"actions_list_draft",
                      "SELECT inboxd_json_draft_action(a), a.created_at, a.id "
                      "FROM draft_actions a "
                      "WHERE a.account_id = $1 AND a.draft_id = $2 "
                      "  AND (a.created_at, a.id) > (coalesce($3::timestamptz, '-infinity'), "
                      "                              coalesce($4::uuid, '" NIL_UUID "')) "
                      "ORDER BY a.created_at, a.id LIMIT $5",
                      5},
    [S_LIST_ALL] = {"actions_list",
                    "SELECT inboxd_json_draft_action(a), a.created_at, a.id "
                    "FROM draft_actions a "
                    "JOIN drafts d ON d.account_id = a.account_id AND d.id = a.draft_id "
                    "JOIN conversations c ON c.account_id = d.account_id "
                    "                    AND c.id = d.conversation_id "
                    "WHERE a.account_id = $1 AND c.deleted_at IS NULL "
                    "  AND a.created_at >= coalesce($2::timestamptz, '-infinity') "
                    "  AND (a.created_at, a.id) > (coalesce($3::timestamptz, '-infinity'), "
                    "                              coalesce($4::uuid, '" NIL_UUID "')) "
                    "ORDER BY a.created_at, a.id LIMIT $5",
                    5},
    [S_LIST_USER] = {"actions_list_user",
                     "SELECT inboxd_json_draft_action(a), a.created_at, a.id "
                     "FROM draft_actions a "
                     "JOIN drafts d ON d.account_id = a.account_id AND d.id = a.draft_id "
                     "JOIN conversations c ON c.account_id = d.account_id "
                     "                    AND c.id = d.conversation_id "
                     "WHERE a.account_id = $1 AND c.deleted_at IS NULL "
                     "  AND a.created_at >= coalesce($2::timestamptz, '-infinity') "
                     "  AND (a.created_at, a.id) > (coalesce($3::timestamptz, '-infinity'), "
                     "                              coalesce($4::uuid, '" NIL_UUID "')) "
                     "  AND a.user_id = $6 "
                     "ORDER BY a.created_at, a.id LIMIT $5",
                     6},
    /* One action; hidden with its conversation, as in the lists. */
    [S_GET] = {"actions_get",
               "SELECT inboxd_json_draft_action(a) FROM draft_actions a "
               "JOIN drafts d ON d.account_id = a.account_id AND d.id = a.draft_id "
               "JOIN conversations c ON c.account_id = d.account_id "
               "                    AND c.id = d.conversation_id "
               "WHERE a.account_id = $1 AND a.id = $2 AND c.deleted_at IS NULL",
               2},
};

/* --- POST /v1/drafts/{id}/actions ------------------------------------------ */

struct act {
    const struct who *w;
    const char *draft_id;
    const struct action_in *in;
    /* Rendered JSON of what was written (owned; NULL where none). */
    char *action, *draft, *message, *sample;
};

static void
act_reset(struct act *a)
{
    free(a->action);
    free(a->draft);
    free(a->message);
    free(a->sample);
    a->action = a->draft = a->message = a->sample = NULL;
}

/* Takes the next result sent ahead (db_send) and keeps column `col` of its
 * one row in *out (new malloc()ed). No row is a 500: the statements used
 * here always return one. */
static int
take_one(struct dbconn *c, int stmt, int col, char **out, struct problem *pb)
{
    PGresult *res = db_recv(c, pb);

    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return problem_internal(pb, "%s: %d rows", stmts[stmt].name, PQntuples(res));
    }
    *out = db_strdup(res, 0, col);
    PQclear(res);
    return *out ? 0 : problem_internal(pb, "%s: out of memory", stmts[stmt].name);
}

/* Runs a statement and keeps column `col` of its one row (take_one). */
static int
exec_one(struct dbconn *c, int stmt, const char *const *p, int col, char **out, struct problem *pb)
{
    if (db_send(c, &stmts[stmt], p, pb) != 0)
        return -1;
    return take_one(c, stmt, col, out, pb);
}

/* The claim found nothing: says why, as a problem. Returns -1. */
static int
explain_miss(struct dbconn *c, const struct act *a, struct problem *pb)
{
    const char *p[] = {a->w->account_id, a->draft_id};
    PGresult *res = db_exec(c, &stmts[S_PROBE], p, pb);
    char status[16], tag[32];

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return problem_set(pb, 404, "not-found", "no such draft");
    }
    snprintf(status, sizeof(status), "%s", PQgetvalue(res, 0, 0));
    snprintf(tag, sizeof(tag), "%s", PQgetvalue(res, 0, 1));
    PQclear(res);
    if (a->in->if_match != NULL && strcmp(a->in->if_match, tag) != 0)
        return problem_set(pb, 412, "precondition-failed",
                           "the draft has changed since the given ETag");
    if (strcmp(status, "pending") != 0)
        return problem_set(pb, 409, "draft-not-pending", "the draft is %s, not pending", status);
    /* Pending and matching now, so it became visible after the claim's
     * snapshot (a draft committed in between): the caller may simply retry. */
    return problem_set(pb, 409, "conflict", "the draft changed while acting on it; retry");
}

static bool
same_text(const char *x, const char *y)
{
    if (x == NULL || y == NULL)
        return x == y;
    return strcmp(x, y) == 0;
}

/* Checks the texts against the draft's suggestion (type rules of
 * db_actions_create). Returns 0, or -1 with a 422. */
static int
check_texts(const struct action_in *in, const char *suggested, const char *suggested_html,
            struct problem *pb)
{
    if (in->type == ACTION_EDIT && in->final_text == NULL)
        return problem_field(pb, "finalText", "is required for edit");
    if (in->type == ACTION_EDIT && strcmp(in->final_text, suggested) == 0)
        return problem_field(pb, "finalText", "must differ from the suggested text");
    if (in->type == ACTION_APPROVE) {
        if (in->final_text != NULL && strcmp(in->final_text, suggested) != 0)
            problem_field(pb, "finalText",
                          "differs from the suggested text: send type edit to change it");
        if (in->final_html != NULL && !same_text(in->final_html, suggested_html))
            problem_field(pb, "finalHtml",
                          "differs from the suggested HTML: send type edit to change it");
        if (pb->status != 0)
            return -1;
    }
    return 0;
}

/* The edit's word-level ops as compact JSON text (new malloc()ed). */
static char *
edit_diff(const char *from, size_t from_len, const char *to, struct problem *pb)
{
    json_t *ops = wdiff_ops(from, from_len, to, strlen(to));
    char *text;

    if (ops == NULL) {
        problem_internal(pb, "wdiff: out of memory or invalid UTF-8");
        return NULL;
    }
    text = json_dumps(ops, JSON_COMPACT);
    json_decref(ops);
    if (text == NULL)
        problem_internal(pb, "wdiff: out of memory");
    return text;
}

/* Copies the draft's n attachments onto the outbound message message_id
 * (in c's transaction) and renders the message again with them into
 * a->message. Returns 0 or -1 with pb. */
static int
copy_attachments(struct dbconn *c, struct act *a, const char *message_id, long n,
                 struct problem *pb)
{
    struct sbuf ids;
    char *text, *rendered = NULL;
    int rc;

    sbuf_init(&ids);
    sbuf_adds(&ids, "{");
    for (long i = 0; i < n; i++) {
        char id[UUID7_STRLEN + 1];

        uuid7_new(id);
        sbuf_addf(&ids, "%s%s", i ? "," : "", id);
    }
    sbuf_adds(&ids, "}");
    if ((text = sbuf_steal(&ids, NULL)) == NULL)
        return problem_internal(pb, "actions: out of memory");
    {
        const char *p[] = {a->w->account_id, message_id, a->draft_id, text};

        rc = exec_one(c, S_COPY_ATTACHMENTS, p, 0, &rendered, pb);
    }
    free(text);
    if (rc != 0)
        return -1;
    free(a->message);
    a->message = rendered;
    return 0;
}

static int
act_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct act *a = arg;
    const struct action_in *in = a->in;
    const char *acct = a->w->account_id;
    char action_id[37], message_id[37], sample_id[37], conv_id[37];
    char *suggested = NULL, *suggested_html = NULL, *diff = NULL;
    size_t suggested_len;
    long nattach;
    bool sends = in->type != ACTION_REJECT;
    PGresult *res;
    int rc = -1;

    /* db_tx may run this again after a serialization failure. */
    act_reset(a);
    /* Ids are made in the order things happen (uuid7 ids only grow): the
     * action, then the message it sends, then the sample. The action and its
     * message share created_at (now() of this transaction), so a timeline
     * ordered by time and id shows the action before its message. */
    uuid7_new(action_id);
    uuid7_new(message_id);
    uuid7_new(sample_id);

    {
        /* The claim and the user's check need nothing of each other: they
         * go together (with BEGIN). */
        const char *p[] = {acct, a->draft_id, draft_status_after[in->type], in->if_match};
        const char *pu[] = {acct, in->user_id};

        if (db_send(c, &stmts[S_CLAIM], p, pb) != 0 || db_send(c, &stmts[S_USER], pu, pb) != 0)
            return -1;
        if ((res = db_recv(c, pb)) == NULL)
            return -1;
        if (PQntuples(res) == 0) {
            PQclear(res);
            return explain_miss(c, a, pb);
        }
        snprintf(conv_id, sizeof(conv_id), "%s", PQgetvalue(res, 0, 0));
        suggested_len = (size_t)PQgetlength(res, 0, 1);
        suggested = db_strdup(res, 0, 1);
        suggested_html = db_strdup(res, 0, 2);
        a->draft = db_strdup(res, 0, 3);
        nattach = strtol(PQgetvalue(res, 0, 4), NULL, 10);
        if (suggested == NULL || a->draft == NULL ||
            (suggested_html == NULL && !PQgetisnull(res, 0, 2))) {
            PQclear(res);
            problem_internal(pb, "actions: out of memory");
            goto out;
        }
        PQclear(res);
    }
    {
        if ((res = db_recv(c, pb)) == NULL)
            goto out;
        if (PQntuples(res) == 0) {
            PQclear(res);
            problem_field(pb, "userId", "is not a user of this account");
            goto out;
        }
        if (PQgetvalue(res, 0, 0)[0] != 't') {
            PQclear(res);
            problem_field(pb, "userId", "is a deactivated user");
            goto out;
        }
        PQclear(res);
    }
    if (check_texts(in, suggested, suggested_html, pb) != 0)
        goto out;
    if (in->type == ACTION_EDIT) {
        diff = edit_diff(suggested, suggested_len, in->final_text, pb);
        if (diff == NULL)
            goto out;
    }

    /* From here on nothing reads a result before the last statement is
     * sent: the message, the action, the sample, the conversation and the
     * audit row go in one round trip, their rendered rows taken after. */
    if (sends) {
        const char *text = in->type == ACTION_EDIT ? in->final_text : suggested;
        const char *html = in->type == ACTION_EDIT ? in->final_html : suggested_html;
        const char *p[] = {acct, message_id, conv_id, text, html};

        if (db_send(c, &stmts[S_MESSAGE], p, pb) != 0)
            goto out;
        /* Attachments render the message again: taken first then. */
        if (nattach > 0 && (take_one(c, S_MESSAGE, 1, &a->message, pb) != 0 ||
                            copy_attachments(c, a, message_id, nattach, pb) != 0))
            goto out;
    }
    {
        const char *final_text = in->type == ACTION_EDIT      ? in->final_text
                                 : in->type == ACTION_APPROVE ? suggested
                                                              : NULL;
        const char *final_html = in->type == ACTION_EDIT      ? in->final_html
                                 : in->type == ACTION_APPROVE ? suggested_html
                                                              : NULL;
        const char *diff_json = in->type == ACTION_EDIT ? diff : sends ? "[]" : NULL;
        const char *p[] = {
            acct,       action_id,  a->draft_id, in->user_id, action_type_names[in->type],
            final_text, final_html, in->notes,   diff_json,   sends ? message_id : NULL};

        if (db_send(c, &stmts[S_ACTION], p, pb) != 0)
            goto out;
    }
    if (sends) {
        const char *p[] = {acct, sample_id, action_id};

        if (db_send(c, &stmts[S_SAMPLE], p, pb) != 0)
            goto out;
    }
    {
        const char *p[] = {acct, conv_id, a->draft_id, sends ? "t" : "f"};

        if (db_exec_later(c, &stmts[S_CONVERSATION], p, pb) != 0)
            goto out;
    }
    {
        char verb[32];

        snprintf(verb, sizeof(verb), "draft.action.%s", action_type_names[in->type]);
        if (db_audit(c, a->w, verb, "draft", a->draft_id, in->user_id, pb) != 0)
            goto out;
    }
    if (sends && nattach == 0 && take_one(c, S_MESSAGE, 1, &a->message, pb) != 0)
        goto out;
    if (take_one(c, S_ACTION, 0, &a->action, pb) != 0)
        goto out;
    if (sends && take_one(c, S_SAMPLE, 0, &a->sample, pb) != 0)
        goto out;
    rc = 0;
out:
    free(suggested);
    free(suggested_html);
    free(diff);
    return rc;
}

int
db_actions_create(const struct who *w, const char *draft_id, const struct action_in *in,
                  char **json, size_t *len, struct problem *pb)
{
    struct act a = {.w = w, .draft_id = draft_id, .in = in};
    struct sbuf b;
    char *out;

    if (db_tx(act_fn, &a, pb) != 0) {
        act_reset(&a);
        return -1;
    }
    sbuf_init(&b);
    sbuf_adds(&b, "{\"action\":");
    sbuf_adds(&b, a.action);
    sbuf_adds(&b, ",\"draft\":");
    sbuf_adds(&b, a.draft);
    sbuf_adds(&b, ",\"message\":");
    sbuf_adds(&b, a.message ? a.message : "null");
    sbuf_adds(&b, ",\"learningSample\":");
    sbuf_adds(&b, a.sample ? a.sample : "null");
    sbuf_adds(&b, "}");
    act_reset(&a);
    out = sbuf_steal(&b, len);
    if (out == NULL)
        return problem_internal(pb, "actions: out of memory");
    *json = out;
    return 0;
}

/* --- lists ----------------------------------------------------------------- */

struct draft_list {
    const char *const *params;
    const struct page *pg;
    char *json;
    size_t len;
};

static int
draft_list_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct draft_list *l = arg;
    PGresult *res = db_exec(c, &stmts[S_DRAFT_VISIBLE], l->params, pb);

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return problem_set(pb, 404, "not-found", "no such draft");
    }
    PQclear(res);
    res = db_exec(c, &stmts[S_LIST_DRAFT], l->params, pb);
    if (res == NULL)
        return -1;
    free(l->json);
    l->json = db_page_render(res, l->pg, 0, 1, 2, &l->len, pb);
    PQclear(res);
    return l->json ? 0 : -1;
}

int
db_actions_list_draft(const struct who *w, const char *draft_id, const struct page *pg, char **json,
                      size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, draft_id, pg->after_ts, pg->after_id, pg->fetch};
    struct draft_list l = {p, pg, NULL, 0};

    if (db_read(draft_list_fn, &l, true, pb) != 0) {
        free(l.json);
        return -1;
    }
    *json = l.json;
    *len = l.len;
    return 0;
}

int
db_actions_list(const struct who *w, const char *user_id, const char *since, const struct page *pg,
                char **json, size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, since, pg->after_ts, pg->after_id, pg->fetch, user_id};

    return db_list(&stmts[user_id ? S_LIST_USER : S_LIST_ALL], p, pg, 1, 2, json, len, pb);
}

int
db_actions_get(const struct who *w, const char *id, char **json, size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, id};

    return db_one(&stmts[S_GET], p, "action", json, len, pb);
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
