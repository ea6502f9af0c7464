/*
 * live: the hub of an instance's live connections (live.h).
 *
 * DESIGN. One thread, one direct connection to the primary that LISTENs
 * on inboxd_events (db/events.h). A NOTIFY says "account A wrote events"
 * or "work was queued for A"; the event log is the truth. On an events
 * wake-up the hub reads the account's new events once, from the lowest
 * position among its streams, and appends each to every stream of the
 * account whose filter takes it; a stream waiting for data is resumed.
 * Streams are suspended MHD connections with a buffer here: the loop's
 * content reader (live_stream_read) takes from the buffer, and suspends
 * the connection when it is empty. Nothing waits on the database but
 * this thread.
 *
 * The watermark holds back an event whose transaction committed while an
 * older writer is still open (README "Commit order"); that writer's end
 * sends no notification when it wrote no event, so while events are held
 * the hub reads again after a short, growing delay. A timer (SAFETY_MS)
 * reads every account again whatever happened, and a lost connection is
 * reopened and followed by a read of every account: the positions are in
 * the streams, so nothing is lost while the hub was deaf.
 *
 * A waiting claim is parked here between runs of its handler: a wake-up
 * of its queue and account, its deadline, a re-check every RECHECK_MS
 * (leases that expire and backoffs that end send no notification), the
 * client hanging up (seen with poll(POLLRDHUP) on its socket:
 * libmicrohttpd does not watch a suspended connection) or the server
 * stopping hand it back to a job thread.
 *
 * Never here: SQL (db/events.c), or sending on a connection (the loop).
 */
#include "inboxd/http/live.h"

#include <errno.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "inboxd/http/jobs.h"
#include "inboxd/http/request.h"
#include "inboxd/http/server.h"
#include "inboxd/lib/clock.h"
#include "inboxd/lib/cursor.h"
#include "inboxd/lib/log.h"
#include "inboxd/lib/sbuf.h"

/* Events read per statement. */
#define READ_LIMIT 500
/* Every account is read this often, notified or not. */
#define SAFETY_MS 5000
/* Hang-ups, heartbeats and deadlines are looked at this often. */
#define TICK_MS 250
/* A waiting claim runs again this often without a wake-up. */
#define RECHECK_MS 5000
/* Events held back by the watermark: first and longest delay. */
#define HELD_FIRST_MS 10
#define HELD_MAX_MS 1000
/* A stream whose client reads slower than events come is cut past this
 * much unsent; it resumes with Last-Event-ID. */
#define STREAM_BUFFER_MAX ((size_t)1024 * 1024)
/* The listening connection, once lost, is tried again this often. */
#define RECONNECT_MS 1000

const char *const live_event_types[] = {
    "draft.ready",     "draft.acted",      "feed.changed", "notification.created",
    "message.delivered", "delivery.failed", "job.updated",  NULL,
};

struct account {
    struct account *next;
    char id[37];
    int streams;
    bool dirty; /* to read */
    bool held;  /* its last read found events held back */
};

struct live_stream {
    struct live_stream *next;
    struct req *rq;
    struct account *acct;
    struct live_filter f;
    struct event_pos pos; /* the last event it has been given, or passed */
    struct sbuf out;      /* frames not yet taken by the loop */
    size_t off;           /* of out, taken */
    int fd;               /* the client's socket: hang-ups */
    bool parked;          /* the connection is suspended for want of data */
    bool ended;           /* end once out is sent */
    bool cut;             /* end now, with an error (hang-up, overflow) */
    int64_t last_ms;      /* something was queued then (heartbeat) */
};

static struct {
    pthread_mutex_t mu;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    int efd;
    char *conninfo;
    int heartbeat_ms;
    bool draining;
    struct account *accounts;
    struct live_stream *streams;
    struct req *parked;
    bool all_dirty;
} hub = {.mu = PTHREAD_MUTEX_INITIALIZER, .efd = -1};

static atomic_ullong work_gen;
static atomic_bool listening;

