/*
 * db_draft_requests: the drafting queue (API.md "Drafting").
 *
 * A draft request is queued with each inbound message (by db_messages and
 * the webhook, in their own transactions); the assistants service leases
 * requests here and either posts a draft (db_drafts_insert marks the
 * request done) or reports a failure. Leases and backoff live in the row:
 * the generated claimable_at column says when a request can be claimed
 * next, so a claim is one range scan of a small partial index.
 */
#ifndef INBOXD_DB_DRAFT_REQUESTS_H
#define INBOXD_DB_DRAFT_REQUESTS_H

#include <stddef.h>

#include "inboxd/db/lease.h"
#include "inboxd/db/who.h"
#include "inboxd/lib/problem.h"

/*
 * POST /v1/draft-requests/claim: leases up to in->limit claimable requests
 * of the caller's account (queued and due, or leased with an expired lease),
 * oldest claimable first, in one statement with FOR UPDATE SKIP LOCKED, so
 * two concurrent claims never lease the same request. Each leased request
 * gets status leased, lease_expires_at = now() + lease_seconds, the worker
 * id (in->arg, non-empty) and attempts + 1, and a "draft_request.claim"
 * audit row. Requests of soft-deleted conversations are never claimed.
 * *json gets `{"items":[…]}`, each item the draft request with its
 * conversation, channel and trigger message embedded (rendered by SQL).
 * Statuses: 503. *json: new malloc()ed string (caller free()s), length in
 * *len; untouched on failure.
 */
int db_draft_requests_claim(const struct who *w, const struct lease_claim_in *in, char **json,
                            size_t *len, struct problem *pb) __attribute__((warn_unused_result));

/*
 * POST /v1/draft-requests/{id}/fail: records a failed attempt of a leased
 * request. Retryable and attempts < draft_request_max_attempts: back to
 * queued, claimable again at now() + draft_request_backoff_s *
 * 2^(attempts - 1) (in->has_retry_after is not looked at); audited
 * "draft_request.retry". Otherwise: failed, and a `draft.failed`
 * notification (for everyone in the account) in the same transaction;
 * audited "draft_request.fail". last_error is in->error either way. *json
 * gets the request in its new state.
 * Statuses: 404 (no such request in the account), 409 (the request is not
 * leased: nothing changes), 503. *json: new malloc()ed (caller free()s).
 */
int db_draft_requests_fail(const struct who *w, const char *id, const struct lease_fail_in *in,
                           char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

#endif
