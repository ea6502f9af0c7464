/*
 * exec: running statements on a connection, mapping their failures to
 * problems, and transactions with their retries.
 *
 * With `prepare = false` (PgBouncer in transaction mode) every statement
 * goes as an unnamed extended-protocol query. Nothing here knows HTTP;
 * errors become a struct problem in db_fail(), and no PGresult leaves the
 * db layer.
 */
#include "inboxd/db/pool.h"
#include "inboxd/db/replica.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inboxd/lib/clock.h"
#include "inboxd/lib/log.h"
#include "inboxd/lib/lsn.h"

/* --- errors ---------------------------------------------------------------- */

bool
db_is_retryable(const struct problem *pb)
{
    return strcmp(pb->sqlstate, "40001") == 0 || strcmp(pb->sqlstate, "40P01") == 0;
}

/* The body field a constraint violation or bad value is about, in the
 * API's camelCase: the column PostgreSQL names (PG_DIAG_COLUMN_NAME), else
 * the column in a default constraint name ("<table>_<column>_fkey" or
 * "_check"). "" when neither says. */
static void
violation_field(const PGresult *res, char *out, size_t outlen)
{
    const char *col = res ? PQresultErrorField(res, PG_DIAG_COLUMN_NAME) : NULL;
    const char *table = res ? PQresultErrorField(res, PG_DIAG_TABLE_NAME) : NULL;
    const char *con = res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    char buf[128] = "";
    size_t o = 0;
    bool up = false;

    if (col != NULL) {
        snprintf(buf, sizeof(buf), "%s", col);
    } else if (con != NULL && table != NULL && strncmp(con, table, strlen(table)) == 0 &&
               con[strlen(table)] == '_') {
        const char *c = con + strlen(table) + 1;
        const char *end = strrchr(c, '_');

        if (end != NULL && (strcmp(end, "_fkey") == 0 || strcmp(end, "_check") == 0))
            snprintf(buf, sizeof(buf), "%.*s", (int)(end - c), c);
    }
    for (const char *p = buf; *p != '\0' && o + 1 < outlen; p++) {
        if (*p == '_') {
            up = true;
            continue;
        }
        out[o++] = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
        up = false;
    }
    out[o] = '\0';
}

int
db_fail(struct dbconn *c, const PGresult *res, const char *what, struct problem *pb)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    char err[256];

    atomic_fetch_add(&pool_stat_errors, 1);
    if ((msg == NULL || msg[0] == '\0') && c != NULL && c->pg != NULL)
        msg = PQerrorMessage(c->pg);
    snprintf(err, sizeof(err), "%s", msg ? msg : "no result");
    err[strcspn(err, "\n")] = '\0';
    snprintf(pb->sqlstate, sizeof(pb->sqlstate), "%s", state ? state : "");
    snprintf(pb->internal, sizeof(pb->internal), "%.60s: %.190s", what, err);

    if (c != NULL && (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK || !state ||
                      strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
                      strcmp(state, "25006") == 0)) {
        /* Connection trouble (or a server shutting down): this connection is
         * done; the next borrow opens a fresh one. A write refused as read
         * only (25006) met a server that is no primary (any more): a fresh
         * connection finds the one that is, with a multi-host database_url
         * and target_session_attrs=read-write (README "Failover"). */
        c->broken = true;
        log_event(LOG_WARN, NULL, "db.conn_error", LOG_S("stmt", what), LOG_S("sqlstate", state),
                  LOG_S("err", err));
        pb->retry_after = 1;
        return problem_set(pb, 503, "database-unavailable",
                           "the database is not reachable; retry later");
    }
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0) {
        log_event(LOG_INFO, NULL, "db.retryable", LOG_S("stmt", what), LOG_S("sqlstate", state));
        pb->retry_after = 1;
        return problem_set(pb, 503, "contention", "the request met concurrent updates; retry");
    }
    if (strcmp(state, "23505") == 0) {
        log_event(LOG_DEBUG, NULL, "db.unique_violation", LOG_S("stmt", what));
        return problem_set(pb, 409, "conflict", "the request conflicts with an existing resource");
    }
    if (strcmp(state, "23503") == 0) {
        char field[64];

        log_event(LOG_DEBUG, NULL, "db.fk_violation", LOG_S("stmt", what));
        violation_field(res, field, sizeof(field));
        problem_field(pb, field, "refers to no resource of the account");
        return problem_set(pb, 422, "invalid-reference", "a referenced resource does not exist");
    }
    if (strncmp(state, "22", 2) == 0 || strcmp(state, "23514") == 0) {
        /* Validation should have caught it; the caller still gets a 4xx. */
        char field[64];

        log_event(LOG_WARN, NULL, "db.invalid_value", LOG_S("stmt", what),
                  LOG_S("sqlstate", state), LOG_S("err", err));
        violation_field(res, field, sizeof(field));
        problem_field(pb, field, "is not acceptable");
        return problem_set(pb, 422, "invalid-value", "a value in the request is not acceptable");
    }
    if (strcmp(state, "57014") == 0 || strcmp(state, "55P03") == 0 ||
        strncmp(state, "53", 2) == 0) {
        log_event(LOG_WARN, NULL, "db.busy", LOG_S("stmt", what), LOG_S("sqlstate", state),
                  LOG_S("err", err));
        pb->retry_after = 1;
        return problem_set(pb, 503, "database-busy", "the database is busy; retry later");
    }
    log_event(LOG_ERROR, NULL, "db.error", LOG_S("stmt", what), LOG_S("sqlstate", state),
              LOG_S("err", err));
    problem_internal(pb, "%s: %s %s", what, state, err);
    snprintf(pb->sqlstate, sizeof(pb->sqlstate), "%s", state);
    return -1;
}