/* Wakes the hub's thread. */
static void
hub_wake(void)
{
    uint64_t one = 1;

    if (hub.efd >= 0 && write(hub.efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_event(LOG_WARN, NULL, "live.eventfd", LOG_S("err", strerror(errno)));
}

/* --- ids -------------------------------------------------------------------- */

/* An event id is a commit-position cursor (cursor.h): the xid, and the
 * event's number as the last 16 hex digits of the UUID. */
#define ID_PREFIX "00000000-0000-0000-"

void
live_id_encode(const struct event_pos *p, char out[LIVE_ID_LEN])
{
    struct cursor c = {.has_xid = true, .xid = p->xid};
    uint64_t n = (uint64_t)p->id;

    snprintf(c.id, sizeof(c.id), ID_PREFIX "%04" PRIx64 "-%012" PRIx64, n >> 48,
             n & (uint64_t)0xffffffffffff);
    cursor_encode(&c, out);
}

bool
live_id_decode(const char *s, struct event_pos *p)
{
    struct cursor c;
    struct problem pb;
    char hex[17];
    char *end;
    unsigned long long n;

    problem_init(&pb);
    if (s == NULL || cursor_decode(s, &c, &pb) != 0 || !c.has_xid ||
        strncmp(c.id, ID_PREFIX, strlen(ID_PREFIX)) != 0)
        return false;
    memcpy(hex, c.id + 19, 4);
    memcpy(hex + 4, c.id + 24, 12);
    hex[16] = '\0';
    n = strtoull(hex, &end, 16);
    if (*end != '\0' || n > INT64_MAX)
        return false;
    *p = (struct event_pos){c.xid, (int64_t)n};
    return true;
}

/* --- accounts ---------------------------------------------------------------- */

static struct account *
account_find(const char *id)
{
    for (struct account *a = hub.accounts; a; a = a->next)
        if (strcmp(a->id, id) == 0)
            return a;
    return NULL;
}

static void
account_unref(struct account *a)
{
    if (--a->streams > 0)
        return;
    for (struct account **pp = &hub.accounts; *pp; pp = &(*pp)->next) {
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    }
    free(a);
}

/* --- streams ------------------------------------------------------------------ */

/* Resumes a stream that waits for data; with hub.mu held. */
static void
stream_kick(struct live_stream *s)
{
    if (s->parked) {
        s->parked = false;
        req_wake(s->rq);
    }
}

static void
stream_add(struct live_stream *s, const char *frame, size_t n)
{
    if (s->out.len - s->off + n > STREAM_BUFFER_MAX) {
        s->cut = true; /* the client resumes from the last id it read */
        log_event(LOG_WARN, NULL, "live.stream_cut", LOG_S("account_id", s->acct->id),
                  LOG_S("reason", "client reads slower than events come"));
    } else {
        sbuf_add(&s->out, frame, n);
        if (s->out.oom)
            s->cut = true;
    }
    s->last_ms = clock_ms();
    stream_kick(s);
}

static void
frame_event(struct sbuf *b, const char *type, const struct event_pos *p, const char *data)
{
    char id[LIVE_ID_LEN];

    live_id_encode(p, id);
    sbuf_addf(b, "id: %s\nevent: %s\ndata: %s\n\n", id, type, data);
}

struct live_stream *
live_stream_new(struct req *rq, const struct live_filter *f, const struct event_pos *start,
                bool reset)
{
    struct live_stream *s = calloc(1, sizeof(*s));
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct account *a;

    if (s == NULL)
        return NULL;
    s->rq = rq;
    s->f = *f;
    s->pos = *start;
    s->fd = ci ? ci->connect_fd : -1;
    sbuf_init(&s->out);
    /* A first line, so the client sees the stream open at once. */
    sbuf_adds(&s->out, ": connected\n\n");
    if (reset)
        frame_event(&s->out, "reset", start, "{}");
    s->last_ms = clock_ms();
    pthread_mutex_lock(&hub.mu);
    a = account_find(rq->who.account_id);
    if (a == NULL && (a = calloc(1, sizeof(*a))) != NULL) {
        snprintf(a->id, sizeof(a->id), "%s", rq->who.account_id);
        a->next = hub.accounts;
        hub.accounts = a;
    }
    if (a == NULL || s->out.oom) {
        pthread_mutex_unlock(&hub.mu);
        sbuf_cleanup(&s->out);
        free(s);
        return NULL;
    }
    a->streams++;
    a->dirty = true;
    s->acct = a;
    s->ended = hub.draining;
    s->next = hub.streams;
    hub.streams = s;
    pthread_mutex_unlock(&hub.mu);
    hub_wake();
    return s;
}

ssize_t
live_stream_read(void *stream, uint64_t pos, char *buf, size_t max)
{
    struct live_stream *s = stream;
    ssize_t n;

    (void)pos;
    pthread_mutex_lock(&hub.mu);
    if (s->cut) {
        pthread_mutex_unlock(&hub.mu);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (s->off < s->out.len) {
        size_t k = s->out.len - s->off < max ? s->out.len - s->off : max;

        memcpy(buf, s->out.data + s->off, k);
        s->off += k;
        if (s->off == s->out.len)
            s->off = s->out.len = 0;
        n = (ssize_t)k;
    } else if (s->ended) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        /* Nothing to send: wait, suspended, for the hub (stream_kick). */
        s->parked = true;
        req_suspend(s->rq);
        n = 0;
    }
    pthread_mutex_unlock(&hub.mu);
    return n;
}

void
live_stream_free(void *stream)
{
    struct live_stream *s = stream;

    if (s == NULL)
        return;
    pthread_mutex_lock(&hub.mu);
    for (struct live_stream **pp = &hub.streams; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    account_unref(s->acct);
    pthread_mutex_unlock(&hub.mu);
    sbuf_cleanup(&s->out);
    free(s);
}

static bool
stream_takes(const struct live_stream *s, const char *type, const char *channel)
{
    if (s->f.channel[0] && (channel == NULL || strcmp(channel, s->f.channel) != 0))
        return false;
    if (s->f.types == 0)
        return true;
    for (int i = 0; live_event_types[i]; i++)
        if (strcmp(type, live_event_types[i]) == 0)
            return (s->f.types & (1u << i)) != 0;
    return false;
}

/* --- reading the event log ----------------------------------------------------- */

/* The events of one read, copied, to hand out under hub.mu. */
struct batch {
    struct {
        struct event_pos pos;
        char type[32];
        char channel[37];
        bool has_channel;
        char *frame;
        size_t len;
    } *v;
    size_t n, cap;
    bool oom;
};

static void
batch_add(void *arg, const struct event_row *e)
{
    struct batch *b = arg;
    struct sbuf f;

    if (b->oom)
        return;
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        void *v = realloc(b->v, cap * sizeof(*b->v));

        if (v == NULL) {
            b->oom = true;
            return;
        }
        b->v = v;
        b->cap = cap;
    }
    sbuf_init(&f);
    frame_event(&f, e->type, &e->pos, e->data);
    b->v[b->n].pos = e->pos;
    snprintf(b->v[b->n].type, sizeof(b->v[b->n].type), "%s", e->type);
    b->v[b->n].has_channel = e->channel_id != NULL;
    snprintf(b->v[b->n].channel, sizeof(b->v[b->n].channel), "%s",
             e->channel_id ? e->channel_id : "");
    b->v[b->n].frame = sbuf_steal(&f, &b->v[b->n].len);
    if (b->v[b->n].frame == NULL) {
        b->oom = true;
        return;
    }
    b->n++;
}

static void
batch_clear(struct batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->v[i].frame);
    b->n = 0;
    b->oom = false;
}

static struct db_listener *listener;

/* Reads account a's new events and hands them out. Returns 0, or -1 when
 * the connection failed. a stays valid: it has streams, and only this
 * thread's reads and the loop's frees change the list, under hub.mu, and
 * a is looked up again after each read. */
static int
read_account(const char *account_id)
{
    struct batch b = {0};
    int rc = 0;

    for (;;) {
        struct event_pos from = {UINT64_MAX, INT64_MAX}, mark;
        bool any = false, full = false, held = false;
        struct problem pb;
        struct account *a;

        pthread_mutex_lock(&hub.mu);
        a = account_find(account_id);
        if (a != NULL)
            a->dirty = false;
        for (struct live_stream *s = hub.streams; a && s; s = s->next) {
            if (s->acct == a && !s->ended && !s->cut && event_pos_cmp(&s->pos, &from) < 0) {
                from = s->pos;
                any = true;
            }
        }
        pthread_mutex_unlock(&hub.mu);
        if (!any)
            break;
        problem_init(&pb);
        batch_clear(&b);
        if (db_listener_read(listener, account_id, &from, READ_LIMIT, batch_add, &b, &mark, &full,
                             &held, &pb) != 0) {
            rc = -1;
            break;
        }
        pthread_mutex_lock(&hub.mu);
        a = account_find(account_id);
        for (struct live_stream *s = hub.streams; a && s; s = s->next) {
            if (s->acct != a || s->ended || s->cut)
                continue;
            /* A stream that came during the read, from further back, is
             * not covered by it: the next read is. */
            if (event_pos_cmp(&s->pos, &from) < 0) {
                a->dirty = true;
                continue;
            }
            for (size_t i = 0; i < b.n && !s->cut; i++) {
                if (event_pos_cmp(&b.v[i].pos, &s->pos) <= 0)
                    continue;
                if (stream_takes(s, b.v[i].type, b.v[i].has_channel ? b.v[i].channel : NULL))
                    stream_add(s, b.v[i].frame, b.v[i].len);
                s->pos = b.v[i].pos;
            }
            /* Everything below the watermark has been seen. */
            if (!full && !b.oom && event_pos_cmp(&s->pos, &mark) < 0)
                s->pos = mark;
        }
        if (a != NULL)
            a->held = held;
        pthread_mutex_unlock(&hub.mu);
        if (!full || b.oom)
            break;
    }
    batch_clear(&b);
    free(b.v);
    return rc;
}

/* --- waiting claims ------------------------------------------------------------ */

uint64_t
live_work_gen(void)
{
    return atomic_load(&work_gen);
}

/* Takes rq off the parked list and runs its handler again; with hub.mu
 * held. */
static void
unpark(struct req **pp)
{
    struct req *rq = *pp;

    *pp = rq->wait.next;
    rq->wait.next = NULL;
    jobs_rerun(rq);
}

void
live_park(struct req *rq)
{
    pthread_mutex_lock(&hub.mu);
    /* Work came while the claim ran, or the server stops: at once. */
    if (hub.draining || !hub.running || atomic_load(&work_gen) != rq->wait.gen) {
        pthread_mutex_unlock(&hub.mu);
        jobs_rerun(rq);
        return;
    }
    rq->wait.parked_ms = clock_ms();
    rq->wait.next = hub.parked;
    hub.parked = rq;
    pthread_mutex_unlock(&hub.mu);
    hub_wake(); /* its deadline may be the next */
}

/* --- the thread ---------------------------------------------------------------- */

static void
on_notice(void *arg, char kind, const char *account_id)
{
    (void)arg;
    pthread_mutex_lock(&hub.mu);
    if (kind == 'e') {
        struct account *a = account_find(account_id);

        if (a != NULL)
            a->dirty = true;
    } else if (kind == 'd' || kind == 'o') {
        atomic_fetch_add(&work_gen, 1);
        for (struct req **pp = &hub.parked; *pp;) {
            if ((*pp)->wait.queue == kind && strcmp((*pp)->who.account_id, account_id) == 0)
                unpark(pp);
            else
                pp = &(*pp)->wait.next;
        }
    }
    pthread_mutex_unlock(&hub.mu);
}

/* Whether the client of socket fd has gone (it shut its side, or the
 * connection broke). */
static bool
hung_up(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLRDHUP};

    return fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static int
conn_fd(const struct req *rq)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CONNECTION_FD);

    return ci ? ci->connect_fd : -1;
}

