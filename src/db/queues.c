/*
 * db_queues: counts of the two work queues kept in PostgreSQL. Both counts
 * read only the partial claim indexes (claimable_at IS NOT NULL), so a
 * scrape stays cheap however much history the tables hold.
 */
#include "inboxd/db/queues.h"

#include <stdlib.h>

#include "inboxd/db/db.h"

static const struct db_stmt st_depths = {
    "queues_depths",
    "SELECT (SELECT count(*) FROM draft_requests WHERE claimable_at IS NOT NULL "
    "          AND status = 'queued'), "
    "       (SELECT count(*) FROM draft_requests WHERE claimable_at IS NOT NULL "
    "          AND status = 'leased'), "
    "       (SELECT count(*) FROM messages WHERE claimable_at IS NOT NULL "
    "          AND delivery_status = 'pending'), "
    "       (SELECT count(*) FROM messages WHERE claimable_at IS NOT NULL "
    "          AND delivery_status = 'leased')",
    0};

static int
depths_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct queue_depths *q = arg;
    PGresult *res = db_exec(c, &st_depths, NULL, pb);

    if (res == NULL)
        return -1;
    q->draft_requests_queued = atoll(PQgetvalue(res, 0, 0));
    q->draft_requests_leased = atoll(PQgetvalue(res, 0, 1));
    q->outbox_pending = atoll(PQgetvalue(res, 0, 2));
    q->outbox_leased = atoll(PQgetvalue(res, 0, 3));
    PQclear(res);
    return 0;
}

int
db_queues_depths(struct queue_depths *out, struct problem *pb)
{
    return db_read(depths_fn, out, true, pb);
}

DB_STATEMENTS(&st_depths, 1)
