/*
 * reply: what a handler answers (a struct reply), and how the server
 * sends it or a problem document.
 *
 * Handlers never write to the connection: they fill a struct reply, or a
 * problem and return -1; the loop sends either.
 */
#ifndef INBOXD_REPLY_H
#define INBOXD_REPLY_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "inboxd/lib/parts.h"
#include "inboxd/lib/problem.h"

struct req;
struct pump;

/* What a handler answers. The reply owns body and stream_ctx. */
typedef ssize_t (*reply_stream_fn)(void *ctx, uint64_t pos, char *buf, size_t max);

struct reply {
    int status;
    char *body;               /* malloc()ed */
    size_t len;
    const char *content_type; /* static; default application/json */
    char etag[72];            /* with quotes; "" for none */
    char location[1024];      /* a 201's: a registry path with the longest
                               * topic key the router takes (255 bytes),
                               * percent-encoded, fits */
    char resume_cursor[64];   /* "" for none: Inboxd-Resume-Cursor */
    int retry_after;
    reply_stream_fn stream;   /* when set, body is ignored: chunked response */
    void *stream_ctx;
    void (*stream_free)(void *ctx);
    bool live;                /* the stream is called on the loop and, when it
                               * has nothing, suspends the connection itself
                               * until it has (an event stream: live.h) */
    bool replayed;            /* an idempotent repeat: `Idempotent-Replayed: true` */
    struct parts *parts;      /* when set (and no stream): the body in pieces,
                               * sent without copying (parts.h), with
                               * Content-Encoding when parts->encoding is set */
    bool vary_encoding;       /* the body depends on Accept-Encoding */
};

/* Serialises doc (takes ownership: decref'd in every case) as the reply
 * body. Returns 0, or -1 with a 500 problem on OOM. */
int reply_json(struct reply *out, int status, json_t *doc, struct problem *pb)
    __attribute__((warn_unused_result));

/* Takes ownership of text (malloc()ed, len bytes) as the reply body. */
void reply_text(struct reply *out, int status, char *text, size_t len, const char *content_type);

/*
 * A 201's Location (API.md v1.1 "Every 201 carries Location"): when out
 * is a 201 with a JSON body and no location yet, sets out->location to
 * `created` (the route's router_location()) with each {member} replaced by that
 * string member of the body ("{action.id}" reaches one level down),
 * percent-encoded but for '/'. Nothing happens for another status, a NULL
 * `created`, or a body without the member (the answer itself is never
 * failed for its Location).
 */
void reply_locate(struct reply *out, const char *created);

/*
 * The answer to a HEAD of a route whose GET answers a stream (the event
 * stream, the NDJSON export): status and content type with an empty body,
 * once the handler has checked everything a GET would, so that nothing is
 * held open for a body that is never sent. Returns 0, or -1 with a 500 in
 * pb (out of memory).
 */
int reply_head_of_stream(struct reply *out, const char *content_type, struct problem *pb);

/* Takes ownership of body as the reply body (application/json). */
void reply_parts(struct reply *out, int status, struct parts *body);

/*
 * Whether an Accept-Encoding value (NULL: the header is absent) accepts
 * the content coding `coding` (RFC 9110 12.5.3): listed, or covered by
 * "*", with a q-value above 0. Case-insensitive. An absent header accepts
 * only identity, as clients that want compression say so.
 */
bool http_accepts_coding(const char *accept_encoding, const char *coding);
/* For the server: */

/* Frees what the reply owns and empties it. */
void reply_cleanup(struct reply *out);

/* Queues out (its body, parts or stream now the response's) or the
 * problem document of pb on rq's connection; on the loop only. */
enum MHD_Result reply_send(struct req *rq, struct reply *out);
enum MHD_Result reply_send_problem(struct req *rq, const struct problem *pb);

/* On a job thread: the next piece of a streamed reply into its buffer. */
void reply_pump_fill(struct pump *p);

#endif
