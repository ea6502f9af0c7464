/*
 * routes/jobs: job runs of the assistants service (API.md "Learning, jobs,
 * sources, notifications").
 *
 * Reads need `read`, writes `jobs:write` (openapi.json x-scope). A run only
 * moves queued → running → succeeded | failed; the db layer enforces that
 * and sets startedAt/finishedAt, so a body that tries to set them (or any
 * other unknown member) is a 422, never silently ignored. Single runs carry
 * an ETag and PATCH honours If-Match. No SQL here.
 */
#include "inboxd/http/body.h"
#include "inboxd/db/jobs.h"
#include "inboxd/http/conditional.h"
#include "inboxd/http/query.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/lib/uuid7.h"

/* A failure text: long enough for a stack trace, short enough to list. */
#define ERROR_MAX_CHARS (64 * 1024)

/* JobType and JobStatus of API.md, in the order of the schema's enums. */
static const char *const type_names[] = {"crawl", "ingest_goldens", "corrections_sync", NULL};
static const char *const status_names[] = {"queued", "running", "succeeded", "failed", NULL};

static const char *const create_fields[] = {"type", NULL};
static const char *const patch_fields[] = {"status", "error", "metrics", NULL};

/* Answers a run with its ETag. Takes ownership of json. */
static void
reply_run(struct reply *out, int status, char *json, size_t len, const char *tag)
{
    reply_text(out, status, json, len, "application/json");
    etag_format(tag, out->etag);
}

static int
post_job(struct req *rq, struct reply *out, struct problem *pb)
{
    json_t *o = body_parse(rq->body, rq->body_len, pb);
    char tag[DB_JOBS_TAG_LEN];
    int type = -1;
    char *json;
    size_t len;
    int rc = -1;

    if (o == NULL)
        return -1;
    body_no_unknown(o, NULL, create_fields, pb);
    body_enum(o, "type", BODY_REQUIRED, type_names, &type, pb);
    if (body_failed(pb))
        goto out;
    if (db_jobs_insert(&rq->who, type_names[type], &json, &len, tag, pb) != 0)
        goto out;
    reply_run(out, 201, json, len, tag);
    rc = 0;
out:
    json_decref(o);
    return rc;
}

static int
list_jobs(struct req *rq, struct reply *out, struct problem *pb)
{
    const char *type, *status;
    struct page pg;
    char *json;
    size_t len;

    if (query_page(rq, true, &pg, pb) != 0 || query_enum(rq, "type", type_names, &type, pb) != 0 ||
        query_enum(rq, "status", status_names, &status, pb) != 0)
        return -1;
    if (db_jobs_list(&rq->who, type, status, &pg, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

static int
get_job(struct req *rq, struct reply *out, struct problem *pb)
{
    char id[UUID7_STRLEN + 1], tag[DB_JOBS_TAG_LEN];
    char *json;
    size_t len;

    uuid7_lower(req_param(rq, "id"), id);
    if (db_jobs_get(&rq->who, id, &json, &len, tag, pb) != 0)
        return -1;
    reply_run(out, 200, json, len, tag);
    return 0;
}

static int
patch_job(struct req *rq, struct reply *out, struct problem *pb)
{
    char id[UUID7_STRLEN + 1], tag[DB_JOBS_TAG_LEN], ifm_buf[32];
    const char *if_match;
    struct job_update_in in = {0};
    json_t *o = NULL;
    int status = -1;
    char *json;
    size_t len;
    int rc = -1;

    uuid7_lower(req_param(rq, "id"), id);
    if (etag_if_match(rq, ifm_buf, &if_match, pb) != 0)
        return -1;
    o = body_parse(rq->body, rq->body_len, pb);
    if (o == NULL)
        return -1;
    body_no_unknown(o, NULL, patch_fields, pb);
    body_enum(o, "status", BODY_REQUIRED, status_names, &status, pb);
    body_string(o, "error", BODY_OPTIONAL, ERROR_MAX_CHARS, &in.error, pb);
    body_object(o, "metrics", BODY_OPTIONAL, BODY_JSON_MAX, &in.metrics, pb);
    if (body_failed(pb))
        goto out;
    in.status = status_names[status];
    if (db_jobs_update(&rq->who, id, &in, if_match, &json, &len, tag, pb) != 0)
        goto out;
    reply_run(out, 200, json, len, tag);
    rc = 0;
out:
    json_decref(o);
    return rc;
}

const struct route routes_jobs[] = {
    {"POST", "/v1/jobs", SCOPE_JOBS_WRITE, 0, post_job, NULL},
    {"GET", "/v1/jobs", SCOPE_READ, ROUTE_NO_BODY, list_jobs, NULL},
    {"GET", "/v1/jobs/{id}", SCOPE_READ, ROUTE_NO_BODY, get_job, NULL},
    {"PATCH", "/v1/jobs/{id}", SCOPE_JOBS_WRITE, 0, patch_job, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
