/*
 * db: a fixed pool of libpq connections, transactions, statement execution.
 *
 * DESIGN. Each pool holds `pool_size` slots. A slot's connection opens
 * lazily on first use, so inboxd starts while PostgreSQL is down and
 * recovers by itself when it comes back: a connection found dead when it is
 * borrowed (the server closed it, e.g. on restart) or broken while in use is
 * closed and reopened on the next borrow. Borrowing waits at most
 * pool_wait_ms, then the caller gets 503 with Retry-After
 * (pgbouncer's query_wait_timeout). Lifetimes are capped and staggered so
 * connections don't all reconnect at once (pgbouncer's life_over).
 *
 * Statements are prepared lazily, once per connection, by name. The set of
 * prepared statements is a small open-addressing table of statement
 * pointers per connection. With `prepare = false` (PgBouncer in transaction
 * mode) every statement goes as an unnamed extended-protocol query.
 *
 * Nothing here knows HTTP. Errors become a struct problem in db_fail().
 */
#include "inboxd/db/db.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "inboxd/lib/log.h"
#include "inboxd/lib/wake.h"

#define PSET_INITIAL 64

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

/* Hand-overs sleep on futex words (wake.h). */

struct dbconn {
    PGconn *pg;
    struct pool *pool;
    bool broken;        /* a connection error was seen: close on release */
    int nok;            /* statements that succeeded since borrowed */
    int64_t expires_ms; /* replace when released after this; 0 = never */
    int64_t idle_since_ms; /* when it was last given back */
    const struct db_stmt **pset;
    size_t pcap, pcount;
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

static struct db_settings settings;
static const struct db_settings *cfg; /* &settings once db_init() ran */
static struct pool primary = {.mu = PTHREAD_MUTEX_INITIALIZER};
static struct pool replica = {.mu = PTHREAD_MUTEX_INITIALIZER};
static atomic_ullong stat_errors, stat_reconnects, stat_timeouts;
static atomic_ullong stat_reads, stat_read_trips; /* the reader's */

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned
rand_u32(void)
{
    unsigned r = 0;

    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (unsigned)now_ms();
    return r;
}

/* --- statement registry --------------------------------------------------- */

#define MAX_TABLES 64

static struct {
    const struct db_stmt *stmts;
    size_t n;
} tables[MAX_TABLES];
static size_t ntables;

void
db_register(const struct db_stmt *stmts, size_t n)
{
    /* Runs from constructors before main: nothing to report to yet, and a
     * table too many is a build mistake the statement test catches. */
    if (ntables < MAX_TABLES) {
        tables[ntables].stmts = stmts;
        tables[ntables].n = n;
        ntables++;
    }
}

const struct db_stmt *
db_stmt_find(const char *name)
{
    for (size_t t = 0; t < ntables; t++)
        for (size_t i = 0; i < tables[t].n; i++)
            if (tables[t].stmts[i].name && strcmp(tables[t].stmts[i].name, name) == 0)
                return &tables[t].stmts[i];
    return NULL;
}

void
db_stmt_each(void (*fn)(const struct db_stmt *st, void *arg), void *arg)
{
    for (size_t t = 0; t < ntables; t++)
        for (size_t i = 0; i < tables[t].n; i++)
            if (tables[t].stmts[i].name)
                fn(&tables[t].stmts[i], arg);
}

/* --- prepared-statement set ------------------------------------------------ */

static size_t
pset_slot(const struct db_stmt *st, size_t cap)
{
    uintptr_t h = (uintptr_t)st;

    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 7) & (cap - 1);
}

static bool
pset_has(const struct dbconn *c, const struct db_stmt *st)
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

static int
pset_add(struct dbconn *c, const struct db_stmt *st)
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

