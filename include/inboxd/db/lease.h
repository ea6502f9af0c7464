/*
 * lease: the engine of the queues whose rows are leased to workers: draft
 * requests (db/draft_requests.h) and the outbox (db/outbox.h).
 *
 * A queue is a table whose generated column claimable_at says when a row
 * may be claimed next: when it was queued or its backoff ends, its lease's
 * end while leased, NULL once it is done or failed (DESIGN.md "Queues in
 * Postgres"). Every queue runs the same state machine:
 *
 *   claim   leases up to `limit` claimable rows, oldest claimable first,
 *           with FOR UPDATE SKIP LOCKED, attempts + 1; one audit row each
 *   fail    a leased row goes back to the queue after a backoff that
 *           doubles with every attempt, or, not retryable or out of
 *           attempts, fails for good with the queue's notification
 *   done    the queue's own report that finishes a leased row
 *
 * and a report on a row that is not leased changes nothing: 404 when the
 * row is not the account's, else 409 naming its state. The state check
 * sits in each report's UPDATE ... WHERE, so two reports racing for one
 * lease cannot both apply.
 *
 * A queue describes itself once, in a static const struct lease_queue
 * beside its SQL: the statements (which know its table and columns, its
 * items' JSON and its notification), its lease_policy in db_settings() and
 * the words of its audit rows and problems. This engine holds no SQL.
 */
#ifndef INBOXD_DB_LEASE_H
#define INBOXD_DB_LEASE_H

#include <stdbool.h>
#include <stddef.h>

#include "inboxd/db/db.h"
#include "inboxd/db/who.h"
#include "inboxd/lib/problem.h"

/* What a claim asks for (validated by the route). */
struct lease_claim_in {
    int limit;         /* 1-200 */
    int lease_seconds; /* 1-3600 */
    const char *arg;   /* the queue's own $4 (borrowed): draft requests the
                        * worker id, the outbox a channel type or NULL */
};

/* What a failure report says (validated by the route). */
struct lease_fail_in {
    const char *error; /* borrowed; stored as the row's last error */
    bool retryable;
    bool has_retry_after; /* retry_after_s given: it replaces the backoff
                           * (queues whose fail statement takes it) */
    int retry_after_s;    /* >= 0 */
};

/* One queue. All its statements take the caller's account as $1. */
struct lease_queue {
    /* Leases rows: $2 limit, $3 lease seconds, $4 lease_claim_in.arg.
     * Answers one row per leased row, oldest claimable first: the item's
     * JSON, the row's id. */
    const struct db_stmt *claim;
    /* Fails an attempt of a leased row $2: $3 error, $4 retryable, $5 the
     * policy's max_attempts, $6 its backoff_s, then, when retry_after,
     * $7 lease_fail_in.retry_after_s (NULL: the backoff), and last the
     * id of the notification it inserts when the row fails for good.
     * Answers the row's JSON and its new status ("failed" once failed for
     * good); no row when $2 is not leased. */
    const struct db_stmt *fail;
    bool retry_after;
    /* The status of row $2, or no row when it is not the account's. */
    const struct db_stmt *status;
    /* Its lease_policy in db_settings(). */
    const struct lease_policy *(*policy)(void);
    /* Audit rows: the resource type and the actions of a claim (one per
     * row), a retry and a failure for good. */
    const char *type;
    const char *claim_action, *retry_action, *fail_action;
    /* Problems: 404 "no such <missing>"; 409 <not_leased> "the <noun> is
     * <status>, not leased". */
    const char *missing;
    const char *noun;
    const char *not_leased;
};

/*
 * Leases up to in->limit claimable rows of the caller's account with q's
 * claim statement, in one transaction that also writes q->claim_action's
 * audit row for each (so a row's audit trail shows every lease it had).
 * *json gets `{"items":[…]}` (new malloc()ed, caller free()s; length in
 * *len; untouched on failure). Statuses: 503.
 */
int lease_claim(const struct lease_queue *q, const struct who *w, const struct lease_claim_in *in,
                char **json, size_t *len, struct problem *pb) __attribute__((warn_unused_result));

/*
 * Records a failed attempt of leased row `id` with q's fail statement and
 * q's policy, and audits it as q->retry_action or q->fail_action.
 * *json gets the row in its new state (new malloc()ed, caller free()s;
 * untouched on failure). Statuses: 404, 409 q->not_leased (nothing
 * changes), 503.
 */
int lease_fail(const struct lease_queue *q, const struct who *w, const char *id,
               const struct lease_fail_in *in, char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

/*
 * Finishes leased row `id` with st (params; $1 the account, $2 id), a
 * report of q's own that changes only a leased row and answers its JSON,
 * audited as `action`. *json as lease_fail's. Statuses: 404, 409
 * q->not_leased, st's own (pb->sqlstate tells them), 503.
 */
int lease_done(const struct lease_queue *q, const struct who *w, const char *id,
               const struct db_stmt *st, const char *const *params, const char *action, char **json,
               size_t *len, struct problem *pb) __attribute__((warn_unused_result));

#endif
