/*
 * db_queues: queue depths for /metrics (all accounts: an instance-wide
 * gauge, like the pool's).
 */
#ifndef INBOXD_DB_QUEUES_H
#define INBOXD_DB_QUEUES_H

#include "inboxd/lib/problem.h"

struct queue_depths {
    long long draft_requests_queued;
    long long draft_requests_leased;
    long long outbox_pending;
    long long outbox_leased;
};

/* Returns 0, or -1 with pb (503 when the database is down). */
int db_queues_depths(struct queue_depths *out, struct problem *pb)
    __attribute__((warn_unused_result));

#endif
