/*
 * db_outbox: the SQL of the outbox (outbound message delivery), and the
 * description that lets the lease engine (lease.c) run it; the state
 * machine is there.
 *
 * The outbox is the messages table (DESIGN.md "Queues in Postgres"). Its
 * generated column claimable_at is when an outbound message may be claimed
 * next: created_at or next_attempt_at while pending, the lease's end while
 * leased, NULL once delivered or failed (and always for inbound and system
 * messages). A claim is therefore one range scan of the partial index
 * messages_outbox_claim_idx, locked with FOR UPDATE SKIP LOCKED so
 * concurrent claimers pass each other's rows by instead of waiting for or
 * sharing them; an expired lease is claimable again without any sweeper.
 *
 * delivered and failed change only a leased message, with the state check
 * inside the UPDATE's WHERE clause: a report racing another report (or a
 * re-claim) waits for the row lock, re-reads the row and changes nothing,
 * so it can never be applied twice.
 *
 * Everything a caller sees is rendered by the schema's inboxd_json_*
 * functions in the statement that reads or writes it. Never write the
 * generated columns, never build SQL in C, never answer a row of another
 * account: every statement's $1 is the caller's account.
 */
#include "inboxd/db/outbox.h"

#include <string.h>

#include "inboxd/db/db.h"
#include "inboxd/db/lease.h"
#include "inboxd/db/rows.h"

enum {
    S_CLAIM,
    S_DELIVERED,
    S_FAILED,
    S_STATUS,
    S_DELIVERED_AS,
    S_LIST,
    S_LIST_STATUS,
};

