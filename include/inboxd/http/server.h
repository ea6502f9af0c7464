/*
 * server: the HTTP front on libmicrohttpd: one loop serves every
 * connection and never waits on the database (server.c says how).
 * Routes use request.h and reply.h; this is starting and stopping, and
 * the few calls the other files of the HTTP layer make into the loop.
 */
#ifndef INBOXD_SERVER_H
#define INBOXD_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "inboxd/lib/config.h"

struct req;


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

/* tls.c's record of conn's client certificate; NULL without HTTPS. */
struct MHD_Connection;
void *server_tls_peer(struct MHD_Connection *conn);

/* For the HTTP layer: */

/* Runs rq's handler to its answer in rq->out, or rq->pb with rq->ok
 * false, on a job thread. Blocks on the database; never writes to the
 * connection. */
void server_handle(struct req *rq);

/* Wakes the loop: a connection was resumed from another thread. */
void server_loop_wake(void);

/* Whether the server is stopping (answers then say Connection: close). */
bool server_stopping(void);

#endif
