/*
 * pool: a fixed pool of libpq connections per database (the primary, and
 * a read replica when configured).
 *
 * DESIGN. Each pool holds `pool_size` slots. A slot's connection opens
 * lazily on first use, so inboxd starts while PostgreSQL is down and
 * recovers by itself when it comes back: a connection found dead when it is
 * borrowed (the server closed it, e.g. on restart) or broken while in use is
 * closed and reopened on the next borrow. Borrowing waits at most
 * pool_wait_ms, then the caller gets 503 with Retry-After (pgbouncer's
 * query_wait_timeout); a free connection goes to the oldest waiter.
 * Lifetimes are capped and staggered so connections don't all reconnect at
 * once (pgbouncer's life_over). Statements are prepared lazily, once per
 * connection: the set of prepared ones is a small open-addressing table of
 * statement pointers per connection.
 *
 * Never here: running a caller's statement (exec.c), or HTTP.
 */
#include "inboxd/db/pool.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inboxd/lib/clock.h"
#include "inboxd/lib/log.h"
#include "inboxd/lib/wake.h"

#define PSET_INITIAL 64

static struct db_settings settings;
const struct db_settings *pool_cfg; /* &settings once db_init() ran */
struct pool pool_primary = {.mu = PTHREAD_MUTEX_INITIALIZER};
struct pool pool_replica = {.mu = PTHREAD_MUTEX_INITIALIZER};
atomic_ullong pool_stat_errors, pool_stat_reconnects, pool_stat_timeouts;
atomic_ullong pool_stat_reads, pool_stat_read_trips;
atomic_ullong pool_stat_tx_trips[DB_TX_TRIP_NBOUNDS + 1], pool_stat_tx_trips_sum;
/* statement_timeout and lock_timeout, which a reload may change: a
 * connection whose `timeouts` generation is older sets them again when it
 * is next borrowed, so they apply from the next transaction on. */
atomic_int pool_statement_timeout_ms, pool_lock_timeout_ms;
static atomic_uint timeouts_gen;

/* --- prepared-statement set ------------------------------------------------ */

static size_t
pset_slot(const struct db_stmt *st, size_t cap)
{
    uintptr_t h = (uintptr_t)st;

    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 7) & (cap - 1);
}

bool
pool_has_prepared(const struct dbconn *c, const struct db_stmt *st)
{
    if (c->pcap == 0)
        return false;
    for (size_t i = pset_slot(st, c->pcap);; i = (i + 1) & (c->pcap - 1)) {
        if (c->pset[i] == st)
            return true;
        if (c->pset[i] == NULL)
            return false;
    }
}

int
pool_add_prepared(struct dbconn *c, const struct db_stmt *st)
{
    if ((c->pcount + 1) * 2 > c->pcap) {
        size_t ncap = c->pcap ? c->pcap * 2 : PSET_INITIAL;
        const struct db_stmt **n = calloc(ncap, sizeof(*n));

        if (n == NULL)
            return -1;
        for (size_t i = 0; i < c->pcap; i++) {
            if (c->pset[i] == NULL)
                continue;
            size_t j = pset_slot(c->pset[i], ncap);
            while (n[j] != NULL)
                j = (j + 1) & (ncap - 1);
            n[j] = c->pset[i];
        }
        free(c->pset);
        c->pset = n;
        c->pcap = ncap;
    }
    size_t i = pset_slot(st, c->pcap);
    while (c->pset[i] != NULL)
        i = (i + 1) & (c->pcap - 1);
    c->pset[i] = st;
    c->pcount++;
    return 0;
}

static void
pset_clear(struct dbconn *c)
{
    free(c->pset);
    c->pset = NULL;
    c->pcap = c->pcount = 0;
}

/* --- connections ----------------------------------------------------------- */

static void
conn_close(struct dbconn *c)
{
    if (c->pg != NULL)
        PQfinish(c->pg);
    c->pg = NULL;
    c->broken = false;
    pset_clear(c);
}

/* libpq's notices (and the server's goodbye on shutdown) go to our log,
 * not to stderr as bare text. */
