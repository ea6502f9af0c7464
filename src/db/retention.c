/*
 * db_retention: the SQL of a retention sweep.
 *
 * DESIGN. Every rule runs as a loop of transactions, each touching at most
 * `batch` rows picked with `LIMIT n FOR UPDATE SKIP LOCKED`: a backlog of
 * any size is worked off in short transactions that never wait for a row
 * somebody else holds (that row is simply left for the next sweep). A loop
 * ends when a batch comes back short. Each batch statement is one range of
 * an index made for it (sql/migrations/0003_retention.sql lists them). The
 * batch's ids are gathered first (ARRAY(SELECT …), run once) and the
 * outer statement probes the primary key with `= ANY`: a plan of n index
 * probes whatever the table's statistics say, never a scan of the table.
 *
 *  - Webhook events: one DELETE per batch.
 *  - Drafts: candidates are walked in (created_at, id) order per status
 *    with a keyset that also moves past the drafts kept for their learning
 *    sample, so each is looked at once per sweep, not once per batch.
 *  - Message bodies: a batch blanks up to n messages of due conversations,
 *    then marks up to n due conversations whose bodies are now all blank
 *    (bodies_blanked_at = their updated_at), which takes them out of the
 *    partial index; a later write to the conversation makes it due again.
 *  - Soft-deleted conversations: their messages go first, n per batch
 *    (attachments, drafts, actions, samples and requests cascade from each
 *    message), then up to n conversations left without messages, so even
 *    one conversation with a huge history is removed in bounded steps.
 *
 * Never here: HTTP. Every statement's $1 is the account swept; only the
 * account walk of the all-accounts sweep (the operator's) spans accounts.
 */
#include "inboxd/db/retention.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inboxd/db/db.h"
#include "inboxd/db/audit.h"

enum {
    S_ACCOUNTS,
    S_EVENTS,
    S_DRAFTS,
    S_BLANK,
    S_BLANK_MARK,
    S_PURGE_MESSAGES,
    S_PURGE_CONVERSATIONS,
    S_LOCK,
};

/* The advisory-lock key of the all-accounts sweep (README "Operations"):
 * an arbitrary constant beside migrate's 7345102203. */
#define RETENTION_LOCK_KEY "7345102205"

/* clang-format off */

/* A closed conversation whose message bodies are due for blanking ($3: the
 * closed period in days). Matches conversations_blank_due_idx. */
#define BLANK_DUE(c)                                                         \
    c ".account_id = $1 AND " c ".status = 'closed' "                        \
    "AND " c ".bodies_blanked_at IS DISTINCT FROM " c ".updated_at "         \
    "AND " c ".closed_at < now() - make_interval(days => $3::int) "

#define NOT_BLANK(m) "(" m ".body_text <> '' OR " m ".body_html IS NOT NULL)"

/* A conversation soft-deleted more than 30 days ago. */
#define PURGE_DUE(c) c ".account_id = $1 AND " c ".deleted_at < now() - interval '30 days' "

