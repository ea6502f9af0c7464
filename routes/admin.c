/*
 * routes/admin: the audit log and retention (API.md "Administration").
 *
 * Both need the `admin` scope. The audit log lists the account's entries
 * oldest first, filtered by resource type, resource id and time. A
 * retention run sweeps the caller's account only (the command line and the
 * timer sweep every account) and answers its counts.
 *
 * No SQL here.
 */
#include "inboxd/db/audit_log.h"
#include "inboxd/db/retention.h"
#include "inboxd/http/query.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/http/server.h"

/* Resource types are short dotted words ("draft", "draft_request"). */
#define RESOURCE_TYPE_MAX 100

static int
list_audit_log(struct req *rq, struct reply *out, struct problem *pb)
{
    struct audit_filter f = {0};
    struct page pg;
    char id_buf[37], since_buf[32];
    char *json;
    size_t len;

    if (query_text(rq, "resourceType", RESOURCE_TYPE_MAX, &f.resource_type, pb) != 0 ||
        query_uuid(rq, "resourceId", id_buf, &f.resource_id, pb) != 0 ||
        query_timestamp(rq, "since", since_buf, &f.since, pb) != 0 ||
        query_page(rq, true, &pg, pb) != 0)
        return -1;
    if (f.resource_type != NULL && f.resource_type[0] == '\0')
        return query_invalid(pb, "resourceType", "must not be empty");
    if (db_audit_log_list(&rq->who, &f, &pg, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

static int
run_retention(struct req *rq, struct reply *out, struct problem *pb)
{
    const struct config *cf = server_config();
    struct retention_opts o = {cf->retention_batch, cf->retention_closed_days, NULL};
    struct retention_counts n;

    if (db_retention_run(&rq->who, &o, &n, pb) != 0)
        return -1;
    return reply_json(out, 200,
                      json_pack("{sI sI sI sI}", "webhookEvents", (json_int_t)n.webhook_events,
                                "drafts", (json_int_t)n.drafts, "messageBodies",
                                (json_int_t)n.message_bodies, "conversations",
                                (json_int_t)n.conversations),
                      pb);
}

const struct route routes_admin[] = {
    {"GET", "/v1/audit-log", SCOPE_ADMIN, ROUTE_NO_BODY, list_audit_log, NULL},
    {"POST", "/v1/admin/retention/run", SCOPE_ADMIN, ROUTE_NO_BODY, run_retention, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
