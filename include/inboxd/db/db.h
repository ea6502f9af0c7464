/*
 * db: the libpq connection pool, transactions and statement execution,
 * as the db layer's resource files use them: the statement registry
 * (registry.c), the pool (pool.c), statements and transactions (exec.c)
 * and the pipelined reader (reader.c).
 *
 * Used only by the files in src/db: nothing above the db layer sees a
 * PGconn or a PGresult. A db_<resource> function runs all its statements
 * inside one db_tx() (writes) or db_read() (reads), so one call is one
 * transaction.
 */
#ifndef INBOXD_DB_H
#define INBOXD_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inboxd/lib/problem.h"

/* A named SQL statement. Each db_<resource>.c keeps a static const table of
 * them: the inventory of its SQL. `name` must be unique in the program. */
struct db_stmt {
    const char *name;
    const char *sql;
    int nparams;
};

struct dbconn;

/*
 * The statement registry: every module's table, known by name, so that
 * `inboxd sql NAME` can print exactly the SQL inboxd runs (the benchmark's
 * pgbench scripts are made from it) and a test can prepare every statement
 * against the migrated schema. A module registers its table once, at the
 * end of its file:  DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
 */
void db_register(const struct db_stmt *stmts, size_t n);

#define DB_STATEMENTS(table, n)                                                    \
    __attribute__((constructor)) static void db_register_module(void)              \
    {                                                                              \
        db_register((table), (n));                                                 \
    }

/* The registered statement of that name, or NULL. Borrowed (static). */
const struct db_stmt *db_stmt_find(const char *name);

/* Calls fn for every registered statement, in registration order. */
void db_stmt_each(void (*fn)(const struct db_stmt *st, void *arg), void *arg);

/* Pool statistics for /metrics. */
struct db_stats {
    int size;
    int in_use;
    int waiting;
    unsigned long long errors;     /* statements that failed, any cause */
    unsigned long long reconnects; /* connections (re)opened */
    unsigned long long timeouts;   /* waits for a connection that gave up */
    unsigned long long reads;      /* reads handed to the reader */
    unsigned long long read_trips; /* round trips (Syncs) the reader sent them in */
    /* Round trips per transaction of db_tx (COMMIT's included), as a
     * histogram: tx_trips[i] counts those of at most DB_TX_TRIP_BOUNDS[i]
     * trips, the last slot every transaction. */
    unsigned long long tx_trips[8];
    unsigned long long tx_trips_sum;
};

/* The bounds of db_stats' tx_trips histogram (the last is +Inf). */
#define DB_TX_TRIP_BOUNDS {1, 2, 3, 4, 6, 8, 12}
#define DB_TX_TRIP_NBOUNDS 7

/* How a queue of leased rows retries (draft requests, the outbox). */
struct lease_policy {
    int max_attempts; /* attempts before a row is failed for good */
    int backoff_s;    /* first retry delay; doubles with every attempt */
};

/* What the db layer runs with; the start-up fills it from the
 * configuration (README "Configuration" names each). */
struct db_settings {
    const char *conninfo;    /* the primary */
    const char *conninfo_ro; /* a read replica, or NULL/"" */
    int pool_size;
    int pool_wait_ms;
    int pool_streams;
    int pool_max_lifetime_s;
    int connect_timeout_s;
    int statement_timeout_ms;
    int lock_timeout_ms;
    bool prepare;
    int tx_retries;
    bool read_only;          /* every transaction READ ONLY (read-only commands) */
    struct lease_policy draft_requests, outbox;
};

/* Creates the pools (primary, and the replica when conninfo_ro is set),
 * keeping a copy of s (its strings must outlive the db layer).
 * Connections open lazily, so this succeeds while the database is down.
 * Returns 0, or -1 with `err` filled. */