static void
on_notice(void *arg, const char *message)
{
    char msg[256];

    (void)arg;
    snprintf(msg, sizeof(msg), "%s", message);
    msg[strcspn(msg, "\n")] = '\0';
    log_event(LOG_DEBUG, NULL, "db.notice", LOG_S("msg", msg));
}

bool
pool_per_transaction(void)
{
    return pool_cfg != NULL && !pool_cfg->prepare;
}

/* Sets the connection's statement_timeout and lock_timeout to the ones
 * in force and notes their generation. Returns 0 or -1 with err. Behind a
 * transaction pooler a session SET would land on whichever server
 * connection ran it and stay there: the timeouts travel with each
 * transaction instead (exec.c, reader.c), and none is set here. */
static int
set_timeouts(struct dbconn *c, char *err, size_t errlen)
{
    unsigned gen = atomic_load(&timeouts_gen);
    char sql[96];
    PGresult *res;
    int rc = 0;

    if (pool_per_transaction()) {
        c->timeouts_gen = gen;
        return 0;
    }
    snprintf(sql, sizeof(sql), "SET statement_timeout = %d; SET lock_timeout = %d",
             atomic_load(&pool_statement_timeout_ms), atomic_load(&pool_lock_timeout_ms));
    res = PQexec(c->pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "session settings: %s", PQresultErrorMessage(res));
        rc = -1;
    } else {
        c->timeouts_gen = gen;
    }
    PQclear(res);
    return rc;
}

void
db_set_timeouts(int statement_timeout_ms, int lock_timeout_ms)
{
    atomic_store(&pool_statement_timeout_ms, statement_timeout_ms);
    atomic_store(&pool_lock_timeout_ms, lock_timeout_ms);
    atomic_fetch_add(&timeouts_gen, 1);
}

/* Opens c->pg with the session settings every connection needs. */
static int
conn_open(struct dbconn *c, const char *conninfo, char *err, size_t errlen)
{
    char timeout[16], session[200];
    /* Defaults come before dbname so that the caller's conninfo wins. */
    const char *keys[] = {"connect_timeout", "application_name", "keepalives",
                          "keepalives_idle", "dbname", NULL};
    const char *vals[] = {timeout, "inboxd", "1", "30", conninfo, NULL};
    PGresult *res;

    snprintf(timeout, sizeof(timeout), "%d", pool_cfg ? pool_cfg->connect_timeout_s : 5);
    c->pg = PQconnectdbParams(keys, vals, 1);
    atomic_fetch_add(&pool_stat_reconnects, 1);
    if (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK) {
        /* libpq's message may carry the host and user: log only, keep it out of `err` for
         * callers that forward it. */
        snprintf(err, errlen, "cannot connect: %s",
                 c->pg ? PQerrorMessage(c->pg) : "out of memory");
        err[strcspn(err, "\n")] = '\0';
        conn_close(c);
        return -1;
    }
    PQsetNoticeProcessor(c->pg, on_notice, NULL);
    /* Timeouts bound how long a request can hold a connection; UTC and ISO
     * make timestamp text predictable for the render functions. No parallel
     * plans: every statement here answers one request, and at 10 million
     * messages the planner chose two workers for a search that found
     * nothing, 47 ms of starting them for 0.3 ms of work. */
    snprintf(session, sizeof(session),
             "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; "
             "SET max_parallel_workers_per_gather = 0%s",
             pool_cfg && pool_cfg->read_only ? "; SET default_transaction_read_only = on" : "");
    res = PQexec(c->pg, session);
    if (PQresultStatus(res) != PGRES_COMMAND_OK || set_timeouts(c, err, errlen) != 0) {
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            snprintf(err, errlen, "session settings: %s", PQresultErrorMessage(res));
        err[strcspn(err, "\n")] = '\0';
        PQclear(res);
        conn_close(c);
        return -1;
    }
    PQclear(res);
    c->broken = false;
    c->expires_ms = 0;
    if (pool_cfg && pool_cfg->pool_max_lifetime_s > 0) {
        /* +-10 % so a pool opened at once doesn't expire at once. */
        int64_t life = (int64_t)pool_cfg->pool_max_lifetime_s * 1000;
        c->expires_ms = clock_ms() + life * 9 / 10 + (int64_t)(clock_jitter() % (unsigned)(life / 5 + 1));
    }
    return 0;
}

