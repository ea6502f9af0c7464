/*
 * replica: which pool a read goes to, and how far the read replica has
 * replayed (read-your-writes, README "Read-your-writes with a replica").
 *
 * DESIGN. A write's commit position (db_tx: the WAL insert position read
 * right after COMMIT, in the same round trip) is noted per thread, and the
 * HTTP layer hands it to the caller. A read that brings a position back
 * sets it as this thread's need (db_position_begin): it may use the
 * replica only once the replica has replayed that far, else it goes to the
 * primary. How far the replica has replayed is not asked per read: a
 * watcher thread asks the replica every REPLICA_CHECK_MS (and the primary
 * for its own position, for the lag in bytes), on a pool connection when
 * one is free, and keeps the answer in atomics that every read compares
 * with. A replica that cannot be reached (the watcher, or a read that
 * found it gone) is marked down and reads go to the primary until the
 * watcher reaches it again: a replica that stops costs no failed request.
 *
 * Never here: running a caller's statements (exec.c), or HTTP.
 */
#include "inboxd/db/replica.h"

#include "inboxd/db/pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inboxd/lib/clock.h"
#include "inboxd/lib/log.h"
#include "inboxd/lib/lsn.h"

/* How often the watcher asks the replica how far it has replayed. A read
 * whose position is newer than the last answer goes to the primary, so
 * this bounds how long after a write its reads keep going there. */
#define REPLICA_CHECK_MS 100
/* While it is down, how often the watcher tries to reach it again: each
 * failed try logs db.connect_failed. */
#define REPLICA_RETRY_MS 1000

enum { S_REPLICA, S_PRIMARY };

static const struct db_stmt stmts[] = {
    /* The lag in seconds is 0 while everything received is replayed
     * (an idle primary sends nothing to replay), else the age of the last
     * transaction replayed. */
    [S_REPLICA] = {"replica_state",
                   "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
                   "  CASE WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM "
                   "            pg_last_wal_replay_lsn() THEN 0 "
                   "       ELSE coalesce(extract(epoch FROM "
                   "              clock_timestamp() - pg_last_xact_replay_timestamp()), 0) "
                   "  END::float8",
                   0},
    [S_PRIMARY] = {"replica_primary_lsn",
                   "SELECT CASE WHEN pg_is_in_recovery() THEN NULL "
                   "ELSE pg_current_wal_lsn()::text END",
                   0},
};

/* --- this thread's positions ------------------------------------------------ */

static __thread uint64_t need_lsn, committed_lsn;

void
db_position_begin(uint64_t need)
{
    need_lsn = need;
    committed_lsn = 0;
}

uint64_t
db_position_committed(void)
{
    return committed_lsn;
}

void
db_position_note(uint64_t lsn)
{
    if (lsn > committed_lsn)
        committed_lsn = lsn;
}

/* --- the replica's state ------------------------------------------------------ */

static atomic_int state = DB_REPLICA_UNKNOWN;
static atomic_ullong replay_lsn, primary_lsn;
static atomic_llong lag_us = -1, checked_ms;
static atomic_ullong fallback_position, fallback_down, replica_reads;

static const char *const state_names[] = {
    [DB_REPLICA_NONE] = "none",
    [DB_REPLICA_UNKNOWN] = "unknown",
    [DB_REPLICA_UP] = "up",
    [DB_REPLICA_DOWN] = "down",
    [DB_REPLICA_NOT_STANDBY] = "not-standby",
};

const char *
db_replica_state_name(int s)
{
    return s >= 0 && s < (int)(sizeof(state_names) / sizeof(state_names[0])) ? state_names[s]
                                                                              : "unknown";
}

/* Moves to s, logging a change. */
static void
set_state(int s, const char *why)
{
    int was = atomic_exchange(&state, s);

    if (was == s)
        return;
    log_event(s == DB_REPLICA_UP ? LOG_INFO : LOG_WARN, NULL, "db.replica_state",
              LOG_S("state", db_replica_state_name(s)), LOG_S("was", db_replica_state_name(was)),
              LOG_S("err", why));
}

void
replica_failed(const char *why)
{
    set_state(DB_REPLICA_DOWN, why);
}

bool
replica_fall_back(struct pool *p, const struct dbconn *c, const struct problem *pb)
{
    if (p != &pool_replica)
        return false;
    /* A read that already had answers may have handed some on: only one
     * that got nothing runs again, like db_read's own retry. */
    if (c != NULL && c->nok > 0)
        return false;
    /* A hot standby cancels a query that conflicts with what it replays
     * (40001): the replica is fine, this read goes to the primary. */
    if (c != NULL && !c->broken)
        return strcmp(pb->sqlstate, "40001") == 0;
    if (c == NULL && strcmp(pb->type, "database-unavailable") != 0)
        return false;
    replica_failed(pb->internal[0] ? pb->internal : pb->detail);
    return true;
}

