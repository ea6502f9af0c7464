/*
 * txpipe: a transaction's statements sent ahead, in libpq's pipeline mode.
 *
 * Why: a write transaction of inboxd is a handful of short statements, and
 * most of them (BEGIN, the audit row, the conversation's touch, the draft
 * request) have an answer nothing waits for. Sent one per round trip they
 * cost a wake-up of the server and of the client each; sent ahead they
 * ride with the next statement whose answer is needed, and COMMIT rides
 * with whatever was left. A failure stops the pipeline where it happened
 * (PostgreSQL skips every statement after it until the Sync), so what was
 * sent after a failed statement never ran, and COMMIT cannot follow a
 * failure.
 *
 * Each connection keeps its own queue (struct dbconn's tx*); one thread
 * uses a connection at a time. Outside a transaction nothing is queued:
 * exec.c runs statements one by one as before.
 */
#include "inboxd/db/pool.h"

#include <string.h>

static void
push(struct dbconn *c, const char *what, bool keep, const struct db_stmt *prep)
{
    c->tx[c->txn++] = (struct txitem){.what = what, .keep = keep, .res = NULL, .prep = prep};
}

/* Whether st's Prepare is in the pipeline already, not answered yet. */
static bool
prepare_pending(const struct dbconn *c, const struct db_stmt *st)
{
    for (int i = c->txread; i < c->txn; i++)
        if (c->tx[i].prep == st)
            return true;
    return false;
}

static void
reset(struct dbconn *c)
{
    for (int i = 0; i < c->txn; i++) {
        PQclear(c->tx[i].res);
        c->tx[i].res = NULL;
    }
    c->txn = c->txread = c->txtake = 0;
    if (c->txfailed) {
        c->txfailed = false;
        memset(&c->txpb, 0, sizeof(c->txpb));
    }
}

/* The first failure of the pipeline is the one reported; the statements
 * after it were skipped by the server. */
static void
note_failure(struct dbconn *c, int at, const PGresult *res, const char *what)
{
    if (c->txfailed)
        return;
    c->txfailed = true;
    c->txfail_at = at;
    db_fail(c, res, what, &c->txpb);
}

/* Room for one more statement (and its Prepare), in pipeline mode. */
static int
open_slot(struct dbconn *c, const char *what, struct problem *pb)
{
    if (c->txn + 2 > TXPIPE_MAX)
        return problem_internal(pb, "txpipe: more than %d statements in flight", TXPIPE_MAX);
    if (PQpipelineStatus(c->pg) == PQ_PIPELINE_OFF && !PQenterPipelineMode(c->pg))
        return db_fail(c, NULL, what, pb);
    return 0;
}

int
txpipe_send(struct dbconn *c, const struct db_stmt *st, const char *const *params, int format,
            bool keep, struct problem *pb)
{
    int ok;

    if (open_slot(c, st->name, pb) != 0)
        return -1;
    if (pool_cfg == NULL || pool_cfg->prepare) {
        if (!pool_has_prepared(c, st) && !prepare_pending(c, st)) {
            /* Recorded as prepared once it ran: after a failure earlier in
             * the pipeline it never did. */
            if (!PQsendPrepare(c->pg, st->name, st->sql, st->nparams, NULL))
                return db_fail(c, NULL, st->name, pb);
            push(c, st->name, false, st);
        }
        ok = PQsendQueryPrepared(c->pg, st->name, st->nparams, params, NULL, NULL, format);
    } else {
        ok = PQsendQueryParams(c->pg, st->sql, st->nparams, NULL, params, NULL, NULL, format);
    }
    if (!ok)
        return db_fail(c, NULL, st->name, pb);
    push(c, st->name, keep, NULL);
    return 0;
}

int
txpipe_send_sql(struct dbconn *c, const char *what, const char *sql, bool keep, struct problem *pb)
{
    if (open_slot(c, what, pb) != 0)
        return -1;
    if (!PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0))
        return db_fail(c, NULL, what, pb);
    push(c, what, keep, NULL);
    return 0;
}

/* Sends the Sync and reads every answer outstanding, keeping the kept
 * ones; leaves pipeline mode (the pipeline is idle after its Sync). */
