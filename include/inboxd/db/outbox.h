/*
 * db_outbox: the outbox, the delivery queue of outbound messages (API.md
 * "Outbound delivery (sync service)").
 *
 * The outbox is the messages table itself: an outbound message enters it
 * with delivery_status 'pending' (db_messages, db_actions), the sync service
 * leases messages here, delivers them through the provider and reports
 * `delivered` or `failed`. Leases and backoff live in the row; the
 * generated claimable_at column says when a message can be claimed next,
 * so a claim is one range scan of a small partial index and an expired
 * lease needs no sweeper.
 *
 * Every function takes the caller first and runs one transaction; JSON is
 * rendered by the schema's inboxd_json_* functions. Another account's
 * message is a 404, exactly like a missing one.
 */
#ifndef INBOXD_DB_OUTBOX_H
#define INBOXD_DB_OUTBOX_H

#include <stddef.h>

#include "inboxd/db/lease.h"
#include "inboxd/db/who.h"
#include "inboxd/lib/page.h"
#include "inboxd/lib/problem.h"

/*
 * POST /v1/outbox/claim: leases up to in->limit claimable outbound messages
 * of the caller's account (pending and past their backoff, or leased with
 * an expired lease), oldest claimable first, in one statement with FOR
 * UPDATE SKIP LOCKED, so two concurrent claims never lease the same
 * message. Only messages whose conversation's channel has the type in->arg
 * (a ChannelType name) when it is set; never messages of soft-deleted
 * conversations. Each leased message gets delivery_status leased,
 * lease_expires_at = now() + lease_seconds and delivery_attempts + 1, and
 * a "message.claim" audit row.
 * *json gets `{"items":[…]}`, each item the message with its
 * `leaseExpiresAt`, `conversation` and `channel` (rendered by SQL in the
 * same statement).
 * Statuses: 503. *json: new malloc()ed string (caller free()s), length in
 * *len; untouched on failure.
 */
int db_outbox_claim(const struct who *w, const struct lease_claim_in *in, char **json, size_t *len,
                    struct problem *pb) __attribute__((warn_unused_result));

/*
 * POST /v1/outbox/{messageId}/delivered: a leased message becomes
 * delivered: delivered_at = now(), external_id = external_id (the
 * provider's id), lease cleared; audited "message.deliver". *json gets the
 * message in its new state. A message delivered already with this very
 * external_id is the same report again: *json gets it, nothing changes.
 * Statuses: 404 (no such outbound message in the account), 409
 * "message-not-leased" (nothing changes; a delivered message with another
 * externalId among them), 409 "external-id-conflict"
 * (another message of the conversation has that externalId; nothing
 * changes), 503. *json: new malloc()ed (caller free()s); untouched on
 * failure.
 */
int db_outbox_delivered(const struct who *w, const char *id, const char *external_id, char **json,
                        size_t *len, struct problem *pb) __attribute__((warn_unused_result));

/*
 * POST /v1/outbox/{messageId}/failed: records a failed delivery attempt of
 * a leased message; delivery_last_error = in->error either way, the lease
 * is cleared. Retryable and delivery_attempts < outbox_max_attempts: back
 * to pending, claimable again at now() + in->retry_after_s when given, else
 * now() + outbox_backoff_s * 2^(attempts - 1) (exponent capped at 20);
 * audited "message.retry". Otherwise: failed, a `delivery.failed`
 * notification (for everyone in the account; payload messageId,
 * conversationId) in the same statement, audited "message.fail".
 * *json gets the message in its new state.
 * Statuses: 404 (no such outbound message in the account), 409
 * "message-not-leased" (nothing changes), 503. *json: new malloc()ed
 * (caller free()s); untouched on failure.
 */
int db_outbox_failed(const struct who *w, const char *id, const struct lease_fail_in *in,
                     char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

/*
 * GET /v1/outbox?status=: a page of the account's outbound messages, in
 * delivery status `status` (a DeliveryStatus name) or any when NULL, oldest
 * first by (createdAt, id), each with its leaseExpiresAt; messages of
 * soft-deleted conversations are hidden. *json: new malloc()ed page text
 * (caller free()s), length in *len.
 * Statuses: 503.
 */
int db_outbox_list(const struct who *w, const char *status, const struct page *pg, char **json,
                   size_t *len, struct problem *pb) __attribute__((warn_unused_result));

#endif