/* --- execution ------------------------------------------------------------- */

static int
prepare(struct dbconn *c, const struct db_stmt *st, struct problem *pb)
{
    PGresult *res;
    const char *state;

    if (pool_has_prepared(c, st))
        return 0;
    c->trips++;
    res = PQprepare(c->pg, st->name, st->sql, st->nparams, NULL);
    state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    /* 42P05: already prepared on this server session (a pooler handed us a
     * session that had it): it is the same text, use it. */
    if (PQresultStatus(res) != PGRES_COMMAND_OK && !(state && strcmp(state, "42P05") == 0)) {
        db_fail(c, res, st->name, pb);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    if (pool_add_prepared(c, st) != 0)
        return problem_internal(pb, "out of memory");
    return 0;
}

/* `prepared`: as a prepared statement when preparing is on; false: always
 * as an unnamed one, planned with these values (db_exec_unprepared). */
static PGresult *
exec_format(struct dbconn *c, const struct db_stmt *st, const char *const *params, int format,
            bool prepared, struct problem *pb)
{
    PGresult *res;
    ExecStatusType s;

    if (txpipe_busy(c)) {
        if (prepared)
            return txpipe_exec(c, st, params, format, pb);
        if (txpipe_flush(c, pb) != 0)
            return NULL;
    }
    if (prepared && (pool_cfg == NULL || pool_cfg->prepare)) {
        if (prepare(c, st, pb) != 0)
            return NULL;
        res = PQexecPrepared(c->pg, st->name, st->nparams, params, NULL, NULL, format);
    } else {
        res = PQexecParams(c->pg, st->sql, st->nparams, NULL, params, NULL, NULL, format);
    }
    c->trips++;
    s = PQresultStatus(res);
    if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) {
        c->nok++;
        return res;
    }
    db_fail(c, res, st->name, pb);
    PQclear(res);
    return NULL;
}

PGresult *
db_exec(struct dbconn *c, const struct db_stmt *st, const char *const *params, struct problem *pb)
{
    return exec_format(c, st, params, 0, true, pb);
}

PGresult *
db_exec_binary(struct dbconn *c, const struct db_stmt *st, const char *const *params,
               struct problem *pb)
{
    return exec_format(c, st, params, 1, true, pb);
}

PGresult *
db_exec_unprepared(struct dbconn *c, const struct db_stmt *st, const char *const *params,
                   struct problem *pb)
{
    return exec_format(c, st, params, 0, false, pb);
}

int
db_exec_later(struct dbconn *c, const struct db_stmt *st, const char *const *params,
              struct problem *pb)
{
    PGresult *res;

    if (txpipe_busy(c) || PQtransactionStatus(c->pg) == PQTRANS_INTRANS)
        return txpipe_send(c, st, params, 0, false, pb);
    if ((res = db_exec(c, st, params, pb)) == NULL)
        return -1;
    PQclear(res);
    return 0;
}

