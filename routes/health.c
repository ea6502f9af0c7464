/*
 * routes/health: liveness, readiness, metrics and the OpenAPI document.
 *
 * /healthz answers while the process serves; /readyz only when the
 * database answers and its schema is one this binary serves: its own
 * version, one older or one newer (migrate_schema_ready). A replica that
 * is down is reported, never unready: reads go to the primary.
 * Neither needs a key; /metrics needs one only when configured to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_config.h"
#include "inboxd/db/queues.h"
#include "inboxd/db/replica.h"
#include "inboxd/lib/embedded.h"
#include "inboxd/http/metrics.h"
#include "inboxd/db/migrate.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"

static int
get_healthz(struct req *rq, struct reply *out, struct problem *pb)
{
    (void)rq;
    return reply_json(out, 200, json_pack("{s:s, s:s}", "status", "ok", "version", INBOXD_VERSION),
                      pb);
}

/* The replica's part of /readyz: null without one. It never makes the
 * instance unready: reads go to the primary while it is down. */
static json_t *
replica_doc(void)
{
    struct db_replica_info ri;

    db_replica_state(&ri);
    if (ri.state == DB_REPLICA_NONE)
        return json_null();
    return json_pack("{s:s, s:o, s:o}", "state", db_replica_state_name(ri.state), "lagBytes",
                     ri.lag_bytes >= 0 ? json_integer(ri.lag_bytes) : json_null(), "lagSeconds",
                     ri.lag_seconds >= 0 ? json_real(ri.lag_seconds) : json_null());
}

static int
get_readyz(struct req *rq, struct reply *out, struct problem *pb)
{
    struct problem db = {0};
    struct migrate_schema m;
    char reason[160] = "";
    bool ready = false;
    json_t *doc;

    (void)rq;
    if (migrate_schema(&m, &db) != 0) {
        snprintf(reason, sizeof(reason), "database unreachable");
    } else {
        ready = migrate_schema_ready(&m, reason, sizeof(reason));
    }
    doc = json_pack("{s:s, s:s?, s:s, s:o, s:i, s:i, s:o}", "status",
                    ready ? "ready" : "unavailable", "reason", ready ? NULL : reason, "version",
                    INBOXD_VERSION, "schemaVersion",
                    db.status != 0 ? json_null() : json_integer(m.version),
                    "expectedSchemaVersion", m.expected, "previousSchemaVersion", m.previous,
                    "replica", replica_doc());
    if (!ready)
        out->retry_after = 5;
    return reply_json(out, ready ? 200 : 503, doc, pb);
}

static int
get_metrics(struct req *rq, struct reply *out, struct problem *pb)
{
    struct queue_depths q;
    struct problem db = {0};
    char extra[1024] = "";
    size_t len;
    char *text;

    (void)rq;
    /* A scrape still answers while the database is down: the queue gauges
     * are left out and inboxd_db_errors_total tells the story. */
    if (db_queues_depths(&q, &db) == 0)
        snprintf(extra, sizeof(extra),
                 "# HELP inboxd_queue_depth Rows waiting in the work queues.\n"
                 "# TYPE inboxd_queue_depth gauge\n"
                 "inboxd_queue_depth{queue=\"draft_requests\",state=\"queued\"} %lld\n"
                 "inboxd_queue_depth{queue=\"draft_requests\",state=\"leased\"} %lld\n"
                 "inboxd_queue_depth{queue=\"outbox\",state=\"pending\"} %lld\n"
                 "inboxd_queue_depth{queue=\"outbox\",state=\"leased\"} %lld\n",
                 q.draft_requests_queued, q.draft_requests_leased, q.outbox_pending,
                 q.outbox_leased);
    text = metrics_render(extra, &len);
    if (text == NULL)
        return problem_internal(pb, "metrics: out of memory");
    reply_text(out, 200, text, len, "text/plain; version=0.0.4; charset=utf-8");
    return 0;
}

static int
get_openapi(struct req *rq, struct reply *out, struct problem *pb)
{
    const struct embedded_file *f = embedded_find("openapi");
    char *copy;

    (void)rq;
    if (f == NULL || (copy = malloc(f->len)) == NULL)
        return problem_internal(pb, "openapi document unavailable");
    memcpy(copy, f->data, f->len);
    reply_text(out, 200, copy, f->len, "application/json");
    return 0;
}

const struct route routes_health[] = {
    {"GET", "/healthz", 0, ROUTE_PUBLIC | ROUTE_NO_BODY, get_healthz, NULL},
    {"GET", "/readyz", 0, ROUTE_PUBLIC | ROUTE_NO_BODY, get_readyz, NULL},
    {"GET", "/metrics", 0, ROUTE_PUBLIC | ROUTE_METRICS | ROUTE_NO_BODY, get_metrics, NULL},
    {"GET", "/v1/openapi.json", 0, ROUTE_PUBLIC | ROUTE_NO_BODY, get_openapi, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
