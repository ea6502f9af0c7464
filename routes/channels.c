/*
 * routes/channels: where conversations come from (API.md "Account, users,
 * channels").
 *
 * Reads need `read`, writes `admin` (openapi.json x-scope). Each handler
 * parses and validates, calls one db_channels function and passes its JSON
 * text on. `type` and `externalId` are fixed once a channel exists: a PATCH
 * that names them is a 422, never silently ignored, and so is any unknown
 * member. No SQL here.
 */
#include <jansson.h>
#include <stdbool.h>

#include "inboxd/http/body.h"
#include "inboxd/db/channels.h"
#include "inboxd/http/query.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/http/resource.h"
#include "inboxd/lib/uuid7.h"

#define NAME_MAX_CHARS 200
#define EXTERNAL_ID_MAX 200

/* ChannelType of API.md, in the order of the schema's channel_type. */
static const char *const type_names[] = {"email", "chat", "shopify", "slack", NULL};

static const char *const create_fields[] = {"type", "externalId", "name", "metadata", NULL};
static const char *const patch_fields[] = {"name", "metadata", "type", "externalId", NULL};

/* A PATCH member that may be absent but not null. */
static void
reject_null(const json_t *o, const char *field, struct problem *pb)
{
    if (json_is_null(json_object_get(o, field)))
        problem_field(pb, field, "must not be null");
}

/* Reads a POST body. Returns 0, or -1 with a 422 naming every bad field.
 * Everything in `in` is borrowed from o. */
static int
parse_create(const json_t *o, struct channel_in *in, struct problem *pb)
{
    int type = -1;

    body_no_unknown(o, NULL, create_fields, pb);
    body_enum(o, "type", BODY_REQUIRED, type_names, &type, pb);
    body_nonempty_string(o, "externalId", BODY_REQUIRED, EXTERNAL_ID_MAX, &in->external_id, pb);
    body_nonempty_string(o, "name", BODY_REQUIRED, NAME_MAX_CHARS, &in->name, pb);
    body_object(o, "metadata", BODY_OPTIONAL, BODY_JSON_MAX, &in->metadata, pb);
    if (body_failed(pb))
        return -1;
    in->type = type_names[type];
    return 0;
}

/* Reads a PATCH body: name and/or metadata. Returns 0 or -1 (422). */
static int
parse_patch(const json_t *o, struct channel_in *in, struct problem *pb)
{
    body_no_unknown(o, NULL, patch_fields, pb);
    if (json_object_get(o, "type") != NULL)
        problem_field(pb, "type", "cannot be changed");
    if (json_object_get(o, "externalId") != NULL)
        problem_field(pb, "externalId", "cannot be changed");
    reject_null(o, "name", pb);
    reject_null(o, "metadata", pb);
    body_nonempty_string(o, "name", BODY_OPTIONAL, NAME_MAX_CHARS, &in->name, pb);
    body_object(o, "metadata", BODY_OPTIONAL, BODY_JSON_MAX, &in->metadata, pb);
    if (json_object_size(o) == 0)
        problem_field(pb, "", "must name at least one field to change");
    return body_failed(pb) ? -1 : 0;
}

static int
list_channels(struct req *rq, struct reply *out, struct problem *pb)
{
    return resource_list(rq, out, pb, db_channels_list);
}

static int
get_channel(struct req *rq, struct reply *out, struct problem *pb)
{
    return resource_get(rq, out, pb, db_channels_get);
}

static int
insert_channel(struct req *rq, const json_t *o, const void *arg, char **json, size_t *len,
               int *status, struct problem *pb)
{
    struct channel_in in = {0};
    bool created;

    (void)arg;
    if (parse_create(o, &in, pb) != 0 ||
        db_channels_insert(&rq->who, &in, json, len, &created, pb) != 0)
        return -1;
    *status = created ? 201 : 200;
    return 0;
}

static int
post_channel(struct req *rq, struct reply *out, struct problem *pb)
{
    return resource_write(rq, out, pb, insert_channel, NULL);
}

static int
update_channel(struct req *rq, const json_t *o, const void *arg, char **json, size_t *len,
               int *status, struct problem *pb)
{
    struct channel_in in = {0};
    char id[UUID7_STRLEN + 1];

    (void)arg;
    (void)status;
    uuid7_lower(req_param(rq, "id"), id);
    if (parse_patch(o, &in, pb) != 0)
        return -1;
    return db_channels_update(&rq->who, id, &in, json, len, pb);
}

static int
patch_channel(struct req *rq, struct reply *out, struct problem *pb)
{
    return resource_write(rq, out, pb, update_channel, NULL);
}

const struct route routes_channels[] = {
    {"GET", "/v1/channels", SCOPE_READ, ROUTE_NO_BODY, list_channels, NULL},
    {"POST", "/v1/channels", SCOPE_ADMIN, 0, post_channel, NULL},
    {"GET", "/v1/channels/{id}", SCOPE_READ, ROUTE_NO_BODY, get_channel, NULL},
    {"PATCH", "/v1/channels/{id}", SCOPE_ADMIN, 0, patch_channel, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
