/*
 * db_events: the SQL of the live event stream (README "Live events"):
 * where a new stream starts, and the listening connection of an instance
 * that is woken by NOTIFY and reads the event log.
 *
 * The events themselves are written by triggers in the writing
 * transaction (sql/current/events.sql); nothing here writes one.
 */
#ifndef INBOXD_DB_EVENTS_H
#define INBOXD_DB_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "inboxd/db/who.h"
#include "inboxd/lib/problem.h"

/* A commit position in the event log: (write_xid, id). */
struct event_pos {
    uint64_t xid;
    int64_t id;
};

/* a < b, a == b: -1, 0, 1. */
int event_pos_cmp(const struct event_pos *a, const struct event_pos *b);

/*
 * Where a stream of the caller's account starts. after NULL: now (the
 * position of the watermark: only what commits from here on). Else after
 * that event, unless retention has deleted events past it: then *reset
 * is set and the stream starts now. Statuses: 503.
 */
int db_events_start(const struct who *w, const struct event_pos *after, struct event_pos *start,
                    bool *reset, struct problem *pb) __attribute__((warn_unused_result));

/* --- the listening connection ---------------------------------------------- */

struct db_listener;

/* Connects to conninfo (a direct connection to the primary: never a
 * replica, never PgBouncer in transaction mode, which does not keep
 * LISTEN) and LISTENs on inboxd_events. NULL with err on failure. */
struct db_listener *db_listener_open(const char *conninfo, char *err, size_t errlen);
void db_listener_close(struct db_listener *l);

/* Its socket, to poll for input. */
int db_listener_fd(const struct db_listener *l);

/*
 * Takes what arrived on the socket and calls fn once per notification:
 * kind 'e' (events of the account were written), 'd' (a draft request
 * was queued), 'o' (an outbound message is pending). Returns 0, or -1
 * when the connection is lost (close it and open another).
 */
typedef void (*db_notice_fn)(void *arg, char kind, const char *account_id);
int db_listener_drain(struct db_listener *l, db_notice_fn fn, void *arg);

/* One event, borrowed for the length of the callback. */
struct event_row {
    struct event_pos pos;
    const char *type;
    const char *channel_id; /* NULL: the event has no channel */
    const char *data;       /* a JSON object, on one line */
};
typedef void (*db_event_fn)(void *arg, const struct event_row *e);

/*
 * Reads up to `limit` events of `account` after `after` and below the
 * commit watermark, in commit order, calling fn for each. *mark gets
 * the watermark's position, *full whether the limit was reached (read
 * again from the last one), *held whether events at or above the
 * watermark exist (they are released once older writers end: read again
 * soon). Returns 0, or -1 with pb (the connection may be lost).
 */
int db_listener_read(struct db_listener *l, const char *account, const struct event_pos *after,
                     int limit, db_event_fn fn, void *arg, struct event_pos *mark, bool *full,
                     bool *held, struct problem *pb) __attribute__((warn_unused_result));

#endif
