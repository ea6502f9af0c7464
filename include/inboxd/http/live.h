/*
 * live: the hub of an instance's live connections (README "Live
 * events"): the event streams of GET /v1/events and the claims that wait
 * for work (waitSeconds). One thread owns one listening connection to the
 * primary; it reads new events once per account and fans them out to
 * every stream, and wakes waiting claims. An idle stream or waiting claim
 * is a suspended connection: no job thread, no database connection.
 */
#ifndef INBOXD_LIVE_H
#define INBOXD_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "inboxd/db/events.h"

struct req;

/* Starts the hub: its listening connection to conninfo (opened, and
 * reopened when it drops, by the hub's thread) and a heartbeat comment
 * on every stream every heartbeat_s. Returns 0 or -1. */
int live_start(const char *conninfo, int heartbeat_s);

/* Ends every stream and wakes every waiting claim (the server is
 * stopping); none waits from here on. */
void live_drain(void);

/* Stops the hub's thread and closes its connection, after live_drain()
 * and once no connection is served any more. */
void live_stop(void);

/* For /metrics: streams open, claims waiting, the LISTEN connection up. */
struct live_counts {
    int streams, waiting;
    bool listening;
};
void live_stats(struct live_counts *out);

/* --- streams --------------------------------------------------------------- */

/* The event types, in the order of their bits in a filter. */
extern const char *const live_event_types[]; /* NULL-terminated */

struct live_filter {
    unsigned types;     /* bit i: live_event_types[i]; 0: every type */
    char channel[37];   /* "" every channel, else only that channel's events */
};

struct live_stream;

/* A stream of rq's account from after `start` (reset: it begins with one
 * `reset` event). The reply's stream (struct reply's live member) is
 * live_stream_read() with it, freed with live_stream_free(). NULL on OOM. */
struct live_stream *live_stream_new(struct req *rq, const struct live_filter *f,
                                    const struct event_pos *start, bool reset);
ssize_t live_stream_read(void *stream, uint64_t pos, char *buf, size_t max);
void live_stream_free(void *stream);

/* The SSE id of an event position, and back (false: not one of ours). */
#define LIVE_ID_LEN 64
void live_id_encode(const struct event_pos *p, char out[LIVE_ID_LEN]);
bool live_id_decode(const char *s, struct event_pos *p);

/* --- claims that wait ------------------------------------------------------- */

/* Counts the wake-ups of work seen: read before a claim, it lets
 * live_park() see work that arrived while the claim ran. */
uint64_t live_work_gen(void);

/* Whether rq's client has hung up (shut its side of the connection). */
bool live_client_gone(const struct req *rq);

/* Parks rq (its connection suspended, rq->wait filled) until work of its
 * queue arrives for its account, its deadline passes, the client hangs
 * up, a periodic re-check is due or the server stops: then its handler
 * runs again (jobs_rerun). Called by the job thread that ran it. */
void live_park(struct req *rq);

#endif
