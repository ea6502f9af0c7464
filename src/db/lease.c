/*
 * lease: the state machine of the leased queues (lease.h), one engine run
 * with the statements each queue describes itself with.
 *
 * It owns the steps and their order (lease, then audit, then answer), the
 * parameters a policy becomes and the problems of a report on a row that
 * is not leased. It must never hold SQL or name a queue: a queue's table,
 * its items' JSON and its notification live in that queue's statements.
 */
#include "inboxd/db/lease.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inboxd/db/audit.h"
#include "inboxd/db/rows.h"
#include "inboxd/lib/uuid7.h"

/* --- claim ----------------------------------------------------------------- */

struct claim {
    const struct lease_queue *q;
    const struct who *w;
    const struct lease_claim_in *in;
    char *json;
    size_t len;
};

static int
claim_tx(struct dbconn *c, void *arg, struct problem *pb)
{
    struct claim *x = arg;
    char limit[16], lease[16];
    const char *p[] = {x->w->account_id, limit, lease, x->in->arg};
    PGresult *res;
    int n;

    /* db_tx may run this again: start from nothing. */
    free(x->json);
    x->json = NULL;
    x->len = 0;

    snprintf(limit, sizeof(limit), "%d", x->in->limit);
    snprintf(lease, sizeof(lease), "%d", x->in->lease_seconds);
    res = db_exec(c, x->q->claim, p, pb);
    if (res == NULL)
        return -1;
    n = PQntuples(res);
    /* One audit row per leased row, so a row's audit trail shows every
     * lease it had. */
    for (int i = 0; i < n; i++) {
        if (db_audit(c, x->w, x->q->claim_action, x->q->type, PQgetvalue(res, i, 1), NULL, pb) !=
            0) {
            PQclear(res);
            return -1;
        }
    }
    x->json = db_items_render(res, 0, &x->len, pb);
    PQclear(res);
    return x->json ? 0 : -1;
}

int
lease_claim(const struct lease_queue *q, const struct who *w, const struct lease_claim_in *in,
            char **json, size_t *len, struct problem *pb)
{
    struct claim x = {q, w, in, NULL, 0};

    if (db_tx(claim_tx, &x, pb) != 0) {
        free(x.json);
        return -1;
    }
    *json = x.json;
    *len = x.len;
    return 0;
}

/* --- reports: fail and done ------------------------------------------------ */

struct report {
    const struct lease_queue *q;
    const struct who *w;
    const char *id;
};

/* The none() of every report: its UPDATE changed nothing, so this says
 * why. 404 when the row is not the account's, else 409 naming its status.
 * Returns -1. */
static int
not_leased(struct dbconn *c, void *arg, struct problem *pb)
{
    const struct report *r = arg;
    const char *p[] = {r->w->account_id, r->id};
    PGresult *res = db_exec(c, r->q->status, p, pb);
    char status[16];

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return problem_set(pb, 404, "not-found", "no such %s", r->q->missing);
    }
    snprintf(status, sizeof(status), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return problem_set(pb, 409, r->q->not_leased, "the %s is %s, not leased", r->q->noun, status);
}

/* The row() of a failure report: the row's new status (column 1) tells a
 * retry from a failure for good. */
static const char *
retried_or_failed(const PGresult *res, void *arg)
{
    const struct report *r = arg;

    return strcmp(PQgetvalue(res, 0, 1), "failed") == 0 ? r->q->fail_action : r->q->retry_action;
}

int
lease_fail(const struct lease_queue *q, const struct who *w, const char *id,
           const struct lease_fail_in *in, char **json, size_t *len, struct problem *pb)
{
    const struct lease_policy *lp = q->policy();
    struct report r = {q, w, id};
    char max[16], backoff[16], after[16], nid[UUID7_STRLEN + 1];
    const char *p[8] = {w->account_id, id, in->error, in->retryable ? "t" : "f", max, backoff};
    int n = 6;
    const struct db_write wr = {.st = q->fail,
                                .params = p,
                                .type = q->type,
                                .id = id,
                                .none = not_leased,
                                .row = retried_or_failed,
                                .arg = &r};

    snprintf(max, sizeof(max), "%d", lp->max_attempts);
    snprintf(backoff, sizeof(backoff), "%d", lp->backoff_s);
    if (q->retry_after) {
        snprintf(after, sizeof(after), "%d", in->retry_after_s);
        p[n++] = in->has_retry_after ? after : NULL;
    }
    /* The notification of a failure for good: one id for every attempt of
     * the transaction. */
    uuid7_new(nid);
    p[n++] = nid;
    assert(n == q->fail->nparams);
    return db_write(w, &wr, json, len, pb);
}

int
lease_done(const struct lease_queue *q, const struct who *w, const char *id,
           const struct db_stmt *st, const char *const *params, const char *action, char **json,
           size_t *len, struct problem *pb)
{
    struct report r = {q, w, id};
    const struct db_write wr = {.st = st,
                                .params = params,
                                .action = action,
                                .type = q->type,
                                .id = id,
                                .none = not_leased,
                                .arg = &r};

    return db_write(w, &wr, json, len, pb);
}
