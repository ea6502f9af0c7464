/*
 * db_jobs: the SQL of job runs.
 *
 * The life of a run (queued → running → succeeded | failed) is enforced by
 * the WHERE clause of one UPDATE, together with the If-Match comparison, so
 * a check can never be separated from its write: of two callers moving the
 * same run, one changes it and the other finds 0 rows. Only then does a
 * second statement look at the row, to say why (404, 412 or 409). The
 * timestamps the schema's CHECKs demand (started_at from running on,
 * finished_at exactly when finished) are set by the same UPDATE, and the
 * `ingest.failed` notification of a failed run is inserted by it too (a
 * data-modifying CTE), so a failed run never lacks its notification.
 *
 * Rows are rendered by inboxd_json_job_run(); every statement's $1 is the
 * caller's account. Nothing here knows HTTP, and no JSON is built in C.
 */
#include "inboxd/db/jobs.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inboxd/db/db.h"
#include "inboxd/db/rows.h"
#include "inboxd/db/etag.h"
#include "inboxd/lib/uuid7.h"
#include "inboxd/lib/jsontext.h"

/* A run's ETag source, for the alias j. */
#define TAG_SQL ETAG_SQL("j")

/* Whether $3 is the next step of the run's life: queued -> running ->
 * succeeded | failed. The UPDATE's condition, and the explanation of a
 * refusal. */
#define NEXT_STEP_SQL                                                                              \
    "((j.status = 'queued' AND $3::job_status = 'running') OR "                                    \
    " (j.status = 'running' AND $3::job_status IN ('succeeded', 'failed')))"

/* Every change moves updated_at forward, even within one microsecond or
 * when a transaction that began earlier commits later: an ETag never comes
 * back. finished_at likewise never precedes started_at. */
#define TOUCH_SQL "updated_at = greatest(now(), j.updated_at + interval '1 microsecond')"

enum {
    S_INSERT,
    S_LIST,
    S_GET,
    S_UPDATE,
    S_STATE,
};

static const struct db_stmt stmts[] = {
    [S_INSERT] = {"jobs_insert",
                  "INSERT INTO job_runs AS j (account_id, id, type) "
                  "VALUES ($1, $2, $3::job_type) "
                  "RETURNING inboxd_json_job_run(j), " TAG_SQL,
                  3},
    [S_LIST] = {"jobs_list",
                "SELECT inboxd_json_job_run(j), j.created_at, j.id FROM job_runs j "
                "WHERE j.account_id = $1 "
                "  AND ($2::job_type IS NULL OR j.type = $2::job_type) "
                "  AND ($3::job_status IS NULL OR j.status = $3::job_status) "
                "  AND " DB_AFTER("j.created_at", "j.id", "$4", "$5") " "
                "ORDER BY j.created_at, j.id LIMIT $6",
                6},
    [S_GET] = {"jobs_get",
               "SELECT inboxd_json_job_run(j), " TAG_SQL " FROM job_runs j "
               "WHERE j.account_id = $1 AND j.id = $2",
               2},
    /*
     * $3 the new status, $4 error (NULL keeps), $5 metrics (NULL keeps),
     * $6 the If-Match tag (NULL: no condition), $7 the id of the
     * notification written when the run fails.
     */
    [S_UPDATE] = {"jobs_update",
                  "WITH u AS ("
                  "  UPDATE job_runs j SET "
                  "    status = $3::job_status, "
                  "    started_at = CASE WHEN $3::job_status = 'running' "
                  "                      THEN now() ELSE j.started_at END, "
                  "    finished_at = CASE WHEN $3::job_status IN ('succeeded', 'failed') "
                  "                       THEN greatest(now(), j.started_at) "
                  "                       ELSE j.finished_at END, "
                  "    error = coalesce($4::text, j.error), "
                  "    metrics = coalesce($5::jsonb, j.metrics), "
                  "    " TOUCH_SQL " "
                  "  WHERE j.account_id = $1 AND j.id = $2 "
                  "    AND " NEXT_STEP_SQL " "
                  "    AND ($6::int8 IS NULL OR " TAG_SQL " = $6::int8) "
                  "  RETURNING inboxd_json_job_run(j) AS doc, " TAG_SQL " AS tag, "
                  "            j.id, j.type, j.status, j.error"
                  "), n AS ("
                  "  INSERT INTO notifications (account_id, id, user_id, type, payload) "
                  "  SELECT $1, $7, NULL, 'ingest.failed', "
                  "         jsonb_build_object('jobRunId', u.id, 'type', u.type, "
                  "                            'error', u.error) "
                  "  FROM u WHERE u.status = 'failed' "
                  "  RETURNING id"
                  ") "
                  "SELECT u.doc, u.tag, (SELECT count(*) FROM n) FROM u",
                  7},
    /* Why an update found no row: the run's status, whether the tag
     * matched, whether the step would be legal now. */
    [S_STATE] = {"jobs_state",
                 "SELECT j.status, "
                 "       ($4::int8 IS NULL OR " TAG_SQL " = $4::int8), "
                 "       " NEXT_STEP_SQL " "
                 "FROM job_runs j WHERE j.account_id = $1 AND j.id = $2",
                 4},
};

/* Copies row 0's ETag (column 1) into tag, a char[DB_JOBS_TAG_LEN]. Also
 * the row() of the writes' db_write: it keeps their action. */
static const char *
take_tag(const PGresult *res, void *tag)
{
    snprintf(tag, DB_JOBS_TAG_LEN, "%s", PQgetvalue(res, 0, 1));
    return NULL;
}

