/*
 * db_events: where a live stream starts, and the listening connection
 * that reads the event log (events.h).
 *
 * DESIGN. The event log is ordered like the corrections export: by commit
 * position (write_xid, id), handed out only below inboxd_watermark(), so
 * an id once sent is never passed by an event that commits later (README
 * "Commit order"). The watermark and the rows come from one statement.
 * The listening connection is one per instance, owned by the HTTP
 * layer's hub (src/http/live.c), which also runs the reads on it: a
 * stream never holds a pool connection.
 *
 * Never here: HTTP, or a PGresult handed to the caller.
 */
#include "inboxd/db/events.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inboxd/db/db.h"
#include "inboxd/db/pool.h"

enum {
    S_START,
    S_READ,
};

/* clang-format off */
static const struct db_stmt stmts[] = {
    /* The watermark, and the furthest position retention deleted (none:
     * 0, 0). */
    [S_START] = {"events_start",
                 "SELECT inboxd_watermark()::text, coalesce(h.write_xid, '0')::text, "
                 "       coalesce(h.id, 0) "
                 "FROM (SELECT 1) one LEFT JOIN event_horizons h ON h.account_id = $1",
                 1},
    /* One row per event after ($2, $3) below the watermark, each with the
     * watermark and whether events wait at or above it; one row with NULL
     * event columns when there is none. */
    [S_READ] = {"events_read",
                "SELECT w.mark::text, "
                "       EXISTS (SELECT 1 FROM events h WHERE h.account_id = $1 "
                "               AND h.write_xid >= w.mark), "
                "       e.write_xid::text, e.id, e.type, e.channel_id, e.data::text "
                "FROM (SELECT inboxd_watermark() AS mark) w "
                "LEFT JOIN LATERAL (SELECT e.write_xid, e.id, e.type, e.channel_id, e.data "
                "                   FROM events e WHERE e.account_id = $1 "
                "                     AND (e.write_xid, e.id) > ($2::xid8, $3::int8) "
                "                     AND e.write_xid < w.mark "
                "                   ORDER BY e.write_xid, e.id LIMIT $4) e ON true "
                "ORDER BY e.write_xid, e.id",
                4},
};
/* clang-format on */

int
event_pos_cmp(const struct event_pos *a, const struct event_pos *b)
{
    if (a->xid != b->xid)
        return a->xid < b->xid ? -1 : 1;
    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    return 0;
}

/* --- start ----------------------------------------------------------------- */

struct start {
    const struct who *w;
    const struct event_pos *after;
    struct event_pos *start;
    bool *reset;
};

static int
start_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct start *s = arg;
    const char *p[] = {s->w->account_id};
    struct event_pos mark, horizon;
    PGresult *res;

    if ((res = db_exec(c, &stmts[S_START], p, pb)) == NULL)
        return -1;
    mark = (struct event_pos){strtoull(PQgetvalue(res, 0, 0), NULL, 10), 0};
    horizon = (struct event_pos){strtoull(PQgetvalue(res, 0, 1), NULL, 10),
                                 strtoll(PQgetvalue(res, 0, 2), NULL, 10)};
    PQclear(res);
    /* Resumable when nothing past `after` was deleted. */
    *s->reset = s->after != NULL && event_pos_cmp(s->after, &horizon) < 0;
    if (s->after != NULL && !*s->reset)
        *s->start = *s->after;
    else /* now, and never before what was deleted (the watermark may lag it) */
        *s->start = event_pos_cmp(&mark, &horizon) < 0 ? horizon : mark;
    return 0;
}

int
db_events_start(const struct who *w, const struct event_pos *after, struct event_pos *start,
                bool *reset, struct problem *pb)
{
    struct start s = {w, after, start, reset};

    /* The primary: a replica's watermark lags, and the hub reads there. */
    return db_read(start_fn, &s, false, pb);
}

/* --- the listening connection ---------------------------------------------- */

struct db_listener {
    struct dbconn *c;
};

struct db_listener *
db_listener_open(const char *conninfo, char *err, size_t errlen)
{
    struct db_listener *l = calloc(1, sizeof(*l));
    struct problem pb;

    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if ((l->c = db_connect_once(conninfo, err, errlen)) == NULL) {
        free(l);
        return NULL;
    }
    problem_init(&pb);
    if (db_simple(l->c, "LISTEN inboxd_events", &pb) != 0) {
        snprintf(err, errlen, "LISTEN failed");
        db_listener_close(l);
        return NULL;
    }
    return l;
}

void
db_listener_close(struct db_listener *l)
{
    if (l == NULL)
        return;
    db_close_once(l->c);
    free(l);
}

int
db_listener_fd(const struct db_listener *l)
{
    return PQsocket(l->c->pg);
}

int
db_listener_drain(struct db_listener *l, db_notice_fn fn, void *arg)
{
    PGnotify *n;

    if (PQconsumeInput(l->c->pg) == 0 || PQstatus(l->c->pg) != CONNECTION_OK)
        return -1;
    while ((n = PQnotifies(l->c->pg)) != NULL) {
        /* "<kind> <account uuid>"; anything else is not ours. */
        if (n->extra != NULL && strlen(n->extra) == 38 && n->extra[1] == ' ')
            fn(arg, n->extra[0], n->extra + 2);
        PQfreemem(n);
    }
    return 0;
}

int
db_listener_read(struct db_listener *l, const char *account, const struct event_pos *after,
                 int limit, db_event_fn fn, void *arg, struct event_pos *mark, bool *full,
                 bool *held, struct problem *pb)
{
    char xid[24], id[24], lim[16];
    const char *p[] = {account, xid, id, lim};
    PGresult *res;
    int n;

    snprintf(xid, sizeof(xid), "%" PRIu64, after->xid);
    snprintf(id, sizeof(id), "%" PRId64, after->id);
    snprintf(lim, sizeof(lim), "%d", limit);
    /* Notifications that arrive meanwhile wait in libpq for the next
     * db_listener_drain(). */
    if ((res = db_exec(l->c, &stmts[S_READ], p, pb)) == NULL)
        return -1;
    n = PQntuples(res);
    *mark = (struct event_pos){strtoull(PQgetvalue(res, 0, 0), NULL, 10), 0};
    *held = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
    if (n == 1 && PQgetisnull(res, 0, 3))
        n = 0;
    *full = n >= limit;
    for (int i = 0; i < n; i++) {
        struct event_row e = {
            .pos = {strtoull(PQgetvalue(res, i, 2), NULL, 10), strtoll(PQgetvalue(res, i, 3), NULL, 10)},
            .type = PQgetvalue(res, i, 4),
            .channel_id = db_val(res, i, 5),
            .data = PQgetvalue(res, i, 6),
        };

        fn(arg, &e);
    }
    PQclear(res);
    return 0;
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
