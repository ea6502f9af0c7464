/*
 * server: the HTTP front of inboxd on libmicrohttpd.
 *
 * DESIGN. One loop serves every connection and never waits on the
 * database: libmicrohttpd runs without a thread of its own (MHD_USE_EPOLL,
 * MHD_run) inside our poll loop, which also drives the reader of
 * db_query_start(), so the reads one pass starts go out in one round trip
 * and their answers come back on the same thread. A request that must
 * wait (a write, a key not in the cache, an Idempotency-Key, a stale feed
 * page) is suspended and handed to one of JOB_THREADS job threads, which
 * runs its handler and resumes it; the loop sends the answer. A route with
 * start() (the conversation read, a kept feed page) needs no job thread:
 * the loop renders its answer when the reader resumes it. A streamed
 * export is refilled by a job thread while its connection waits. Other
 * threading set-ups were measured and removed (tests/bench/RESULTS.md).
 *
 * Before any guard, the request's framing (framing.c): a target or
 * headers that could be read two ways are refused, and the connection
 * closed. Which connections may stay at all, slow ones among them, is
 * admission.c's.
 *
 * Guards run flat, before the handler, in this order (Redis's
 * processCommand): route (404/405), key (401), scope (403), body type
 * (415), body size (413). Whatever fails early is answered on the first
 * call, before the body is read. The handler runs on the last call.
 *
 * Never here: SQL, or anything that writes a response other than through
 * reply_send()/reply_send_problem().
 */
#include "inboxd/http/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "inboxd/db/db.h"
#include "inboxd/db/replica.h"
#include "inboxd/http/admission.h"
#include "inboxd/http/auth.h"
#include "inboxd/http/framing.h"
#include "inboxd/http/jobs.h"
#include "inboxd/http/live.h"
#include "inboxd/http/metrics.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/http/tls.h"
#include "inboxd/lib/clock.h"
#include "inboxd/lib/uuid7.h"
#include "inboxd/lib/wake.h"
#include "inboxd/lib/watchdog.h"

/* Handlers that wait on the database run here: more threads than any
 * pool we run has connections, so a handler waiting for a lock or a
 * connection never holds back one that could run. */
#define JOB_THREADS 32
/* A handler's deepest stack (jansson, libpq, the word diff) is a small
 * part of this; 32 threads at glibc's 8 MiB would only waste memory. */
#define JOB_STACK_BYTES (512 * 1024)
/* HTTPS: TLS 1.3 and 1.2 with GnuTLS's usual algorithms. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
/* libmicrohttpd's buffer per connection holds the request line and the
 * headers; bodies are read into memory of ours, up to body_limit. */
#define CONNECTION_MEMORY_BYTES (16 * 1024)

static const struct config *cfg;
static struct MHD_Daemon *daemon_;
static atomic_int inflight;
static atomic_bool stopping;
static unsigned bound_port;
static bool serving_tls; /* fixed at the start: turning HTTPS on or off needs a restart */

void
server_handle(struct req *rq)
{
    const struct route *r = rq->match.route;
    int st = 0;

    log_bind(&rq->log);
    rq->ok = false;
    db_position_begin(rq->position_need);
    /* A claim run again after its wait: everything before the handler
     * was done on its first run. */
    if (rq->wait.rerun)
        goto handle;
    if (rq->auth_later) {
        rq->auth_later = false;
        if (auth_bearer(req_header(rq, MHD_HTTP_HEADER_AUTHORIZATION), &rq->who, &rq->pb) != 0 ||
            req_check_scope(rq, &rq->pb) != 0)
            goto out;
    }
    if (req_body_ready(rq) != 0)
        goto out;
    /* A webhook's account is known only once its signature verified: its
     * handler calls req_idempotency() itself. */
    if (!(r->flags & ROUTE_WEBHOOK))
        st = req_idempotency(rq, &rq->out, &rq->pb);
    if (st != 0) {
        rq->ok = st == 1;
        goto out;
    }
handle:
    rq->finish = false;
    rq->ok = (r->start && !rq->started ? req_run_started(rq, &rq->out, &rq->pb)
                                       : r->fn(rq, &rq->out, &rq->pb)) == 0;
    if (!rq->ok && rq->pb.status == 0)
        problem_internal(&rq->pb, "handler failed without a problem");
    if (rq->wait.park) {
        if (rq->ok)
            goto out; /* no answer yet: it waits (jobs.c) */
        rq->wait.park = false;
    }
    /* Settled before the answer leaves, so a repeat that follows the
     * answer always finds it. */
    if (rq->idem_key != NULL)
        req_idempotency_settle(rq, rq->idem_key, &rq->out, &rq->pb, rq->ok);
out:
    /* What this request committed (or replayed), for Inboxd-Position. */
    if (db_position_committed() != 0)
        lsn_encode(db_position_committed(), rq->position);

    /* A 201's Location, from its body: also for an idempotent replay,
     * whose stored answer is the body. */
    if (rq->ok)
        reply_locate(&rq->out, router_location(rq->match.index));
    log_bind(NULL);
}

