/*
 * routes/feed: the review feed (API.md "Review": GET /v1/feed).
 *
 * Reads ?channelId, ?order and the page, and answers the page db_feed
 * rendered. No SQL here.
 */
#include "inboxd/db_feed.h"
#include "inboxd/query.h"
#include "inboxd/routes.h"
#include "inboxd/server.h"

#include <stdbool.h>
#include <string.h>

static const char *const order_names[] = {"oldest", "newest", NULL};

static int
get_feed(struct req *rq, struct reply *out, struct problem *pb)
{
    struct page pg;
    char channel_buf[37];
    const char *channel_id, *order;
    struct parts *body;

    if (query_page(rq, true, &pg, pb) != 0 ||
        query_uuid(rq, "channelId", channel_buf, &channel_id, pb) != 0 ||
        query_enum(rq, "order", order_names, &order, pb) != 0)
        return -1;
    if (db_feed_list(&rq->who, channel_id, order != NULL && strcmp(order, "newest") == 0, &pg,
                     http_accepts_coding(req_header(rq, "Accept-Encoding"), "gzip"), &body,
                     pb) != 0)
        return -1;
    reply_parts(out, 200, body);
    out->vary_encoding = true;
    return 0;
}

const struct route routes_feed[] = {
    {"GET", "/v1/feed", SCOPE_READ, ROUTE_NO_BODY, get_feed},
    {NULL, NULL, 0, 0, NULL},
};