static const struct db_stmt stmts[] = {
    /* $1 the last account id of the previous page, NULL for the first. */
    [S_ACCOUNTS] = {"retention_accounts",
                    "SELECT id FROM accounts "
                    "WHERE id > coalesce($1::uuid, '00000000-0000-0000-0000-000000000000') "
                    "ORDER BY id LIMIT 100",
                    1},
    /* $2 batch size. */
    [S_EVENTS] = {"retention_events",
                  "DELETE FROM webhook_events e "
                  "WHERE e.account_id = $1 AND e.id = ANY (ARRAY("
                  "  SELECT x.id FROM webhook_events x "
                  "  WHERE x.account_id = $1 AND x.status IN ('succeeded', 'skipped') "
                  "    AND x.received_at < now() - interval '14 days' "
                  "  LIMIT $2 FOR UPDATE SKIP LOCKED))",
                  2},
    /* $2 batch size, $3 status, $4/$5 the keyset position (created_at, id).
     * Answers one row: drafts deleted, candidates looked at, and the last
     * candidate's position (NULL when there was none). */
    [S_DRAFTS] = {"retention_drafts",
                  "WITH cand AS ("
                  "  SELECT d.id, d.created_at FROM drafts d "
                  "  WHERE d.account_id = $1 AND d.status = $3::draft_status "
                  "    AND d.created_at < now() - interval '90 days' "
                  "    AND (d.created_at, d.id) > "
                  "        (coalesce($4::timestamptz, '-infinity'), "
                  "         coalesce($5::uuid, '00000000-0000-0000-0000-000000000000')) "
                  "  ORDER BY d.created_at, d.id LIMIT $2 "
                  "  FOR UPDATE SKIP LOCKED), "
                  "del AS ("
                  "  DELETE FROM drafts x "
                  "  WHERE x.account_id = $1 AND x.id IN (SELECT id FROM cand) "
                  "    AND NOT EXISTS (SELECT 1 FROM learning_samples s "
                  "                    WHERE s.account_id = $1 AND s.draft_id = x.id) "
                  "  RETURNING 1) "
                  "SELECT (SELECT count(*) FROM del), (SELECT count(*) FROM cand), "
                  "       l.created_at, l.id "
                  "FROM (SELECT 1) one "
                  "LEFT JOIN LATERAL (SELECT created_at, id FROM cand "
                  "                   ORDER BY created_at DESC, id DESC LIMIT 1) l ON true",
                  5},
    /* $2 batch size, $3 closed period in days. */
    [S_BLANK] = {"retention_blank",
                 "UPDATE messages m SET body_text = '', body_html = NULL, updated_at = now() "
                 "WHERE m.account_id = $1 AND m.id = ANY (ARRAY("
                 "  SELECT x.id FROM conversations c "
                 "  JOIN messages x ON x.account_id = c.account_id AND x.conversation_id = c.id "
                 "  WHERE " BLANK_DUE("c") "AND " NOT_BLANK("x") " "
                 "  LIMIT $2 FOR UPDATE OF x SKIP LOCKED))",
                 3},
    /* The marker is the conversation's own updated_at, not now(): a write
     * racing with the sweep moves updated_at forward (strictly) and so
     * always leaves the conversation due. updated_at itself is not touched:
     * see 0003_retention.sql. */
    [S_BLANK_MARK] = {"retention_blank_mark",
                      "UPDATE conversations c SET bodies_blanked_at = c.updated_at "
                      "WHERE c.account_id = $1 AND c.id = ANY (ARRAY("
                      "  SELECT y.id FROM conversations y "
                      "  WHERE " BLANK_DUE("y")
                      "    AND NOT EXISTS (SELECT 1 FROM messages x "
                      "                    WHERE x.account_id = $1 "
                      "                      AND x.conversation_id = y.id "
                      "                      AND " NOT_BLANK("x") ") "
                      "  LIMIT $2 FOR UPDATE SKIP LOCKED))",
                      3},
    /* $2 batch size. */
    [S_PURGE_MESSAGES] = {"retention_purge_messages",
                          "DELETE FROM messages m "
                          "WHERE m.account_id = $1 AND m.id = ANY (ARRAY("
                          "  SELECT x.id FROM conversations c "
                          "  JOIN messages x ON x.account_id = c.account_id "
                          "       AND x.conversation_id = c.id "
                          "  WHERE " PURGE_DUE("c")
                          "  LIMIT $2 FOR UPDATE OF x SKIP LOCKED))",
                          2},
    [S_PURGE_CONVERSATIONS] = {"retention_purge_conversations",
                               "DELETE FROM conversations c "
                               "WHERE c.account_id = $1 AND c.id = ANY (ARRAY("
                               "  SELECT y.id FROM conversations y "
                               "  WHERE " PURGE_DUE("y")
                               "    AND NOT EXISTS (SELECT 1 FROM messages x "
                               "                    WHERE x.account_id = $1 "
                               "                      AND x.conversation_id = y.id) "
                               "  LIMIT $2 FOR UPDATE SKIP LOCKED))",
                               2},
    /* Session level, on a connection of its own: held for the whole
     * sweep, across its many short transactions. */
    [S_LOCK] = {"retention_lock", "SELECT pg_try_advisory_lock(" RETENTION_LOCK_KEY ")", 0},
};
/* clang-format on */