/* Opens c->pg with the session settings every connection needs. */
static int
conn_open(struct dbconn *c, const char *conninfo, char *err, size_t errlen)
{
    char timeout[16], session[160];
    /* Defaults come before dbname so that the caller's conninfo wins. */
    const char *keys[] = {"connect_timeout", "application_name", "keepalives",
                          "keepalives_idle", "dbname", NULL};
    const char *vals[] = {timeout, "inboxd", "1", "30", conninfo, NULL};
    PGresult *res;

    snprintf(timeout, sizeof(timeout), "%d", cfg ? cfg->connect_timeout_s : 5);
    c->pg = PQconnectdbParams(keys, vals, 1);
    atomic_fetch_add(&stat_reconnects, 1);
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
     * make timestamp text predictable for the render functions. */
    snprintf(session, sizeof(session),
             "SET statement_timeout = %d; SET lock_timeout = %d; "
             "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'",
             cfg ? cfg->statement_timeout_ms : 0, cfg ? cfg->lock_timeout_ms : 0);
    res = PQexec(c->pg, session);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        snprintf(err, errlen, "session settings: %s", PQresultErrorMessage(res));
        err[strcspn(err, "\n")] = '\0';
        PQclear(res);
        conn_close(c);
        return -1;
    }
    PQclear(res);
    c->broken = false;
    c->expires_ms = 0;
    if (cfg && cfg->pool_max_lifetime_s > 0) {
        /* +-10 % so a pool opened at once doesn't expire at once. */
        int64_t life = (int64_t)cfg->pool_max_lifetime_s * 1000;
        c->expires_ms = now_ms() + life * 9 / 10 + (int64_t)(rand_u32() % (unsigned)(life / 5 + 1));
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

/* A free connection now, or NULL with *none when there is none (or others
 * wait for one) — never waits; NULL without *none: pb (503). */
static struct dbconn *
acquire_now(struct pool *p, struct problem *pb, bool *none)
{
    int idx = -1;

    pthread_mutex_lock(&p->mu);
    if (p->nidle > 0 && p->whead == NULL)
        idx = p->idle[--p->nidle];
    pthread_mutex_unlock(&p->mu);
    *none = idx < 0;
    return idx < 0 ? NULL : conn_ready(p, idx, true, pb);
}

static struct dbconn *
acquire(struct pool *p, bool retryable, struct problem *pb)
{
    struct timespec deadline;
    int idx;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += cfg->pool_wait_ms / 1000;
    deadline.tv_nsec += (long)(cfg->pool_wait_ms % 1000) * 1000000L;
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
            atomic_fetch_add(&stat_timeouts, 1);
            log_event(LOG_WARN, NULL, "db.pool_timeout", LOG_S("pool", p->name),
                      LOG_I("wait_ms", cfg->pool_wait_ms));
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
         !(retryable && now_ms() - c->idle_since_ms < TRUST_RECENT_MS)) &&
        !conn_alive(c)) {
        log_event(LOG_INFO, NULL, "db.conn_dead", LOG_S("pool", p->name));
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

static void
release(struct dbconn *c)
{
    struct pool *p = c->pool;

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
            c->idle_since_ms = now_ms();
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
    cfg = &settings;
    if (s->conninfo == NULL || s->conninfo[0] == '\0') {
        snprintf(err, errlen, "database_url is not set (DATABASE_URL)");
        return -1;
    }
    if (pool_init(&primary, "primary", s->conninfo, s->pool_size) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (s->conninfo_ro && s->conninfo_ro[0] &&
        pool_init(&replica, "replica", s->conninfo_ro, s->pool_size) != 0) {
        pool_free(&primary);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

void
db_shutdown(void)
{
    pool_free(&primary);
    pool_free(&replica);
}

const struct db_settings *
db_settings(void)
{
    return &settings;
}

bool
db_replica_on(void)
{
    return replica.on;
}

void
db_stats(struct db_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (primary.on) {
        pthread_mutex_lock(&primary.mu);
        out->size = primary.size;
        out->in_use = primary.size - primary.nidle;
        out->waiting = primary.waiting;
        pthread_mutex_unlock(&primary.mu);
    }
    out->errors = atomic_load(&stat_errors);
    out->reconnects = atomic_load(&stat_reconnects);
    out->timeouts = atomic_load(&stat_timeouts);
    out->reads = atomic_load(&stat_reads);
    out->read_trips = atomic_load(&stat_read_trips);
}

/* --- errors ---------------------------------------------------------------- */

bool
db_is_retryable(const struct problem *pb)
{
    return strcmp(pb->sqlstate, "40001") == 0 || strcmp(pb->sqlstate, "40P01") == 0;
}

int
db_fail(struct dbconn *c, const PGresult *res, const char *what, struct problem *pb)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    char err[256];

    atomic_fetch_add(&stat_errors, 1);
    if ((msg == NULL || msg[0] == '\0') && c != NULL && c->pg != NULL)
        msg = PQerrorMessage(c->pg);
    snprintf(err, sizeof(err), "%s", msg ? msg : "no result");
    err[strcspn(err, "\n")] = '\0';
    snprintf(pb->sqlstate, sizeof(pb->sqlstate), "%s", state ? state : "");
    snprintf(pb->internal, sizeof(pb->internal), "%.60s: %.190s", what, err);

    if (c != NULL && (c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK || !state ||
                      strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)) {
        /* Connection trouble (or a server shutting down): this connection is
         * done; the next borrow opens a fresh one. */
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
        log_event(LOG_DEBUG, NULL, "db.fk_violation", LOG_S("stmt", what));
        return problem_set(pb, 422, "invalid-reference", "a referenced resource does not exist");
    }
    if (strncmp(state, "22", 2) == 0 || strcmp(state, "23514") == 0) {
        /* Validation should have caught it; the caller still gets a 4xx. */
        log_event(LOG_WARN, NULL, "db.invalid_value", LOG_S("stmt", what),
                  LOG_S("sqlstate", state), LOG_S("err", err));
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

    if (pset_has(c, st))
        return 0;
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
    if (pset_add(c, st) != 0)
        return problem_internal(pb, "out of memory");
    return 0;
}

static PGresult *
exec_format(struct dbconn *c, const struct db_stmt *st, const char *const *params, int format,
            struct problem *pb)
{
    PGresult *res;
    ExecStatusType s;

    if (cfg == NULL || cfg->prepare) {
        if (prepare(c, st, pb) != 0)
            return NULL;
        res = PQexecPrepared(c->pg, st->name, st->nparams, params, NULL, NULL, format);
    } else {
        res = PQexecParams(c->pg, st->sql, st->nparams, NULL, params, NULL, NULL, format);
    }
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
    return exec_format(c, st, params, 0, pb);
}

PGresult *
db_exec_binary(struct dbconn *c, const struct db_stmt *st, const char *const *params,
               struct problem *pb)
{
    return exec_format(c, st, params, 1, pb);
}

int
db_simple(struct dbconn *c, const char *sql, struct problem *pb)
{
    PGresult *res = PQexec(c->pg, sql);

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

    if (cfg == NULL || cfg->prepare) {
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
    long ms = (1L << attempt) + (long)(rand_u32() % (unsigned)(2 << attempt));
    struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000L};

    nanosleep(&ts, NULL);
}

/* A failure worth one more go on a fresh connection: the connection broke
 * before any statement of this borrow succeeded, so nothing was committed. */
static bool
fresh_conn_failure(const struct dbconn *c)
{
    return c->broken && c->nok == 0;
}

int
db_tx(db_fn fn, void *arg, struct problem *pb)
{
    for (int attempt = 0;; attempt++) {
        struct dbconn *c = acquire(&primary, attempt == 0, pb);
        bool again;
        int rc;

        if (c == NULL)
            return -1;
        rc = db_simple(c, "BEGIN", pb);
        if (rc == 0)
            rc = fn(c, arg, pb);
        if (rc == 0 && PQtransactionStatus(c->pg) != PQTRANS_INTRANS)
            rc = problem_internal(pb, "transaction not open before COMMIT");
        if (rc == 0) {
            /* COMMIT is checked like any statement: a deferred constraint or
             * a serialization failure can still fail here. */
            PGresult *res = PQexec(c->pg, "COMMIT");

            if (PQresultStatus(res) != PGRES_COMMAND_OK ||
                strcmp(PQcmdStatus(res), "COMMIT") != 0)
                rc = db_fail(c, res, "commit", pb);
            PQclear(res);
        }
        again = rc != 0 && attempt < cfg->tx_retries &&
                (db_is_retryable(pb) || (attempt == 0 && fresh_conn_failure(c)));
        release(c);
        if (rc == 0)
            return 0;
        if (!again)
            return -1;
        memset(pb, 0, sizeof(*pb));
        retry_pause(attempt);
    }
}

int
db_read(db_fn fn, void *arg, bool replica_ok, struct problem *pb)
{
    struct pool *p = replica_ok && replica.on ? &replica : &primary;

    for (int attempt = 0;; attempt++) {
        struct dbconn *c = acquire(p, attempt == 0, pb);
        bool again;
        int rc;

        if (c == NULL)
            return -1;
        rc = fn(c, arg, pb);
        again = rc != 0 && attempt == 0 && fresh_conn_failure(c);
        release(c);
        if (rc == 0 || !again)
            return rc;
        memset(pb, 0, sizeof(*pb));
    }
}

/* Streams may hold pool_streams connections, and never the pool's last
 * one: a response that streams for minutes to a slow reader must not leave
 * ordinary requests waiting into 503s. */
static int
stream_cap(const struct pool *p)
{
    int cap = cfg ? cfg->pool_streams : 1;

    if (cap > p->size - 1)
        cap = p->size - 1;
    return cap < 1 ? 1 : cap;
}

struct dbconn *
db_borrow(bool replica_ok, struct problem *pb)
{
    struct pool *p = replica_ok && replica.on ? &replica : &primary;
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
    c = acquire(p, false, pb);
    if (c == NULL) {
        pthread_mutex_lock(&p->mu);
        p->streams--;
        pthread_mutex_unlock(&p->mu);
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
    release(c);
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

/* --- reads that no thread waits for (db_query_start) ----------------------- */

/*
 * DESIGN. The HTTP loop (server.c) serves every connection, so a read
 * must not block it. db_query_start() queues the read for the reader,
 * which the loop runs between its passes and which owns at most one
 * primary connection at a time, non-blocking and in pipeline mode: it
 * sends whatever reads are queued (preparing a statement in the same
 * pipeline the first time the connection sees it), closes each group with
 * a Sync, and while those are answered sends the next group. Answers come
 * back in order; each goes to its read's callback, on the loop. So a read
 * costs no thread a context switch of its own, and the reads of one loop
 * pass, and of every job thread waiting in db_query(), share a round trip.
 *
 * The reader holds its connection only while reads are in flight or
 * queued, and takes it with acquire_now(): the loop never waits for a
 * connection; queued reads look again every 5 ms and 503 after
 * pool_wait_ms like anyone else. A statement that fails gets its own
 * error; the ones aborted behind it in its pipeline, and the ones caught
 * when the connection breaks, are sent again once, on the next connection.
 *
 * Must never: block on anything but poll() while reads are in flight, or
 * call a callback twice.
 */

struct aread {
    const struct db_stmt *st;
    const char *const *params;
    db_done_fn done;
    void *arg;
    int attempts;
    struct aread *next;
};

enum { X_PREPARE, X_QUERY, X_SYNC };

/* What the connection owes us, in order. */
struct expect {
    int kind;
    struct aread *r; /* X_PREPARE and X_QUERY; NULL once the read is answered */
    bool got;        /* its result was taken; its NULL terminator is next */
};

static struct {
    pthread_mutex_t mu;
    bool sleeping;
    int efd;
    struct aread *head, **tail;
    /* The loop thread's own. */
    struct dbconn *c;
    struct aread *todo, **todo_tail;
    struct expect *x;
    size_t xcap, xhead, xn;
    bool unflushed;
    bool readable;       /* the socket may have answers: PQconsumeInput */
    int64_t wait_since;  /* attached: since when reads wait for a connection */
    int64_t progress_ms; /* when the connection last answered, or began to owe */
} rd = {.mu = PTHREAD_MUTEX_INITIALIZER, .efd = -1};
static atomic_bool rd_up; /* attached to a loop (without the mutex) */
static _Thread_local bool on_loop; /* this thread is the loop that runs the reader */


static void
aread_finish(struct aread *r, PGresult *res, const struct problem *pb)
{
    r->done(r->arg, res, pb);
    free(r);
}

static void
aread_fail_all(struct aread *list, const struct problem *pb)
{
    while (list != NULL) {
        struct aread *next = list->next;

        aread_finish(list, NULL, pb);
        list = next;
    }
}

static void
todo_append(struct aread *r)
{
    r->next = NULL;
    *rd.todo_tail = r;
    rd.todo_tail = &r->next;
}

/* A read caught in a failure that was not its own: once more, or 503. */
static void
aread_again(struct aread *r)
{
    if (++r->attempts > 1) {
        struct problem pb = {.retry_after = 1};

        problem_set(&pb, 503, "database-unavailable", "the database is not reachable; retry later");
        aread_finish(r, NULL, &pb);
        return;
    }
    todo_append(r);
}

static struct expect *
x_push(int kind, struct aread *r)
{
    struct expect *e;

    if (rd.xn == rd.xcap) {
        size_t cap = rd.xcap ? rd.xcap * 2 : 256;
        struct expect *nx = malloc(cap * sizeof(*nx));

        if (nx == NULL)
            return NULL;
        for (size_t i = 0; i < rd.xn; i++)
            nx[i] = rd.x[(rd.xhead + i) % rd.xcap];
        free(rd.x);
        rd.x = nx;
        rd.xcap = cap;
        rd.xhead = 0;
    }
    e = &rd.x[(rd.xhead + rd.xn) % rd.xcap];
    rd.xn++;
    *e = (struct expect){.kind = kind, .r = r};
    return e;
}

static struct expect *
x_front(void)
{
    return rd.xn ? &rd.x[rd.xhead] : NULL;
}

static void
x_pop(void)
{
    rd.xhead = (rd.xhead + 1) % rd.xcap;
    rd.xn--;
}

/* The connection broke: every read it owed is sent again on the next. */
static void
reader_drop_conn(void)
{
    while (rd.xn > 0) {
        struct expect *e = x_front();

        if (e->kind == X_QUERY && e->r != NULL)
            aread_again(e->r);
        x_pop();
    }
    if (rd.c != NULL) {
        rd.c->broken = true;
        release(rd.c);
        rd.c = NULL;
    }
    rd.unflushed = false;
}

/* Gets a connection and puts it in non-blocking pipeline mode: 1. Or 0:
 * none could be had, and the queued reads failed with a 503. Or -1: none
 * is free yet (the loop must not wait), try again soon; the reads fail
 * once they have waited pool_wait_ms. */
static int
reader_take_conn(void)
{
    struct problem pb = {0};
    struct aread *all;
    bool none = false;

    rd.c = acquire_now(&primary, &pb, &none);
    if (none) {
        if (rd.wait_since == 0)
            rd.wait_since = now_ms();
        if (now_ms() - rd.wait_since < cfg->pool_wait_ms)
            return -1;
        atomic_fetch_add(&stat_timeouts, 1);
        log_event(LOG_WARN, NULL, "db.pool_timeout", LOG_S("pool", "primary"),
                  LOG_I("wait_ms", cfg->pool_wait_ms));
        pb.retry_after = 1;
        problem_set(&pb, 503, "pool-exhausted",
                    "no database connection became free in time; retry later");
    }
    rd.wait_since = 0;
    if (rd.c != NULL) {
        if (PQsetnonblocking(rd.c->pg, 1) == 0 && PQenterPipelineMode(rd.c->pg))
            return 1;
        rd.c->broken = true;
        release(rd.c);
        rd.c = NULL;
        pb.retry_after = 1;
        problem_set(&pb, 503, "database-unavailable", "the database is not reachable; retry later");
    }
    all = rd.todo;
    rd.todo = NULL;
    rd.todo_tail = &rd.todo;
    aread_fail_all(all, &pb);
    return 0;
}

/* Gives the connection back once nothing is owed or queued. */
static void
reader_give_conn(void)
{
    if (!PQexitPipelineMode(rd.c->pg) || PQsetnonblocking(rd.c->pg, 0) != 0)
        rd.c->broken = true;
    release(rd.c);
    rd.c = NULL;
}

/* Sends every queued read, then a Sync. Returns false when the connection
 * is to be dropped. */
static bool
reader_send(void)
{
    PGconn *pg = rd.c->pg;
    bool prep = cfg->prepare;

    if (rd.xn == 0)
        rd.progress_ms = now_ms();
    while (rd.todo != NULL) {
        struct aread *r = rd.todo;
        const struct db_stmt *st = r->st;
        bool ok;

        if (prep && !pset_has(rd.c, st)) {
            if (!PQsendPrepare(pg, st->name, st->sql, st->nparams, NULL) ||
                x_push(X_PREPARE, r) == NULL || pset_add(rd.c, st) != 0)
                return false;
        }
        ok = prep ? PQsendQueryPrepared(pg, st->name, st->nparams, r->params, NULL, NULL, 0)
                  : PQsendQueryParams(pg, st->sql, st->nparams, NULL, r->params, NULL, NULL, 0);
        if (!ok || x_push(X_QUERY, r) == NULL)
            return false;
        rd.todo = r->next;
        r->next = NULL;
    }
    rd.todo_tail = &rd.todo;
    if (!PQpipelineSync(pg) || x_push(X_SYNC, NULL) == NULL)
        return false;
    atomic_fetch_add_explicit(&stat_read_trips, 1, memory_order_relaxed);
    rd.unflushed = true;
    return true;
}

/* Takes every answer that has fully arrived. Returns false when the
 * connection is to be dropped. */
static bool
reader_receive(void)
{
    PGconn *pg = rd.c->pg;

    while (rd.xn > 0 && !PQisBusy(pg)) {
        struct expect *e = x_front();
        PGresult *res = PQgetResult(pg);
        ExecStatusType s = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

        rd.progress_ms = now_ms();
        if (e->kind == X_SYNC) {
            PQclear(res);
            if (s != PGRES_PIPELINE_SYNC)
                return false;
            x_pop();
            continue;
        }
        if (e->got) {
            /* Each statement's results end with a NULL. */
            if (res != NULL) {
                PQclear(res);
                return false;
            }
            x_pop();
            continue;
        }
        if (res == NULL)
            return false;
        e->got = true;
        if (e->kind == X_PREPARE) {
            const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

            if (s != PGRES_COMMAND_OK && !(state && strcmp(state, "42P05") == 0)) {
                /* Its own error: the read fails with it (the statement
                 * after it in the pipeline is aborted, and no longer
                 * anybody's), and the connection, which now believes it
                 * prepared, is dropped. */
                struct problem pb = {0};
                struct aread *r = e->r;

                db_fail(rd.c, res, r->st->name, &pb);
                PQclear(res);
                for (size_t i = 1; i < rd.xn; i++) {
                    struct expect *q = &rd.x[(rd.xhead + i) % rd.xcap];

                    if (q->r == r)
                        q->r = NULL;
                }
                aread_finish(r, NULL, &pb);
                return false;
            }
            PQclear(res);
            continue;
        }
        /* X_QUERY */
        if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) {
            rd.c->nok++;
            if (e->r != NULL) {
                aread_finish(e->r, res, NULL);
                e->r = NULL;
            } else {
                PQclear(res);
            }
        } else if (s == PGRES_PIPELINE_ABORTED) {
            PQclear(res);
            if (e->r != NULL) {
                aread_again(e->r);
                e->r = NULL;
            }
        } else {
            struct problem pb = {0};

            db_fail(rd.c, res, e->r ? e->r->st->name : "read", &pb);
            PQclear(res);
            if (rd.c->broken)
                return false; /* reader_drop_conn sends it again */
            if (e->r != NULL) {
                aread_finish(e->r, NULL, &pb);
                e->r = NULL;
            }
        }
    }
    return true;
}

/* A statement cannot outlive statement_timeout: a connection that has
 * owed answers for much longer, with no answer coming, is gone without
 * saying so (a peer that vanished). Returns the ms left, or -1: no limit. */
static int
reader_patience(void)
{
    int64_t limit, left;

    if (rd.xn == 0 || cfg->statement_timeout_ms <= 0)
        return -1;
    limit = (int64_t)cfg->statement_timeout_ms * 2 + 1000;
    left = rd.progress_ms + limit - now_ms();
    return left > 0 ? (int)left : 0;
}

/* One turn: takes the queued reads, sends them, takes the answers that
 * have come. Returns true to turn again at once, false to wait. */
static bool
reader_turn(void)
{
    pthread_mutex_lock(&rd.mu);
    if (rd.head != NULL) {
        *rd.todo_tail = rd.head;
        rd.todo_tail = rd.tail;
        rd.head = NULL;
        rd.tail = &rd.head;
    }
    pthread_mutex_unlock(&rd.mu);

    if (rd.todo != NULL && rd.c == NULL) {
        int got = reader_take_conn();

        if (got <= 0)
            return got == 0;
    }
    if (rd.todo != NULL && !reader_send()) {
        reader_drop_conn();
        return true;
    }
    if (rd.c != NULL) {
        if (rd.unflushed) {
            int f = PQflush(rd.c->pg);

            if (f < 0) {
                reader_drop_conn();
                return true;
            }
            rd.unflushed = f == 1;
        }
        /* Read only when poll() said so, or when it was not asked:
         * a wake-up for new reads has nothing to read. */
        if ((rd.readable && !PQconsumeInput(rd.c->pg)) || !reader_receive()) {
            reader_drop_conn();
            return true;
        }
        rd.readable = false;
        if (rd.xn == 0 && rd.todo == NULL) {
            reader_give_conn();
            return true; /* more may have come meanwhile */
        }
    }
    return false;
}

int
db_reader_pollfds(struct pollfd *fds, int *timeout_ms)
{
    int left;

    on_loop = true;
    while (reader_turn())
        ;
    left = reader_patience();
    if (left == 0) {
        log_event(LOG_WARN, NULL, "db.reader_stalled", LOG_I("owed", (long long)rd.xn));
        reader_drop_conn();
        *timeout_ms = 0;
    }
    fds[0] = (struct pollfd){.fd = rd.efd, .events = POLLIN};
    fds[1] = (struct pollfd){.fd = -1};
    if (rd.c != NULL && (rd.xn > 0 || rd.unflushed)) {
        fds[1].fd = PQsocket(rd.c->pg);
        fds[1].events = (short)(POLLIN | (rd.unflushed ? POLLOUT : 0));
    }
    if (left > 0 && (*timeout_ms < 0 || left < *timeout_ms))
        *timeout_ms = left;
    /* Reads waiting for a free connection look again in 5 ms. */
    if (rd.todo != NULL && rd.c == NULL && (*timeout_ms < 0 || *timeout_ms > 5))
        *timeout_ms = 5;
    pthread_mutex_lock(&rd.mu);
    rd.sleeping = rd.head == NULL;
    if (!rd.sleeping)
        *timeout_ms = 0;
    pthread_mutex_unlock(&rd.mu);
    return 2;
}

void
db_reader_polled(const struct pollfd *fds)
{
    pthread_mutex_lock(&rd.mu);
    rd.sleeping = false;
    pthread_mutex_unlock(&rd.mu);
    rd.readable = fds[1].fd >= 0 && (fds[1].revents & (POLLIN | POLLERR | POLLHUP));
    if (fds[0].revents & POLLIN) {
        uint64_t v;

        if (read(rd.efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
            log_event(LOG_WARN, NULL, "db.reader_eventfd", LOG_S("err", strerror(errno)));
    }
}

/* Empty queues and a new eventfd, for a reader about to run. Returns
 * false when there is no eventfd. Under rd.mu. */
static bool
reader_reset(void)
{
    rd.head = NULL;
    rd.tail = &rd.head;
    rd.todo = NULL;
    rd.todo_tail = &rd.todo;
    rd.sleeping = false;
    rd.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return rd.efd >= 0;
}

/* What reader_reset() and the sends made, once the reader has stopped. */
static void
reader_teardown(void)
{
    if (rd.efd >= 0)
        close(rd.efd);
    rd.efd = -1;
    free(rd.x);
    rd.x = NULL;
    rd.xcap = rd.xhead = rd.xn = 0;
}

void
db_reader_attach(void)
{
    bool up;

    pthread_mutex_lock(&rd.mu);
    up = reader_reset();
    atomic_store_explicit(&rd_up, up, memory_order_release);
    pthread_mutex_unlock(&rd.mu);
}

void
db_reader_detach(void)
{
    if (rd.c != NULL)
        reader_give_conn();
    pthread_mutex_lock(&rd.mu);
    atomic_store(&rd_up, false);
    pthread_mutex_unlock(&rd.mu);
    reader_teardown();
}

void
db_query_start(const struct db_stmt *st, const char *const *params, db_done_fn done, void *arg)
{
    struct aread *r;
    bool wake;

    if (!atomic_load_explicit(&rd_up, memory_order_acquire) || !primary.on) {
        struct problem pb = {0};

        problem_internal(&pb, "db_query_start: no loop runs the reader");
        done(arg, NULL, &pb);
        return;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        struct problem pb = {0};

        problem_internal(&pb, "out of memory");
        done(arg, NULL, &pb);
        return;
    }
    *r = (struct aread){.st = st, .params = params, .done = done, .arg = arg};
    atomic_fetch_add_explicit(&stat_reads, 1, memory_order_relaxed);
    pthread_mutex_lock(&rd.mu);
    *rd.tail = r;
    rd.tail = &r->next;
    wake = rd.sleeping;
    rd.sleeping = false; /* one wake-up is enough */
    pthread_mutex_unlock(&rd.mu);
    if (wake) {
        uint64_t one = 1;

        if (write(rd.efd, &one, sizeof(one)) < 0)
            log_event(LOG_WARN, NULL, "db.reader_eventfd", LOG_S("err", strerror(errno)));
    }
}

/* --- a read a thread waits for (db_query) ----------------------------------- */

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

/* A job thread's read, handed to the reader; the word is set last. */
struct handed {
    atomic_uint done;
    PGresult *res;
    struct problem pb;
};

static void
handed_done(void *arg, PGresult *res, const struct problem *pb)
{
    struct handed *h = arg;

    h->res = res;
    if (res == NULL)
        h->pb = *pb;
    atomic_store_explicit(&h->done, 1, memory_order_release);
    wake_word(&h->done);
}

PGresult *
db_query(const struct db_stmt *st, const char *const *params, bool replica_ok,
         struct problem *pb)
{
    struct solo s = {.st = st, .params = params};

    /* The reader shares one round trip among the reads of every waiting
     * thread; it runs on the loop, which must never wait for itself, and
     * on the primary only. */
    if (atomic_load_explicit(&rd_up, memory_order_acquire) && !on_loop &&
        !(replica_ok && replica.on)) {
        struct handed h = {.res = NULL};

        db_query_start(st, params, handed_done, &h);
        while (wake_wait(&h.done, NULL) == 0)
            ;
        if (h.res == NULL)
            *pb = h.pb;
        return h.res;
    }
    if (db_read(solo_fn, &s, replica_ok, pb) != 0) {
        PQclear(s.res);
        return NULL;
    }
    return s.res;
}
