/*
 * reader: the pipelined reads of the db layer (db_query_start), run by
 * the HTTP loop between its passes. Never here: waiting on
 * anything but the loop's poll(), or a transaction.
 */
#include "inboxd/db/pool.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "inboxd/lib/clock.h"
#include "inboxd/lib/log.h"
#include "inboxd/lib/wake.h"
#include "inboxd/lib/watchdog.h"

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
 * pass share a round trip.
 *
 * The reader holds its connection only while reads are in flight or
 * queued, and takes it with pool_acquire_now(): the loop never waits for a
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
        pool_release(rd.c);
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

    rd.c = pool_acquire_now(&pool_primary, &pb, &none);
    if (none) {
        if (rd.wait_since == 0)
            rd.wait_since = clock_ms();
        if (clock_ms() - rd.wait_since < pool_cfg->pool_wait_ms)
            return -1;
        atomic_fetch_add(&pool_stat_timeouts, 1);
        log_event(LOG_WARN, NULL, "db.pool_timeout", LOG_S("pool", "primary"),
                  LOG_I("wait_ms", pool_cfg->pool_wait_ms));
        pb.retry_after = 1;
        problem_set(&pb, 503, "pool-exhausted",
                    "no database connection became free in time; retry later");
    }
    rd.wait_since = 0;
    if (rd.c != NULL) {
        if (PQsetnonblocking(rd.c->pg, 1) == 0 && PQenterPipelineMode(rd.c->pg))
            return 1;
        rd.c->broken = true;
        pool_release(rd.c);
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
    pool_release(rd.c);
    rd.c = NULL;
}

/* Behind a transaction pooler (pool_per_transaction) the timeouts go
 * first in each group: the statements up to a Sync are one implicit
 * transaction, on one server connection, and set_config(..., true) holds
 * until its end. Its answer is nobody's (an expect without a read). */
static bool
send_timeouts(PGconn *pg)
{
    static const char sql[] = "SELECT set_config('statement_timeout', $1, true), "
                              "set_config('lock_timeout', $2, true)";
    char st[16], lk[16];
    const char *params[] = {st, lk};

    snprintf(st, sizeof(st), "%d", atomic_load(&pool_statement_timeout_ms));
    snprintf(lk, sizeof(lk), "%d", atomic_load(&pool_lock_timeout_ms));
    return PQsendQueryParams(pg, sql, 2, NULL, params, NULL, NULL, 0) &&
           x_push(X_QUERY, NULL) != NULL;
}

/* Sends every queued read, then a Sync. Returns false when the connection
 * is to be dropped. */
static bool
reader_send(void)
{
    PGconn *pg = rd.c->pg;
    bool prep = pool_cfg->prepare;

    if (rd.xn == 0)
        rd.progress_ms = clock_ms();
    if (pool_per_transaction() && rd.todo != NULL && !send_timeouts(pg))
        return false;
    while (rd.todo != NULL) {
        struct aread *r = rd.todo;
        const struct db_stmt *st = r->st;
        bool ok;

        if (prep && !pool_has_prepared(rd.c, st)) {
            if (!PQsendPrepare(pg, st->name, st->sql, st->nparams, NULL) ||
                x_push(X_PREPARE, r) == NULL || pool_add_prepared(rd.c, st) != 0)
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
    atomic_fetch_add_explicit(&pool_stat_read_trips, 1, memory_order_relaxed);
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

        rd.progress_ms = clock_ms();
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
    int timeout_ms = atomic_load(&pool_statement_timeout_ms);
    int64_t limit, left;

    if (rd.xn == 0 || timeout_ms <= 0)
        return -1;
    limit = (int64_t)timeout_ms * 2 + 1000;
    left = rd.progress_ms + limit - clock_ms();
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

    while (reader_turn())
        ;
    left = reader_patience();
    if (left == 0) {
        log_event(LOG_WARN, NULL, "db.reader_stalled", LOG_I("owed", (long long)rd.xn));
        reader_drop_conn();
        *timeout_ms = 0;
    }
    /* Owing the database nothing (idle, or reads waiting at most
     * pool_wait_ms for a connection) is progress; else the last answer
     * is. A statement that never comes back stops the watchdog's pings. */
    watchdog_progress(WATCHDOG_READER, rd.xn == 0 ? clock_ms() : rd.progress_ms);
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

    if (!atomic_load_explicit(&rd_up, memory_order_acquire) || !pool_primary.on) {
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
    atomic_fetch_add_explicit(&pool_stat_reads, 1, memory_order_relaxed);
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
