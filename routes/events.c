/*
 * routes/events: the live event stream (API.md "Live events": GET
 * /v1/events), text/event-stream.
 *
 * Reads ?types, ?channelId and Last-Event-ID (or ?lastEventId, for a
 * client that cannot set headers), asks the db layer where the stream
 * starts, and answers a stream that the hub (http/live.h) feeds. No SQL
 * here.
 */
#include "inboxd/db/events.h"
#include "inboxd/http/live.h"
#include "inboxd/http/query.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/http/server.h"
#include "inboxd/routes/routes.h"

#include <stdio.h>
#include <string.h>

/* ?types: a comma-separated list of event types; empty or absent: all. */
static int
read_types(const struct req *rq, unsigned *out, struct problem *pb)
{
    const char *p = req_query(rq, "types");

    *out = 0;
    while (p != NULL && *p != '\0') {
        size_t n = strcspn(p, ",");
        bool known = false;

        for (int i = 0; live_event_types[i]; i++) {
            if (n > 0 && strlen(live_event_types[i]) == n &&
                strncmp(p, live_event_types[i], n) == 0) {
                *out |= 1u << i;
                known = true;
            }
        }
        if (!known)
            return query_invalid(pb, "types",
                                 "lists an unknown event type (draft.ready, draft.acted, "
                                 "feed.changed, notification.created, message.delivered, "
                                 "delivery.failed, job.updated)");
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

static int
get_events(struct req *rq, struct reply *out, struct problem *pb)
{
    struct live_filter f = {0};
    struct event_pos after, start;
    const char *last = req_header(rq, "Last-Event-ID"), *channel;
    char channel_buf[37];
    bool has_after = false, reset = false, too_old = false;
    struct live_stream *s;

    if (read_types(rq, &f.types, pb) != 0 ||
        query_uuid(rq, "channelId", channel_buf, &channel, pb) != 0)
        return -1;
    if (channel != NULL)
        snprintf(f.channel, sizeof(f.channel), "%s", channel);
    if (last == NULL)
        last = req_query(rq, "lastEventId");
    /* An id that is not one of ours cannot be resumed from: the client
     * starts again (one `reset`), as one too far behind does. */
    if (last != NULL && last[0] != '\0') {
        has_after = live_id_decode(last, &after);
        reset = !has_after;
    }
    if (server_stopping())
        return problem_set(pb, 503, "stopping", "the server is stopping");
    if (db_events_start(&rq->who, has_after ? &after : NULL, &start, &too_old, pb) != 0)
        return -1;
    /* HEAD: what a GET would answer first, and no stream to hold open. */
    if (strcmp(rq->method, "HEAD") == 0)
        return reply_head_of_stream(out, "text/event-stream", pb);
    s = live_stream_new(rq, &f, &start, reset || too_old);
    if (s == NULL)
        return problem_internal(pb, "out of memory");
    out->status = 200;
    out->content_type = "text/event-stream";
    out->stream = live_stream_read;
    out->stream_ctx = s;
    out->stream_free = live_stream_free;
    out->live = true;
    return 0;
}

const struct route routes_events[] = {
    {"GET", "/v1/events", SCOPE_READ, ROUTE_NO_BODY, get_events, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
