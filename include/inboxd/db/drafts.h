/*
 * db_drafts: drafts written by the drafting model (API.md "Drafting").
 *
 * Creating a draft is the end of a draft request's life: the request
 * becomes done, the conversation's older pending draft is superseded, the
 * conversation points at the new draft (review feed position) and a
 * `draft.ready` notification is written, all in one transaction. Actions on
 * drafts live in db_actions, not here.
 */
#ifndef INBOXD_DB_DRAFTS_H
#define INBOXD_DB_DRAFTS_H

#include <stddef.h>

#include "inboxd/db/messages.h"
#include "inboxd/db/who.h"
#include "inboxd/lib/page.h"
#include "inboxd/lib/problem.h"

/* A new draft, validated by the route. Every string is borrowed. */
struct draft_in {
    const char *trigger_message_id; /* UUID text */
    const char *draft_request_id;   /* UUID text, or NULL: the trigger's request */
    const char *model_key;
    const char *prompt_version;
    const char *suggested_text;
    const char *suggested_html; /* or NULL */
    const char *top_sources;    /* compact JSON array text, or NULL for [] */
    const struct attachment_in *attachments; /* nattachments of them, as a message's */
    size_t nattachments;
};

/* Filters of GET /v1/drafts; NULL means no filter. Borrowed. */
struct draft_filter {
    const char *status;          /* a DraftStatus name */
    const char *conversation_id; /* lower-case UUID text */
};

/* A rendered draft: its JSON and its entity tag. */
struct draft_out {
    char *json; /* new malloc()ed; caller free()s */
    size_t len;
    char etag[32]; /* bare tag (etag_format() adds quotes) */
};

/*
 * POST /v1/conversations/{id}/drafts: inserts a pending draft for the
 * conversation `conv_id`, in one transaction that also
 *  - marks the draft request done: in->draft_request_id, which must be a
 *    leased request of the trigger message, or else (when NULL) the
 *    trigger message's own request if it has one;
 *  - supersedes the conversation's pending draft (before the INSERT: at
 *    most one pending draft per conversation);
 *  - sets conversations.pending_draft_id to the new draft and feed_at to
 *    last_inbound_at while the conversation is open;
 *  - inserts the draft's attachments (db_attachments_insert_in(), the
 *    insert of a message's), which an approve or edit copies onto its
 *    outbound message;
 *  - writes a `draft.ready` notification (draftId, conversationId,
 *    messageId, draftRequestId) and the audit rows.
 * Statuses: 404 (no such conversation, or a deleted one), 409 (a draft of
 * that trigger message exists; the draft request is not leased), 422
 * (triggerMessageId is not an inbound message of the conversation;
 * draftRequestId is no request of the account or of another message), 503.
 * On success out->json is the draft (new malloc()ed), out->etag its tag;
 * on failure out is left empty.
 */
int db_drafts_insert(const struct who *w, const char *conv_id, const struct draft_in *in,
                     struct draft_out *out, struct problem *pb) __attribute__((warn_unused_result));

/*
 * GET /v1/drafts: a page of the account's drafts, oldest first (createdAt,
 * then id), filtered by f. Drafts of deleted conversations are not listed.
 * Statuses: 503. *json: new malloc()ed (caller free()s).
 */
int db_drafts_list(const struct who *w, const struct draft_filter *f, const struct page *pg,
                   char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

/*
 * GET /v1/drafts/{id}: the draft with `"actions": [...]` (oldest first)
 * and its entity tag. Statuses: 404 (no such draft in the account, or its
 * conversation is deleted), 503. out->json new malloc()ed on success.
 */
int db_drafts_get(const struct who *w, const char *id, struct draft_out *out, struct problem *pb)
    __attribute__((warn_unused_result));

#endif