static void
read_all(struct dbconn *c)
{
    PGresult *res;

    if (c->txread == c->txn)
        return;
    c->trips++;
    if (!PQpipelineSync(c->pg)) {
        note_failure(c, c->txread, NULL, c->tx[c->txread].what);
        c->broken = true;
        c->txread = c->txn;
        return;
    }
    for (int i = c->txread; i < c->txn; i++) {
        struct txitem *it = &c->tx[i];
        ExecStatusType s;

        if ((res = PQgetResult(c->pg)) == NULL) { /* the connection went */
            note_failure(c, i, NULL, it->what);
            c->broken = true;
            c->txread = c->txn;
            return;
        }
        s = PQresultStatus(res);
        if (s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK) {
            c->nok++;
            /* Out of memory to record it: the next Prepare of it would
             * fail, so the connection goes on release. */
            if (it->prep != NULL && pool_add_prepared(c, it->prep) != 0)
                c->broken = true;
            if (it->keep) {
                it->res = res;
                res = NULL;
            }
        } else if (s != PGRES_PIPELINE_ABORTED) {
            note_failure(c, i, res, it->what);
        }
        PQclear(res);
        /* Each statement's answer ends with a NULL. */
        while ((res = PQgetResult(c->pg)) != NULL)
            PQclear(res);
    }
    c->txread = c->txn;
    res = PQgetResult(c->pg);
    if (PQresultStatus(res) != PGRES_PIPELINE_SYNC || !PQexitPipelineMode(c->pg)) {
        note_failure(c, c->txn - 1, NULL, "pipeline sync");
        c->broken = true;
    }
    PQclear(res);
}

/* Hands out item i's result (read first when it is not), or NULL with pb. */
static PGresult *
take(struct dbconn *c, int i, struct problem *pb)
{
    PGresult *res;

    if (i >= c->txread)
        read_all(c);
    res = c->tx[i].res;
    c->tx[i].res = NULL;
    c->txtake = i + 1;
    /* Once a statement failed, nothing after it ran or counts (a COMMIT
     * would answer ROLLBACK): the first failure is their answer. What ran
     * before it is answered as it was. */
    if (c->txfailed && i >= c->txfail_at) {
        PQclear(res);
        *pb = c->txpb;
        return NULL;
    }
    if (res == NULL)
        problem_internal(pb, "%s: no answer", c->tx[i].what);
    if (c->txtake == c->txn)
        reset(c);
    return res;
}

PGresult *
txpipe_recv(struct dbconn *c, struct problem *pb)
{
    int i = c->txtake;

    while (i < c->txn && !c->tx[i].keep)
        i++;
    if (i == c->txn) {
        problem_internal(pb, "txpipe: no statement sent whose answer is kept");
        return NULL;
    }
    return take(c, i, pb);
}

PGresult *
txpipe_exec(struct dbconn *c, const struct db_stmt *st, const char *const *params, int format,
            struct problem *pb)
{
    if (txpipe_send(c, st, params, format, true, pb) != 0)
        return NULL;
    /* Kept answers sent before and never taken are nobody's now. */
    for (int i = c->txtake; i < c->txn - 1; i++)
        c->tx[i].keep = false;
    return take(c, c->txn - 1, pb);
}

int
txpipe_flush(struct dbconn *c, struct problem *pb)
{
    int rc = 0;

    read_all(c);
    if (c->txfailed) {
        *pb = c->txpb;
        rc = -1;
    }
    reset(c);
    return rc;
}

void
txpipe_discard(struct dbconn *c)
{
    bool live = c->pg != NULL && !c->broken;

    if (c->txn == 0 && !c->txfailed && (!live || PQpipelineStatus(c->pg) == PQ_PIPELINE_OFF))
        return;
    /* A broken connection is closed on release: nothing to read, but its
     * queue must not outlive it (the slot's next connection starts clean). */
    if (live) {
        read_all(c);
        if (PQpipelineStatus(c->pg) != PQ_PIPELINE_OFF && !PQexitPipelineMode(c->pg))
            c->broken = true;
    }
    reset(c);
}
