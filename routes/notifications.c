/*
 * routes/notifications: the dashboard's notifications (API.md "Learning,
 * jobs, sources, notifications").
 *
 * The list filters by user (that user's and the account-wide ones, per
 * openapi.json) and by read state (unread=true: unread only, false: read
 * only). Creating needs `jobs:write` (openapi.json x-scope). Marking read
 * needs `actions:write`, not openapi.json's `jobs:write`: the dashboard
 * (typically `read actions:write`) is the caller that marks notifications
 * read, and a route requires one scope. Marking read takes no body and is
 * idempotent. No SQL here.
 */
#include "inboxd/http/body.h"
#include "inboxd/db/notifications.h"
#include "inboxd/http/query.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/http/resource.h"
#include "inboxd/lib/uuid7.h"

#define TYPE_MAX_CHARS 200

static const char *const create_fields[] = {"userId", "type", "payload", NULL};

static int
list_notifications(struct req *rq, struct reply *out, struct problem *pb)
{
    char user_buf[UUID7_STRLEN + 1];
    const char *user_id;
    bool unread = false, present = false;
    enum notification_read rd = NOTIFICATION_ANY;
    struct page pg;
    char *json;
    size_t len;

    if (query_page(rq, true, &pg, pb) != 0 ||
        query_uuid(rq, "userId", user_buf, &user_id, pb) != 0 ||
        query_bool(rq, "unread", &unread, &present, pb) != 0)
        return -1;
    if (present)
        rd = unread ? NOTIFICATION_UNREAD : NOTIFICATION_READ;
    if (db_notifications_list(&rq->who, user_id, rd, &pg, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

static int
insert_notification(struct req *rq, const json_t *o, const void *arg, char **json, size_t *len,
                    int *status, struct problem *pb)
{
    (void)arg;
    char user_buf[UUID7_STRLEN + 1];
    struct notification_in in = {0};
    const char *user_id = NULL;
    body_no_unknown(o, NULL, create_fields, pb);
    if (body_uuid(o, "userId", BODY_OPTIONAL, &user_id, pb) == 0 && user_id != NULL) {
        uuid7_lower(user_id, user_buf);
        in.user_id = user_buf;
    }
    body_nonempty_string(o, "type", BODY_REQUIRED, TYPE_MAX_CHARS, &in.type, pb);
    body_object(o, "payload", BODY_OPTIONAL, BODY_JSON_MAX, &in.payload, pb);
    if (body_failed(pb) || db_notifications_insert(&rq->who, &in, json, len, pb) != 0)
        return -1;
    *status = 201;
    return 0;
}

static int
post_notification(struct req *rq, struct reply *out, struct problem *pb)
{
    return resource_write(rq, out, pb, insert_notification, NULL);
}

static int
read_notification(struct req *rq, struct reply *out, struct problem *pb)
{
    char id[UUID7_STRLEN + 1];
    char *json;
    size_t len;

    uuid7_lower(req_param(rq, "id"), id);
    if (db_notifications_read(&rq->who, id, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

/* GET /v1/notifications/{id}: one notification, where a 201's Location
 * points. */
static int
get_notification(struct req *rq, struct reply *out, struct problem *pb)
{
    return resource_get(rq, out, pb, db_notifications_get);
}

const struct route routes_notifications[] = {
    {"GET", "/v1/notifications", SCOPE_READ, ROUTE_NO_BODY, list_notifications, NULL},
    {"POST", "/v1/notifications", SCOPE_JOBS_WRITE, 0, post_notification, NULL},
    {"GET", "/v1/notifications/{id}", SCOPE_READ, ROUTE_NO_BODY, get_notification, NULL},
    {"POST", "/v1/notifications/{id}/read", SCOPE_ACTIONS_WRITE, ROUTE_NO_BODY, read_notification, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
