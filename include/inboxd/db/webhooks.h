/*
 * db_webhooks: the SQL of inbound webhook deliveries, their event log, the
 * webhook registry and its diagnostics (API.md "Inbound webhooks").
 *
 * A delivery is stored and committed before it is processed, so an accepted
 * delivery is never lost; processing is one more transaction that upserts
 * the channel, conversation and inbound message (with its draft request)
 * through the same in-transaction functions the plain routes use. Every
 * function takes the caller first and scopes every statement by its
 * account: for a delivery that is the account its source is configured
 * for. Another account's event or registry entry is a 404.
 */
#ifndef INBOXD_DB_WEBHOOKS_H
#define INBOXD_DB_WEBHOOKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "inboxd/db/who.h"
#include "inboxd/db/channels.h"
#include "inboxd/db/conversations.h"
#include "inboxd/db/messages.h"
#include "inboxd/lib/page.h"
#include "inboxd/lib/problem.h"
#include "inboxd/lib/rfc3339.h"

/* The one topic that is processed; any other is stored as `skipped`. */
#define WEBHOOKS_TOPIC_MESSAGE_CREATED "message.created"

/*
 * A stored delivery's payload after validation (openapi.json
 * WebhookDelivery). Strings are borrowed from the parsed payload document.
 * For message.created: channel (type, external_id, name: the externalId
 * when the delivery names none; metadata NULL), conversation (channel_id
 * is left NULL: the db layer fills it) and message (direction "inbound",
 * sent_at pointing into sent_at_buf or NULL) are set; for other topics only
 * delivery_id and topic.
 */
struct webhook_in {
    const char *delivery_id;
    const char *topic;
    struct channel_in channel;
    struct conversation_in conversation;
    struct message_in message;
    char sent_at_buf[RFC3339_BUFLEN];
};

/*
 * Validates a stored payload (JSON text, len bytes, not NUL-terminated
 * necessarily) into *in, which it may overwrite whole. The routes layer
 * provides it, so that validation stays there while the db layer decides
 * when it runs (inside the processing transaction, on the payload as
 * stored, for a first delivery and a replay alike). Returns a new reference
 * to the parsed document backing in's strings (the caller json_decref()s it
 * when done with in), or NULL with pb set: 422 naming every bad field, 400
 * when the text is not a JSON object, 500 on OOM.
 */
typedef json_t *(*webhook_parse_fn)(const char *payload, size_t len, struct webhook_in *in,
                                    struct problem *pb);

/* One signed delivery as received. Everything is borrowed. */
struct webhook_delivery {
    const char *source; /* the configured source name */
    const char *body;   /* the raw body: a JSON object, valid UTF-8 */
    size_t len;
    bool payload_storable;   /* false: the body cannot be jsonb (a \u0000 in a string) */
    const char *delivery_id; /* its deliveryId when that is a valid one, else NULL */
    const char *topic;       /* its topic when that is a valid one, else NULL */
};

/* The answer to a delivery or a replay. */
struct webhook_result {
    int status; /* 201 processed now, 200 duplicate (delivery) or replayed */
    char *json; /* WebhookResult text: malloc()ed, the caller's to free */
    size_t len;
    char event_id[37]; /* the stored event, also when the call failed after storing it */
};

/*
 * POST /v1/webhooks/{source}, after the signature was verified and w's
 * account set to the source's. Two transactions:
 *
 * 1. Stores the delivery (status 'received', payload, raw body, topic,
 *    deliveryId) and commits, audited "webhook_event.receive". The insert
 *    is ON CONFLICT (account, source, deliveryId) DO NOTHING: a repeated
 *    deliveryId stores nothing and finds the first delivery's event.
 * 2. Locks the event row (FOR UPDATE) and acts on the status it finds:
 *    'received': processes it (parse, then skipped, succeeded or failed;
 *    see below) and answers 201; 'succeeded'/'skipped': answers 200 with
 *    the stored ids and duplicate true; 'failed': answers the failure again
 *    (422 with the field errors when the stored payload still fails
 *    validation, else 409 "webhook-event-failed"), writing nothing.
 *
 * So duplicates serialise on the event row: whichever request locks a
 * 'received' event first processes it (normally the one that stored it;
 * under a storm possibly a duplicate that got the lock first, and then the
 * storer gets the 200), and every other one waits for that commit and reads
 * its result: one 201, the same ids everywhere. A 'received' event left by
 * a failure (503, crash) is processed by the next delivery of its id.
 *
 * Processing: a payload that fails validation marks the event 'failed'
 * with the field errors as its error, commits, and the call fails with the
 * 422; a topic other than message.created marks it 'skipped' with null
 * ids; message.created upserts the channel, conversation and inbound
 * message (with its draft request) with db_channels_upsert_in(),
 * db_conversations_upsert_in() and db_messages_create_in(), and marks the
 * event 'succeeded' with result {eventId, conversationId, messageId,
 * draftRequestId, duplicate: false}, all in one transaction audited
 * "webhook_event.process". When that transaction fails with a 4xx (409 for
 * a deleted conversation), it is rolled back and the event marked 'failed'
 * with the reason in a third transaction.
 *
 * out->event_id is set once the event is stored, also when the call then
 * fails; out->json (new malloc()ed) only on success. Statuses: 409, 422,
 * 500, 503.
 */