/* Sends rq->out or rq->pb; with a started route, renders it first, or
 * hands it to a job thread when it must wait after all. */
static enum MHD_Result
answer(struct req *rq)
{
    enum MHD_Result rc;

    if (rq->finish && rq->ok && rq->must_wait) {
        jobs_wait(rq);
        return MHD_YES;
    }
    log_bind(&rq->log);
    if (rq->finish) {
        rq->finish = false;
        if (rq->ok && rq->match.route->fn(rq, &rq->out, &rq->pb) != 0) {
            rq->ok = false;
            if (rq->pb.status == 0)
                problem_internal(&rq->pb, "handler failed without a problem");
        }
    }
    rc = rq->ok ? reply_send(rq, &rq->out) : reply_send_problem(rq, &rq->pb);
    reply_cleanup(&rq->out);
    log_bind(NULL);
    return rc;
}

/* The last call of a request: hand it on to a job thread or the reader. */
static enum MHD_Result
dispatch(struct req *rq)
{
    const struct route *r = rq->match.route;

    /* A POST may carry an Idempotency-Key, and a key may need looking up:
     * both are done on a job thread; every other started route needs no
     * thread at all. */
    if (r->start == NULL || strcmp(rq->method, "POST") == 0 || rq->auth_later) {
        jobs_wait(rq);
        return MHD_YES;
    }
    /* Suspended before the read starts: its answer may come at once. */
    req_suspend(rq);
    log_bind(&rq->log);
    rq->finish = true;
    rq->started = true;
    if (req_body_ready(rq) != 0 || r->start(rq, &rq->pb) != 0)
        req_resume(rq, -1, &rq->pb);
    log_bind(NULL);
    return MHD_YES;
}

/* What inboxd keeps of a connection, as libmicrohttpd's socket context:
 * its admission record, and with HTTPS tls.c's record of the client
 * certificate. libmicrohttpd takes one connection callback, so the server
 * owns this and hands each part to its module. */
struct conn_ctx {
    struct admission_conn *admission;
    void *tls_peer;
};

static struct conn_ctx *
ctx_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

static struct admission_conn *
admission_of(struct MHD_Connection *conn)
{
    struct conn_ctx *c = ctx_of(conn);

    return c ? c->admission : NULL;
}

void *
server_tls_peer(struct MHD_Connection *conn)
{
    struct conn_ctx *c = ctx_of(conn);

    return c ? c->tls_peer : NULL;
}

/* The first call of a request: its headers are all in. Returns what the
 * access handler returns. */