static const struct db_stmt stmts[] = {
    /*
     * The picked rows are a MATERIALIZED CTE: the locking scan runs exactly
     * once, whatever join the planner chooses for the UPDATE (a LIMIT ...
     * SKIP LOCKED subquery rescanned inside a nested loop could lock and
     * lease more rows than asked for). Only the message rows are locked
     * (FOR UPDATE OF m): a conversation or channel being changed meanwhile
     * must not make its messages unclaimable. The channel type filter ($4)
     * goes through the conversation's channel. The pre-claim claimable_at
     * rides along to order the answer oldest first. Each item is the
     * outbox message's JSON (the message and its leaseExpiresAt) with the
     * conversation and channel spliced in before its closing brace, so
     * inboxd_json_message's key order is kept.
     */
    [S_CLAIM] = {"outbox_claim",
                 "WITH picked AS MATERIALIZED ("
                 "  SELECT m.id, m.claimable_at FROM messages m "
                 "  JOIN conversations cv ON cv.account_id = m.account_id "
                 "       AND cv.id = m.conversation_id AND cv.deleted_at IS NULL "
                 "  JOIN channels ch ON ch.account_id = cv.account_id AND ch.id = cv.channel_id "
                 "  WHERE m.account_id = $1 AND m.claimable_at <= now() "
                 "    AND ($4::channel_type IS NULL OR ch.type = $4::channel_type) "
                 "  ORDER BY m.claimable_at, m.id "
                 "  LIMIT $2::int "
                 "  FOR UPDATE OF m SKIP LOCKED"
                 "), leased AS ("
                 "  UPDATE messages u SET "
                 "    delivery_status = 'leased', "
                 "    lease_expires_at = now() + make_interval(secs => $3::int), "
                 "    delivery_attempts = u.delivery_attempts + 1, "
                 "    updated_at = now() "
                 "  FROM picked p "
                 "  WHERE u.account_id = $1 AND u.id = p.id "
                 "  RETURNING u.id, u.conversation_id, p.claimable_at AS was, "
                 "            inboxd_json_outbox_message(u, inboxd_message_attachments("
                 "                u.account_id, u.id)) AS j"
                 ") "
                 "SELECT left(l.j, -1) "
                 "       || ', \"conversation\" : ' || inboxd_json_conversation(cv)::text "
                 "       || ', \"channel\" : ' || inboxd_json_channel(ch)::text "
                 "       || '}', "
                 "       l.id "
                 "FROM leased l "
                 "JOIN conversations cv ON cv.account_id = $1 AND cv.id = l.conversation_id "
                 "JOIN channels ch ON ch.account_id = $1 AND ch.id = cv.channel_id "
                 "ORDER BY l.was, l.id",
                 4},
    /* Only a leased message changes. A clash with another message's
     * externalId in the conversation fails on messages_external_id_key
     * (23505), which the caller turns into its own 409. */
    [S_DELIVERED] = {"outbox_delivered",
                     "UPDATE messages m SET "
                     "  delivery_status = 'delivered', "
                     "  delivered_at = now(), "
                     "  external_id = $3, "
                     "  lease_expires_at = NULL, "
                     "  updated_at = now() "
                     "WHERE m.account_id = $1 AND m.id = $2 AND m.delivery_status = 'leased' "
                     "RETURNING inboxd_json_message(m, inboxd_message_attachments(m.account_id, "
                     "                                                            m.id)), "
                     "          m.id",
                     3},
    /*
     * Only a leased message changes. Retryable with attempts left ($4 and
     * attempts < $5): back to pending, due after $7 seconds when given,
     * else $6 * 2^(attempts - 1) seconds (the exponent capped at 20 so a
     * large attempt limit cannot overflow the interval). Otherwise failed,
     * and the delivery.failed notification ($8 its id) is inserted by the
     * same statement, so the state change and its notification cannot come
     * apart. In SET, m.delivery_attempts is the value before the update.
     */
    [S_FAILED] = {"outbox_failed",
                  "WITH f AS ("
                  "  UPDATE messages m SET "
                  "    delivery_status = CASE WHEN $4::bool AND m.delivery_attempts < $5::int "
                  "                      THEN 'pending' ELSE 'failed' END::delivery_status, "
                  "    next_attempt_at = CASE WHEN $4::bool AND m.delivery_attempts < $5::int "
                  "        THEN now() + make_interval(secs => coalesce($7::int::float8, "
                  "                 $6::int * power(2, least(greatest(m.delivery_attempts - 1, 0), "
                  "                                          20)))) END, "
                  "    lease_expires_at = NULL, "
                  "    delivery_last_error = $3, "
                  "    updated_at = now() "
                  "  WHERE m.account_id = $1 AND m.id = $2 AND m.delivery_status = 'leased' "
                  "  RETURNING inboxd_json_message(m, inboxd_message_attachments(m.account_id, "
                  "                                                              m.id)) AS j, "
                  "            m.delivery_status, m.id, m.conversation_id"
                  "), n AS ("
                  "  INSERT INTO notifications (account_id, id, user_id, type, payload) "
                  "  SELECT $1, $8, NULL, 'delivery.failed', "
                  "         jsonb_build_object('messageId', f.id, "
                  "                            'conversationId', f.conversation_id) "
                  "  FROM f WHERE f.delivery_status = 'failed' "
                  "  RETURNING id"
                  ") "
                  "SELECT f.j, f.delivery_status, f.id, (SELECT count(*) FROM n) FROM f",
                  8},
    /* Why a delivered/failed report changed nothing: no row (or not an
     * outbound message) is a 404, else the status names the 409. */
    [S_STATUS] = {"outbox_status",
                  "SELECT m.delivery_status FROM messages m "
                  "WHERE m.account_id = $1 AND m.id = $2 AND m.direction = 'outbound'",
                  2},
    /* A message delivered already with externalId $3: a delivered report
     * sent again (its first answer lost) answers it unchanged. */
    [S_DELIVERED_AS] = {"outbox_delivered_as",
                        "SELECT inboxd_json_message(m, inboxd_message_attachments(m.account_id, "
                        "                                                         m.id)) "
                        "FROM messages m "
                        "WHERE m.account_id = $1 AND m.id = $2 AND m.direction = 'outbound' "
                        "  AND m.delivery_status = 'delivered' AND m.external_id = $3",
                        3},
    /* Lists: oldest first by (created_at, id). With a status filter the scan
     * follows messages_outbox_status_idx; without one
     * messages_outbox_created_idx (0005_outbox.sql). */
    [S_LIST] = {"outbox_list",
                "SELECT inboxd_json_outbox_message(m, inboxd_message_attachments(m.account_id, "
                "                                                                 m.id)), "
                "       m.created_at, m.id "
                "FROM messages m "
                "JOIN conversations c ON c.account_id = m.account_id "
                "     AND c.id = m.conversation_id AND c.deleted_at IS NULL "
                "WHERE m.account_id = $1 AND m.delivery_status IS NOT NULL "
                "  AND " DB_AFTER("m.created_at", "m.id", "$2", "$3") " "
                "ORDER BY m.created_at, m.id LIMIT $4",
                4},
    [S_LIST_STATUS] = {"outbox_list_status",
                       "SELECT inboxd_json_outbox_message(m, inboxd_message_attachments("
                       "           m.account_id, m.id)), "
                       "       m.created_at, m.id "
                       "FROM messages m "
                       "JOIN conversations c ON c.account_id = m.account_id "
                       "     AND c.id = m.conversation_id AND c.deleted_at IS NULL "
                       "WHERE m.account_id = $1 AND m.delivery_status = $5::delivery_status "
                       "  AND " DB_AFTER("m.created_at", "m.id", "$2", "$3") " "
                       "ORDER BY m.created_at, m.id LIMIT $4",
                       5},
};

