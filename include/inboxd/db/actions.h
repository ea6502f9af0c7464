/*
 * db_actions: the SQL of draft actions (API.md "Review"): approve, edit and
 * reject, and the lists of actions.
 *
 * An action is one transaction that starts with a conditional UPDATE of the
 * draft (status = 'pending', and the If-Match tag when one was given): of
 * any number of simultaneous actions on one draft, exactly one finds the
 * draft pending; the others find zero rows and answer 409 (or 412).
 */
#ifndef INBOXD_DB_ACTIONS_H
#define INBOXD_DB_ACTIONS_H

#include <stddef.h>

#include "inboxd/db/who.h"
#include "inboxd/lib/page.h"
#include "inboxd/lib/problem.h"

/* ActionType of API.md, in the order of action_type_names. */
enum action_type {
    ACTION_APPROVE,
    ACTION_EDIT,
    ACTION_REJECT,
};

/* "approve", "edit", "reject", NULL: the names of enum action_type. */
extern const char *const action_type_names[];

/* One action as the route validated it. Strings are borrowed (from the
 * parsed body) and NUL-free; NULL means absent. */
struct action_in {
    enum action_type type;
    const char *user_id;    /* a UUID (syntax checked, membership not yet) */
    const char *final_text; /* edit: required (the route checks); approve: optional */
    const char *final_html;
    const char *notes;
    const char *if_match; /* the bare ETag to compare, or NULL for no condition */
};

/*
 * POST /v1/drafts/{id}/actions: acts on the draft in one transaction.
 *  approve: draft -> sent, an outbound message with the suggested text and
 *           HTML (delivery pending, subject of the conversation), a learning
 *           sample with an empty diff. A finalText/finalHtml, when given,
 *           must equal the suggested one.
 *  edit:    draft -> superseded, an outbound message with finalText and
 *           finalHtml; the action's and the sample's diffJson hold
 *           wdiff_ops(suggested, final). finalText must differ from the
 *           suggested text.
 *  reject:  draft -> archived; no message, no sample.
 * Every type writes the action row, clears the conversation's pending draft
 * and feed position, moves updated_at (and last_message_at when a message
 * was written) and an audit row naming the acting user.
 * Statuses: 404 (no such draft in the account, or its conversation is
 * deleted), 412 (if_match given and stale), 409 "draft-not-pending" (the
 * draft is sent/superseded/archived), 422 (userId not an active user of the account;
 * finalText equal to / different from the suggested text as above), 503.
 * On success *json is `{action, draft, message, learningSample}` (null
 * where none), a new malloc()ed string (caller free()s) of *len bytes.
 */
int db_actions_create(const struct who *w, const char *draft_id, const struct action_in *in,
                      char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

/* GET /v1/drafts/{id}/actions: a page of the draft's actions, oldest first.
 * 404 when the draft is not the account's (or its conversation is deleted).
 * *json: new malloc()ed page. */
int db_actions_list_draft(const struct who *w, const char *draft_id, const struct page *pg,
                          char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

/* GET /v1/actions: a page of the account's actions, oldest first; user_id
 * (NULL: all users) and since (RFC 3339 with microseconds, created_at >=
 * since; NULL: no bound) filter. Actions of deleted conversations are
 * hidden. *json: new malloc()ed page. */
int db_actions_list(const struct who *w, const char *user_id, const char *since,
                    const struct page *pg, char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

/* GET /v1/actions/{id}: one action (hidden, like the lists, once its
 * conversation is deleted). *json: new malloc()ed. Statuses: 404, 503. */
int db_actions_get(const struct who *w, const char *id, char **json, size_t *len,
                   struct problem *pb) __attribute__((warn_unused_result));

#endif