int db_init(const struct db_settings *s, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The settings db_init() was given. Borrowed; valid until db_shutdown(). */
const struct db_settings *db_settings(void);

/* Changes statement_timeout and lock_timeout at run time (a reload): each
 * pooled connection takes them before its next transaction, when it is
 * next borrowed; a statement running now keeps the ones it started with. */
void db_set_timeouts(int statement_timeout_ms, int lock_timeout_ms);

/* Closes every connection. Call after no request can reach the db layer. */
void db_shutdown(void);

void db_stats(struct db_stats *out);

/* Whether reads that may use a replica go to one (database_url_ro). */
bool db_replica_on(void);

typedef int (*db_fn)(struct dbconn *c, void *arg, struct problem *pb);

/*
 * Runs fn inside BEGIN … COMMIT on a primary connection. fn returns 0 to
 * commit or -1 (with pb set) to roll back. A serialization failure or
 * deadlock (40001, 40P01) anywhere, including at COMMIT, rolls back and runs
 * fn again, up to tx_retries times, so fn must not keep state between
 * runs except through `arg` that it resets itself.
 * Statuses: whatever fn sets; 503 (database unavailable, pool wait over).
 */
int db_tx(db_fn fn, void *arg, struct problem *pb) __attribute__((warn_unused_result));

/* Runs fn on a connection without an explicit transaction (each statement
 * commits alone): for reads. Uses the replica when one is configured and
 * `replica_ok`. Same statuses as db_tx. */
int db_read(db_fn fn, void *arg, bool replica_ok, struct problem *pb)
    __attribute__((warn_unused_result));

/*
 * Executes a statement with text parameters (params[i] NULL = SQL NULL).
 * Prepares it on this connection the first time when preparing is on.
 * Returns the result (caller PQclear()s) when it is PGRES_TUPLES_OK or
 * PGRES_COMMAND_OK; otherwise NULL with pb set from the SQLSTATE.
 */
PGresult *db_exec(struct dbconn *c, const struct db_stmt *st, const char *const *params,
                  struct problem *pb) __attribute__((warn_unused_result));
/* The same with every column of the result in PostgreSQL's binary send
 * format: for rows of many small values that cost the server more to print
 * than to find (read them with db_bin() below). */
PGresult *db_exec_binary(struct dbconn *c, const struct db_stmt *st, const char *const *params,
                         struct problem *pb) __attribute__((warn_unused_result));
/* The same, never prepared: PostgreSQL plans it with these values on every
 * run (a custom plan), for a statement whose best plan depends on them (a
 * search for a word in every message against one in a few), where a
 * prepared statement would settle on one generic plan after five runs. */
PGresult *db_exec_unprepared(struct dbconn *c, const struct db_stmt *st, const char *const *params,
                             struct problem *pb) __attribute__((warn_unused_result));

/*
 * Inside db_tx: sends a statement whose rows nobody reads, ahead. It costs
 * no round trip of its own: it goes with the next statement whose result
 * is read, or with COMMIT. Should it fail, that statement (or COMMIT)
 * fails with its problem, and nothing after it runs. Outside a
 * transaction it runs at once, as db_exec. Returns 0, or -1 with pb when
 * it could not be sent.
 */
int db_exec_later(struct dbconn *c, const struct db_stmt *st, const char *const *params,
                  struct problem *pb) __attribute__((warn_unused_result));

/* Inside db_tx: sends a statement ahead whose result db_recv() takes
 * later, in the order sent, so that statements that do not depend on each
 * other's results share a round trip. db_recv returns NULL with pb when
 * that statement failed, or one sent before it did. */
int db_send(struct dbconn *c, const struct db_stmt *st, const char *const *params,
            struct problem *pb) __attribute__((warn_unused_result));
PGresult *db_recv(struct dbconn *c, struct problem *pb) __attribute__((warn_unused_result));

/*
 * Runs one read statement on a connection of its own, taken in turn with
 * everyone else's (the replica when one is configured and `replica_ok`),
 * and returns its result (caller PQclear()s), or NULL with pb set as
 * db_exec and db_read would. It waits: for job threads and the command
 * line; the loop starts its reads with db_query_start() instead.
 */
PGresult *db_query(const struct db_stmt *st, const char *const *params, bool replica_ok,
                   struct problem *pb) __attribute__((warn_unused_result));

/*
 * Starts one read statement on the primary without waiting for it:
 * done(arg, res, pb) is called exactly once, on the loop that runs the
 * reader (or at once, on this thread, when it cannot start: no loop runs
 * it, or no memory), with the result (the callee PQclear()s it) or NULL
 * and pb set as db_query would. params (the array and its strings) must
 * live until then. done must not block: it runs between the answers of
 * other reads. Reads started together share round trips on one connection
 * in pipeline mode.
 */
typedef void (*db_done_fn)(void *arg, PGresult *res, const struct problem *pb);
void db_query_start(const struct db_stmt *st, const char *const *params, db_done_fn done,
                    void *arg);

/* The reader has no thread of its own: the HTTP loop attaches it, polls
 * what db_reader_pollfds() fills (after it has run the reader as far as
 * it goes; *timeout_ms lowered to what the reader allows), then calls
 * db_reader_polled() with them, and detaches it when it stops. */
struct pollfd;
void db_reader_attach(void);
void db_reader_detach(void);
int db_reader_pollfds(struct pollfd *fds, int *timeout_ms);
void db_reader_polled(const struct pollfd *fds);

/* Runs a plain SQL string with no parameters (migrations, BEGIN). */
int db_simple(struct dbconn *c, const char *sql, struct problem *pb)
    __attribute__((warn_unused_result));

/* Borrows a connection for work that outlives one function call (a
 * streamed response). Give it back with db_return() on every path; a
 * connection returned mid-transaction is rolled back. At most pool_streams
 * connections (and never the pool's last) are lent at once. Returns NULL
 * with pb (503, Retry-After) when that many are out or none is free in
 * time. */
struct dbconn *db_borrow(bool replica_ok, struct problem *pb) __attribute__((warn_unused_result));
void db_return(struct dbconn *c);

/* Starts streaming a statement's rows in single-row mode; then call
 * db_stream_next() until it returns 0 (done) or -1 (error, pb set). While
 * streaming, no other statement can run on the connection. */
int db_stream_start(struct dbconn *c, const struct db_stmt *st, const char *const *params,
                    struct problem *pb) __attribute__((warn_unused_result));
/* Returns 1 with *row set (one row; caller PQclear()s), 0 at the end, -1 on error. */
int db_stream_next(struct dbconn *c, PGresult **row, struct problem *pb)
    __attribute__((warn_unused_result));

/* The value of a column, or NULL when SQL NULL. Borrowed from res. */
const char *db_val(const PGresult *res, int row, int col);

/* For db_exec_binary() results: the bytes of a column that must be exactly `len`
 * long (xid 4, int8 and timestamptz 8, uuid 16), or NULL when SQL NULL or
 * another length. Borrowed from res. */
const unsigned char *db_bin(const PGresult *res, int row, int col, int len);
/* A binary timestamptz (db_bin(…, 8)) in microseconds since the Unix
 * epoch, as rfc3339.h counts. */
int64_t db_bin_ts(const unsigned char *p);

/* Maps a failed result (or a failed connection when res is NULL) to a
 * problem: 23505 → 409, class 22 → 422, 57014/55P03 → 503, connection
 * errors → 503 and the connection is marked broken; else 500. Logs the
 * SQLSTATE and message, never sends them. Returns -1. */
int db_fail(struct dbconn *c, const PGresult *res, const char *what, struct problem *pb);

/* True when a server-side failure is worth retrying the whole transaction. */
bool db_is_retryable(const struct problem *pb);

/* A raw connection for tools and tests (not pooled): connects with the
 * session settings of the pool. Returns NULL with err filled. */
struct dbconn *db_connect_once(const char *conninfo, char *err, size_t errlen);
void db_close_once(struct dbconn *c);

#endif