static const struct lease_policy *
policy(void)
{
    return &db_settings()->outbox;
}

/* The outbox, run by the lease engine (lease.h). */
static const struct lease_queue queue = {
    .claim = &stmts[S_CLAIM],
    .fail = &stmts[S_FAILED],
    .retry_after = true,
    .status = &stmts[S_STATUS],
    .policy = policy,
    .type = "message",
    .claim_action = "message.claim",
    .retry_action = "message.retry",
    .fail_action = "message.fail",
    .missing = "outbound message",
    .noun = "message",
    .not_leased = "message-not-leased",
};

/* --- claim, delivered and failed ------------------------------------------- */

int
db_outbox_claim(const struct who *w, const struct lease_claim_in *in, char **json, size_t *len,
                struct problem *pb)
{
    return lease_claim(&queue, w, in, json, len, pb);
}

int
db_outbox_delivered(const struct who *w, const char *id, const char *external_id, char **json,
                    size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, id, external_id};
    struct problem again;
    PGresult *res;

    if (lease_done(&queue, w, id, &stmts[S_DELIVERED], p, "message.deliver", json, len, pb) == 0)
        return 0;
    /* Not leased: when it is delivered already, with this externalId, this
     * is the first report again (its answer was lost), not a conflict. Read
     * on the primary, where the report just found it so; delivered is
     * final. Otherwise the 409 stands. */
    if (strcmp(pb->type, queue.not_leased) == 0) {
        problem_init(&again);
        res = db_query(&stmts[S_DELIVERED_AS], p, false, &again);
        if (res == NULL) {
            *pb = again;
            return -1;
        }
        if (PQntuples(res) == 1) {
            *len = (size_t)PQgetlength(res, 0, 0);
            *json = db_strdup(res, 0, 0);
            PQclear(res);
            if (*json == NULL)
                return problem_internal(pb, "outbox: out of memory");
            problem_init(pb);
            return 0;
        }
        PQclear(res);
        return -1;
    }
    /* The unique index of (conversation, externalId): the provider's id
     * already names another message of this conversation. */
    if (strcmp(pb->sqlstate, "23505") == 0) {
        memset(pb, 0, sizeof(*pb));
        return problem_set(pb, 409, "external-id-conflict",
                           "another message of the conversation has this externalId");
    }
    return -1;
}

int
db_outbox_failed(const struct who *w, const char *id, const struct lease_fail_in *in, char **json,
                 size_t *len, struct problem *pb)
{
    return lease_fail(&queue, w, id, in, json, len, pb);
}

/* --- list ------------------------------------------------------------------ */

int
db_outbox_list(const struct who *w, const char *status, const struct page *pg, char **json,
               size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, pg->after_ts, pg->after_id, pg->fetch, status};

    /* Each statement takes only the parameters it names ($1..$n). */
    return db_list(&stmts[status ? S_LIST_STATUS : S_LIST], p, pg, 1, 2, json, len, pb);
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