/* True when an idle connection still looks usable. A server that shut the
 * connection down (restart, idle timeout) has sent an error and EOF, so the
 * socket is readable; consuming that input updates PQstatus. */
static bool
conn_alive(struct dbconn *c)
{
    struct pollfd p = {.fd = PQsocket(c->pg), .events = POLLIN};

    if (PQstatus(c->pg) != CONNECTION_OK || p.fd < 0)
        return false;
    if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        return false;
    if (poll(&p, 1, 0) > 0) {
        if (!PQconsumeInput(c->pg) || PQstatus(c->pg) != CONNECTION_OK)
            return false;
        /* An idle connection has nothing to say but notifications; anything
         * else means a protocol state we don't want to reason about. */
        if (PQisBusy(c->pg))
            return false;
    }
    return true;
}

/*
 * A connection given back less than this long ago is trusted without the
 * poll() of conn_alive() on a first attempt (`retryable`): db_read and
 * db_tx run again when the first statement finds the connection dead, and
 * that second acquire checks whatever it gets, so the poll only saves a
 * failed attempt, while every read would pay a system call for it. Streams
 * (db_borrow) and connections idle longer are always checked.
 */
#define TRUST_RECENT_MS 1000

/* A free connection goes to the oldest waiter, else back to the idle
 * stack. Call with p->mu held; returns the word to wake_word() once it is
 * let go, or NULL. */
static atomic_uint *
give_back(struct pool *p, int idx)
{
    struct waiter *w = p->whead;

    if (w == NULL) {
        p->idle[p->nidle++] = idx;
        return NULL;
    }
    p->whead = w->next;
    if (p->whead == NULL)
        p->wtail = &p->whead;
    w->next = NULL;
    w->idx = idx;
    atomic_store_explicit(&w->handed, 1, memory_order_release);
    return &w->handed;
}

static void
give_back_locked(struct pool *p, int idx)
{
    atomic_uint *wake;

    pthread_mutex_lock(&p->mu);
    wake = give_back(p, idx);
    pthread_mutex_unlock(&p->mu);
    if (wake != NULL)
        wake_word(wake);
}

static struct dbconn *conn_ready(struct pool *p, int idx, bool retryable, struct problem *pb);

struct dbconn *
pool_acquire_now(struct pool *p, struct problem *pb, bool *none)
{
    int idx = -1;

    pthread_mutex_lock(&p->mu);
    if (p->nidle > 0 && p->whead == NULL)
        idx = p->idle[--p->nidle];
    pthread_mutex_unlock(&p->mu);
    *none = idx < 0;
    return idx < 0 ? NULL : conn_ready(p, idx, true, pb);
}

struct dbconn *
pool_acquire(struct pool *p, bool retryable, struct problem *pb)
{
    struct timespec deadline;
    int idx;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += pool_cfg->pool_wait_ms / 1000;
    deadline.tv_nsec += (long)(pool_cfg->pool_wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }

    pthread_mutex_lock(&p->mu);
    if (p->nidle > 0 && p->whead == NULL) {
        idx = p->idle[--p->nidle];
    } else {
        struct waiter w = {.idx = -1};

        *p->wtail = &w;
        p->wtail = &w.next;
        p->waiting++;
        pthread_mutex_unlock(&p->mu);
        wake_wait(&w.handed, &deadline);
        pthread_mutex_lock(&p->mu);
        p->waiting--;
        /* Handed over or not, decided under the mutex. */
        if (atomic_load_explicit(&w.handed, memory_order_relaxed) == 0) {
            struct waiter **pp = &p->whead;

            while (*pp != &w)
                pp = &(*pp)->next;
            *pp = w.next;
            if (p->wtail == &w.next)
                p->wtail = pp;
            pthread_mutex_unlock(&p->mu);
            atomic_fetch_add(&pool_stat_timeouts, 1);
            log_event(LOG_WARN, NULL, "db.pool_timeout", LOG_S("pool", p->name),
                      LOG_I("wait_ms", pool_cfg->pool_wait_ms));
            pb->retry_after = 1;
            problem_set(pb, 503, "pool-exhausted",
                        "no database connection became free in time; retry later");
            return NULL;
        }
        idx = w.idx;
    }
    pthread_mutex_unlock(&p->mu);
    return conn_ready(p, idx, retryable, pb);
}

