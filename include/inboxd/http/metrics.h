/*
 * metrics: Prometheus counters and histograms kept in process memory.
 *
 * Requests are counted by route pattern and status, and timed into a
 * latency histogram per route; the pool's gauges and the database error
 * counters are read from db at scrape time. Lock-free: atomics only.
 */
#ifndef INBOXD_METRICS_H
#define INBOXD_METRICS_H

#include <stddef.h>

/* Sizes the tables for the router's routes. Call after router_init(). */
int metrics_init(void) __attribute__((warn_unused_result));

/* Counts one finished request: route index from the router, or -1 when no
 * route matched; status 0 when no response was sent. */
void metrics_observe(int route, int status, double seconds);

/* Extra text appended to a scrape (queue depths), produced by the caller. */
typedef char *(*metrics_extra_fn)(void);

/* Renders the exposition text. Returns a new malloc()ed string (caller
 * free()s) with its length in *len, or NULL on OOM. `extra` may be NULL. */
char *metrics_render(const char *extra, size_t *len);

#endif