int
db_send(struct dbconn *c, const struct db_stmt *st, const char *const *params, struct problem *pb)
{
    return txpipe_send(c, st, params, 0, true, pb);
}

PGresult *
db_recv(struct dbconn *c, struct problem *pb)
{
    return txpipe_recv(c, pb);
}

int
db_simple(struct dbconn *c, const char *sql, struct problem *pb)
{
    PGresult *res;

    if (txpipe_busy(c) && txpipe_flush(c, pb) != 0)
        return -1;
    c->trips++;
    res = PQexec(c->pg, sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        db_fail(c, res, "simple", pb);
        PQclear(res);
        return -1;
    }
    c->nok++;
    PQclear(res);
    return 0;
}

int
db_stream_start(struct dbconn *c, const struct db_stmt *st, const char *const *params,
                struct problem *pb)
{
    int ok;

    if (txpipe_busy(c) && txpipe_flush(c, pb) != 0)
        return -1;
    if (pool_cfg == NULL || pool_cfg->prepare) {
        if (prepare(c, st, pb) != 0)
            return -1;
        ok = PQsendQueryPrepared(c->pg, st->name, st->nparams, params, NULL, NULL, 0);
    } else {
        ok = PQsendQueryParams(c->pg, st->sql, st->nparams, NULL, params, NULL, NULL, 0);
    }
    if (!ok || !PQsetSingleRowMode(c->pg))
        return db_fail(c, NULL, st->name, pb);
    return 0;
}

static void
drain(struct dbconn *c)
{
    PGresult *r;

    while ((r = PQgetResult(c->pg)) != NULL)
        PQclear(r);
}

int
db_stream_next(struct dbconn *c, PGresult **row, struct problem *pb)
{
    PGresult *res = PQgetResult(c->pg);

    *row = NULL;
    switch (PQresultStatus(res)) {
    case PGRES_SINGLE_TUPLE:
        *row = res;
        return 1;
    case PGRES_TUPLES_OK:
        PQclear(res);
        drain(c);
        c->nok++;
        return 0;
    default:
        db_fail(c, res, "stream", pb);
        PQclear(res);
        if (!c->broken)
            drain(c);
        return -1;
    }
}

const char *
db_val(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return PQgetvalue(res, row, col);
}

const unsigned char *
db_bin(const PGresult *res, int row, int col, int len)
{
    if (PQgetisnull(res, row, col) || PQgetlength(res, row, col) != len)
        return NULL;
    return (const unsigned char *)PQgetvalue(res, row, col);
}

/* Big-endian, as binary results carry integers. */
static uint32_t
db_bin_u32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t
db_bin_i64(const unsigned char *p)
{
    return (int64_t)((uint64_t)db_bin_u32(p) << 32 | db_bin_u32(p + 4));
}

/* 2000-01-01T00:00:00Z in Unix microseconds: PostgreSQL's epoch, from
 * which a binary timestamptz counts. */
#define PG_EPOCH_USEC INT64_C(946684800000000)

int64_t
db_bin_ts(const unsigned char *p)
{
    return db_bin_i64(p) + PG_EPOCH_USEC;
}

/* --- transactions ---------------------------------------------------------- */

static void
retry_pause(int attempt)
{
    /* A few ms, doubling, with jitter so retried transactions don't collide
     * again in lockstep. */
    long ms = (1L << attempt) + (long)(clock_jitter() % (unsigned)(2 << attempt));
    struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000L};

    nanosleep(&ts, NULL);
}

enum { T_TIMEOUTS, T_DEFER, T_COMMITTED, T_POSITION };

static const struct db_stmt tx_stmts[] = {
    /* The timeouts a transaction carries behind a pooler (SET LOCAL). */
    [T_TIMEOUTS] = {"tx_timeouts",
                    "SELECT set_config('statement_timeout', $1, true), "
                    "set_config('lock_timeout', $2, true)",
                    2},
    /* A write's notifications wait for its COMMIT (sql/current/events.sql,
     * inboxd_notify), and go right after it, in the same round trip, with
     * the position of the commit record. */
    [T_DEFER] = {"tx_defer_notify", "SELECT set_config('inboxd.notify', 'defer', true)", 0},
    [T_COMMITTED] = {"tx_committed",
                     "SELECT pg_current_wal_insert_lsn()::text, inboxd_notify_flush()", 0},
    [T_POSITION] = {"tx_position", "SELECT pg_current_wal_insert_lsn()::text", 0},
};

