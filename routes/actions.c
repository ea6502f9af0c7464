/*
 * routes/actions: draft actions (API.md "Review"): approve, edit or reject
 * a draft, and the lists of actions.
 *
 * This file reads and checks what the caller sent (body fields, If-Match,
 * query parameters) and hands it to one db_actions function; the answer is
 * the JSON text that function got from PostgreSQL. No SQL here, and no
 * decision that needs the draft's state: that is taken inside the action's
 * transaction (db_actions.c), where concurrency cannot slip in between.
 */
#include "inboxd/db/actions.h"
#include "inboxd/http/body.h"
#include "inboxd/http/conditional.h"
#include "inboxd/http/query.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/http/resource.h"

#include <jansson.h>

/* Reply texts are capped below the 1 MiB body limit (brief: 512 KiB), notes
 * are a reviewer's remark. */
#define TEXT_MAX ((size_t)512 * 1024)
#define NOTES_MAX ((size_t)64 * 1024)

static const char *const action_fields[] = {"type", "userId", "finalText", "finalHtml", "notes",
                                             NULL};

static int
parse_action(const json_t *o, struct action_in *in, struct problem *pb)
{
    int type = -1;
    int text_rc;

    body_no_unknown(o, NULL, action_fields, pb);
    body_enum(o, "type", BODY_REQUIRED, action_type_names, &type, pb);
    body_uuid(o, "userId", BODY_REQUIRED, &in->user_id, pb);
    text_rc = body_nonempty_string(o, "finalText", BODY_OPTIONAL, TEXT_MAX, &in->final_text, pb);
    body_string(o, "finalHtml", BODY_OPTIONAL, TEXT_MAX, &in->final_html, pb);
    body_string(o, "notes", BODY_OPTIONAL, NOTES_MAX, &in->notes, pb);
    /* Which fields a type takes: edit needs the new text; reject sends
     * nothing, so a text there is a caller mistake, not something to drop. */
    if (type == ACTION_EDIT && text_rc == 0 && in->final_text == NULL)
        problem_field(pb, "finalText", "is required for edit");
    if (type == ACTION_REJECT) {
        if (in->final_text != NULL)
            problem_field(pb, "finalText", "is only accepted with approve or edit");
        if (in->final_html != NULL)
            problem_field(pb, "finalHtml", "is only accepted with approve or edit");
    }
    if (body_failed(pb))
        return -1;
    in->type = (enum action_type)type;
    return 0;
}

static int
post_action(struct req *rq, struct reply *out, struct problem *pb)
{
    struct action_in in = {0};
    char tag[32];
    json_t *o;
    char *json;
    size_t len;
    int rc = -1;

    if (etag_if_match(rq, tag, &in.if_match, pb) != 0)
        return -1;
    o = body_parse(rq->body, rq->body_len, pb);
    if (o == NULL)
        return -1;
    if (parse_action(o, &in, pb) != 0)
        goto out;
    if (db_actions_create(&rq->who, req_param(rq, "id"), &in, &json, &len, pb) != 0)
        goto out;
    reply_text(out, 201, json, len, "application/json");
    rc = 0;
out:
    json_decref(o);
    return rc;
}

static int
list_draft_actions(struct req *rq, struct reply *out, struct problem *pb)
{
    struct page pg;
    char *json;
    size_t len;

    if (query_page(rq, true, &pg, pb) != 0)
        return -1;
    if (db_actions_list_draft(&rq->who, req_param(rq, "id"), &pg, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

static int
list_actions(struct req *rq, struct reply *out, struct problem *pb)
{
    struct page pg;
    char user_buf[37], since_buf[32];
    const char *user_id, *since;
    char *json;
    size_t len;

    if (query_page(rq, true, &pg, pb) != 0 ||
        query_uuid(rq, "userId", user_buf, &user_id, pb) != 0 ||
        query_timestamp(rq, "since", since_buf, &since, pb) != 0)
        return -1;
    if (db_actions_list(&rq->who, user_id, since, &pg, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

/* GET /v1/actions/{id}: one action, where a 201's Location points. */
static int
get_action(struct req *rq, struct reply *out, struct problem *pb)
{
    return resource_get(rq, out, pb, db_actions_get);
}

const struct route routes_actions[] = {
    {"POST", "/v1/drafts/{id}/actions", SCOPE_ACTIONS_WRITE, 0, post_action, NULL},
    {"GET", "/v1/drafts/{id}/actions", SCOPE_READ, ROUTE_NO_BODY, list_draft_actions, NULL},
    {"GET", "/v1/actions", SCOPE_READ, ROUTE_NO_BODY, list_actions, NULL},
    {"GET", "/v1/actions/{id}", SCOPE_READ, ROUTE_NO_BODY, get_action, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
