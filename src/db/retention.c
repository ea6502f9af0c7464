/*
 * db_retention: the SQL of a retention sweep.
 *
 * DESIGN. A sweep is one pass over one list of tables (`tables` below),
 * each swept by a function of its own. Every table's rule runs as a loop
 * of transactions, each touching at most `batch` rows picked with
 * `LIMIT n FOR UPDATE SKIP LOCKED`: a backlog of any size is worked off in
 * short transactions that never wait for a row somebody else holds (that
 * row is simply left for the next sweep). A loop ends when a batch comes
 * back short. Each batch statement is one range of an index made for it
 * (sql/migrations/0003_retention.sql and 0010_lifecycle.sql list them).
 * The batch's keys are gathered first (ARRAY(SELECT …), run once) and the
 * outer statement probes the primary key with `= ANY`: a plan of n index
 * probes whatever the table's statistics say, never a scan of the table.
 * Every statement takes ($1 account, $2 batch size, $3 period in days).
 *
 *  - Rows past their period (idempotency keys, webhook events, samples,
 *    notifications, finished queue rows, the audit log): one DELETE per
 *    batch. A period of 0 keeps the table: its rule does not run.
 *  - Drafts: candidates are walked in (created_at, id) order per status
 *    with a keyset that also moves past the drafts kept for their learning
 *    sample, so each is looked at once per sweep, not once per batch.
 *  - Text copied from customers, in conversations closed past the period:
 *    each table that holds a copy (messages, drafts, draft actions, the
 *    webhook events that made the messages) blanks up to n rows of due
 *    conversations per batch; then up to n due conversations whose copies
 *    are all blank are marked (bodies_blanked_at = their updated_at) and
 *    lose their subject, which takes them out of the partial index; a
 *    later write to the conversation makes it due again.
 *  - Soft-deleted conversations: their messages go first, n per batch
 *    (attachments, drafts, actions, samples and requests cascade from each
 *    message), then up to n conversations left without messages, so even
 *    one conversation with a huge history is removed in bounded steps.
 *
 * Never here: HTTP. A lock that keeps sweeps to one instance at a time
 * belongs around a whole sweep (db_retention_run_all), never around one
 * table. Every statement's $1 is the account swept; only the account walk
 * of the all-accounts sweep (the operator's) spans accounts.
 */
#include "inboxd/db/retention.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inboxd/db/db.h"
#include "inboxd/db/audit.h"

enum {
    S_ACCOUNTS,
    S_IDEMPOTENCY_KEYS,
    S_WEBHOOK_EVENTS,
    S_LEARNING_SAMPLES,
    S_DRAFTS,
    S_BLANK_MESSAGES,
    S_BLANK_DRAFTS,
    S_BLANK_ACTIONS,
    S_BLANK_PAYLOADS,
    S_BLANK_MARK,
    S_PURGE_MESSAGES,
    S_PURGE_CONVERSATIONS,
    S_NOTIFICATIONS,
    S_DRAFT_REQUESTS,
    S_JOB_RUNS,
    S_AUDIT_LOG,
    S_EVENTS,
    S_LOCK,
};

/* The advisory-lock key of the all-accounts sweep (README "Operations"):
 * an arbitrary constant beside migrate's 7345102203. */
#define RETENTION_LOCK_KEY "7345102205"

/* clang-format off */

#define CUTOFF "now() - make_interval(days => $3::int)"

/*
 * Deletes up to $2 rows of `table` whose `col` is older than $3 days (and
 * that match `also`), by their key `key`.
 */
#define DELETE_OLD(table, key, col, also)                                    \
    "DELETE FROM " table " t "                                               \
    "WHERE t.account_id = $1 AND t." key " = ANY (ARRAY("                    \
    "  SELECT x." key " FROM " table " x "                                   \
    "  WHERE x.account_id = $1 AND x." col " < " CUTOFF also " "             \
    "  LIMIT $2 FOR UPDATE SKIP LOCKED))"

/* A closed conversation whose copied text is due for blanking ($3: the
 * closed period in days). Matches conversations_blank_due_idx. */
