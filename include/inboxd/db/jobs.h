/*
 * db_jobs: the SQL of job runs (API.md "Learning, jobs, sources,
 * notifications").
 *
 * A job run lives queued → running → succeeded | failed and nothing else:
 * the transition, its timestamps (started_at when it becomes running,
 * finished_at when it finishes) and the If-Match comparison all sit in the
 * WHERE and SET of one UPDATE, so two callers can never both move a run.
 * A run that fails writes an `ingest.failed` notification in the same
 * statement. Every function takes the caller first; another account's run
 * is a 404, exactly like a missing one.
 */
#ifndef INBOXD_DB_JOBS_H
#define INBOXD_DB_JOBS_H

#include <jansson.h>
#include <stddef.h>

#include "inboxd/db/who.h"
#include "inboxd/lib/page.h"
#include "inboxd/lib/problem.h"

/* The ETag source of a run: its updated_at in microseconds, as decimal text. */
#define DB_JOBS_TAG_LEN 32

/*
 * A validated PATCH body, borrowed from the parsed request: status one of
 * the JobStatus names; error NULL (keep the stored one) or text without
 * NUL; metrics NULL (keep) or an object of at most 64 KiB that replaces the
 * stored one whole.
 */
struct job_update_in {
    const char *status;
    const char *error;
    const json_t *metrics;
};

/*
 * POST /v1/jobs: inserts a run of `type` (a JobType name) in status queued
 * and audits "job_run.create". *json: new malloc()ed (caller free()s),
 * length in *len; tag: the new run's ETag source. Statuses: 500, 503.
 */
int db_jobs_insert(const struct who *w, const char *type, char **json, size_t *len,
                   char tag[DB_JOBS_TAG_LEN], struct problem *pb)
    __attribute__((warn_unused_result));

/*
 * GET /v1/jobs: a page of the account's runs, oldest first (created_at,
 * id), only of `type` and in `status` when they are not NULL (validated
 * enum names). pg: from query_page(with_ts = true). *json: new malloc()ed
 * page text. Statuses: 500, 503.
 */
int db_jobs_list(const struct who *w, const char *type, const char *status, const struct page *pg,
                 char **json, size_t *len, struct problem *pb) __attribute__((warn_unused_result));

/* GET /v1/jobs/{id}. *json: new malloc()ed; tag: its ETag source.
 * Statuses: 404, 500, 503. */
int db_jobs_get(const struct who *w, const char *id, char **json, size_t *len,
                char tag[DB_JOBS_TAG_LEN], struct problem *pb) __attribute__((warn_unused_result));

/*
 * PATCH /v1/jobs/{id}: moves the run to in->status when that is the next
 * step of its life (queued → running, running → succeeded | failed) and,
 * when if_match is not NULL (a bare tag from etag_if_match()), only while
 * its tag still equals if_match. Sets started_at (→ running) or finished_at
 * (→ succeeded | failed), error and metrics when given, updated_at; a run
 * that becomes failed gets an `ingest.failed` notification for the whole
 * account (payload jobRunId, type, error); audits "job_run.update". All in
 * one transaction. *json: new malloc()ed; tag: the new ETag source.
 * Statuses: 404 (no such run in the account), 412 (if_match stale; checked
 * before the state), 409 "invalid-transition" (the detail names the
 * current status), 500, 503.
 */
int db_jobs_update(const struct who *w, const char *id, const struct job_update_in *in,
                   const char *if_match, char **json, size_t *len, char tag[DB_JOBS_TAG_LEN],
                   struct problem *pb) __attribute__((warn_unused_result));

#endif
