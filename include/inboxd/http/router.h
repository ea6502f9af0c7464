/*
 * router: method + path pattern → route, with path parameters.
 *
 * Patterns are literal segments and `{name}` parameters; a last `{name...}`
 * takes one or more remaining segments with their slashes (a Shopify topic
 * key "orders/create" arrives that way, MHD having decoded %2F). A parameter named
 * `id` or ending in `Id` must be a UUID or the path does not match (so a
 * malformed id is a 404, like any unknown resource). Unknown path: 404;
 * known path, other method: 405 with the Allow list. A HEAD request
 * matches the GET route of its path (and Allow names HEAD after GET).
 */
#ifndef INBOXD_ROUTER_H
#define INBOXD_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "inboxd/lib/problem.h"
#include "inboxd/lib/scope.h"

#define ROUTER_MAX_PARAMS 4
#define ROUTER_MAX_PATH 1024

struct req;
struct reply;

typedef int (*route_fn)(struct req *rq, struct reply *out, struct problem *pb);

/* Starts a route's database work without waiting for it: returns 0 once
 * started (the work then ends in exactly one req_resume()), or -1 with pb
 * when it could not start. */
typedef int (*route_start_fn)(struct req *rq, struct problem *pb);

/* Route flags. */
enum {
    ROUTE_PUBLIC = 1u << 0,     /* no key (health, readiness, metrics) */
    ROUTE_WEBHOOK = 1u << 1,    /* authenticated by HMAC in the handler */
    ROUTE_METRICS = 1u << 2,    /* public unless metrics_require_key */
    ROUTE_NO_BODY = 1u << 3,    /* a request body is not expected */
};

struct route {
    const char *method;
    const char *pattern;
    unsigned scope;             /* required scope bit; 0: any valid key */
    unsigned flags;
    route_fn fn;
    /* When set, the route answers in two steps: start() hands the database
     * work to the reader, and fn then renders its result; no thread waits
     * in between. */
    route_start_fn start;
};

/* Where a route's 201 answers point (API.md v1.1: every 201 carries
 * Location): the route by method and pattern, and the Location as a path
 * whose {member} parts ("{id}", "{action.id}") are string members of the
 * answer's JSON (reply_locate). A list ends with an entry whose method is
 * NULL. Kept beside the route tables rather than in them, so a table row
 * stays six fields. */
struct route_location {
    const char *method;
    const char *pattern;
    const char *location;
};

struct route_match {
    const struct route *route;
    int index;                  /* position in router_routes(), for metrics */
    int nparams;
    const char *names[ROUTER_MAX_PARAMS];
    char values[ROUTER_MAX_PARAMS][256];
};

/* Builds the table from `tables` (NULL-terminated; each table ends with
 * an entry whose method is NULL), which must outlive the router: the
 * routes/ tables, routes_all. Call once at start. */
int router_init(const struct route *const *tables) __attribute__((warn_unused_result));

/* Matches. Returns 0 with m filled, or -1 with pb set to 404 or 405
 * (pb->allow filled for 405). `path` has no query string. */
int router_match(const char *method, const char *path, struct route_match *m,
                 struct problem *pb) __attribute__((warn_unused_result));

/* Gives the routes of `list` (which must outlive the router) their 201
 * Location, after router_init. -1 when an entry names no route. */
int router_locations(const struct route_location *list) __attribute__((warn_unused_result));

/* The Location template of the route at `index` (route_match.index), or
 * NULL for a route without one. Borrowed (static). */
const char *router_location(int index);

/* Every route, in table order; *n set to the count. Borrowed (static). */
const struct route *const *router_routes(size_t *n);

/* A parameter's value by name, or NULL. Borrowed from m. */
const char *router_param(const struct route_match *m, const char *name);

#endif