/* Copies row 0's JSON (column 0) and tag (column 1). Returns 0 or -1 (OOM). */
static int
take(const PGresult *res, char **json, size_t *len, char tag[DB_JOBS_TAG_LEN], struct problem *pb)
{
    *len = (size_t)PQgetlength(res, 0, 0);
    *json = db_strdup(res, 0, 0);
    if (*json == NULL)
        return problem_internal(pb, "jobs: out of memory");
    take_tag(res, tag);
    return 0;
}

/* --- create ---------------------------------------------------------------- */

int
db_jobs_insert(const struct who *w, const char *type, char **json, size_t *len,
               char tag[DB_JOBS_TAG_LEN], struct problem *pb)
{
    char id[UUID7_STRLEN + 1], t[DB_JOBS_TAG_LEN];
    const char *p[] = {w->account_id, id, type};
    const struct db_write wr = {.st = &stmts[S_INSERT],
                                .params = p,
                                .action = "job_run.create",
                                .type = "job_run",
                                .id = id,
                                .row = take_tag,
                                .arg = t};

    /* One id for every attempt of the transaction. */
    uuid7_new(id);
    if (db_write(w, &wr, json, len, pb) != 0)
        return -1;
    memcpy(tag, t, DB_JOBS_TAG_LEN);
    return 0;
}

/* --- read ------------------------------------------------------------------ */

int
db_jobs_list(const struct who *w, const char *type, const char *status, const struct page *pg,
             char **json, size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, type, status, pg->after_ts, pg->after_id, pg->fetch};

    return db_list(&stmts[S_LIST], p, pg, 1, 2, json, len, pb);
}

struct get {
    const struct who *w;
    const char *id;
    char *json;
    size_t len;
    char tag[DB_JOBS_TAG_LEN];
};

static int
get_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct get *x = arg;
    const char *p[] = {x->w->account_id, x->id};
    PGresult *res;
    int rc;

    free(x->json);
    x->json = NULL;
    res = db_exec(c, &stmts[S_GET], p, pb);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return problem_set(pb, 404, "not-found", "no such job run");
    }
    rc = take(res, &x->json, &x->len, x->tag, pb);
    PQclear(res);
    return rc;
}

int
db_jobs_get(const struct who *w, const char *id, char **json, size_t *len,
            char tag[DB_JOBS_TAG_LEN], struct problem *pb)
{
    struct get x = {.w = w, .id = id};

    /* The primary, not a replica: the ETag read here comes back as the
     * If-Match of a write, compared with the primary's row. */
    if (db_read(get_fn, &x, false, pb) != 0) {
        free(x.json);
        return -1;
    }
    *json = x.json;
    *len = x.len;
    memcpy(tag, x.tag, DB_JOBS_TAG_LEN);
    return 0;
}

/* --- advance --------------------------------------------------------------- */

struct update {
    const struct who *w;
    const char *id;
    const struct job_update_in *in;
    const char *if_match;
    char tag[DB_JOBS_TAG_LEN];
};

/* The UPDATE found no row: says why, as 404, 412 or 409. Returns -1. */
static int
refuse(struct dbconn *c, void *arg, struct problem *pb)
{
    const struct update *x = arg;
    const char *p[] = {x->w->account_id, x->id, x->in->status, x->if_match};
    PGresult *res = db_exec(c, &stmts[S_STATE], p, pb);
    char status[32];
    bool tag_ok, legal;

    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return problem_set(pb, 404, "not-found", "no such job run");
    }
    snprintf(status, sizeof(status), "%s", PQgetvalue(res, 0, 0));
    tag_ok = PQgetvalue(res, 0, 1)[0] == 't';
    legal = PQgetvalue(res, 0, 2)[0] == 't';
    PQclear(res);
    /* A precondition is judged before the request's effect (RFC 9110
     * section 13.2.2), so a stale tag is a 412 whatever the state. */
    if (!tag_ok)
        return problem_set(pb, 412, "precondition-failed",
                           "the job run has changed since that ETag; fetch it again");
    if (legal)
        /* Another caller moved it between the two statements. */
        return problem_set(pb, 409, "invalid-transition",
                           "the job run changed while updating it; it is now %s", status);
    return problem_set(pb, 409, "invalid-transition",
                       "the job run is %s and cannot become %s "
                       "(only queued -> running -> succeeded or failed)",
                       status, x->in->status);
}

static const char *
updated(const PGresult *res, void *arg)
{
    struct update *x = arg;

    return take_tag(res, x->tag);
}

int
db_jobs_update(const struct who *w, const char *id, const struct job_update_in *in,
               const char *if_match, char **json, size_t *len, char tag[DB_JOBS_TAG_LEN],
               struct problem *pb)
{
    struct update x = {.w = w, .id = id, .in = in, .if_match = if_match};
    char nid[UUID7_STRLEN + 1];
    const char *p[] = {w->account_id, id, in->status, in->error, NULL, if_match, nid};
    const struct db_write wr = {.st = &stmts[S_UPDATE],
                                .params = p,
                                .action = "job_run.update",
                                .type = "job_run",
                                .id = id,
                                .none = refuse,
                                .row = updated,
                                .arg = &x};
    char *metrics = NULL;
    int rc = -1;

    if (in->metrics != NULL) {
        metrics = jsontext_dump(in->metrics);
        if (metrics == NULL)
            return problem_internal(pb, "jobs: metrics text: out of memory");
    }
    p[4] = metrics;
    /* The id of the notification a failed run gets, for every attempt. */
    uuid7_new(nid);
    if (db_write(w, &wr, json, len, pb) != 0)
        goto out;
    memcpy(tag, x.tag, DB_JOBS_TAG_LEN);
    rc = 0;
out:
    free(metrics);
    return rc;
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
