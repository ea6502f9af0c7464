/*
 * db_messages: the SQL of a conversation's messages and their attachments,
 * including what a new message sets off: the draft request of an inbound
 * message, the outbox entry of an outbound one, and the conversation's
 * last_message_at / last_inbound_at / feed_at.
 *
 * Every statement is scoped by the caller's account; a message of a
 * soft-deleted conversation is missing (404) like another account's.
 */
#ifndef INBOXD_DB_MESSAGES_H
#define INBOXD_DB_MESSAGES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "inboxd/db/who.h"
#include "inboxd/lib/page.h"
#include "inboxd/lib/problem.h"

struct dbconn;

/* Attachments one message may carry. */
#define MESSAGES_MAX_ATTACHMENTS 100

/* One attachment of a new message. Strings are borrowed. */
struct attachment_in {
    const char *file_name;
    const char *mime_type;
    long long size_bytes;
    const char *file_url;
};

/*
 * Inserts n attachments (n may be 0: nothing to do) of the message
 * message_id or of the draft draft_id (exactly one of them not NULL) in
 * the caller's transaction c, with new ids in the order given (the order
 * they are rendered in). The one insert of attachments, for messages and
 * drafts alike. Returns 0, or -1 with pb (500 on OOM, 503).
 */
int db_attachments_insert_in(struct dbconn *c, const struct who *w, const char *message_id,
                             const char *draft_id, const struct attachment_in *atts, size_t n,
                             struct problem *pb) __attribute__((warn_unused_result));

/* POST /v1/conversations/{id}/messages, validated. Everything is borrowed
 * (from the parsed body and the route's buffers). */
struct message_in {
    const char *external_id; /* NULL = none */
    const char *direction;   /* "inbound", "outbound" or "system" */
    const char *subject;
    const char *body_text; /* required */
    const char *body_html;
    const char *sent_at;    /* RFC 3339 UTC with microseconds; NULL = now */
    const json_t *metadata; /* an object, NULL = {} */
    size_t nattachments;
    struct attachment_in attachments[MESSAGES_MAX_ATTACHMENTS];
};

/*
 * Adds a message to a conversation in one transaction: locks the
 * conversation row (so posts to one conversation queue up and a soft delete
 * cannot slip in between), inserts the message with
 * ON CONFLICT (conversation, externalId) DO NOTHING and, when that found a
 * stored message, answers it (*created false) and writes nothing else.
 * Otherwise it inserts the attachments; for an inbound message a queued
 * draft request; for an outbound one delivery status 'pending' (the
 * outbox); and moves the conversation's last_message_at (any message),
 * last_inbound_at and feed_at (inbound) and updated_at. Audits
 * "message.create". Statuses: 404 (conversation not the account's or
 * deleted), 503. *json: new malloc()ed message on success.
 */
int db_messages_create(const struct who *w, const char *conversation_id,
                       const struct message_in *in, char **json, size_t *len, bool *created,
                       struct problem *pb) __attribute__((warn_unused_result));

/* What db_messages_create_in() stored or found. */
struct message_created {
    char id[37];               /* the message, new or stored */
    char draft_request_id[37]; /* the queued draft request; "" when none was queued */
    bool created;              /* true: inserted now */
    char *json;                /* the rendered message when asked for: malloc()ed, the caller's */
    size_t len;
};

/*
 * The body of db_messages_create() inside the caller's transaction c, so
 * another write (a webhook delivery) adds its inbound message with exactly
 * this code: the conversation lock, the insert that is exactly-once on the
 * externalId, attachments, the draft request (inbound) or outbox entry
 * (outbound), the conversation's times and the "message.create" audit.
 * New ids are made on every run. out->json is filled only when `render`.
 * out is reset first (its json freed), so a transaction that runs again may
 * pass the same out; on failure out->json is NULL. Statuses as
 * db_messages_create(), and 500 on OOM.
 */
int db_messages_create_in(struct dbconn *c, const struct who *w, const char *conversation_id,
                          const struct message_in *in, bool render, struct message_created *out,
                          struct problem *pb) __attribute__((warn_unused_result));

/* A page of a conversation's messages in conversation order: by sentAt,
 * else createdAt, oldest first, ties by id (pg carries a timestamp cursor).
 * Statuses: 404, 503. *json: new malloc()ed page. */
int db_messages_list(const struct who *w, const char *conversation_id, const struct page *pg,
                     char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

/* One message with its attachments (and delivery when outbound).
 * Statuses: 404, 503. *json: new malloc()ed. */
int db_messages_get(const struct who *w, const char *id, char **json, size_t *len,
                    struct problem *pb) __attribute__((warn_unused_result));

#endif
