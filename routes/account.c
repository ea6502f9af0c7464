/*
 * routes/account: the caller's account and its API keys.
 *
 * Keys are created and revoked by operators on the command line; over HTTP
 * an admin key lists and revokes them. A key never leaves inboxd again
 * after `keys create` printed it: only its prefix is shown.
 */
#include "inboxd/db/keys.h"
#include "inboxd/http/query.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/auth.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/http/resource.h"

static int
get_account(struct req *rq, struct reply *out, struct problem *pb)
{
    char *json;
    size_t len;

    if (db_account_get(&rq->who, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

static int
list_keys(struct req *rq, struct reply *out, struct problem *pb)
{
    return resource_list(rq, out, pb, db_keys_list);
}

static int
revoke_key(struct req *rq, struct reply *out, struct problem *pb)
{
    char *json;
    size_t len;

    if (db_keys_revoke(&rq->who, req_param(rq, "id"), &json, &len, pb) != 0)
        return -1;
    /* This instance stops honouring the key now; others within the cache TTL. */
    auth_cache_clear();
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

const struct route routes_account[] = {
    {"GET", "/v1/account", SCOPE_READ, ROUTE_NO_BODY, get_account, NULL},
    {"GET", "/v1/api-keys", SCOPE_ADMIN, ROUTE_NO_BODY, list_keys, NULL},
    {"DELETE", "/v1/api-keys/{id}", SCOPE_ADMIN, ROUTE_NO_BODY, revoke_key, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
