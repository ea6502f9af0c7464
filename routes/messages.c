/*
 * routes/messages: a conversation's messages and single messages (API.md
 * "Conversations and messages").
 *
 * Each handler validates everything it reads (422 naming every bad body
 * field, 400 for a bad query parameter), calls one db_messages function and
 * passes on the JSON text PostgreSQL rendered. No SQL here. A repeated
 * externalId is answered 200 with the stored message: that decision is
 * the database's (ON CONFLICT), never a read-then-write here.
 */
#include "inboxd/db/messages.h"

#include <limits.h>
#include <stdio.h>

#include "inboxd/http/body.h"
#include "inboxd/http/input.h"
#include "inboxd/http/query.h"
#include "inboxd/lib/rfc3339.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/http/resource.h"

/* MessageDirection, in the order of the schema's enum. */
static const char *const direction_names[] = {"inbound", "outbound", "system", NULL};

/* GET /v1/conversations/{id}/messages */
static int
list_messages(struct req *rq, struct reply *out, struct problem *pb)
{
    struct page pg;
    char *json;
    size_t len;

    if (query_page(rq, true, &pg, pb) != 0)
        return -1;
    if (db_messages_list(&rq->who, req_param(rq, "id"), &pg, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

static const char *const create_fields[] = {"externalId", "direction", "subject", "bodyText",
                                             "bodyHtml",   "sentAt",    "metadata", "attachments",
                                             NULL};

/* POST /v1/conversations/{id}/messages {externalId?, direction, subject?,
 * bodyText, bodyHtml?, sentAt?, metadata?, attachments?} */
static int
insert_message(struct req *rq, const json_t *o, const void *arg, char **json, size_t *len,
               int *status, struct problem *pb)
{
    struct message_in in = {0};
    char sent[RFC3339_BUFLEN];
    int dir = -1;
    bool created;

    (void)arg;
    body_no_unknown(o, NULL, create_fields, pb);
    if (body_enum(o, "direction", BODY_REQUIRED, direction_names, &dir, pb) == 0 && dir >= 0)
        in.direction = direction_names[dir];
    input_message(o, "", false, &in, sent, pb);
    if (body_failed(pb) ||
        db_messages_create(&rq->who, req_param(rq, "id"), &in, json, len, &created, pb) != 0)
        return -1;
    *status = created ? 201 : 200;
    return 0;
}

static int
create_message(struct req *rq, struct reply *out, struct problem *pb)
{
    return resource_write(rq, out, pb, insert_message, NULL);
}

/* GET /v1/messages/{id} */
static int
get_message(struct req *rq, struct reply *out, struct problem *pb)
{
    char *json;
    size_t len;

    if (db_messages_get(&rq->who, req_param(rq, "id"), &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

const struct route routes_messages[] = {
    {"GET", "/v1/conversations/{id}/messages", SCOPE_READ, ROUTE_NO_BODY, list_messages, NULL},
    {"POST", "/v1/conversations/{id}/messages", SCOPE_MESSAGES_WRITE, 0, create_message, NULL},
    {"GET", "/v1/messages/{id}", SCOPE_READ, ROUTE_NO_BODY, get_message, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
