/*
 * routes/outbox: outbound delivery for the sync service (API.md "Outbound
 * delivery (sync service)"): claim leases outbound messages, delivered and
 * failed report what the provider did with one, the list shows the outbox
 * by delivery status.
 *
 * claim and failed are the lease queues' handlers (http/lease_route.h),
 * run with the outbox's description below; delivered and the list parse,
 * validate, make one db_outbox call and pass the JSON that PostgreSQL
 * rendered through. No SQL here.
 */
#include "inboxd/http/body.h"
#include "inboxd/db/outbox.h"
#include "inboxd/http/lease_route.h"
#include "inboxd/http/query.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/http/resource.h"

#include <jansson.h>

/* The provider's id of a sent message (like every externalId). */
#define EXTERNAL_ID_MAX 200

/* API.md enums ChannelType and DeliveryStatus, as the schema spells them. */
static const char *const channel_type_names[] = {"email", "chat", "shopify", "slack", NULL};
static const char *const delivery_status_names[] = {"pending", "leased", "delivered", "failed",
                                                    NULL};

/* A claim may ask for one channel type: channelType, optional. */
static void
read_channel_type(const json_t *o, struct lease_claim_in *in, struct problem *pb)
{
    int type = -1;

    body_enum(o, "channelType", BODY_OPTIONAL, channel_type_names, &type, pb);
    in->arg = type >= 0 ? channel_type_names[type] : NULL;
}

static const struct lease_route queue = {
    .claim_arg = read_channel_type,
    .claim_field = "channelType",
    .claim = db_outbox_claim,
    .fail = db_outbox_failed,
    .id_param = "messageId",
    .wake = 'o',
    .retry_after = true, /* a provider's Retry-After */
};

static int
claim(struct req *rq, struct reply *out, struct problem *pb)
{
    return lease_route_claim(rq, out, pb, &queue);
}

static const char *const delivered_fields[] = {"externalId", NULL};

static int
report_delivered(struct req *rq, const json_t *o, const void *arg, char **json, size_t *len,
                 int *status, struct problem *pb)
{
    const char *external_id = NULL;

    (void)arg;
    (void)status;
    body_no_unknown(o, NULL, delivered_fields, pb);
    body_nonempty_string(o, "externalId", BODY_REQUIRED, EXTERNAL_ID_MAX, &external_id, pb);
    if (body_failed(pb))
        return -1;
    return db_outbox_delivered(&rq->who, req_param(rq, "messageId"), external_id, json, len, pb);
}

static int
delivered(struct req *rq, struct reply *out, struct problem *pb)
{
    return resource_write(rq, out, pb, report_delivered, NULL);
}

static int
failed(struct req *rq, struct reply *out, struct problem *pb)
{
    return lease_route_fail(rq, out, pb, &queue);
}

static int
list(struct req *rq, struct reply *out, struct problem *pb)
{
    struct page pg;
    const char *status = NULL;
    char *json;
    size_t len;

    if (query_page(rq, true, &pg, pb) != 0)
        return -1;
    if (query_enum(rq, "status", delivery_status_names, &status, pb) != 0)
        return -1;
    if (db_outbox_list(&rq->who, status, &pg, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

const struct route routes_outbox[] = {
    {"POST", "/v1/outbox/claim", SCOPE_OUTBOX_WRITE, 0, claim, NULL},
    {"POST", "/v1/outbox/{messageId}/delivered", SCOPE_OUTBOX_WRITE, 0, delivered, NULL},
    {"POST", "/v1/outbox/{messageId}/failed", SCOPE_OUTBOX_WRITE, 0, failed, NULL},
    {"GET", "/v1/outbox", SCOPE_READ, ROUTE_NO_BODY, list, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