/* One batch: up to two statements in one transaction. */
struct batch {
    const char *account_id;
    char limit[16];
    char days[16];
    const struct db_stmt *st[2];
    long long n[2]; /* rows each statement touched */
    /* drafts only */
    const char *status;
    const char *after_ts, *after_id;
    long long scanned;
    char last_ts[64], last_id[37];
};

static bool
cancelled(const struct retention_opts *o)
{
    return o->cancel != NULL && atomic_load(o->cancel);
}

/* Runs b->st[0] (and b->st[1]) with ($1 account, $2 limit, $3 days). */
static int
batch_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct batch *b = arg;
    const char *p[] = {b->account_id, b->limit, b->days};

    b->n[0] = b->n[1] = 0;
    for (int i = 0; i < 2 && b->st[i] != NULL; i++) {
        PGresult *res = db_exec(c, b->st[i], p, pb);

        if (res == NULL)
            return -1;
        b->n[i] = atoll(PQcmdTuples(res));
        PQclear(res);
    }
    return 0;
}

static int
drafts_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct batch *b = arg;
    const char *p[] = {b->account_id, b->limit, b->status, b->after_ts, b->after_id};
    PGresult *res = db_exec(c, &stmts[S_DRAFTS], p, pb);

    b->n[0] = b->scanned = 0;
    b->last_ts[0] = b->last_id[0] = '\0';
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1) {
        b->n[0] = atoll(PQgetvalue(res, 0, 0));
        b->scanned = atoll(PQgetvalue(res, 0, 1));
        snprintf(b->last_ts, sizeof(b->last_ts), "%s", PQgetvalue(res, 0, 2));
        snprintf(b->last_id, sizeof(b->last_id), "%s", PQgetvalue(res, 0, 3));
    }
    PQclear(res);
    return 0;
}

/* Runs the one- or two-statement rule until a batch comes back short;
 * adds what st[count_of] touched to *count. */
static int
loop_rule(struct batch *b, const struct db_stmt *a, const struct db_stmt *z, int count_of,
          const struct retention_opts *o, long long *count, struct problem *pb)
{
    long long full = o->batch;

    b->st[0] = a;
    b->st[1] = z;
    do {
        if (cancelled(o))
            return 0;
        if (db_tx(batch_fn, b, pb) != 0)
            return -1;
        *count += b->n[count_of];
    } while (b->n[0] >= full || b->n[1] >= full);
    return 0;
}

static int
drafts_rule(struct batch *b, const struct retention_opts *o, long long *count, struct problem *pb)
{
    static const char *const statuses[] = {"archived", "superseded"};
    char ts[64], id[37];

    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        b->status = statuses[i];
        b->after_ts = b->after_id = NULL;
        do {
            if (cancelled(o))
                return 0;
            if (db_tx(drafts_fn, b, pb) != 0)
                return -1;
            *count += b->n[0];
            /* Next batch after the last candidate (kept ones included). */
            memcpy(ts, b->last_ts, sizeof(ts));
            memcpy(id, b->last_id, sizeof(id));
            b->after_ts = ts;
            b->after_id = id;
        } while (b->scanned >= o->batch && ts[0] != '\0');
    }
    return 0;
}

/* Every rule, in API.md's order, for one account. */
static int
sweep(const char *account_id, const struct retention_opts *o, struct retention_counts *out,
      struct problem *pb)
{
    struct batch b = {.account_id = account_id};

