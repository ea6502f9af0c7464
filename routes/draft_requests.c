/*
 * routes/draft_requests: the drafting queue of the assistants service
 * (API.md "Drafting"): claim leases, fail reports an attempt that did not
 * produce a draft. A draft that did is posted to
 * /v1/conversations/{id}/drafts (routes/drafts.c).
 *
 * Parse, validate, one db_draft_requests call, pass the JSON that
 * PostgreSQL rendered through. No SQL here.
 */
#include "inboxd/http/body.h"
#include "inboxd/db/draft_requests.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"

#include <jansson.h>

/* Caller's worker name (logs and diagnostics only). */
#define WORKER_ID_MAX 200
/* A failure's error text: room for a stack trace, not for a document. */
#define ERROR_MAX ((size_t)64 * 1024)

static int
claim(struct req *rq, struct reply *out, struct problem *pb)
{
    struct lease_claim_in in = {0};
    long long limit = 0, lease = 0;
    json_t *o;
    char *json;
    size_t len;
    int rc = -1;

    o = body_parse(rq->body, rq->body_len, pb);
    if (o == NULL)
        return -1;
    body_int(o, "limit", BODY_REQUIRED, 1, 200, &limit, NULL, pb);
    body_int(o, "leaseSeconds", BODY_REQUIRED, 1, 3600, &lease, NULL, pb);
    body_nonempty_string(o, "workerId", BODY_REQUIRED, WORKER_ID_MAX, &in.arg, pb);
    if (body_failed(pb))
        goto out;
    in.limit = (int)limit;
    in.lease_seconds = (int)lease;
    if (db_draft_requests_claim(&rq->who, &in, &json, &len, pb) != 0)
        goto out;
    reply_text(out, 200, json, len, "application/json");
    rc = 0;
out:
    json_decref(o);
    return rc;
}

static int
fail(struct req *rq, struct reply *out, struct problem *pb)
{
    struct lease_fail_in in = {0};
    json_t *o;
    char *json;
    size_t len;
    int rc = -1;

    o = body_parse(rq->body, rq->body_len, pb);
    if (o == NULL)
        return -1;
    body_nonempty_string(o, "error", BODY_REQUIRED, ERROR_MAX, &in.error, pb);
    body_bool(o, "retryable", BODY_REQUIRED, &in.retryable, NULL, pb);
    if (body_failed(pb))
        goto out;
    if (db_draft_requests_fail(&rq->who, req_param(rq, "id"), &in, &json, &len, pb) != 0)
        goto out;
    reply_text(out, 200, json, len, "application/json");
    rc = 0;
out:
    json_decref(o);
    return rc;
}

const struct route routes_draft_requests[] = {
    {"POST", "/v1/draft-requests/claim", SCOPE_DRAFTS_WRITE, 0, claim, NULL},
    {"POST", "/v1/draft-requests/{id}/fail", SCOPE_DRAFTS_WRITE, 0, fail, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
