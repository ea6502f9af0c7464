/*
 * lease_route: the HTTP side of a lease queue (db/lease.h), the claim and
 * failure-report handlers that the drafting queue and the outbox share.
 *
 * A route file describes its queue once, in a static const struct
 * lease_route (its db functions, the path parameter naming a row, its own
 * claim field), and its route table's handlers call lease_route_claim()
 * and lease_route_fail() with it. The bodies they read (API.md "Drafting",
 * "Outbound delivery (sync service)"):
 *
 *   claim  {"limit": 1-200, "leaseSeconds": 1-3600, "waitSeconds": 0-30
 *           (optional, 0: answer at once), and the queue's own}
 *   fail   {"error": non-empty, at most 64 KiB, "retryable": true|false,
 *           "retryAfterSeconds": 0-86400, optional, for queues that take it}
 *
 * Both answer 200 with the JSON the db layer rendered, or a problem: 400
 * (not a JSON object), 422 (every bad field at once), then the db
 * function's statuses.
 */
#ifndef INBOXD_LEASE_ROUTE_H
#define INBOXD_LEASE_ROUTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "inboxd/db/lease.h"
#include "inboxd/db/who.h"
#include "inboxd/lib/problem.h"

struct req;
struct reply;

struct lease_route {
    /* Reads the queue's own claim field from o into in->arg, adding a
     * field error to pb when it is wrong, as body.h's readers do. */
    void (*claim_arg)(const json_t *o, struct lease_claim_in *in, struct problem *pb);
    const char *claim_field; /* the member claim_arg reads */
    int (*claim)(const struct who *w, const struct lease_claim_in *in, char **json, size_t *len,
                 struct problem *pb);
    int (*fail)(const struct who *w, const char *id, const struct lease_fail_in *in, char **json,
                size_t *len, struct problem *pb);
    const char *id_param; /* the path parameter that names the row */
    char wake;            /* the kind of the NOTIFY that says work arrived (live.h) */
    bool retry_after;     /* the failure report may carry retryAfterSeconds */
};

/* POST …/claim: reads the claim body and leases with lr->claim. With
 * waitSeconds and nothing to claim, the request waits (parked in the
 * hub, live.h) and claims again when work arrives, until the time is up;
 * a client that hung up meanwhile gets nothing claimed for it. */
int lease_route_claim(struct req *rq, struct reply *out, struct problem *pb,
                      const struct lease_route *lr) __attribute__((warn_unused_result));

/* POST …/{id}/fail(ed): reads the failure report and records it with
 * lr->fail on the row the path names. */
int lease_route_fail(struct req *rq, struct reply *out, struct problem *pb,
                     const struct lease_route *lr) __attribute__((warn_unused_result));

#endif
