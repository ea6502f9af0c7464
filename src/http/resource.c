/*
 * resource: one row by id, a page of rows, a write of one row; the JSON
 * comes from the db layer and goes out untouched. Never here: a
 * resource's own validation.
 */
#include "inboxd/http/resource.h"

#include "inboxd/http/body.h"
#include "inboxd/http/query.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/lib/uuid7.h"

int
resource_get(struct req *rq, struct reply *out, struct problem *pb, resource_get_fn get)
{
    char id[UUID7_STRLEN + 1];
    char *json;
    size_t len;

    /* The router let only a UUID through; the db compares lower case. */
    uuid7_lower(req_param(rq, "id"), id);
    if (get(&rq->who, id, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

int
resource_list(struct req *rq, struct reply *out, struct problem *pb, resource_list_fn list)
{
    struct page pg;
    char *json;
    size_t len;

    if (query_page(rq, false, &pg, pb) != 0)
        return -1;
    if (list(&rq->who, &pg, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

int
resource_write(struct req *rq, struct reply *out, struct problem *pb, resource_write_fn write,
               const void *arg)
{
    json_t *o = body_parse(rq->body, rq->body_len, pb);
    char *json;
    size_t len;
    int status = 200;
    int rc;

    if (o == NULL)
        return -1;
    rc = write(rq, o, arg, &json, &len, &status, pb);
    json_decref(o);
    if (rc != 0)
        return -1;
    reply_text(out, status, json, len, "application/json");
    return 0;
}