/* The connection of slot idx, checked or opened; NULL with pb (503). */
static struct dbconn *
conn_ready(struct pool *p, int idx, bool retryable, struct problem *pb)
{
    struct dbconn *c;
    char err[256];

    c = &p->conns[idx];
    c->nok = 0;
    if (c->pg != NULL &&
        (PQstatus(c->pg) != CONNECTION_OK ||
         !(retryable && clock_ms() - c->idle_since_ms < TRUST_RECENT_MS)) &&
        !conn_alive(c)) {
        log_event(LOG_INFO, NULL, "db.conn_dead", LOG_S("pool", p->name));
        conn_close(c);
    }
    /* A reload changed the timeouts since this connection set them. */
    if (c->pg != NULL && c->timeouts_gen != atomic_load(&timeouts_gen) &&
        set_timeouts(c, err, sizeof(err)) != 0) {
        log_event(LOG_INFO, NULL, "db.conn_dead", LOG_S("pool", p->name), LOG_S("err", err));
        conn_close(c);
    }
    if (c->pg == NULL && conn_open(c, p->conninfo, err, sizeof(err)) != 0) {
        log_event(LOG_WARN, NULL, "db.connect_failed", LOG_S("pool", p->name), LOG_S("err", err));
        give_back_locked(p, idx);
        pb->retry_after = 1;
        problem_set(pb, 503, "database-unavailable", "the database is not reachable; retry later");
        return NULL;
    }
    return c;
}

void
pool_release(struct dbconn *c)
{
    struct pool *p = c->pool;

    txpipe_discard(c); /* what a failed transaction sent ahead */
    if (c->pg != NULL) {
        if (c->broken || PQstatus(c->pg) != CONNECTION_OK) {
            conn_close(c);
        } else if (PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
            /* A caller left a transaction open or failed: roll it back; a
             * connection that can't even do that is dropped. */
            PGresult *r = PQexec(c->pg, "ROLLBACK");

            if (PQresultStatus(r) != PGRES_COMMAND_OK ||
                PQtransactionStatus(c->pg) != PQTRANS_IDLE)
                conn_close(c);
            PQclear(r);
        } else {
            c->idle_since_ms = clock_ms();
            if (c->expires_ms != 0 && c->idle_since_ms > c->expires_ms)
                conn_close(c);
        }
    }
    give_back_locked(p, (int)(c - p->conns));
}

static int
pool_init(struct pool *p, const char *name, const char *conninfo, int size)
{
    p->name = name;
    p->conninfo = conninfo;
    p->size = size;
    p->conns = calloc((size_t)size, sizeof(*p->conns));
    p->idle = calloc((size_t)size, sizeof(*p->idle));
    if (p->conns == NULL || p->idle == NULL)
        return -1;
    for (int i = 0; i < size; i++) {
        p->conns[i].pool = p;
        p->idle[i] = size - 1 - i;
    }
    p->nidle = size;
    p->whead = NULL;
    p->wtail = &p->whead;
    p->on = true;
    return 0;
}

static void
pool_free(struct pool *p)
{
    if (!p->on)
        return;
    for (int i = 0; i < p->size; i++)
        conn_close(&p->conns[i]);
    free(p->conns);
    free(p->idle);
    p->conns = NULL;
    p->idle = NULL;
    p->on = false;
}