bool
live_client_gone(const struct req *rq)
{
    return hung_up(conn_fd(rq));
}

/* Heartbeats, hang-ups, deadlines and re-checks. */
static void
tick(int64_t now)
{
    static const char keepalive[] = ": keepalive\n\n";

    pthread_mutex_lock(&hub.mu);
    for (struct live_stream *s = hub.streams; s; s = s->next) {
        if (s->ended || s->cut)
            continue;
        if (s->parked && hung_up(s->fd)) {
            s->cut = true;
            stream_kick(s);
        } else if (now - s->last_ms >= hub.heartbeat_ms) {
            stream_add(s, keepalive, sizeof(keepalive) - 1);
        }
    }
    for (struct req **pp = &hub.parked; *pp;) {
        struct req *rq = *pp;

        if (hung_up(conn_fd(rq)))
            rq->wait.gone = true;
        if (rq->wait.gone || now >= rq->wait.deadline_ms || now - rq->wait.parked_ms >= RECHECK_MS)
            unpark(pp);
        else
            pp = &rq->wait.next;
    }
    pthread_mutex_unlock(&hub.mu);
}

/* How long the hub may sleep: the next parked deadline or tick. */
static int
sleep_ms(int64_t now, int64_t next_tick, int64_t next_read)
{
    int64_t due = next_tick < next_read ? next_tick : next_read;

    pthread_mutex_lock(&hub.mu);
    for (struct req *rq = hub.parked; rq; rq = rq->wait.next)
        if (rq->wait.deadline_ms < due)
            due = rq->wait.deadline_ms;
    pthread_mutex_unlock(&hub.mu);
    return due <= now ? 0 : (int)(due - now);
}