    snprintf(b.limit, sizeof(b.limit), "%d", o->batch > 0 ? o->batch : 1);
    snprintf(b.days, sizeof(b.days), "%d", o->closed_days);
    if (loop_rule(&b, &stmts[S_EVENTS], NULL, 0, o, &out->webhook_events, pb) != 0 ||
        drafts_rule(&b, o, &out->drafts, pb) != 0 ||
        loop_rule(&b, &stmts[S_BLANK], &stmts[S_BLANK_MARK], 0, o, &out->message_bodies, pb) != 0 ||
        loop_rule(&b, &stmts[S_PURGE_MESSAGES], &stmts[S_PURGE_CONVERSATIONS], 1, o,
                  &out->conversations, pb) != 0)
        return -1;
    return 0;
}

/* --- the caller's account (HTTP) ------------------------------------------ */

struct audit_arg {
    const struct who *w;
};

static int
audit_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    const struct audit_arg *a = arg;

    return db_audit(c, a->w, "retention.run", "account", a->w->account_id, NULL, pb);
}

int
db_retention_run(const struct who *w, const struct retention_opts *o, struct retention_counts *out,
                 struct problem *pb)
{
    struct audit_arg a = {w};

    memset(out, 0, sizeof(*out));
    /* The request is on record before anything is removed, even if the
     * sweep then fails half-way. */
    if (db_tx(audit_fn, &a, pb) != 0)
        return -1;
    return sweep(w->account_id, o, out, pb);
}

/* --- every account (command line, timer) ---------------------------------- */

struct accounts {
    const char *after;
    char ids[100][37];
    int n;
};

static int
accounts_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct accounts *a = arg;
    const char *p[] = {a->after};
    PGresult *res = db_exec(c, &stmts[S_ACCOUNTS], p, pb);

    a->n = 0;
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res) && i < 100; i++)
        snprintf(a->ids[a->n++], sizeof(a->ids[0]), "%s", PQgetvalue(res, i, 0));
    PQclear(res);
    return 0;
}

static int
sweep_all(const struct retention_opts *o, struct retention_counts *out, struct problem *pb)
{
    struct accounts *a = calloc(1, sizeof(*a));
    char last[37] = "";
    int rc = -1;

    if (a == NULL)
        return problem_internal(pb, "out of memory");
    do {
        a->after = last[0] ? last : NULL;
        if (db_read(accounts_fn, a, false, pb) != 0)
            goto out;
        for (int i = 0; i < a->n; i++) {
            if (cancelled(o)) {
                rc = 0;
                goto out;
            }
            if (sweep(a->ids[i], o, out, pb) != 0)
                goto out;
        }
        if (a->n > 0)
            memcpy(last, a->ids[a->n - 1], sizeof(last));
    } while (a->n == 100);
    rc = 0;
out:
    free(a);
    return rc;
}

int
db_retention_run_all(const struct retention_opts *o, struct retention_counts *out,
                     struct problem *pb)
{
    struct dbconn *lock;
    PGresult *res;
    char err[256];
    bool mine;
    int rc;

    memset(out, 0, sizeof(*out));
    /* A connection outside the pool holds the lock, so the sweep's own
     * transactions get the whole pool; closing it lets go of the lock,
     * also when we crash. */
    lock = db_connect_once(db_settings()->conninfo, err, sizeof(err));
    if (lock == NULL) {
        pb->retry_after = 1;
        return problem_set(pb, 503, "database-unavailable",
                           "the database is not reachable; retry later");
    }
    res = db_exec(lock, &stmts[S_LOCK], NULL, pb);
    if (res == NULL) {
        db_close_once(lock);
        return -1;
    }
    mine = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    rc = mine ? sweep_all(o, out, pb) : 1;
    db_close_once(lock);
    return rc;
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