#define BLANK_DUE(c)                                                         \
    c ".account_id = $1 AND " c ".status = 'closed' "                        \
    "AND " c ".bodies_blanked_at IS DISTINCT FROM " c ".updated_at "         \
    "AND " c ".closed_at < " CUTOFF " "

/* Each table that copies a customer's text: how its rows of conversation
 * c are found (as y), and what of them is not blank yet. */
#define MESSAGES_OF(c)                                                       \
    "JOIN messages y ON y.account_id = " c ".account_id "                    \
    "AND y.conversation_id = " c ".id "
#define MESSAGE_TEXT(m)                                                      \
    "(" m ".body_text <> '' OR " m ".body_html IS NOT NULL "                 \
    "OR " m ".subject IS NOT NULL)"
#define DRAFTS_OF(c)                                                         \
    "JOIN drafts y ON y.account_id = " c ".account_id "                      \
    "AND y.conversation_id = " c ".id "
#define DRAFT_TEXT(d) "(" d ".suggested_text <> '' OR " d ".suggested_html IS NOT NULL)"
#define ACTIONS_OF(c)                                                        \
    "JOIN drafts d ON d.account_id = " c ".account_id "                      \
    "AND d.conversation_id = " c ".id "                                      \
    "JOIN draft_actions y ON y.account_id = d.account_id AND y.draft_id = d.id "
#define ACTION_TEXT(a)                                                       \
    "(coalesce(" a ".final_text, '') <> '' OR " a ".final_html IS NOT NULL " \
    "OR " a ".notes IS NOT NULL OR " a ".diff_json IS NOT NULL)"
/* webhook_events_conversation_idx (0010_lifecycle.sql) */
#define EVENTS_OF(c)                                                         \
    "JOIN webhook_events y ON y.account_id = " c ".account_id "              \
    "AND (y.result ->> 'conversationId') = " c ".id::text "
#define EVENT_TEXT(e)                                                        \
    "(" e ".payload IS NOT NULL OR " e ".raw_body IS NOT NULL "              \
    "OR " e ".corrected_payload IS NOT NULL)"

/* Blanks (`set`) up to $2 rows y of due conversations that `text` says
 * are not blank yet. */
#define BLANK(table, rows_of, text, set)                                     \
    "UPDATE " table " t SET " set " "                                        \
    "WHERE t.account_id = $1 AND t.id = ANY (ARRAY("                         \
    "  SELECT y.id FROM conversations c " rows_of                            \
    "  WHERE " BLANK_DUE("c") "AND " text("y") " "                           \
    "  LIMIT $2 FOR UPDATE OF y SKIP LOCKED))"

/* No row of conversation v that still holds text. */
#define NONE_LEFT(rows_of, text)                                             \
    "NOT EXISTS (SELECT 1 FROM (SELECT v.account_id, v.id) c " rows_of       \
    "            WHERE " text("y") ") "

/* A conversation soft-deleted more than $3 days ago. */
#define PURGE_DUE(c) c ".account_id = $1 AND " c ".deleted_at < " CUTOFF " "

