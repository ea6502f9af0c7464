/*
 * request: the life of one request.
 *
 * MHD calls the access handler several times per request. The first call
 * allocates a struct req, matches the route and authenticates the key
 * (req_guard); later calls append the body (up to body_limit: 413); the
 * last call hands the handler to a job thread, or to the route's start(),
 * and suspends the connection; the call after the resume queues the
 * answer. The completion callback writes the access log line, counts the
 * metrics and frees the req: it runs on every path and nothing else frees
 * a req.
 */
#ifndef INBOXD_REQUEST_H
#define INBOXD_REQUEST_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "inboxd/db/who.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/router.h"
#include "inboxd/http/tls.h"
#include "inboxd/lib/log.h"
#include "inboxd/lib/lsn.h"
#include "inboxd/lib/problem.h"

struct MHD_Connection;

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
    unsigned cert_scopes;     /* what the client certificate allows (every scope without one) */
    char cert_name[TLS_NAME_MAX]; /* the client certificate's name, "" without one */
    char *body;               /* NUL-terminated copy of the body (may hold NULs) */
    size_t body_len, body_cap;
    bool has_body;
    int64_t start_ns;
    int status;               /* the answer, for the access line */
    const char *user_agent;
    const char *idem_key;     /* Idempotency-Key being honoured (req_idempotency) */
    char idem_claim[48];      /* its record's claim, which a release names */
    bool idem_replayed;       /* the answer is the first request's */
    uint64_t position_need;   /* Inboxd-Position sent: what a replica must have replayed */
    char position[LSN_TOKEN_LEN + 1]; /* Inboxd-Position answered: "" when nothing committed */
    /* Answering off the loop (a job thread, or the route's start()). */
    atomic_int phase;         /* REQ_* below */
    atomic_uint resumed;      /* futex word: 1 once req_resume() ran (run_started) */
    bool thread_waits;        /* a job thread waits for req_resume(), else the loop does */
    bool auth_later;          /* the key was not cached: a job thread checks it */
    bool started;             /* route start() was called */
    bool must_wait;           /* req_resume() said fn must run where it may wait */
    bool finish;              /* fn is still to run on the started work, on the loop */
    bool ok;                  /* out holds the answer, else pb */
    bool close;               /* answer with Connection: close (a framing error) */
    struct reply out;         /* the answer */
    void *state;              /* req_state() */
    void (*state_cleanup)(void *state);
    struct req *next_job;
    struct pump *pump;        /* a streamed reply a job thread is to refill */
    /* A claim that waits for work (POST …/claim with waitSeconds; live.h):
     * between its runs it is parked in the hub, its connection suspended,
     * on no job thread. */
    struct {
        int64_t deadline_ms;  /* clock_ms() at which the wait ends; 0 before the first run */
        int64_t parked_ms;    /* when it was last parked */
        uint64_t gen;         /* live_work_gen() before its last claim */
        char queue;           /* 'd' draft requests, 'o' the outbox */
        bool park;            /* the handler found nothing and asks to wait */
        bool rerun;           /* the handler runs again after a wait */
        bool gone;            /* the client hung up while it waited */
        struct req *next;     /* in the hub's list */
    } wait;
    /* Last: req_new() zeroes everything before them, and problem_init()s
     * them, rather than clearing 9 KB a request. */
    struct problem early;     /* found before the handler ran (413, 415, 401, ...) */
    struct problem pb;        /* the answer when not ok */
};

enum { REQ_NEW, REQ_WAITING, REQ_READY };

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

const char *req_query(const struct req *rq, const char *name);
const char *req_param(const struct req *rq, const char *name);

/* For the server: */

/* A new request of conn, its ids and log context set; NULL on OOM. */
struct req *req_new(struct MHD_Connection *conn, const char *url, const char *method);
void req_free(struct req *rq);

/* The guards of the first call, flat, in this order: route (404/405),
 * key (401; a key not in the cache is left for a job thread:
 * rq->auth_later), scope (403), body type (415), body size (413).
 * Returns 0, or -1 with rq->early set. */
int req_guard(struct req *rq, const char *url);

/* 403 unless the key has the route's scope. */
int req_check_scope(struct req *rq, struct problem *pb);

/* Appends a body chunk; past body_limit the body is dropped and 413 noted
 * in rq->early. */
void req_append_body(struct req *rq, const char *data, size_t n);

/* The body every handler may rely on (NUL-terminated, maybe empty), and
 * its hash. Returns 0 or -1 with rq->pb. */
int req_body_ready(struct req *rq);

/* Stores the first answer of an idempotent POST, or forgets the key when
 * the failure was ours (5xx) so that a retry runs again. A release that
 * cannot reach the database either (PostgreSQL down) is kept in memory and
 * tried again before the next keyed request's claim, so a retry on this
 * instance runs once the database is back; elsewhere the record's lease
 * (idempotency_lease_s) bounds the wait. */
void req_idempotency_settle(struct req *rq, const char *key, const struct reply *out,
                            const struct problem *pb, bool ok);

#endif