int db_webhooks_receive(const struct who *w, const struct webhook_delivery *d,
                        webhook_parse_fn parse, struct webhook_result *out, struct problem *pb)
    __attribute__((warn_unused_result));

/*
 * POST /v1/webhooks/events/{id}/replay: processes a 'failed' or 'received'
 * event again with the same processing as db_webhooks_receive(), audited
 * "webhook_event.replay". Answers 200 with the result (duplicate false).
 * out->event_id is set when the event exists. Statuses: 404, 409 (already
 * succeeded or skipped), 422, 500, 503.
 *
 * corrected NULL: on the payload as stored (an operator may have fixed
 * it); a 422 (fails validation again) leaves it 'failed' with the new
 * error. corrected, JSON text (borrowed; the compact text of the caller's
 * object, its numbers as sent): parsed by `parse` exactly as a delivered
 * payload, then, in the same one transaction, stored as the event's
 * corrected payload (payload and raw body stay as delivered), audited
 * "webhook_event.correct", and processed. A correction that fails
 * validation (422, the fields named as in a delivery) or processing (409)
 * is rolled back whole: the event stays as it was.
 */
int db_webhooks_replay(const struct who *w, const char *id, const char *corrected,
                       webhook_parse_fn parse, struct webhook_result *out, struct problem *pb)
    __attribute__((warn_unused_result));

/* GET /v1/webhooks/events filters (validated, borrowed; NULL = any). */
struct webhook_event_filter {
    const char *source; /* lower-case source name */
    const char *status; /* a WebhookEventStatus name */
};

/* A page of the account's events, oldest first by (receivedAt, id); pg
 * carries a timestamp cursor. *json: new malloc()ed. Statuses: 503. */
int db_webhooks_events_list(const struct who *w, const struct webhook_event_filter *f,
                            const struct page *pg, char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

/* One event. *json: new malloc()ed. Statuses: 404, 503. */
int db_webhooks_event_get(const struct who *w, const char *id, char **json, size_t *len,
                          struct problem *pb) __attribute__((warn_unused_result));

/* A registry entry to store (PUT), validated and borrowed; NULL = null. */
struct subscription_in {
    const char *source;    /* lower-case */
    const char *topic_key; /* may hold '/' */
    const char *delivery_method;
    const char *callback_url;
    const char *last_handshake_at; /* RFC 3339 UTC with microseconds */
    const char *last_handshake_result;
};

/* GET /v1/webhooks/registry: a page ordered by source, then topic key (the
 * cursor names the last entry shown; should that entry be deleted
 * meanwhile, the next page is empty). *json: new malloc()ed. Statuses: 503. */
int db_webhooks_registry_list(const struct who *w, const struct page *pg, char **json, size_t *len,
                              struct problem *pb) __attribute__((warn_unused_result));

/* PUT /v1/webhooks/registry/{source}/{topicKey}: creates the entry or
 * replaces every field of the stored one (absent optional fields become
 * null) in one INSERT ... ON CONFLICT DO UPDATE, audited
 * "webhook_subscription.create" or ".replace". *created tells which.
 * *json: new malloc()ed. Statuses: 500, 503. */
int db_webhooks_registry_put(const struct who *w, const struct subscription_in *in, char **json,
                             size_t *len, bool *created, struct problem *pb)
    __attribute__((warn_unused_result));

/* DELETE /v1/webhooks/registry/{source}/{topicKey}, audited
 * "webhook_subscription.delete". Statuses: 404, 503. */
int db_webhooks_registry_delete(const struct who *w, const char *source, const char *topic_key,
                                struct problem *pb) __attribute__((warn_unused_result));

/* GET /v1/webhooks/diagnostics: {"items": [...]} with one item per
 * {source, topic} that has a registry entry or a delivery in the last 24 h
 * (events without a valid topic are not counted), ordered by source, then
 * topic; one SQL statement. *json: new malloc()ed. Statuses: 503. */
int db_webhooks_diagnostics(const struct who *w, char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

#endif
