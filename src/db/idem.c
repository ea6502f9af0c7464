/*
 * db_idem: SQL of the Idempotency-Key records. See db_idem.h for the model.
 */
#include "inboxd/db/idem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inboxd/db/db.h"
#include "inboxd/db/replica.h"
#include "inboxd/lib/lsn.h"

enum { S_CLAIM, S_GET, S_FINISH, S_ABORT };

static const struct db_stmt stmts[] = {
    /* New key, or an expired record, or an in-flight one abandoned past its
     * lease: this request owns it now. */
    [S_CLAIM] = {"idem_claim",
                 "INSERT INTO idempotency_keys AS k "
                 "  (account_id, key, method, path, request_hash, state, created_at, expires_at) "
                 "VALUES ($1, $2, $3, $4, $5, 'in_flight', now(), now() + interval '24 hours') "
                 "ON CONFLICT (account_id, key) DO UPDATE SET "
                 "  method = EXCLUDED.method, path = EXCLUDED.path, "
                 "  request_hash = EXCLUDED.request_hash, state = 'in_flight', "
                 "  response_status = NULL, response_body = NULL, response_etag = NULL, "
                 "  created_at = now(), "
                 "  expires_at = EXCLUDED.expires_at "
                 "WHERE k.expires_at < now() "
                 "   OR (k.state = 'in_flight' AND k.created_at < now() - make_interval(secs => $6)) "
                 "RETURNING k.created_at::text",
                 6},
    /* With the WAL position now: a replay answers with it (Inboxd-Position),
     * and a record is done only after its request committed. */
    [S_GET] = {"idem_get",
               "SELECT method, path, request_hash, state, response_status, response_body, "
               "       response_etag, pg_current_wal_insert_lsn()::text "
               "FROM idempotency_keys WHERE account_id = $1 AND key = $2",
               2},
    [S_FINISH] = {"idem_finish",
                  "UPDATE idempotency_keys SET state = 'done', response_status = $3, "
                  "       response_body = $4, response_etag = $5 "
                  "WHERE account_id = $1 AND key = $2 AND state = 'in_flight'",
                  5},
    /* Only the claim that $3 names: a late release never deletes the
     * record of a request that took an abandoned key over since. */
    [S_ABORT] = {"idem_abort",
                 "DELETE FROM idempotency_keys "
                 "WHERE account_id = $1 AND key = $2 AND state = 'in_flight' "
                 "  AND created_at = $3::timestamptz",
                 3},
};

struct begin {
    const struct who *w;
    const char *key, *method, *path;
    char lease[16];
    enum idem_state state;
    struct idem_replay *rp;
};

static int
begin_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct begin *b = arg;
    const char *p[] = {b->w->account_id, b->key, b->method, b->path, b->w->request_hash,
                       b->lease};
    PGresult *res = db_exec(c, &stmts[S_CLAIM], p, pb);
    uint64_t lsn;
    bool same;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1) {
        snprintf(b->rp->claim, sizeof(b->rp->claim), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        b->state = IDEM_PROCEED;
        return 0;
    }
    PQclear(res);
    res = db_exec(c, &stmts[S_GET], p, pb);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        /* Deleted by an abort between our two statements: let the caller retry. */
        PQclear(res);
        pb->retry_after = 1;
        return problem_set(pb, 409, "idempotency-in-flight",
                           "a request with this Idempotency-Key is being processed; retry");
    }
    same = strcmp(PQgetvalue(res, 0, 0), b->method) == 0 &&
           strcmp(PQgetvalue(res, 0, 1), b->path) == 0 &&
           strcmp(PQgetvalue(res, 0, 2), b->w->request_hash) == 0;
    if (!same) {
        PQclear(res);
        problem_field(pb, "Idempotency-Key", "was used with a different request");
        return problem_set(pb, 422, "idempotency-key-reused",
                           "this Idempotency-Key was used with a different request");
    }
    if (strcmp(PQgetvalue(res, 0, 3), "done") != 0) {
        PQclear(res);
        pb->retry_after = 1;
        return problem_set(pb, 409, "idempotency-in-flight",
                           "a request with this Idempotency-Key is being processed; retry");
    }
    b->rp->status = atoi(PQgetvalue(res, 0, 4));
    b->rp->len = (size_t)PQgetlength(res, 0, 5);
    b->rp->body = malloc(b->rp->len + 1);
    if (b->rp->body == NULL) {
        PQclear(res);
        return problem_internal(pb, "out of memory");
    }
    memcpy(b->rp->body, PQgetvalue(res, 0, 5), b->rp->len + 1);
    if (!PQgetisnull(res, 0, 6))
        snprintf(b->rp->etag, sizeof(b->rp->etag), "%s", PQgetvalue(res, 0, 6));
    if (lsn_parse_pg(db_val(res, 0, 7), &lsn))
        db_position_note(lsn);
    PQclear(res);
    b->state = IDEM_REPLAY;
    return 0;
}

int
db_idem_begin(const struct who *w, const char *key, const char *method, const char *path,
              int lease_s, struct idem_replay *rp, struct problem *pb)
{
    struct begin b = {.w = w, .key = key, .method = method, .path = path, .rp = rp};

    memset(rp, 0, sizeof(*rp));
    snprintf(b.lease, sizeof(b.lease), "%d", lease_s);
    /* Autocommit: the in-flight record must be visible to a concurrent
     * repeat at once, before the handler's own transaction runs. */
    if (db_read(begin_fn, &b, false, pb) != 0) {
        free(rp->body);
        rp->body = NULL;
        return -1;
    }
    return (int)b.state;
}

struct simple {
    const struct db_stmt *st;
    const char *const *params;
};

static int
simple_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct simple *s = arg;
    PGresult *res = db_exec(c, s->st, s->params, pb);

    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

int
db_idem_finish(const struct who *w, const char *key, int status, const char *body,
               const char *etag, struct problem *pb)
{
    char st[8];
    const char *p[] = {w->account_id, key, st, body ? body : "", etag};
    struct simple s = {&stmts[S_FINISH], p};

    snprintf(st, sizeof(st), "%d", status);
    return db_read(simple_fn, &s, false, pb);
}

int
db_idem_abort(const struct who *w, const char *key, const char *claim, struct problem *pb)
{
    const char *p[] = {w->account_id, key, claim};
    struct simple s = {&stmts[S_ABORT], p};

    return db_read(simple_fn, &s, false, pb);
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
