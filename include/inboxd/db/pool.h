/*
 * pool: the connections of the db layer, for its own files only (db.c's
 * siblings: exec.c, reader.c). Everything above the db layer uses db.h.
 *
 * Hand-overs sleep on futex words (wake.h).
 */
#ifndef INBOXD_POOL_H
#define INBOXD_POOL_H

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "inboxd/db/db.h"
#include "inboxd/lib/problem.h"

struct pool;

/* A request waiting for a connection: release() hands one straight to the
 * oldest waiter, so waits are first come, first served (no request is
 * overtaken again and again while 32 threads share 5 connections). */
struct waiter {
    atomic_uint handed;      /* 1 once idx is set (under the pool mutex); its
                              * futex wake-up follows outside the mutex */
    int idx;                 /* the connection handed over; -1 until then */
    struct waiter *next;
};

/* A statement a transaction sent ahead and whose answer is not taken yet
 * (txpipe.c). */
struct txitem {
    const char *what; /* the statement's name, for errors and logs */
    bool keep;        /* txpipe_recv() hands its result out; else only checked */
    PGresult *res;    /* a kept statement's result, once read */
    const struct db_stmt *prep; /* a Prepare of this statement (recorded once it ran) */
};

/* At most this many statements in flight at once: more than any one
 * operation sends between two results it needs. */
#define TXPIPE_MAX 24

struct dbconn {
    PGconn *pg;
    struct pool *pool;
    bool broken;        /* a connection error was seen: close on release */
    int nok;            /* statements that succeeded since borrowed */
    int64_t expires_ms; /* replace when released after this; 0 = never */
    int64_t idle_since_ms; /* when it was last given back */
    unsigned timeouts_gen; /* the db_set_timeouts() generation it runs with */
    unsigned trips;        /* round trips made on it (exec.c, txpipe.c) */
    bool defer;            /* its transaction defers its notifications (exec.c) */
    const struct db_stmt **pset;
    size_t pcap, pcount;
    /* The pipeline of a transaction (txpipe.c): tx[0 .. txn) were sent,
     * tx[0 .. txread) were answered (one Sync reads them all), results up to
     * txtake were handed out. txpb: the first of them that failed,
     * tx[txfail_at]. */
    struct txitem tx[TXPIPE_MAX];
    int txn, txread, txtake, txfail_at;
    bool txfailed;
    struct problem txpb;
};

struct pool {
    const char *conninfo;
    const char *name; /* "primary" or "replica", for logs */
    int size;
    struct dbconn *conns;
    int *idle; /* stack of idle slot indexes */
    int nidle;
    int waiting;
    struct waiter *whead, **wtail; /* requests waiting for a connection, oldest first */
    pthread_mutex_t mu;
    bool on;
    int streams; /* connections lent by db_borrow() now, under mu */
};

/* The pools and the settings db_init() was given (cfg is NULL before). */
extern struct pool pool_primary, pool_replica;
extern const struct db_settings *pool_cfg;

/* The statement_timeout and lock_timeout in force (db_set_timeouts). */
extern atomic_int pool_statement_timeout_ms, pool_lock_timeout_ms;

/* True behind a transaction pooler (prepare = false): a session setting
 * does not follow the client from one transaction to the next, so the
 * timeouts are sent with every transaction (SET LOCAL) instead of once per
 * connection. */
bool pool_per_transaction(void);

/* Counters for db_stats(). */
extern atomic_ullong pool_stat_errors, pool_stat_reconnects, pool_stat_timeouts;
extern atomic_ullong pool_stat_reads, pool_stat_read_trips;
extern atomic_ullong pool_stat_tx_trips[DB_TX_TRIP_NBOUNDS + 1], pool_stat_tx_trips_sum;

/* The pool reads of `replica_ok` go to: the replica when one is up and
 * has replayed as far as this thread's reads need (replica.c). */
struct pool *pool_for_reads(bool replica_ok);

/* replica.c: whether this thread's next read may use the replica (counted
 * in db_replica_state()); the replica failed a read (reads go to the
 * primary until the watcher reaches it again). */
bool replica_serves(void);
void replica_failed(const char *why);

/* A read on the replica failed for want of the replica (pb from
 * pool_acquire, or a connection that broke before any statement
 * succeeded: the replica is marked down), or was cancelled by a conflict
 * with recovery before any statement succeeded: it goes to the primary
 * instead. */
bool replica_fall_back(struct pool *p, const struct dbconn *c, const struct problem *pb);

/* Takes a connection, waiting up to pool_wait_ms; NULL with pb (503).
 * `retryable`: the caller runs again when the first statement finds the
 * connection dead, so a recently used one is trusted without a check. */
struct dbconn *pool_acquire(struct pool *p, bool retryable, struct problem *pb);

/* A free connection now, or NULL with *none when there is none (or others
 * wait for one): never waits. NULL without *none: pb (503). */
struct dbconn *pool_acquire_now(struct pool *p, struct problem *pb, bool *none);

/* Gives a connection back: rolled back if left in a transaction, closed
 * if broken or past its lifetime, handed to the oldest waiter. */
void pool_release(struct dbconn *c);

/* Whether st is prepared on c; records that it is (-1 on OOM). */
bool pool_has_prepared(const struct dbconn *c, const struct db_stmt *st);
int pool_add_prepared(struct dbconn *c, const struct db_stmt *st);

/*
 * txpipe.c: a transaction's statements sent ahead, in libpq's pipeline
 * mode, so that those whose answers nothing waits for share one round trip
 * with the next one that is waited for (db_tx, db_exec_later, db_send).
 *
 * txpipe_send queues a statement (keep: its result is taken, in order, by
 * txpipe_recv; else only its success is checked); txpipe_send_sql the
 * same for a statement without parameters (BEGIN, COMMIT). txpipe_recv
 * sends a Sync when that answer is not read yet, reads every answer
 * outstanding, and returns the next kept result (the caller PQclear()s
 * it), or NULL with pb: the first statement of the pipeline that failed
 * (those after it were never run). txpipe_exec sends one more statement and
 * returns its result so (kept results not taken before are dropped).
 * txpipe_flush reads everything, returns -1 with pb when anything failed,
 * and frees results nobody took. txpipe_discard does that quietly after a
 * failure: the transaction is left for pool_release to roll back, or the
 * connection marked broken.
 */
int txpipe_send(struct dbconn *c, const struct db_stmt *st, const char *const *params, int format,
                bool keep, struct problem *pb) __attribute__((warn_unused_result));
int txpipe_send_sql(struct dbconn *c, const char *what, const char *sql, bool keep,
                    struct problem *pb) __attribute__((warn_unused_result));
PGresult *txpipe_recv(struct dbconn *c, struct problem *pb) __attribute__((warn_unused_result));
PGresult *txpipe_exec(struct dbconn *c, const struct db_stmt *st, const char *const *params,
                      int format, struct problem *pb) __attribute__((warn_unused_result));
int txpipe_flush(struct dbconn *c, struct problem *pb) __attribute__((warn_unused_result));
void txpipe_discard(struct dbconn *c);
/* Whether statements were sent whose answers are not read yet. */
static inline bool
txpipe_busy(const struct dbconn *c)
{
    return c->txn > 0;
}

#endif
