/*
 * lease_route: the claim and failure-report handlers of every lease queue
 * (lease_route.h), so that both queues read their bodies with one set of
 * rules and limits.
 *
 * Parse, validate, one call of the queue's db function, pass the JSON that
 * PostgreSQL rendered through. No SQL here, and nothing that belongs to
 * one queue: that is in its route file's struct lease_route.
 */
#include "inboxd/http/lease_route.h"

#include <stdlib.h>
#include <string.h>

#include "inboxd/http/body.h"
#include "inboxd/http/live.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/http/resource.h"
#include "inboxd/http/server.h"
#include "inboxd/lib/clock.h"

/* A failure's error text: room for a stack trace or a provider's error
 * body, not for a document. */
#define ERROR_MAX ((size_t)64 * 1024)
/* retryAfterSeconds: a provider's Retry-After is seconds to hours; a day is
 * the most a caller may ask for (outbox_backoff_s has the same bound). */
#define RETRY_AFTER_MAX 86400
/* waitSeconds: long enough to replace polling, short enough for every
 * proxy's idle timeout (API.md "Drafting and delivery"). */
#define WAIT_MAX 30

#define NO_ITEMS "{\"items\":[]}"

/* The answer of a claim that claims nothing. */
static int
no_items(char **json, size_t *len, struct problem *pb)
{
    if ((*json = strdup(NO_ITEMS)) == NULL)
        return problem_internal(pb, "out of memory");
    *len = strlen(NO_ITEMS);
    return 0;
}

static int
claim(struct req *rq, const json_t *o, const void *arg, char **json, size_t *len, int *status,
      struct problem *pb)
{
    const struct lease_route *lr = arg;
    struct lease_claim_in in = {0};
    long long limit = 0, lease = 0, wait = 0;

    const char *known[] = {"limit", "leaseSeconds", "waitSeconds", lr->claim_field, NULL};

    (void)status;
    body_no_unknown(o, NULL, known, pb);
    body_int(o, "limit", BODY_REQUIRED, 1, 200, &limit, NULL, pb);
    body_int(o, "leaseSeconds", BODY_REQUIRED, 1, 3600, &lease, NULL, pb);
    body_int(o, "waitSeconds", BODY_OPTIONAL, 0, WAIT_MAX, &wait, NULL, pb);
    lr->claim_arg(o, &in, pb);
    if (body_failed(pb))
        return -1;
    in.limit = (int)limit;
    in.lease_seconds = (int)lease;
    if (wait == 0)
        return lr->claim(&rq->who, &in, json, len, pb);
    if (rq->wait.deadline_ms == 0)
        rq->wait.deadline_ms = clock_ms() + wait * 1000;
    /* Nothing is claimed for a client that has gone: it would only come
     * back after its lease. */
    if (rq->wait.gone || live_client_gone(rq))
        return no_items(json, len, pb);
    /* Read before the claim: work that arrives while it runs is seen. */
    rq->wait.gen = live_work_gen();
    if (lr->claim(&rq->who, &in, json, len, pb) != 0)
        return -1;
    if (strcmp(*json, NO_ITEMS) != 0 || clock_ms() >= rq->wait.deadline_ms || server_stopping())
        return 0;
    free(*json);
    *json = NULL;
    *len = 0;
    rq->wait.queue = lr->wake;
    rq->wait.park = true;
    return 0;
}

int
lease_route_claim(struct req *rq, struct reply *out, struct problem *pb,
                  const struct lease_route *lr)
{
    return resource_write(rq, out, pb, claim, lr);
}

static int
fail(struct req *rq, const json_t *o, const void *arg, char **json, size_t *len, int *status,
     struct problem *pb)
{
    const struct lease_route *lr = arg;
    struct lease_fail_in in = {0};
    long long after = 0;

    const char *known[] = {"error", "retryable", lr->retry_after ? "retryAfterSeconds" : NULL,
                           NULL};

    (void)status;
    body_no_unknown(o, NULL, known, pb);
    body_nonempty_string(o, "error", BODY_REQUIRED, ERROR_MAX, &in.error, pb);
    body_bool(o, "retryable", BODY_REQUIRED, &in.retryable, NULL, pb);
    /* Elsewhere the field is unknown, and refused as such above. */
    if (lr->retry_after)
        body_int(o, "retryAfterSeconds", BODY_OPTIONAL, 0, RETRY_AFTER_MAX, &after,
                 &in.has_retry_after, pb);
    if (body_failed(pb))
        return -1;
    in.retry_after_s = (int)after;
    return lr->fail(&rq->who, req_param(rq, lr->id_param), &in, json, len, pb);
}

int
lease_route_fail(struct req *rq, struct reply *out, struct problem *pb,
                 const struct lease_route *lr)
{
    return resource_write(rq, out, pb, fail, lr);
}