int
db_init(const struct db_settings *s, char *err, size_t errlen)
{
    settings = *s;
    pool_cfg = &settings;
    db_set_timeouts(s->statement_timeout_ms, s->lock_timeout_ms);
    if (s->conninfo == NULL || s->conninfo[0] == '\0') {
        snprintf(err, errlen, "database_url is not set (DATABASE_URL)");
        return -1;
    }
    if (pool_init(&pool_primary, "primary", s->conninfo, s->pool_size) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (s->conninfo_ro && s->conninfo_ro[0] &&
        pool_init(&pool_replica, "replica", s->conninfo_ro, s->pool_size) != 0) {
        pool_free(&pool_primary);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

void
db_shutdown(void)
{
    pool_free(&pool_primary);
    pool_free(&pool_replica);
}

struct pool *
pool_for_reads(bool replica_ok)
{
    return replica_ok && pool_replica.on && replica_serves() ? &pool_replica : &pool_primary;
}

const struct db_settings *
db_settings(void)
{
    return &settings;
}

bool
db_replica_on(void)
{
    return pool_replica.on;
}

void
db_stats(struct db_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (pool_primary.on) {
        pthread_mutex_lock(&pool_primary.mu);
        out->size = pool_primary.size;
        out->in_use = pool_primary.size - pool_primary.nidle;
        out->waiting = pool_primary.waiting;
        pthread_mutex_unlock(&pool_primary.mu);
    }
    out->errors = atomic_load(&pool_stat_errors);
    out->reconnects = atomic_load(&pool_stat_reconnects);
    out->timeouts = atomic_load(&pool_stat_timeouts);
    out->reads = atomic_load(&pool_stat_reads);
    out->read_trips = atomic_load(&pool_stat_read_trips);
    for (int i = 0; i <= DB_TX_TRIP_NBOUNDS; i++)
        out->tx_trips[i] = atomic_load(&pool_stat_tx_trips[i]);
    out->tx_trips_sum = atomic_load(&pool_stat_tx_trips_sum);
}

/* Streams may hold pool_streams connections, and never the pool's last
 * one: a response that streams for minutes to a slow reader must not leave
 * ordinary requests waiting into 503s. */
static int
stream_cap(const struct pool *p)
{
    int cap = pool_cfg ? pool_cfg->pool_streams : 1;

    if (cap > p->size - 1)
        cap = p->size - 1;
    return cap < 1 ? 1 : cap;
}

struct dbconn *
db_borrow(bool replica_ok, struct problem *pb)
{
    struct pool *p = pool_for_reads(replica_ok);
    struct dbconn *c;
    bool full;

    pthread_mutex_lock(&p->mu);
    full = p->streams >= stream_cap(p);
    if (!full)
        p->streams++;
    pthread_mutex_unlock(&p->mu);
    if (full) {
        pb->retry_after = 5;
        problem_set(pb, 503, "streams-busy",
                    "as many exports as allowed are streaming; retry later");
        return NULL;
    }
    c = pool_acquire(p, false, pb);
    if (c == NULL) {
        pthread_mutex_lock(&p->mu);
        p->streams--;
        pthread_mutex_unlock(&p->mu);
        if (replica_fall_back(p, NULL, pb)) {
            memset(pb, 0, sizeof(*pb));
            return db_borrow(false, pb);
        }
    }
    return c;
}

void
db_return(struct dbconn *c)
{
    if (c == NULL)
        return;
    /* A stream abandoned mid-way leaves a result unread, perhaps already
     * buffered (PQisBusy is false then, PQTRANS_ACTIVE still true): drop
     * the connection rather than drain an unbounded result. */
    if (c->pg != NULL &&
        (PQisBusy(c->pg) || PQtransactionStatus(c->pg) == PQTRANS_ACTIVE))
        c->broken = true;
    pthread_mutex_lock(&c->pool->mu);
    c->pool->streams--;
    pthread_mutex_unlock(&c->pool->mu);
    pool_release(c);
}

struct dbconn *
db_connect_once(const char *conninfo, char *err, size_t errlen)
{
    struct dbconn *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (conn_open(c, conninfo, err, errlen) != 0) {
        free(c);
        return NULL;
    }
    return c;
}

void
db_close_once(struct dbconn *c)
{
    if (c == NULL)
        return;
    conn_close(c);
    free(c);
}