/* Reads every account marked to be read; *held: one has events held. */
static int
read_dirty(bool *held)
{
    *held = false;
    for (;;) {
        char id[37] = "";

        pthread_mutex_lock(&hub.mu);
        for (struct account *a = hub.accounts; a; a = a->next) {
            if (hub.all_dirty)
                a->dirty = true;
            *held |= a->held;
        }
        hub.all_dirty = false;
        for (struct account *a = hub.accounts; a && !id[0]; a = a->next)
            if (a->dirty)
                snprintf(id, sizeof(id), "%s", a->id);
        pthread_mutex_unlock(&hub.mu);
        if (!id[0])
            return 0;
        if (read_account(id) != 0)
            return -1;
    }
}

/* A new listening connection: nothing was heard meanwhile, so every
 * account is read and every waiting claim looks again. */
static void
after_reconnect(void)
{
    pthread_mutex_lock(&hub.mu);
    hub.all_dirty = true;
    atomic_fetch_add(&work_gen, 1);
    while (hub.parked)
        unpark(&hub.parked);
    pthread_mutex_unlock(&hub.mu);
}

static void *
hub_main(void *arg)
{
    int64_t next_tick = 0, next_safety = 0, next_connect = 0, next_held = INT64_MAX;
    int held_delay = HELD_FIRST_MS;

    (void)arg;
    while (!atomic_load(&hub.stop)) {
        struct pollfd fds[2] = {{.fd = hub.efd, .events = POLLIN}, {.fd = -1, .events = POLLIN}};
        int64_t now = clock_ms();
        bool held = false;

        if (listener == NULL && now >= next_connect) {
            char err[256];

            listener = db_listener_open(hub.conninfo, err, sizeof(err));
            if (listener == NULL) {
                log_event(LOG_WARN, NULL, "live.listen_failed", LOG_S("err", err));
                next_connect = now + RECONNECT_MS;
            } else {
                log_event(LOG_INFO, NULL, "live.listening", LOG_S("channel", "inboxd_events"));
                atomic_store(&listening, true);
                after_reconnect();
            }
        }
        if (now >= next_safety) {
            pthread_mutex_lock(&hub.mu);
            hub.all_dirty = true;
            pthread_mutex_unlock(&hub.mu);
            next_safety = now + SAFETY_MS;
        }
        if (now >= next_held) {
            pthread_mutex_lock(&hub.mu);
            for (struct account *a = hub.accounts; a; a = a->next)
                a->dirty |= a->held;
            pthread_mutex_unlock(&hub.mu);
        }
        if (listener != NULL && (db_listener_drain(listener, on_notice, NULL) != 0 ||
                                 read_dirty(&held) != 0)) {
            log_event(LOG_WARN, NULL, "live.listen_lost", LOG_S("detail", "reconnecting"));
            atomic_store(&listening, false);
            db_listener_close(listener);
            listener = NULL;
            next_connect = now + RECONNECT_MS;
        }
        if (held) {
            next_held = now + held_delay;
            held_delay = held_delay * 2 > HELD_MAX_MS ? HELD_MAX_MS : held_delay * 2;
        } else {
            next_held = INT64_MAX;
            held_delay = HELD_FIRST_MS;
        }
        now = clock_ms();
        if (now >= next_tick) {
            tick(now);
            next_tick = now + TICK_MS;
        }
        if (listener != NULL)
            fds[1].fd = db_listener_fd(listener);
        if (poll(fds, 2, sleep_ms(now, next_tick, listener ? next_held : next_connect)) < 0 &&
            errno != EINTR)
            log_event(LOG_WARN, NULL, "live.poll", LOG_S("err", strerror(errno)));
        if (fds[0].revents & POLLIN) {
            uint64_t v;

            if (read(hub.efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                log_event(LOG_WARN, NULL, "live.eventfd", LOG_S("err", strerror(errno)));
        }
    }
    db_listener_close(listener);
    listener = NULL;
    atomic_store(&listening, false);
    return NULL;
}

int
live_start(const char *conninfo, int heartbeat_s)
{
    hub.conninfo = strdup(conninfo);
    hub.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (hub.conninfo == NULL || hub.efd < 0)
        goto fail;
    hub.heartbeat_ms = heartbeat_s * 1000;
    hub.draining = false;
    hub.all_dirty = true;
    atomic_store(&hub.stop, false);
    if (pthread_create(&hub.thread, NULL, hub_main, NULL) != 0)
        goto fail;
    hub.running = true;
    return 0;
fail:
    free(hub.conninfo);
    hub.conninfo = NULL;
    if (hub.efd >= 0)
        close(hub.efd);
    hub.efd = -1;
    return -1;
}

void
live_stats(struct live_counts *out)
{
    *out = (struct live_counts){0};
    pthread_mutex_lock(&hub.mu);
    for (struct live_stream *s = hub.streams; s; s = s->next)
        out->streams++;
    for (struct req *rq = hub.parked; rq; rq = rq->wait.next)
        out->waiting++;
    pthread_mutex_unlock(&hub.mu);
    out->listening = atomic_load(&listening);
}

void
live_drain(void)
{
    pthread_mutex_lock(&hub.mu);
    hub.draining = true;
    for (struct live_stream *s = hub.streams; s; s = s->next) {
        s->ended = true;
        stream_kick(s);
    }
    while (hub.parked)
        unpark(&hub.parked);
    pthread_mutex_unlock(&hub.mu);
}

void
live_stop(void)
{
    if (!hub.running)
        return;
    atomic_store(&hub.stop, true);
    hub_wake();
    pthread_join(hub.thread, NULL);
    hub.running = false;
    close(hub.efd);
    hub.efd = -1;
    free(hub.conninfo);
    hub.conninfo = NULL;
}