static enum MHD_Result
first_call(struct MHD_Connection *conn, const char *url, const char *method,
           const struct framing_flaw *flaw, void **con_cls)
{
    struct req *rq = req_new(conn, url, method);

    if (rq == NULL)
        return MHD_NO;
    *con_cls = rq;
    atomic_fetch_add(&inflight, 1);
    admission_headers_done(admission_of(conn));
    log_bind(&rq->log);
    if (framing_check_headers(conn, &rq->early) != 0)
        rq->close = true;
    else
        req_guard(rq, url);
    /* An encoded '/' is data in a {name...} rest (a topic key); anywhere
     * else libmicrohttpd's decoding made it a separator. */
    if (flaw != NULL &&
        !(flaw->rest_ok && rq->matched && strstr(rq->match.route->pattern, "...}") != NULL)) {
        problem_init(&rq->early);
        problem_set(&rq->early, flaw->status, flaw->type, "%s", flaw->detail);
        rq->close = true;
    }
    log_bind(NULL);
    /* Refuse before reading a body that will be thrown away. */
    if (rq->early.status != 0)
        return reply_send_problem(rq, &rq->early);
    return MHD_YES;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct req *rq = *con_cls;

    (void)cls;
    (void)version;
    /* The context is NULL, or the flaw on_uri() found in the target. */
    if (rq == NULL || framing_is_flaw(rq))
        return first_call(conn, url, method, *con_cls, con_cls);
    switch (atomic_load_explicit(&rq->phase, memory_order_acquire)) {
    case REQ_READY:
        return answer(rq);
    case REQ_WAITING:
        return MHD_YES; /* not resumed yet */
    default:
        break;
    }
    if (*upload_size > 0) {
        req_append_body(rq, upload_data, *upload_size);
        *upload_size = 0;
        /* A chunked body has passed body_limit: libmicrohttpd cannot
         * answer in the middle of a body, and reading the rest only to
         * refuse it is what the limit is there to prevent. Close. */
        if (rq->early.status == 413) {
            rq->status = 413;
            return MHD_NO;
        }
        return MHD_YES;
    }
    if (rq->early.status != 0)
        return reply_send_problem(rq, &rq->early);
    return dispatch(rq);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    struct req *rq = *con_cls;
    double ms;

    (void)cls;
    if (rq == NULL || framing_is_flaw(rq))
        return;
    admission_request_done(admission_of(conn));
    ms = (double)(clock_ns() - rq->start_ns) / 1e6;
    metrics_observe(rq->matched ? rq->match.index : -1, rq->status, ms / 1000.0);
    log_event(rq->status >= 500 || rq->status == 0 ? LOG_WARN : LOG_INFO, &rq->log, "http.request",
              LOG_S("method", rq->method), LOG_I("status", rq->status), LOG_F("dur_ms", ms),
              LOG_S("key_id", rq->who.key_id[0] ? rq->who.key_id : NULL),
              LOG_S("account_id", rq->who.account_id[0] ? rq->who.account_id : NULL),
              LOG_S("ip", rq->ip),
              LOG_S("client_cert", rq->cert_name[0] ? rq->cert_name : NULL),
              LOG_S("end", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "ok" : "aborted"));
    req_free(rq);
    *con_cls = NULL;
    atomic_fetch_sub(&inflight, 1);
}

/* The target as sent, before libmicrohttpd decodes it: what it returns
 * is the request's first context, a flaw or NULL. */
static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    return framing_target_flaw(uri);
}

static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
              enum MHD_ConnectionNotificationCode code)
{
    struct conn_ctx *c = *socket_context;

    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *addr =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

        c = calloc(1, sizeof(*c));
        *socket_context = c;
        if (c == NULL || fd == NULL)
            return; /* not admitted nor refused: left to the idle timeout */
        c->admission = admission_opened(fd->connect_fd, addr ? addr->client_addr : NULL);
        if (serving_tls)
            c->tls_peer = tls_peer_new();
    } else if (c != NULL) {
        admission_closed(c->admission);
        tls_peer_free(c->tls_peer);
        free(c);
        *socket_context = NULL;
    }
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    log_event(LOG_WARN, NULL, "http.mhd", LOG_S("err", msg));
}

/* --- start and stop -------------------------------------------------------- */

static int
resolve_listen(const char *listen, struct sockaddr_storage *ss, char *err, size_t errlen)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    const char *port = colon + 1;
    size_t hlen = (size_t)(colon - listen);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int rc;

    if (hlen >= sizeof(host)) {
        snprintf(err, errlen, "listen: host too long");
        return -1;
    }
    memcpy(host, listen, hlen);
    host[hlen] = '\0';
    /* [::1]:8080 */
    if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
        memmove(host, host + 1, hlen - 2);
        host[hlen - 2] = '\0';
    }
    rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
    if (rc != 0 || ai == NULL) {
        snprintf(err, errlen, "listen %s: %s", listen, gai_strerror(rc));
        return -1;
    }
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return 0;
}

/* --- the loop ------------------------------------------------------------------ */