/* Whether the database has inboxd_notify_flush() (sql/current): unknown
 * until the first write asks; a database one schema older has not, and
 * its triggers notify at once (rolling upgrades). */
static atomic_int defer_known; /* 0 unknown, 1 no, 2 yes */

static bool
defer_notify(struct dbconn *c)
{
    int k = atomic_load(&defer_known);

    if (k == 0) {
        PGresult *res = PQexec(c->pg, "SELECT to_regprocedure('inboxd_notify_flush()') IS NOT NULL");

        c->trips++;
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
            PQclear(res);
            return false; /* asked again by the next write */
        }
        k = PQgetvalue(res, 0, 0)[0] == 't' ? 2 : 1;
        PQclear(res);
        atomic_store(&defer_known, k);
    }
    return k == 2;
}

/* BEGIN, sent ahead: it goes with the transaction's first statement.
 * Behind a pooler (pool_per_transaction) the timeouts in force go with it,
 * set for this transaction only; a write defers its notifications. */
static int
begin(struct dbconn *c, bool write, struct problem *pb)
{
    char st_ms[16], lock_ms[16];
    const char *p[] = {st_ms, lock_ms};

    if (txpipe_send_sql(c, "begin", "BEGIN", false, pb) != 0)
        return -1;
    if (write && c->defer && txpipe_send(c, &tx_stmts[T_DEFER], NULL, 0, false, pb) != 0)
        return -1;
    if (!pool_per_transaction())
        return 0;
    snprintf(st_ms, sizeof(st_ms), "%d", atomic_load(&pool_statement_timeout_ms));
    snprintf(lock_ms, sizeof(lock_ms), "%d", atomic_load(&pool_lock_timeout_ms));
    return txpipe_send(c, &tx_stmts[T_TIMEOUTS], p, 0, false, pb);
}

/* A failure worth one more go on a fresh connection: the connection broke
 * before any statement of this borrow succeeded, so nothing was committed. */
static bool
fresh_conn_failure(const struct dbconn *c)
{
    return c->broken && c->nok == 0;
}

/*
 * COMMIT, with whatever the transaction sent ahead, and in the same round
 * trip the WAL position its record ends at or before
 * (pg_current_wal_insert_lsn() right after it, on the same session: at
 * least the end of our commit record, perhaps a little past it when others
 * wrote meanwhile, which only asks a replica for a little more). The
 * position is noted for db_position_committed(). Returns 0, or -1 with pb:
 * a statement sent ahead or the COMMIT failed (then COMMIT did not run),
 * or the answer was lost (then whether it committed is unknown, and the
 * caller must not run the transaction again).
 */
static int
commit(struct dbconn *c, struct problem *pb)
{
    PGresult *res;
    uint64_t lsn = 0;

    if (txpipe_send_sql(c, "commit", "COMMIT", true, pb) != 0 ||
        txpipe_send(c, &tx_stmts[c->defer ? T_COMMITTED : T_POSITION], NULL, 0, true, pb) != 0)
        return -1;
    /* COMMIT is checked like any statement: a deferred constraint or a
     * serialization failure can still fail here. */
    if ((res = txpipe_recv(c, pb)) == NULL)
        return -1;
    if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        PQclear(res);
        txpipe_discard(c);
        return problem_internal(pb, "commit: the transaction had failed");
    }
    PQclear(res);
    if ((res = txpipe_recv(c, pb)) != NULL) {
        if (PQntuples(res) == 1)
            lsn_parse_pg(db_val(res, 0, 0), &lsn);
        PQclear(res);
    }
    memset(pb, 0, sizeof(*pb)); /* committed: a lost position is no failure */
    if (PQstatus(c->pg) != CONNECTION_OK)
        c->broken = true; /* committed; the connection went after */
    db_position_note(lsn);
    return 0;
}

