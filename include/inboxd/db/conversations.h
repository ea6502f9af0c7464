/*
 * db_conversations: the SQL of conversations and of a conversation's
 * timeline (API.md "Conversations and messages").
 *
 * Every function takes the caller first and scopes every statement by its
 * account; another account's conversation answers exactly as a missing
 * one (404). A soft-deleted conversation (deleted_at set) is missing for
 * every function here. JSON answers are rendered by PostgreSQL
 * (inboxd_json_conversation and friends) and handed out as text.
 */
#ifndef INBOXD_DB_CONVERSATIONS_H
#define INBOXD_DB_CONVERSATIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "inboxd/db/who.h"
#include "inboxd/lib/page.h"
#include "inboxd/lib/problem.h"

struct dbconn;

/* POST /v1/conversations. Strings are borrowed (NULL = absent). */
struct conversation_in {
    const char *channel_id;  /* required, UUID text */
    const char *external_id; /* required, not empty */
    const char *subject;
    const char *customer_email;
    const char *customer_name;
};

/* PATCH /v1/conversations/{id}. Strings are borrowed. */
struct conversation_patch {
    const char *status; /* a ConversationStatus name, NULL = unchanged */
    bool set_subject;   /* subject given (NULL then clears it) */
    const char *subject;
    const char *if_match; /* bare tag from etag_if_match(), NULL = no condition */
};

/* GET /v1/conversations filters, each validated text or NULL (borrowed). */
struct conversation_filter {
    const char *status;         /* a ConversationStatus name */
    const char *channel_id;     /* lower-case UUID */
    const char *customer_email; /* compared case-insensitively */
    const char *updated_since;  /* RFC 3339, UTC, microseconds */
};

/* One conversation as answered: JSON text and its ETag. */
struct conversation_out {
    char *json; /* malloc()ed; the caller owns it after success */
    size_t len;
    char etag[72]; /* header value, quotes included */
    bool created;  /* upsert only: true when the row is new */
    char id[37];   /* upsert only: the conversation's id */
};

/*
 * Creates the conversation, or finds the one with the same
 * {channelId, externalId} (INSERT ... ON CONFLICT DO NOTHING, so racing
 * requests make one row). out->created tells which; an existing row is
 * answered unchanged. Audits "conversation.create" only when it created.
 * Statuses: 422 (channelId is not a channel of the account, field
 * "channelId"), 409 (the pair belongs to a soft-deleted conversation), 503.
 * On success out->json is a new malloc()ed string (caller free()s); on
 * failure out is left empty.
 */
int db_conversations_upsert(const struct who *w, const struct conversation_in *in,
                            struct conversation_out *out, struct problem *pb)
    __attribute__((warn_unused_result));

/*
 * The body of db_conversations_upsert() inside the caller's transaction c,
 * so another write (a webhook delivery) upserts its conversation with
 * exactly this code: checks the channel, inserts with id new_id or finds
 * the stored row, audits "conversation.create" when it created; out->id is
 * the conversation's id either way. out is reset first (its json freed), so
 * a transaction that runs again may pass the same out; on failure out is
 * empty. Statuses as db_conversations_upsert().
 */
int db_conversations_upsert_in(struct dbconn *c, const struct who *w,
                               const struct conversation_in *in, const char *new_id,
                               struct conversation_out *out, struct problem *pb)
    __attribute__((warn_unused_result));

/*
 * One conversation with its ETag, without waiting (db_query_start, on the
 * primary): done(arg, rc, pb) is called once, on the reader's thread or
 * at once on this one, with out->json new malloc()ed when rc is 0. 404
 * when not the account's or deleted; 503. w and id must live until then;
 * done must not block.
 */
typedef void (*db_conversations_done_fn)(void *arg, int rc, const struct problem *pb);
void db_conversations_get_start(const struct who *w, const char *id,
                                struct conversation_out *out, db_conversations_done_fn done,
                                void *arg);

/* Frees what out holds (json not handed on). */
void db_conversations_out_cleanup(struct conversation_out *out);

/*
 * Changes status and/or subject in one UPDATE whose WHERE compares
 * in->if_match with the current tag, so a stale If-Match can never slip
 * between check and write. Keeps closed_at (set on closing, kept while
 * closed, cleared on reopening) and feed_at (the latest inbound time while
 * open with a pending draft, else NULL) consistent, and moves updated_at
 * strictly forward so every change gives a new ETag. Audits
 * "conversation.update". Statuses: 404, 412 ("precondition-failed"), 503.
 * out->json: new malloc()ed on success.
 */
int db_conversations_update(const struct who *w, const char *id,
                            const struct conversation_patch *in, struct conversation_out *out,
                            struct problem *pb) __attribute__((warn_unused_result));

/* Soft delete: sets deleted_at, clears feed_at; from then on every read,
 * list, timeline and message post of it is a 404. Audits
 * "conversation.delete". Statuses: 404 (also when already deleted), 503. */
int db_conversations_delete(const struct who *w, const char *id, struct problem *pb)
    __attribute__((warn_unused_result));

/* A page of the account's conversations, oldest first by id (UUIDv7, so
 * creation order), filtered. *json: new malloc()ed page. Statuses: 503. */
int db_conversations_list(const struct who *w, const struct conversation_filter *f,
                          const struct page *pg, char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

/*
 * A page of the conversation's timeline: its messages (at = sentAt, else
 * createdAt), drafts and draft actions (at = createdAt) merged oldest first
 * by (at, id), each item {"kind", "at", ...the resource's fields}. One SQL
 * statement per page (a second, tiny one only when the page is empty, to
 * tell an empty timeline from a missing conversation). pg carries a
 * timestamp cursor. *json: new malloc()ed page. Statuses: 404, 503.
 */
int db_conversations_timeline(const struct who *w, const char *id, const struct page *pg,
                              char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

#endif
