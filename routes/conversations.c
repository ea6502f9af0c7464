/*
 * routes/conversations: conversations and their timeline (API.md
 * "Conversations and messages").
 *
 * Each handler reads the path, query and body, validates every field (a
 * bad query parameter is a 400 naming it, a bad body field a 422 naming
 * it), calls one db_conversations function and passes its JSON text on.
 * No SQL here, and no resource JSON built here: PostgreSQL renders it.
 */
#include "inboxd/db/conversations.h"

#include <string.h>

#include "inboxd/http/body.h"
#include "inboxd/http/input.h"
#include "inboxd/http/conditional.h"
#include "inboxd/http/query.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"

/* Field limits (characters). */
#define EXTERNAL_ID_MAX 200
#define SUBJECT_MAX 1000
#define EMAIL_MAX 320
#define CUSTOMER_NAME_MAX 200

static const char *const create_fields[] = {"channelId", "externalId", "subject", "customerEmail",
                                             "customerName", NULL};
static const char *const patch_fields[] = {"status", "subject", NULL};

/* ConversationStatus, in the order of the schema's enum. */
static const char *const status_names[] = {"open", "pending", "closed", NULL};

/* Hands a conversation answer to the reply (json ownership moves on). */
static void
reply_conversation(struct reply *out, int status, struct conversation_out *c)
{
    reply_text(out, status, c->json, c->len, "application/json");
    c->json = NULL;
    memcpy(out->etag, c->etag, sizeof(out->etag));
}

/* GET /v1/conversations?status=&channelId=&customerEmail=&updatedSince= */
static int
list_conversations(struct req *rq, struct reply *out, struct problem *pb)
{
    struct conversation_filter f = {0};
    struct page pg;
    char chan[37], since[32];
    char *json;
    size_t len;

    if (query_page(rq, false, &pg, pb) != 0 ||
        query_enum(rq, "status", status_names, &f.status, pb) != 0 ||
        query_uuid(rq, "channelId", chan, &f.channel_id, pb) != 0 ||
        query_text(rq, "customerEmail", EMAIL_MAX, &f.customer_email, pb) != 0 ||
        query_timestamp(rq, "updatedSince", since, &f.updated_since, pb) != 0)
        return -1;
    if (f.customer_email != NULL && !input_is_email(f.customer_email))
        return query_invalid(pb, "customerEmail", "must be an e-mail address");
    if (db_conversations_list(&rq->who, &f, &pg, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

/* POST /v1/conversations {channelId, externalId, subject?, customerEmail?, customerName?} */
static int
create_conversation(struct req *rq, struct reply *out, struct problem *pb)
{
    struct conversation_in in = {0};
    struct conversation_out res = {0};
    json_t *o = body_parse(rq->body, rq->body_len, pb);
    int rc = -1;

    if (o == NULL)
        return -1;
    body_no_unknown(o, NULL, create_fields, pb);
    body_uuid(o, "channelId", BODY_REQUIRED, &in.channel_id, pb);
    body_nonempty_string(o, "externalId", BODY_REQUIRED, EXTERNAL_ID_MAX, &in.external_id, pb);
    body_string(o, "subject", BODY_OPTIONAL, SUBJECT_MAX, &in.subject, pb);
    if (body_string(o, "customerEmail", BODY_OPTIONAL, EMAIL_MAX, &in.customer_email, pb) == 0 &&
        in.customer_email != NULL && !input_is_email(in.customer_email))
        problem_field(pb, "customerEmail", "must be an e-mail address");
    body_string(o, "customerName", BODY_OPTIONAL, CUSTOMER_NAME_MAX, &in.customer_name, pb);
    if (body_failed(pb))
        goto out;
    if (db_conversations_upsert(&rq->who, &in, &res, pb) != 0)
        goto out;
    reply_conversation(out, res.created ? 201 : 200, &res);
    rc = 0;
out:
    json_decref(o);
    return rc;
}

static void
conversation_state_cleanup(void *state)
{
    db_conversations_out_cleanup(state);
}

/* GET /v1/conversations/{id}: the read is started, then answered by
 * answer_conversation once it is done (route.start). */
static int
read_conversation(struct req *rq, struct problem *pb)
{
    struct conversation_out *res =
        req_state(rq, sizeof(*res), conversation_state_cleanup);

    if (res == NULL)
        return problem_internal(pb, "out of memory");
    db_conversations_get_start(&rq->who, req_param(rq, "id"), res, req_resume, rq);
    return 0;
}

static int
answer_conversation(struct req *rq, struct reply *out, struct problem *pb)
{
    (void)pb;
    reply_conversation(out, 200, rq->state);
    return 0;
}

/* PATCH /v1/conversations/{id} {status?, subject?} with optional If-Match */
static int
update_conversation(struct req *rq, struct reply *out, struct problem *pb)
{
    struct conversation_patch in = {0};
    struct conversation_out res;
    char tag[32];
    int st = -1;
    json_t *o;
    const json_t *subj;
    int rc = -1;

    if (etag_if_match(rq, tag, &in.if_match, pb) != 0)
        return -1;
    if ((o = body_parse(rq->body, rq->body_len, pb)) == NULL)
        return -1;
    body_no_unknown(o, NULL, patch_fields, pb);
    if (body_enum(o, "status", BODY_OPTIONAL, status_names, &st, pb) == 0 && st >= 0)
        in.status = status_names[st];
    /* subject: null clears it, a string sets it, absent leaves it. */
    subj = json_object_get(o, "subject");
    if (subj != NULL && json_is_null(subj))
        in.set_subject = true;
    else if (body_string(o, "subject", BODY_OPTIONAL, SUBJECT_MAX, &in.subject, pb) == 0 &&
             in.subject != NULL)
        in.set_subject = true;
    if (!body_failed(pb) && in.status == NULL && !in.set_subject)
        problem_field(pb, "status", "status or subject is required");
    if (body_failed(pb))
        goto out;
    if (db_conversations_update(&rq->who, req_param(rq, "id"), &in, &res, pb) != 0)
        goto out;
    reply_conversation(out, 200, &res);
    rc = 0;
out:
    json_decref(o);
    return rc;
}

/* DELETE /v1/conversations/{id}: soft delete, 204. */
static int
delete_conversation(struct req *rq, struct reply *out, struct problem *pb)
{
    if (db_conversations_delete(&rq->who, req_param(rq, "id"), pb) != 0)
        return -1;
    out->status = 204;
    out->content_type = NULL;
    return 0;
}

/* GET /v1/conversations/{id}/timeline */
static int
get_timeline(struct req *rq, struct reply *out, struct problem *pb)
{
    struct page pg;
    char *json;
    size_t len;

    if (query_page(rq, true, &pg, pb) != 0)
        return -1;
    if (db_conversations_timeline(&rq->who, req_param(rq, "id"), &pg, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

const struct route routes_conversations[] = {
    {"GET", "/v1/conversations", SCOPE_READ, ROUTE_NO_BODY, list_conversations, NULL},
    {"POST", "/v1/conversations", SCOPE_MESSAGES_WRITE, 0, create_conversation, NULL},
    {"GET", "/v1/conversations/{id}", SCOPE_READ, ROUTE_NO_BODY, answer_conversation,
     read_conversation},
    {"PATCH", "/v1/conversations/{id}", SCOPE_MESSAGES_WRITE, 0, update_conversation, NULL},
    {"DELETE", "/v1/conversations/{id}", SCOPE_ADMIN, ROUTE_NO_BODY, delete_conversation, NULL},
    {"GET", "/v1/conversations/{id}/timeline", SCOPE_READ, ROUTE_NO_BODY, get_timeline, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
