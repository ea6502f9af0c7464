/*
 * server: libmicrohttpd glue and the life of one request.
 *
 * MHD calls the access handler several times per request. The first call
 * allocates a struct req, matches the route and authenticates the key;
 * later calls append the body (up to body_limit: 413); the last call runs
 * the handler: it suspends the connection and hands the request to a job
 * thread, or to the route's start(); the call after the resume queues the
 * answer.
 * The completion callback writes the access log line, counts the metrics
 * and frees the req: it runs on every path and nothing else frees a req.
 *
 * Handlers never write to the connection: they fill a struct reply, or a
 * problem and return -1.
 */
#ifndef INBOXD_SERVER_H
#define INBOXD_SERVER_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "inboxd/http/auth.h"
#include "inboxd/lib/config.h"
#include "inboxd/lib/log.h"
#include "inboxd/lib/parts.h"
#include "inboxd/lib/problem.h"
#include "inboxd/http/router.h"

struct MHD_Connection;
struct pump;

/* What a handler answers. The reply owns body and stream_ctx. */
typedef ssize_t (*reply_stream_fn)(void *ctx, uint64_t pos, char *buf, size_t max);

struct reply {
    int status;
    char *body;               /* malloc()ed */
    size_t len;
    const char *content_type; /* static; default application/json */
    char etag[72];            /* with quotes; "" for none */
    char location[200];
    int retry_after;
    reply_stream_fn stream;   /* when set, body is ignored: chunked response */
    void *stream_ctx;
    void (*stream_free)(void *ctx);
    bool replayed;            /* an idempotent repeat: `Idempotent-Replayed: true` */
    struct parts *parts;      /* when set (and no stream): the body in pieces,
                               * sent without copying (parts.h), with
                               * Content-Encoding when parts->encoding is set */
    bool vary_encoding;       /* the body depends on Accept-Encoding */
};

struct req {
    struct log_ctx log;
    char request_id[80];
    char trace_id[33];
    char route_name[160];     /* "GET /v1/conversations/{id}" */
    char ip[64];
    struct MHD_Connection *conn;
    const char *method;       /* borrowed from MHD for the request's life */
    char *url;                /* the path as requested (owned) */
    struct route_match match;
    bool matched;
    struct who who;
    char *body;               /* NUL-terminated copy of the body (may hold NULs) */
    size_t body_len, body_cap;
    bool has_body;
    int64_t start_ns;
    int status;               /* the answer, for the access line */
    const char *user_agent;
    const char *idem_key;     /* Idempotency-Key being honoured (req_idempotency) */
    bool idem_replayed;       /* the answer is the first request's */
    /* Answering off the loop (a job thread, or the route's start()). */
    atomic_int phase;         /* REQ_* below */
    atomic_uint resumed;      /* futex word: 1 once req_resume() ran (run_started) */
    bool thread_waits;        /* a job thread waits for req_resume(), else the loop does */
    bool auth_later;          /* the key was not cached: a job thread checks it */
    bool started;             /* route start() was called */
    bool must_wait;           /* req_resume() said fn must run where it may wait */
    bool finish;              /* fn is still to run on the started work, on the loop */
    bool ok;                  /* out holds the answer, else pb */
    struct reply out;         /* the answer */
    void *state;              /* req_state() */
    void (*state_cleanup)(void *state);
    struct req *next_job;
    struct pump *pump;        /* a streamed reply a job thread is to refill */
    /* Last: req_new() zeroes everything before them, and problem_init()s
     * them, rather than clearing 9 KB a request. */
    struct problem early;     /* found before the handler ran (413, 415, 401, ...) */
    struct problem pb;        /* the answer when not ok */
};

enum { REQ_NEW, REQ_WAITING, REQ_READY };

/* Serialises doc (takes ownership: decref'd in every case) as the reply
 * body. Returns 0, or -1 with a 500 problem on OOM. */
int reply_json(struct reply *out, int status, json_t *doc, struct problem *pb)
    __attribute__((warn_unused_result));

/* Takes ownership of text (malloc()ed, len bytes) as the reply body. */
void reply_text(struct reply *out, int status, char *text, size_t len, const char *content_type);

/*
 * Honours the request's Idempotency-Key (API.md "Conventions") once
 * rq->who knows the account. The server calls it before every handler; a
 * ROUTE_WEBHOOK handler, which learns its account from the signature,
 * calls it itself right after verifying. Returns 0 to go on, 1 when out
 * holds the first request's answer (the handler returns it as it is), or
 * -1 with pb. The server stores the handler's answer afterwards.
 */
int req_idempotency(struct req *rq, struct reply *out, struct problem *pb)
    __attribute__((warn_unused_result));

/* Takes ownership of body as the reply body (application/json). */
void reply_parts(struct reply *out, int status, struct parts *body);

/*
 * The state a route's start() keeps for its fn: size bytes, zeroed, made
 * on the first call and freed with the request (cleanup, when not NULL,
 * runs first). NULL when out of memory.
 */
void *req_state(struct req *rq, size_t size, void (*cleanup)(void *state));

/*
 * Ends the work a route's start() began (arg is the struct req): rc 0, or
 * -1 with pb, which is copied, or REQ_MUST_WAIT: fn is to go on with work
 * that waits on the database (it then runs on a job thread).
 * Callable from any thread, once per start(); the request may be answered
 * and freed before it returns.
 */
#define REQ_MUST_WAIT 1
void req_resume(void *arg, int rc, const struct problem *pb);

/* Request accessors. Return borrowed values valid for the request, or NULL. */
const char *req_header(const struct req *rq, const char *name);

/*
 * Whether an Accept-Encoding value (NULL: the header is absent) accepts
 * the content coding `coding` (RFC 9110 12.5.3): listed, or covered by
 * "*", with a q-value above 0. Case-insensitive. An absent header accepts
 * only identity, as clients that want compression say so.
 */
bool http_accepts_coding(const char *accept_encoding, const char *coding);
const char *req_query(const struct req *rq, const char *name);
const char *req_param(const struct req *rq, const char *name);

/* Starts serving. cf must outlive the server. Returns 0 or -1 with err. */
int server_start(const struct config *cf, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The configuration the server runs with (for the settings a route
 * reads: webhook sources, retention). Borrowed; valid while it runs. */
const struct config *server_config(void);

/* The port actually bound (useful when listen asked for port 0). */
unsigned server_port(void);

/* Stops accepting, lets in-flight requests finish (up to
 * shutdown_timeout_s), then stops every thread. */
void server_stop(void);

/* Requests being handled right now. */
int server_inflight(void);

#endif
