/*
 * db_draft_requests: the SQL of the drafting queue, and the description
 * that lets the lease engine (lease.c) run it; the state machine is there.
 *
 * The queue is the draft_requests table itself (DESIGN.md "Queues in
 * Postgres"). Its generated column claimable_at is when a row may be
 * claimed next: created_at or next_attempt_at while queued, the lease's end
 * while leased, NULL once done or failed. A claim is therefore one range
 * scan of the partial index (account_id, claimable_at, id), locked with
 * FOR UPDATE SKIP LOCKED so concurrent workers pass each other's rows by
 * instead of waiting for or sharing them; an expired lease is claimable
 * again without any sweeper.
 *
 * Everything a caller sees is rendered by the schema's inboxd_json_*
 * functions in the statement that reads or writes it. Never write the
 * generated column, never build SQL in C, never answer a row of another
 * account: every statement's $1 is the caller's account.
 */
#include "inboxd/db/draft_requests.h"

#include "inboxd/db/db.h"
#include "inboxd/db/lease.h"

enum {
    S_CLAIM,
    S_FAIL,
    S_STATUS,
};

static const struct db_stmt stmts[] = {
    /*
     * The picked rows are a MATERIALIZED CTE: the locking scan runs exactly
     * once, whatever join the planner chooses for the UPDATE (a LIMIT ...
     * SKIP LOCKED subquery rescanned inside a nested loop could lock and
     * lease more rows than asked for). The pre-claim claimable_at rides
     * along to order the answer oldest first. Requests of soft-deleted
     * conversations are left alone (retention removes them with their
     * conversation). The item is the request's JSON with the conversation,
     * channel and trigger message spliced in before its closing brace, so
     * the key order of each render function is kept.
     */
    [S_CLAIM] = {"draft_requests_claim",
                 "WITH picked AS MATERIALIZED ("
                 "  SELECT q.id, q.claimable_at FROM draft_requests q "
                 "  WHERE q.account_id = $1 AND q.claimable_at <= now() "
                 "    AND NOT EXISTS (SELECT 1 FROM conversations d "
                 "                    WHERE d.account_id = q.account_id "
                 "                      AND d.id = q.conversation_id "
                 "                      AND d.deleted_at IS NOT NULL) "
                 "  ORDER BY q.claimable_at, q.id "
                 "  LIMIT $2::int "
                 "  FOR UPDATE OF q SKIP LOCKED"
                 "), leased AS ("
                 "  UPDATE draft_requests r SET "
                 "    status = 'leased', "
                 "    lease_expires_at = now() + make_interval(secs => $3::int), "
                 "    worker_id = $4, "
                 "    attempts = r.attempts + 1, "
                 "    updated_at = now() "
                 "  FROM picked p "
                 "  WHERE r.account_id = $1 AND r.id = p.id "
                 "  RETURNING r.id, r.conversation_id, r.message_id, p.claimable_at AS was, "
                 "            inboxd_json_draft_request(r) AS j"
                 ") "
                 "SELECT left(l.j::text, -1) "
                 "       || ', \"conversation\" : ' || inboxd_json_conversation(cv)::text "
                 "       || ', \"channel\" : ' || inboxd_json_channel(ch)::text "
                 "       || ', \"message\" : ' "
                 "       || inboxd_json_message(m, inboxd_message_attachments(m.account_id, m.id))"
                 "          ::text "
                 "       || '}', "
                 "       l.id "
                 "FROM leased l "
                 "JOIN conversations cv ON cv.account_id = $1 AND cv.id = l.conversation_id "
                 "JOIN channels ch ON ch.account_id = $1 AND ch.id = cv.channel_id "
                 "JOIN messages m ON m.account_id = $1 AND m.id = l.message_id "
                 "ORDER BY l.was, l.id",
                 4},
    /*
     * Only a leased request changes. Retryable with attempts left ($4 and
     * attempts < $5): back to queued, due after $6 * 2^(attempts - 1)
     * seconds (the exponent capped at 20 so a large attempt limit cannot
     * overflow the interval). Otherwise failed, and the draft.failed
     * notification ($7 its id) is inserted by the same statement, so the
     * state change and its notification cannot come apart.
     */
    [S_FAIL] = {"draft_requests_fail",
                "WITH f AS ("
                "  UPDATE draft_requests r SET "
                "    status = CASE WHEN $4::bool AND r.attempts < $5::int "
                "                  THEN 'queued' ELSE 'failed' END::draft_request_status, "
                "    next_attempt_at = CASE WHEN $4::bool AND r.attempts < $5::int "
                "        THEN now() + make_interval(secs => $6::int "
                "                 * power(2, least(greatest(r.attempts - 1, 0), 20))) END, "
                "    lease_expires_at = NULL, "
                "    last_error = $3, "
                "    updated_at = now() "
                "  WHERE r.account_id = $1 AND r.id = $2 AND r.status = 'leased' "
                "  RETURNING inboxd_json_draft_request(r) AS j, r.status, r.id, "
                "            r.conversation_id, r.message_id"
                "), n AS ("
                "  INSERT INTO notifications (account_id, id, user_id, type, payload) "
                "  SELECT $1, $7, NULL, 'draft.failed', "
                "         jsonb_build_object('draftRequestId', f.id, "
                "                            'conversationId', f.conversation_id, "
                "                            'messageId', f.message_id) "
                "  FROM f WHERE f.status = 'failed' "
                "  RETURNING id"
                ") "
                "SELECT f.j, f.status, (SELECT count(*) FROM n) FROM f",
                7},
    [S_STATUS] = {"draft_requests_status",
                  "SELECT status FROM draft_requests WHERE account_id = $1 AND id = $2", 2},
};

static const struct lease_policy *
policy(void)
{
    return &db_settings()->draft_requests;
}

/* The drafting queue, run by the lease engine (lease.h). */
static const struct lease_queue queue = {
    .claim = &stmts[S_CLAIM],
    .fail = &stmts[S_FAIL],
    .retry_after = false,
    .status = &stmts[S_STATUS],
    .policy = policy,
    .type = "draft_request",
    .claim_action = "draft_request.claim",
    .retry_action = "draft_request.retry",
    .fail_action = "draft_request.fail",
    .missing = "draft request",
    .noun = "draft request",
    .not_leased = "draft-request-not-leased",
};

int
db_draft_requests_claim(const struct who *w, const struct lease_claim_in *in, char **json,
                        size_t *len, struct problem *pb)
{
    return lease_claim(&queue, w, in, json, len, pb);
}

int
db_draft_requests_fail(const struct who *w, const char *id, const struct lease_fail_in *in,
                       char **json, size_t *len, struct problem *pb)
{
    return lease_fail(&queue, w, id, in, json, len, pb);
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