bool
replica_serves(void)
{
    int s = atomic_load(&state);

    if (s != DB_REPLICA_UP && s != DB_REPLICA_UNKNOWN) {
        atomic_fetch_add(&fallback_down, 1);
        return false;
    }
    if (need_lsn != 0 && need_lsn > atomic_load(&replay_lsn)) {
        atomic_fetch_add(&fallback_position, 1);
        return false;
    }
    atomic_fetch_add(&replica_reads, 1);
    return true;
}

void
db_replica_state(struct db_replica_info *out)
{
    uint64_t replay = atomic_load(&replay_lsn), primary = atomic_load(&primary_lsn);
    long long checked = atomic_load(&checked_ms);

    memset(out, 0, sizeof(*out));
    out->state = pool_replica.on ? atomic_load(&state) : DB_REPLICA_NONE;
    out->replay_lsn = replay;
    out->lag_bytes = replay != 0 && primary != 0 ? (primary > replay ? (long long)(primary - replay) : 0)
                                                 : -1;
    out->lag_seconds = atomic_load(&lag_us) < 0 ? -1 : (double)atomic_load(&lag_us) / 1e6;
    out->checked_ms_ago = checked ? clock_ms() - checked : -1;
    out->reads_replica = atomic_load(&replica_reads);
    out->reads_fallback_position = atomic_load(&fallback_position);
    out->reads_fallback_down = atomic_load(&fallback_down);
}

/* --- the watcher ---------------------------------------------------------------- */

static struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool on, stop;
} watch = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* One statement on a free connection of p: its result, or NULL (none free,
 * or it failed: *failed, with why). */
static PGresult *
ask(struct pool *p, const struct db_stmt *st, bool *failed, char *why, size_t whylen)
{
    struct problem pb = {0};
    bool none = false;
    struct dbconn *c = pool_acquire_now(p, &pb, &none);
    PGresult *res;

    *failed = false;
    if (c == NULL) {
        *failed = !none;
        snprintf(why, whylen, "%s", pb.detail);
        return NULL;
    }
    res = db_exec(c, st, NULL, &pb);
    if (res == NULL) {
        *failed = true;
        snprintf(why, whylen, "%s", pb.internal[0] ? pb.internal : pb.detail);
    }
    pool_release(c);
    return res;
}

static void
check_once(void)
{
    char why[256] = "";
    bool failed;
    uint64_t lsn = 0;
    PGresult *res = ask(&pool_replica, &stmts[S_REPLICA], &failed, why, sizeof(why));

    if (res == NULL) {
        if (failed)
            replica_failed(why);
        return;
    }
    if (PQgetvalue(res, 0, 0)[0] != 't') {
        set_state(DB_REPLICA_NOT_STANDBY, "the replica is not in recovery");
    } else if (!lsn_parse_pg(db_val(res, 0, 1), &lsn)) {
        /* In recovery but nothing replayed yet. */
        set_state(DB_REPLICA_DOWN, "the replica has replayed nothing yet");
    } else {
        atomic_store(&replay_lsn, lsn);
        atomic_store(&lag_us, (long long)(atof(PQgetvalue(res, 0, 2)) * 1e6));
        set_state(DB_REPLICA_UP, NULL);
    }
    PQclear(res);
    atomic_store(&checked_ms, clock_ms());
    res = ask(&pool_primary, &stmts[S_PRIMARY], &failed, why, sizeof(why));
    if (res != NULL && lsn_parse_pg(db_val(res, 0, 0), &lsn))
        atomic_store(&primary_lsn, lsn);
    PQclear(res);
}

static void *
watch_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&watch.mu);
    while (!watch.stop) {
        struct timespec until;

        long ms;

        pthread_mutex_unlock(&watch.mu);
        check_once();
        ms = atomic_load(&state) == DB_REPLICA_DOWN ? REPLICA_RETRY_MS : REPLICA_CHECK_MS;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += ms / 1000;
        until.tv_nsec += (ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&watch.mu);
        if (!watch.stop)
            pthread_cond_timedwait(&watch.cv, &watch.mu, &until);
    }
    pthread_mutex_unlock(&watch.mu);
    return NULL;
}

int
db_replica_watch_start(void)
{
    pthread_condattr_t ca;

    if (!pool_replica.on || watch.on)
        return 0;
    atomic_store(&state, DB_REPLICA_UNKNOWN);
    atomic_store(&replay_lsn, 0);
    atomic_store(&primary_lsn, 0);
    atomic_store(&lag_us, -1);
    atomic_store(&checked_ms, 0);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&watch.cv, &ca);
    pthread_condattr_destroy(&ca);
    watch.stop = false;
    if (pthread_create(&watch.thread, NULL, watch_main, NULL) != 0) {
        pthread_cond_destroy(&watch.cv);
        return -1;
    }
    watch.on = true;
    return 0;
}

void
db_replica_watch_stop(void)
{
    if (!watch.on)
        return;
    pthread_mutex_lock(&watch.mu);
    watch.stop = true;
    pthread_cond_signal(&watch.cv);
    pthread_mutex_unlock(&watch.mu);
    pthread_join(watch.thread, NULL);
    pthread_cond_destroy(&watch.cv);
    watch.on = false;
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