/*
 * libmicrohttpd runs without a thread of its own (MHD_USE_EPOLL, MHD_run)
 * in this loop, which also polls the reader's connection
 * (db_reader_pollfds): the reads that one pass of MHD_run starts go out
 * together right after it, and their answers are taken in the same
 * thread, so no thread hands a read to another. Other threads (job
 * threads, the shutdown) reach it through loop_efd.
 */
enum { LOOP_RUN, LOOP_QUIESCE, LOOP_EXIT };

static bool loop_again; /* the loop's own thread resumed a connection */
static pthread_t loop_thread;
static int loop_efd = -1;
static atomic_int loop_cmd;

/* MHD without a thread notices a resumed connection at its next MHD_run
 * (MHD_get_timeout is 0 then), not by itself: a resume from another
 * thread than the loop's must wake the loop. */
void
server_loop_wake(void)
{
    uint64_t one = 1;

    if (pthread_equal(pthread_self(), loop_thread)) {
        loop_again = true; /* the loop's next poll() does not sleep */
        return;
    }
    if (write(loop_efd, &one, sizeof(one)) < 0)
        log_event(LOG_WARN, NULL, "http.loop_eventfd", LOG_S("err", strerror(errno)));
}

static void
loop_tell(int cmd)
{
    uint64_t one = 1;

    atomic_store(&loop_cmd, cmd);
    if (write(loop_efd, &one, sizeof(one)) < 0)
        log_event(LOG_WARN, NULL, "http.loop_eventfd", LOG_S("err", strerror(errno)));
}

static void *
loop_main(void *arg)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_EPOLL_FD);
    int mfd = info ? info->epoll_fd : -1;
    bool quiesced = false;

    (void)arg;
    for (;;) {
        struct pollfd fds[4] = {{.fd = mfd, .events = POLLIN}, {.fd = loop_efd, .events = POLLIN}};
        MHD_UNSIGNED_LONG_LONG mt;
        int cmd = atomic_load(&loop_cmd), timeout = -1, due, wake = watchdog_wake_ms();

        if (cmd >= LOOP_QUIESCE && !quiesced) {
            MHD_socket fd = MHD_quiesce_daemon(daemon_);

            if (fd != MHD_INVALID_SOCKET)
                close(fd);
            quiesced = true;
        }
        /* Only this thread suspends a connection (a request that came on
         * a kept-alive one after server_stop saw none suspended, say), so
         * only here can "none is suspended" hold until MHD_stop_daemon,
         * which aborts the process on a suspended connection. */
        if (cmd == LOOP_EXIT && jobs_suspended() == 0)
            break;
        db_reader_pollfds(&fds[2], &timeout);
        due = admission_expire();
        if (due >= 0 && (timeout < 0 || due < timeout))
            timeout = due;
        if (MHD_get_timeout(daemon_, &mt) == MHD_YES &&
            (timeout < 0 || mt < (MHD_UNSIGNED_LONG_LONG)timeout))
            timeout = (int)mt;
        /* Idle, the loop still goes round often enough to show the
         * watchdog it is alive (watchdog.h). */
        if (wake >= 0 && (timeout < 0 || timeout > wake))
            timeout = wake;
        if (loop_again)
            timeout = 0;
        loop_again = false;
        if (poll(fds, 4, timeout) < 0 && errno != EINTR)
            log_event(LOG_WARN, NULL, "http.loop_poll", LOG_S("err", strerror(errno)));
        db_reader_polled(&fds[2]);
        if (fds[1].revents & POLLIN) {
            uint64_t v;

            if (read(loop_efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                log_event(LOG_WARN, NULL, "http.loop_eventfd", LOG_S("err", strerror(errno)));
        }
        MHD_run(daemon_);
        watchdog_progress(WATCHDOG_LOOP, clock_ms());
        watchdog_debug_hold();
    }
    return NULL;
}

static int
loop_start(void)
{
    atomic_store(&loop_cmd, LOOP_RUN);
    loop_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop_efd < 0)
        return -1;
    db_reader_attach();
    if (pthread_create(&loop_thread, NULL, loop_main, NULL) != 0) {
        db_reader_detach();
        close(loop_efd);
        loop_efd = -1;
        return -1;
    }
    return 0;
}

