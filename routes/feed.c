/*
 * routes/feed: the review feed (API.md "Review": GET /v1/feed).
 *
 * Reads ?channelId, ?order and the page, and answers the page db_feed
 * rendered; the summary (GET /v1/feed/summary) likewise. No SQL here.
 */
#include "inboxd/db/feed.h"
#include "inboxd/http/query.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"

#include <stdbool.h>
#include <string.h>

static const char *const order_names[] = {"oldest", "newest", NULL};

/* A feed request between its start and its answer. */
struct feed_call {
    struct page pg;
    char channel_buf[37];
    const char *channel_id;
    bool newest, gzip;
    bool stale;          /* the kept page was found stale: read anew */
    struct parts *body;  /* the kept page, when it was current */
    struct req *rq;
};

static void
feed_call_cleanup(void *state)
{
    struct feed_call *f = state;

    parts_free(f->body);
}

static void
feed_checked(void *arg, int rc, const struct problem *pb)
{
    struct feed_call *f = arg;

    f->stale = rc == 1;
    req_resume(f->rq, rc > 0 ? REQ_MUST_WAIT : rc, pb);
}

/* GET /v1/feed?channelId=&order=&limit=&cursor=: a kept page that is
 * still current is answered without a thread waiting (route.start);
 * otherwise get_feed reads the page. */
static int
start_feed(struct req *rq, struct problem *pb)
{
    struct feed_call *f = req_state(rq, sizeof(*f), feed_call_cleanup);
    const char *order;

    if (f == NULL)
        return problem_internal(pb, "out of memory");
    if (query_page(rq, true, &f->pg, pb) != 0 ||
        query_uuid(rq, "channelId", f->channel_buf, &f->channel_id, pb) != 0 ||
        query_enum(rq, "order", order_names, &order, pb) != 0)
        return -1;
    f->newest = order != NULL && strcmp(order, "newest") == 0;
    f->gzip = http_accepts_coding(req_header(rq, "Accept-Encoding"), "gzip");
    f->rq = rq;
    db_feed_list_start(&rq->who, f->channel_id, f->newest, &f->pg, f->gzip, &f->body,
                       feed_checked, f);
    return 0;
}

static int
get_feed(struct req *rq, struct reply *out, struct problem *pb)
{
    struct feed_call *f = rq->state;

    if (f->body == NULL && db_feed_list(&rq->who, f->channel_id, f->newest, &f->pg, f->gzip,
                                        !f->stale, &f->body, pb) != 0)
        return -1;
    reply_parts(out, 200, f->body);
    f->body = NULL;
    out->vary_encoding = true;
    return 0;
}

/* GET /v1/feed/summary?channelId=: the queue's counts. */
static int
get_summary(struct req *rq, struct reply *out, struct problem *pb)
{
    char channel_buf[37];
    const char *channel_id;
    char *json;
    size_t len;

    if (query_uuid(rq, "channelId", channel_buf, &channel_id, pb) != 0 ||
        db_feed_summary(&rq->who, channel_id, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

const struct route routes_feed[] = {
    {"GET", "/v1/feed", SCOPE_READ, ROUTE_NO_BODY, get_feed, start_feed},
    {"GET", "/v1/feed/summary", SCOPE_READ, ROUTE_NO_BODY, get_summary, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