static const struct db_stmt stmts[] = {
    /* $1 the last account id of the previous page, NULL for the first. */
    [S_ACCOUNTS] = {"retention_accounts",
                    "SELECT id FROM accounts "
                    "WHERE id > coalesce($1::uuid, '00000000-0000-0000-0000-000000000000') "
                    "ORDER BY id LIMIT 100",
                    1},
    /* Past the replay window the record itself names ($3 is 0). */
    [S_IDEMPOTENCY_KEYS] = {"retention_idempotency_keys",
                            DELETE_OLD("idempotency_keys", "key", "expires_at", ""), 3},
    /* Every status: a delivery still 'received' after the period was
     * given up by its sender long ago. */
    [S_WEBHOOK_EVENTS] = {"retention_webhook_events",
                          DELETE_OLD("webhook_events", "id", "received_at", ""), 3},
    [S_LEARNING_SAMPLES] = {"retention_learning_samples",
                            DELETE_OLD("learning_samples", "id", "created_at", ""), 3},
    /* $2 batch size, $3 status, $4/$5 the keyset position (created_at, id),
     * $6 the period. Answers one row: drafts deleted, candidates looked at,
     * and the last candidate's position (NULL when there was none). */
    [S_DRAFTS] = {"retention_drafts",
                  "WITH cand AS ("
                  "  SELECT d.id, d.created_at FROM drafts d "
                  "  WHERE d.account_id = $1 AND d.status = $3::draft_status "
                  "    AND d.created_at < now() - make_interval(days => $6::int) "
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
                  6},
    [S_BLANK_MESSAGES] = {"retention_blank",
                          BLANK("messages", MESSAGES_OF("c"), MESSAGE_TEXT,
                                "body_text = '', body_html = NULL, subject = NULL, "
                                "updated_at = now()"),
                          3},
    [S_BLANK_DRAFTS] = {"retention_blank_drafts",
                        BLANK("drafts", DRAFTS_OF("c"), DRAFT_TEXT,
                              "suggested_text = '', suggested_html = NULL, updated_at = now()"),
                        3},
    /* An edit keeps a final text (draft_actions_edit_check): an empty one. */
    [S_BLANK_ACTIONS] = {"retention_blank_actions",
                         BLANK("draft_actions", ACTIONS_OF("c"), ACTION_TEXT,
                               "final_text = CASE WHEN t.final_text IS NOT NULL THEN '' END, "
                               "final_html = NULL, notes = NULL, diff_json = NULL"),
                         3},
    [S_BLANK_PAYLOADS] = {"retention_blank_payloads",
                          BLANK("webhook_events", EVENTS_OF("c"), EVENT_TEXT,
                                "payload = NULL, raw_body = NULL, corrected_payload = NULL"),
                          3},
    /* The marker is the conversation's own updated_at, not now(): a write
     * racing with the sweep moves updated_at forward (strictly) and so
     * always leaves the conversation due. updated_at itself is not touched:
     * see 0003_retention.sql. */
    [S_BLANK_MARK] = {"retention_blank_mark",
                      "UPDATE conversations t SET bodies_blanked_at = t.updated_at, subject = NULL "
                      "WHERE t.account_id = $1 AND t.id = ANY (ARRAY("
                      "  SELECT v.id FROM conversations v "
                      "  WHERE " BLANK_DUE("v")
                      "    AND " NONE_LEFT(MESSAGES_OF("c"), MESSAGE_TEXT)
                      "    AND " NONE_LEFT(DRAFTS_OF("c"), DRAFT_TEXT)
                      "    AND " NONE_LEFT(ACTIONS_OF("c"), ACTION_TEXT)
                      "    AND " NONE_LEFT(EVENTS_OF("c"), EVENT_TEXT)
                      "  LIMIT $2 FOR UPDATE SKIP LOCKED))",
                      3},
    [S_PURGE_MESSAGES] = {"retention_purge_messages",
                          "DELETE FROM messages m "
                          "WHERE m.account_id = $1 AND m.id = ANY (ARRAY("
                          "  SELECT x.id FROM conversations c "
                          "  JOIN messages x ON x.account_id = c.account_id "
                          "       AND x.conversation_id = c.id "
                          "  WHERE " PURGE_DUE("c")
                          "  LIMIT $2 FOR UPDATE OF x SKIP LOCKED))",
                          3},
    [S_PURGE_CONVERSATIONS] = {"retention_purge_conversations",
                               "DELETE FROM conversations c "
                               "WHERE c.account_id = $1 AND c.id = ANY (ARRAY("
                               "  SELECT y.id FROM conversations y "
                               "  WHERE " PURGE_DUE("y")
                               "    AND NOT EXISTS (SELECT 1 FROM messages x "
                               "                    WHERE x.account_id = $1 "
                               "                      AND x.conversation_id = y.id) "
                               "  LIMIT $2 FOR UPDATE SKIP LOCKED))",
                               3},
    [S_NOTIFICATIONS] = {"retention_notifications",
                         DELETE_OLD("notifications", "id", "created_at", ""), 3},
    /* Finished $3 days ago: created before that too, which is the range of
     * draft_requests_status_idx; updated_at is when it finished. */
    [S_DRAFT_REQUESTS] = {"retention_draft_requests",
                          DELETE_OLD("draft_requests", "id", "created_at",
                                     " AND x.status IN ('done', 'failed') "
                                     "AND x.updated_at < " CUTOFF),
                          3},
    [S_JOB_RUNS] = {"retention_job_runs",
                    DELETE_OLD("job_runs", "id", "created_at",
                               " AND x.status IN ('succeeded', 'failed') "
                               "AND x.finished_at < " CUTOFF),
                    3},
    [S_AUDIT_LOG] = {"retention_audit_log", DELETE_OLD("audit_log", "id", "at", ""), 3},
    /* Live events: deleted, and the furthest position deleted kept as
     * the account's horizon, so that a Last-Event-ID before it gets
     * `reset` instead of a silent gap. The count is the SELECT's rows. */
    [S_EVENTS] = {"retention_events",
                  "WITH d AS ("
                  "  DELETE FROM events t "
                  "  WHERE t.account_id = $1 AND (t.write_xid, t.id) IN ("
                  "    SELECT x.write_xid, x.id FROM events x "
                  "    WHERE x.account_id = $1 AND x.created_at < " CUTOFF " "
                  "    LIMIT $2 FOR UPDATE SKIP LOCKED) "
                  "  RETURNING t.write_xid, t.id), "
                  "h AS ("
                  "  INSERT INTO event_horizons AS h (account_id, write_xid, id) "
                  "  SELECT $1, d.write_xid, d.id FROM d ORDER BY d.write_xid DESC, d.id DESC LIMIT 1 "
                  "  ON CONFLICT (account_id) DO UPDATE "
                  "  SET write_xid = EXCLUDED.write_xid, id = EXCLUDED.id "
                  "  WHERE (h.write_xid, h.id) < (EXCLUDED.write_xid, EXCLUDED.id)) "
                  "SELECT 1 FROM d",
                  3},
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

/* Totals for /metrics, and when the last whole sweep ended. */
static atomic_ullong swept[RETENTION_TABLES];
static atomic_llong last_sweep;

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

/*
 * Runs the one- or two-statement rule a (then z, or z < 0 for none) with a
 * period of `days` until a batch comes back short; adds what statement
 * `count_of` touched to *count.
 */
static int
loop_rule(struct batch *b, int a, int z, int count_of, int days, const struct retention_opts *o,
          long long *count, struct problem *pb)
{
    long long full = o->batch;

    snprintf(b->days, sizeof(b->days), "%d", days);
    b->st[0] = &stmts[a];
    b->st[1] = z >= 0 ? &stmts[z] : NULL;
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
drafts_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct batch *b = arg;
    const char *p[] = {b->account_id, b->limit, b->status, b->after_ts, b->after_id, b->days};
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

static int
drafts_rule(struct batch *b, int days, const struct retention_opts *o, long long *count,
            struct problem *pb)
{
    static const char *const statuses[] = {"archived", "superseded"};
    char ts[64], id[37];

    snprintf(b->days, sizeof(b->days), "%d", days);
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

/* --- the tables ------------------------------------------------------------ */

#define PERIOD(f) offsetof(struct retention_periods, f)
#define FIXED ((size_t)-1) /* no setting: the row's own expiry (period 0) */

/*
 * The one list of what a sweep does, in order: each table's name and JSON
 * field, its period (a field of retention_periods; 0 there skips the
 * table), and its batch: statement a, then z (-1: none), counting the rows
 * of statement count_of; drafts have a rule of their own. Samples go
 * before drafts (a draft whose sample went is free to go), and the copies
 * of a conversation's text before the conversation is marked.
 */
static const struct table {
    const char *name, *field;
    size_t period;
    int a, z, count_of;
    int (*rule)(struct batch *b, int days, const struct retention_opts *o, long long *count,
                struct problem *pb);
} tables[RETENTION_TABLES] = {
    {"idempotency_keys", "idempotencyKeys", FIXED, S_IDEMPOTENCY_KEYS, -1, 0, NULL},
    {"webhook_events", "webhookEvents", PERIOD(webhook_events_days), S_WEBHOOK_EVENTS, -1, 0, NULL},
    {"learning_samples", "learningSamples", PERIOD(learning_samples_days), S_LEARNING_SAMPLES, -1,
     0, NULL},
    {"drafts", "drafts", PERIOD(drafts_days), S_DRAFTS, -1, 0, drafts_rule},
    {"message_bodies", "messageBodies", PERIOD(closed_days), S_BLANK_MESSAGES, -1, 0, NULL},
    {"draft_texts", "draftTexts", PERIOD(closed_days), S_BLANK_DRAFTS, -1, 0, NULL},
    {"action_texts", "actionTexts", PERIOD(closed_days), S_BLANK_ACTIONS, -1, 0, NULL},
    {"webhook_payloads", "webhookPayloads", PERIOD(closed_days), S_BLANK_PAYLOADS, -1, 0, NULL},
    {"conversation_subjects", "conversationSubjects", PERIOD(closed_days), S_BLANK_MARK, -1, 0,
     NULL},
    {"conversations", "conversations", PERIOD(deleted_days), S_PURGE_MESSAGES,
     S_PURGE_CONVERSATIONS, 1, NULL},
    {"notifications", "notifications", PERIOD(notifications_days), S_NOTIFICATIONS, -1, 0, NULL},
    {"draft_requests", "draftRequests", PERIOD(draft_requests_days), S_DRAFT_REQUESTS, -1, 0, NULL},
    {"job_runs", "jobRuns", PERIOD(job_runs_days), S_JOB_RUNS, -1, 0, NULL},
    {"audit_log", "auditLog", PERIOD(audit_log_days), S_AUDIT_LOG, -1, 0, NULL},
    {"events", "events", PERIOD(events_days), S_EVENTS, -1, 0, NULL},
};

const char *
retention_table_name(int i)
{
    return i >= 0 && i < RETENTION_TABLES ? tables[i].name : NULL;
}

const char *
retention_table_field(int i)
{
    return i >= 0 && i < RETENTION_TABLES ? tables[i].field : NULL;
}

/* Table i for one account; adds what it did to *count and the metrics. */
static int
sweep_table(int i, struct batch *b, const struct retention_opts *o, long long *count,
            struct problem *pb)
{
    const struct table *t = &tables[i];
    long long n = 0;
    int days = 0, rc;

    if (t->period != FIXED) {
        memcpy(&days, (const char *)&o->days + t->period, sizeof(days));
        if (days <= 0)
            return 0; /* kept forever */
    }
    if (t->rule != NULL)
        rc = t->rule(b, days, o, &n, pb);
    else
        rc = loop_rule(b, t->a, t->z, t->count_of, days, o, &n, pb);
    /* What finished batches did counts even when a later one failed. */
    *count += n;
    atomic_fetch_add(&swept[i], (unsigned long long)n);
    return rc;
}

/* Every table, in the list's order, for one account. */
static int
sweep(const char *account_id, const struct retention_opts *o, struct retention_counts *out,
      struct problem *pb)
{
    struct batch b = {.account_id = account_id};

    snprintf(b.limit, sizeof(b.limit), "%d", o->batch > 0 ? o->batch : 1);
    for (int i = 0; i < RETENTION_TABLES; i++)
        if (sweep_table(i, &b, o, &out->rows[i], pb) != 0)
            return -1;
    return 0;
}

static void
sweep_ended(const struct retention_opts *o)
{
    if (!cancelled(o))
        atomic_store(&last_sweep, (long long)time(NULL));
}

void
db_retention_stats(unsigned long long rows[RETENTION_TABLES], long long *last_sweep_unix)
{
    for (int i = 0; i < RETENTION_TABLES; i++)
        rows[i] = atomic_load(&swept[i]);
    *last_sweep_unix = atomic_load(&last_sweep);
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
    if (db_tx(audit_fn, &a, pb) != 0 || sweep(w->account_id, o, out, pb) != 0)
        return -1;
    sweep_ended(o);
    return 0;
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
    sweep_ended(o);
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