static void
loop_end(void)
{
    loop_tell(LOOP_EXIT);
    pthread_join(loop_thread, NULL);
    db_reader_detach();
    close(loop_efd);
    loop_efd = -1;
}

int
server_start(const struct config *cf, char *err, size_t errlen)
{
    struct sockaddr_storage ss = {0};
    unsigned flags = MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME;
    const union MHD_DaemonInfo *info;
    /* HTTPS: the certificate comes from tls.c at every handshake, so a
     * reload can change it (tls.c says why not MHD_OPTION_HTTPS_MEM_CERT). */
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_CERT_CALLBACK2, 0, (void *)tls_cert_callback},
        /* GnuTLS's NORMAL still has TLS 1.0 and 1.1; no caller of an
         * internal API needs them. */
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES},
        {MHD_OPTION_END, 0, NULL},
    };
    bool tls = cf->tls_cert[0] != '\0';

    serving_tls = tls;

    cfg = cf;
    atomic_store(&stopping, false);
    admission_init(cf->http_max_connections, cf->http_header_timeout_s,
                   cf->http_max_connections_per_ip);
    if (resolve_listen(cf->listen, &ss, err, errlen) != 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (tls) {
        if (tls_load(cf, err, errlen) != 0)
            return -1;
        flags |= MHD_USE_TLS;
    }
    if (jobs_start(JOB_THREADS, JOB_STACK_BYTES) != 0) {
        jobs_stop();
        tls_clear();
        snprintf(err, errlen, "cannot start %d job threads", JOB_THREADS);
        return -1;
    }
    /* The hub connects on its own thread, and again whenever it must:
     * the database may be down now. */
    if (live_start(cf->database_listen_url[0] ? cf->database_listen_url : cf->database_url,
                   cf->events_heartbeat_s) != 0) {
        jobs_stop();
        tls_clear();
        snprintf(err, errlen, "cannot start the live event hub");
        return -1;
    }
    daemon_ = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, NULL,
        /* First, so that MHD's own messages from the other options reach it. */
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cf->http_max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cf->http_connection_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY_BYTES,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
        MHD_OPTION_ARRAY, tls ? tls_opts : &tls_opts[sizeof(tls_opts) / sizeof(tls_opts[0]) - 1],
        MHD_OPTION_END);
    if (daemon_ == NULL) {
        live_stop();
        jobs_stop();
        tls_clear();
        snprintf(err, errlen, "cannot serve on %s (address in use or not available)", cf->listen);
        return -1;
    }
    info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    bound_port = info ? info->port : 0;
    if (loop_start() != 0) {
        MHD_stop_daemon(daemon_);
        daemon_ = NULL;
        live_stop();
        jobs_stop();
        tls_clear();
        snprintf(err, errlen, "cannot start the HTTP loop");
        return -1;
    }
    return 0;
}

const struct config *
server_config(void)
{
    return cfg;
}

unsigned
server_port(void)
{
    return bound_port;
}

bool
server_stopping(void)
{
    return atomic_load(&stopping);
}

int
server_inflight(void)
{
    return atomic_load(&inflight);
}

void
server_stop(void)
{
    int64_t deadline;

    if (daemon_ == NULL)
        return;
    atomic_store(&stopping, true);
    loop_tell(LOOP_QUIESCE);
    /* Event streams end and waiting claims answer now: neither is a
     * request that finishes by itself. */
    live_drain();
    deadline = clock_ns() + (int64_t)cfg->shutdown_timeout_s * 1000000000LL;
    while (atomic_load(&inflight) > 0 && clock_ns() < deadline) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000000L};

        nanosleep(&ts, NULL);
    }
    if (atomic_load(&inflight) > 0)
        log_event(LOG_WARN, NULL, "http.shutdown_timeout", LOG_I("inflight", atomic_load(&inflight)));
    /* A suspended request's job or read still uses it; each ends within
     * statement_timeout or pool_wait_ms, and MHD must not free it first. */
    while (jobs_suspended() > 0) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000000L};

        nanosleep(&ts, NULL);
    }
    loop_end();
    MHD_stop_daemon(daemon_);
    daemon_ = NULL;
    live_stop();
    jobs_stop();
    tls_clear();
}
