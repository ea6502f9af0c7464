/*
 * routes/admin: the audit log and retention (API.md "Administration").
 *
 * Both need the `admin` scope. The audit log lists the account's entries
 * oldest first, filtered by resource type, resource id and time. A
 * retention run sweeps the caller's account only (the command line and the
 * timer sweep every account) and answers its counts, one per table swept.
 * routes_retention_opts() maps the retention settings for all three.
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

void
routes_retention_opts(const struct config *cf, const atomic_bool *cancel,
                      struct retention_opts *out)
{
    *out = (struct retention_opts){
        .batch = cf->retention_batch,
        .days =
            {
                .closed_days = cf->retention_closed_days,
                .webhook_events_days = cf->retention_webhook_events_days,
                .drafts_days = cf->retention_drafts_days,
                .deleted_days = cf->retention_deleted_days,
                .notifications_days = cf->retention_notifications_days,
                .draft_requests_days = cf->retention_draft_requests_days,
                .job_runs_days = cf->retention_job_runs_days,
                .learning_samples_days = cf->retention_learning_samples_days,
                .audit_log_days = cf->retention_audit_log_days,
                .events_days = cf->retention_events_days,
            },
        .cancel = cancel,
    };
}

/* The RetentionResult: one count per table swept, in the sweep's order. */
static int
run_retention(struct req *rq, struct reply *out, struct problem *pb)
{
    struct retention_opts o;
    struct retention_counts n;
    json_t *doc;

    routes_retention_opts(server_config(), NULL, &o);
    if (db_retention_run(&rq->who, &o, &n, pb) != 0)
        return -1;
    doc = json_object();
    for (int i = 0; doc != NULL && i < RETENTION_TABLES; i++)
        if (json_object_set_new(doc, retention_table_field(i), json_integer(n.rows[i])) != 0) {
            json_decref(doc);
            doc = NULL;
        }
    return reply_json(out, 200, doc, pb);
}

const struct route routes_admin[] = {
    {"GET", "/v1/audit-log", SCOPE_ADMIN, ROUTE_NO_BODY, list_audit_log, NULL},
    {"POST", "/v1/admin/retention/run", SCOPE_ADMIN, ROUTE_NO_BODY, run_retention, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
