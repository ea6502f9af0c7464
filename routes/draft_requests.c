/*
 * routes/draft_requests: the drafting queue of the assistants service
 * (API.md "Drafting"): claim leases, fail reports an attempt that did not
 * produce a draft. A draft that did is posted to
 * /v1/conversations/{id}/drafts (routes/drafts.c).
 *
 * The handlers are the lease queues' (http/lease_route.h); what is the
 * drafting queue's own is its description below. No SQL here.
 */
#include "inboxd/http/body.h"
#include "inboxd/db/draft_requests.h"
#include "inboxd/http/lease_route.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"

#include <jansson.h>

/* Caller's worker name (logs and diagnostics only). */
#define WORKER_ID_MAX 200

/* A claim names its worker: workerId, required. */
static void
read_worker_id(const json_t *o, struct lease_claim_in *in, struct problem *pb)
{
    body_nonempty_string(o, "workerId", BODY_REQUIRED, WORKER_ID_MAX, &in->arg, pb);
}

static const struct lease_route queue = {
    .claim_arg = read_worker_id,
    .claim_field = "workerId",
    .claim = db_draft_requests_claim,
    .fail = db_draft_requests_fail,
    .id_param = "id",
    .wake = 'd',
    .retry_after = false, /* the backoff alone decides */
};

static int
claim(struct req *rq, struct reply *out, struct problem *pb)
{
    return lease_route_claim(rq, out, pb, &queue);
}

static int
fail(struct req *rq, struct reply *out, struct problem *pb)
{
    return lease_route_fail(rq, out, pb, &queue);
}

const struct route routes_draft_requests[] = {
    {"POST", "/v1/draft-requests/claim", SCOPE_DRAFTS_WRITE, 0, claim, NULL},
    {"POST", "/v1/draft-requests/{id}/fail", SCOPE_DRAFTS_WRITE, 0, fail, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