/* One transaction's round trips, into the histogram of db_stats. */
static void
count_trips(unsigned n)
{
    static const unsigned bounds[] = DB_TX_TRIP_BOUNDS;
    int i = 0;

    while (i < DB_TX_TRIP_NBOUNDS && n > bounds[i])
        i++;
    atomic_fetch_add_explicit(&pool_stat_tx_trips[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&pool_stat_tx_trips_sum, n, memory_order_relaxed);
}

/*
 * A transaction runs again on a fresh connection once when its connection
 * broke before COMMIT was sent (the server rolls back a transaction whose
 * session is gone, so nothing of it happened: a restart, a failover to a
 * new primary). Never when COMMIT was sent: its answer may be what got
 * lost, and the caller gets a 503 with Retry-After instead.
 */
int
db_tx(db_fn fn, void *arg, struct problem *pb)
{
    for (int attempt = 0;; attempt++) {
        struct dbconn *c = pool_acquire(&pool_primary, attempt == 0, pb);
        bool again, committing = false;
        unsigned trips0;
        int rc;

        if (c == NULL)
            return -1;
        trips0 = c->trips;
        c->defer = defer_notify(c);
        rc = begin(c, true, pb);
        if (rc == 0)
            rc = fn(c, arg, pb);
        if (rc == 0 && !txpipe_busy(c) && PQtransactionStatus(c->pg) != PQTRANS_INTRANS)
            rc = problem_internal(pb, "transaction not open before COMMIT");
        if (rc == 0) {
            committing = true;
            rc = commit(c, pb);
        }
        again = rc != 0 && attempt < pool_cfg->tx_retries &&
                (db_is_retryable(pb) || (attempt == 0 && c->broken && !committing));
        count_trips(c->trips - trips0);
        pool_release(c);
        if (rc == 0)
            return 0;
        if (!again)
            return -1;
        memset(pb, 0, sizeof(*pb));
        retry_pause(attempt);
    }
}

/* Behind a transaction pooler a read of several statements would run
 * each on whichever server connection is free, none of them with the
 * timeouts: it runs as one transaction that carries them. */
static int
read_in_tx(struct dbconn *c, db_fn fn, void *arg, struct problem *pb)
{
    c->defer = false;
    if (begin(c, false, pb) != 0 || fn(c, arg, pb) != 0)
        return -1;
    return db_simple(c, "COMMIT", pb);
}

int
db_read(db_fn fn, void *arg, bool replica_ok, struct problem *pb)
{
    struct pool *p = pool_for_reads(replica_ok);

    for (int attempt = 0;; attempt++) {
        struct dbconn *c = pool_acquire(p, attempt == 0, pb);
        bool again;
        int rc;

        if (c == NULL) {
            if (!replica_fall_back(p, NULL, pb))
                return -1;
            p = &pool_primary;
            memset(pb, 0, sizeof(*pb));
            attempt = -1; /* the primary gets its own retry */
            continue;
        }
        rc = pool_per_transaction() ? read_in_tx(c, fn, arg, pb) : fn(c, arg, pb);
        again = rc != 0 && attempt == 0 && fresh_conn_failure(c);
        if (rc != 0 && replica_fall_back(p, c, pb)) {
            p = &pool_primary;
            again = true;
            attempt = -1; /* the primary gets its own retry */
        }
        pool_release(c);
        if (rc == 0 || !again)
            return rc;
        memset(pb, 0, sizeof(*pb));
    }
}

/* --- one read that waits (db_query) ------------------------------------------ */

struct solo {
    const struct db_stmt *st;
    const char *const *params;
    PGresult *res;
};

static int
solo_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct solo *s = arg;

    s->res = db_exec(c, s->st, s->params, pb);
    return s->res ? 0 : -1;
}

/*
 * A job thread may wait, so it reads on a connection of its own, taken in
 * turn with the writers (first come, first served). Handing its read to
 * the reader would share a round trip, but the reader never waits for a
 * connection on the loop: while writers hold the whole pool it looks again
 * every few milliseconds, and the job thread's read would wait for that.
 */
PGresult *
db_query(const struct db_stmt *st, const char *const *params, bool replica_ok,
         struct problem *pb)
{
    struct solo s = {.st = st, .params = params};

    if (db_read(solo_fn, &s, replica_ok, pb) != 0) {
        PQclear(s.res);
        return NULL;
    }
    return s.res;
}

DB_STATEMENTS(tx_stmts, sizeof(tx_stmts) / sizeof(tx_stmts[0]))
