/*
 * ratebench: an open-loop HTTP load generator for the inboxd benchmark.
 *
 * wrk sends the next request on a connection only when the previous answer
 * came back, so while the server stalls it stops asking and the stall is
 * measured once instead of for every request that should have been sent
 * meanwhile (coordinated omission). ratebench schedules request k at
 * start + k / rate, whatever happened before, and measures its latency from
 * that scheduled time: a request that had to wait for a free connection
 * counts its wait. Requests still unanswered 5 s after the last scheduled
 * send time are counted as lost. Requests go over N keep-alive connections (HTTP/1.1, one
 * request in flight per connection); a due request takes any idle one, or
 * queues until one frees up.
 *
 *   ratebench -p PORT -c CONNS -r RATE -d SECONDS [-w WARMUP] [-H 'Name: value']...
 *             (-u PATH | -i IDFILE -u PREFIX)
 *       prints: RATERESULT rate=.. achieved=.. requests=.. lost=.. non2xx=.. errors=..
 *               p50_ms=.. p90_ms=.. p99_ms=.. p999_ms=.. max_ms=..
 *   ratebench -p PORT --idle N [--hold SECONDS] [-u PATH] [-H 'Name: value']...
 *       opens N connections, sends one request (default GET /healthz) on
 *       each (an event stream stays open: its headers are the answer),
 *       keeps them open and idle; prints "IDLE connected=N" when all
 *       are up and "IDLE still_open=M" at the end (SIGTERM or --hold).
 *
 * Only to 127.0.0.1 (or -h ADDR, numeric). Bounded in time: it stops by
 * itself. Plain C17 + Linux epoll/timerfd; built by run.sh with cc.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADERS 8
#define RBUF_MAX (4 * 1024 * 1024)

enum { C_DOWN, C_CONNECTING, C_IDLE, C_BUSY };

struct conn {
    int fd;
    int state;
    char *wbuf;
    size_t wlen, woff;
    char *rbuf;
    size_t rlen, rcap;
    int64_t sched_ns; /* scheduled send time of the request in flight */
    bool record;
};

static struct {
    const char *host;
    int port;
    int conns;
    double rate;
    double duration, warmup;
    const char *headers[MAX_HEADERS];
    int nheaders;
    const char *path; /* fixed path, or the prefix with ids */
    char **ids;
    size_t nids;
    int idle;
    int slow;
    double hold;
} opt = {.host = "127.0.0.1", .conns = 32, .warmup = 0, .hold = 30};

static struct sockaddr_in addr;
static int ep;
static volatile sig_atomic_t stop;

/* Results. */
static int64_t *lat;
static size_t nlat, caplat;
static long non2xx, errors, done_total;
static int64_t last_done_ns;

/* The queue of due requests waiting for a connection: scheduled times. */
static int64_t *pend;
static size_t pend_head, pend_tail, pend_cap;

static int64_t
now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
die(const char *fmt, const char *arg)
{
    fprintf(stderr, "ratebench: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    exit(2);
}

static void *
xmalloc(size_t n)
{
    void *p = malloc(n);

    if (p == NULL)
        die("%s", "out of memory");
    return p;
}

static void
raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void
load_ids(const char *file)
{
    FILE *f = fopen(file, "r");
    char line[256];
    size_t cap = 1024;

    if (f == NULL)
        die("cannot open %s", file);
    opt.ids = xmalloc(cap * sizeof(*opt.ids));
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0')
            continue;
        if (opt.nids == cap) {
            cap *= 2;
            opt.ids = realloc(opt.ids, cap * sizeof(*opt.ids));
            if (opt.ids == NULL)
                die("%s", "out of memory");
        }
        opt.ids[opt.nids++] = strdup(line);
    }
    fclose(f);
    if (opt.nids == 0)
        die("no ids in %s", file);
}

/* xorshift64*: per-request id choice. */
static uint64_t rng = 88172645463325252ULL;

static uint64_t
rnd(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ULL;
}

static void
build_request(struct conn *c)
{
    char path[1024];
    size_t cap = 2048;
    int n;

    if (opt.ids)
        snprintf(path, sizeof(path), "%s%s", opt.path, opt.ids[rnd() % opt.nids]);
    else
        snprintf(path, sizeof(path), "%s", opt.path);
    free(c->wbuf);
    c->wbuf = xmalloc(cap);
    n = snprintf(c->wbuf, cap, "GET %s HTTP/1.1\r\nHost: %s:%d\r\n", path, opt.host, opt.port);
    for (int i = 0; i < opt.nheaders; i++)
        n += snprintf(c->wbuf + n, cap - (size_t)n, "%s\r\n", opt.headers[i]);
    n += snprintf(c->wbuf + n, cap - (size_t)n, "\r\n");
    if ((size_t)n >= cap)
        die("%s", "request too long");
    c->wlen = (size_t)n;
    c->woff = 0;
}

static void
conn_open(struct conn *c)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = c};
    int one = 1;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket: %s", strerror(errno));
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 && errno != EINPROGRESS)
        die("connect: %s", strerror(errno));
    c->state = C_CONNECTING;
    c->rlen = 0;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        die("epoll_ctl: %s", strerror(errno));
}

static void
conn_close(struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = C_DOWN;
}

static void
want_write(struct conn *c, bool on)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0), .data.ptr = c};

    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void
flush_write(struct conn *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);

        if (n < 0) {
            if (errno == EAGAIN) {
                want_write(c, true);
                return;
            }
            return; /* the read side notices the broken connection */
        }
        c->woff += (size_t)n;
    }
    want_write(c, false);
}

static void
send_on(struct conn *c, int64_t sched, bool record)
{
    build_request(c);
    c->sched_ns = sched;
    c->record = record;
    c->state = C_BUSY;
    flush_write(c);
}

/* Parses one complete response at the start of c->rbuf. Returns its length,
 * 0 when incomplete, -1 when malformed. *status, *close_after set. */
static long
parse_response(struct conn *c, int *status, bool *close_after)
{
    char *end, *p, *hdr_end;
    long clen = -1;
    bool chunked = false;
    size_t hlen;

    if (c->rlen < 12)
        return 0;
    c->rbuf[c->rlen] = '\0';
    hdr_end = strstr(c->rbuf, "\r\n\r\n");
    if (hdr_end == NULL)
        return 0;
    hlen = (size_t)(hdr_end - c->rbuf) + 4;
    if (strncmp(c->rbuf, "HTTP/1.", 7) != 0)
        return -1;
    *status = atoi(c->rbuf + 9);
    *close_after = false;
    for (p = strstr(c->rbuf, "\r\n"); p && p < hdr_end; p = strstr(p + 2, "\r\n")) {
        char *line = p + 2;

        if (strncasecmp(line, "Content-Length:", 15) == 0)
            clen = strtol(line + 15, NULL, 10);
        else if (strncasecmp(line, "Transfer-Encoding:", 18) == 0 && strstr(line, "chunked") &&
                 strstr(line, "chunked") < strstr(line, "\r\n"))
            chunked = true;
        else if (strncasecmp(line, "Connection:", 11) == 0 && strcasestr(line, "close") &&
                 strcasestr(line, "close") < strstr(line, "\r\n"))
            *close_after = true;
    }
    if (chunked) {
        size_t off = hlen;

        for (;;) {
            long sz;

            if (off >= c->rlen)
                return 0;
            sz = strtol(c->rbuf + off, &end, 16);
            p = strstr(c->rbuf + off, "\r\n");
            if (p == NULL)
                return 0;
            off = (size_t)(p - c->rbuf) + 2;
            if (sz == 0) {
                /* trailers end with an empty line */
                p = strstr(c->rbuf + off, "\r\n");
                if (p == NULL)
                    return 0;
                return (long)((size_t)(p - c->rbuf) + 2);
            }
            off += (size_t)sz + 2;
        }
    }
    if (clen < 0)
        clen = 0;
    if (c->rlen < hlen + (size_t)clen)
        return 0;
    return (long)(hlen + (size_t)clen);
}

static void dispatch(int64_t now, int64_t rec_from);

static void
on_readable(struct conn *c, int64_t rec_from)
{
    for (;;) {
        ssize_t n;

        if (c->rcap - c->rlen < 65536) {
            c->rcap = c->rcap ? c->rcap * 2 : 131072;
            if (c->rcap > RBUF_MAX)
                die("%s", "response too large");
            c->rbuf = realloc(c->rbuf, c->rcap + 1);
            if (c->rbuf == NULL)
                die("%s", "out of memory");
        }
        n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (n > 0) {
            c->rlen += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EAGAIN)
            break;
        /* EOF or error: a request in flight is lost. */
        if (c->state == C_BUSY) {
            errors++;
            done_total++;
        }
        conn_close(c);
        conn_open(c);
        return;
    }
    while (c->state == C_BUSY) {
        int status = 0;
        bool close_after = false;
        long len = parse_response(c, &status, &close_after);
        int64_t t;

        if (len == 0)
            return;
        if (len < 0) {
            errors++;
            done_total++;
            conn_close(c);
            conn_open(c);
            return;
        }
        t = now_ns();
        done_total++;
        if (c->record) {
            if (nlat == caplat) {
                caplat = caplat ? caplat * 2 : 65536;
                lat = realloc(lat, caplat * sizeof(*lat));
                if (lat == NULL)
                    die("%s", "out of memory");
            }
            lat[nlat++] = t - c->sched_ns;
            last_done_ns = t;
            if (status < 200 || status > 299)
                non2xx++;
        }
        memmove(c->rbuf, c->rbuf + len, c->rlen - (size_t)len);
        c->rlen -= (size_t)len;
        if (close_after) {
            conn_close(c);
            conn_open(c);
            return;
        }
        c->state = C_IDLE;
        dispatch(t, rec_from);
    }
}

static struct conn *conns;

/* Hands queued requests to idle connections. */
static void
dispatch(int64_t now, int64_t rec_from)
{
    (void)now;
    for (int i = 0; i < opt.conns && pend_head != pend_tail; i++) {
        if (conns[i].state != C_IDLE)
            continue;
        int64_t s = pend[pend_head % pend_cap];

        pend_head++;
        send_on(&conns[i], s, s >= rec_from);
    }
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static double
pct(double p)
{
    size_t i;

    if (nlat == 0)
        return 0;
    i = (size_t)(p / 100.0 * (double)(nlat - 1) + 0.5);
    return (double)lat[i] / 1e6;
}

static void
on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int
run_rate(void)
{
    int64_t interval = (int64_t)(1e9 / opt.rate);
    int64_t start, rec_from, end_sched, deadline, next;
    uint64_t k = 0;
    int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    struct epoll_event tev = {.events = EPOLLIN, .data.ptr = NULL};
    struct epoll_event evs[256];
    long sent_recorded = 0;

    if (tfd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &tev) != 0)
        die("timerfd: %s", strerror(errno));
    conns = calloc((size_t)opt.conns, sizeof(*conns));
    pend_cap = (size_t)(opt.rate * (opt.duration + opt.warmup)) + 16;
    pend = xmalloc(pend_cap * sizeof(*pend));
    for (int i = 0; i < opt.conns; i++) {
        conns[i].fd = -1;
        conn_open(&conns[i]);
    }
    /* Connect first, then start the clock. */
    for (int64_t t0 = now_ns(); now_ns() - t0 < 2000000000LL;) {
        int up = 0, n = epoll_wait(ep, evs, 256, 50);

        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;

            if (c && c->state == C_CONNECTING && (evs[i].events & EPOLLOUT)) {
                c->state = C_IDLE;
                want_write(c, false);
            }
        }
        for (int i = 0; i < opt.conns; i++)
            up += conns[i].state == C_IDLE;
        if (up == opt.conns)
            break;
    }
    start = now_ns();
    rec_from = start + (int64_t)(opt.warmup * 1e9);
    end_sched = rec_from + (int64_t)(opt.duration * 1e9);
    deadline = end_sched + 5000000000LL;
    next = start;
    while (!stop) {
        int64_t t = now_ns();
        int n;

        while (next <= t && next < end_sched) {
            if (pend_tail - pend_head >= pend_cap)
                die("%s", "too many requests waiting: the server cannot keep up with this rate");
            pend[pend_tail % pend_cap] = next;
            pend_tail++;
            if (next >= rec_from)
                sent_recorded++;
            k++;
            next = start + (int64_t)k * interval;
        }
        dispatch(t, rec_from);
        if (t > deadline)
            break; /* what is still queued or in flight counts as lost */
        if (next >= end_sched && pend_head == pend_tail) {
            bool busy = false;

            for (int i = 0; i < opt.conns; i++)
                busy |= conns[i].state == C_BUSY;
            if (!busy || t > deadline)
                break;
        }
        if (next < end_sched) {
            struct itimerspec its = {.it_value = {.tv_sec = next / 1000000000LL,
                                                  .tv_nsec = next % 1000000000LL}};

            timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
        }
        n = epoll_wait(ep, evs, 256, next < end_sched ? -1 : 100);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;

            if (c == NULL) {
                uint64_t x;

                while (read(tfd, &x, sizeof(x)) > 0) {
                }
                continue;
            }
            if (c->state == C_CONNECTING) {
                if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
                    errors++;
                    conn_close(c);
                    conn_open(c);
                    continue;
                }
                if (evs[i].events & EPOLLOUT) {
                    c->state = C_IDLE;
                    want_write(c, false);
                    dispatch(now_ns(), rec_from);
                }
                continue;
            }
            if (evs[i].events & EPOLLOUT && c->state == C_BUSY)
                flush_write(c);
            if (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP))
                on_readable(c, rec_from);
        }
    }
    qsort(lat, nlat, sizeof(*lat), cmp_i64);
    printf("RATERESULT rate=%.0f achieved=%.1f requests=%zu lost=%ld non2xx=%ld errors=%ld "
           "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n",
           opt.rate,
           (double)nlat / ((double)(last_done_ns > end_sched ? last_done_ns : end_sched) - (double)rec_from) * 1e9,
           nlat, sent_recorded - (long)nlat, non2xx,
           errors, pct(50), pct(90), pct(99), pct(99.9), nlat ? (double)lat[nlat - 1] / 1e6 : 0.0);
    return 0;
}

/* --- idle connections ------------------------------------------------------ */

static int
run_idle(void)
{
    int *fds = xmalloc((size_t)opt.idle * sizeof(int));
    char req[2048], buf[8192];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s:%d\r\n", opt.path, opt.host,
                     opt.port);
    int open_now = 0;
    int64_t until;

    for (int i = 0; i < opt.nheaders && n < (int)sizeof(req); i++)
        n += snprintf(req + n, sizeof(req) - (size_t)n, "%s\r\n", opt.headers[i]);
    if (n + 2 >= (int)sizeof(req))
        die("%s", "idle: headers too long");
    n += snprintf(req + n, sizeof(req) - (size_t)n, "\r\n");
    for (int i = 0; i < opt.idle; i++) {
        struct timeval tv = {.tv_sec = 10};
        size_t got = 0;

        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[i] < 0)
            die("socket: %s (raise ulimit -n)", strerror(errno));
        setsockopt(fds[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fds[i], (struct sockaddr *)&addr, sizeof(addr)) != 0)
            die("connect: %s", strerror(errno));
        if (write(fds[i], req, (size_t)n) != n)
            die("write: %s", strerror(errno));
        /* Read until the end of the (small) answer's headers and body. */
        for (;;) {
            ssize_t r = read(fds[i], buf + got, sizeof(buf) - 1 - got);
            char *h;

            if (r <= 0)
                die("%s", "idle connection: no answer");
            got += (size_t)r;
            buf[got] = '\0';
            if ((h = strstr(buf, "\r\n\r\n")) != NULL) {
                char *cl = strcasestr(buf, "Content-Length:");
                long len = cl ? strtol(cl + 15, NULL, 10) : 0;

                if (strncmp(buf, "HTTP/1.1 200", 12) != 0 && opt.nheaders > 0)
                    die("idle connection: %.80s", buf);
                /* An event stream has begun once its headers came. */
                if (strcasestr(buf, "text/event-stream") != NULL ||
                    (size_t)(h + 4 - buf) + (size_t)len <= got)
                    break;
            }
        }
    }
    printf("IDLE connected=%d\n", opt.idle);
    fflush(stdout);
    until = now_ns() + (int64_t)(opt.hold * 1e9);
    while (!stop && now_ns() < until) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 100000000L};

        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < opt.idle; i++) {
        char c;
        ssize_t r = recv(fds[i], &c, 1, MSG_DONTWAIT | MSG_PEEK);

        /* Nothing to read, or (an event stream) a keep-alive comment:
         * open; 0 bytes: closed by the server. */
        open_now += r > 0 || (r < 0 && errno == EAGAIN);
        close(fds[i]);
    }
    printf("IDLE still_open=%d\n", open_now);
    return 0;
}

/* --- slow clients (slowloris) ---------------------------------------------- */

/* One connection from 127.0.0.(2 + i % 8) that has sent part of a request. */
static int
slow_open(int i)
{
    static const char part[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    struct sockaddr_in src = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        die("socket: %s (raise ulimit -n)", strerror(errno));
    src.sin_addr.s_addr = htonl(0x7f000002u + (uint32_t)(i % 8));
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
        connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        send(fd, part, sizeof(part) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(part) - 1) {
        close(fd);
        return -1;
    }
    return fd;
}

/* N connections sending one header byte every 5 s each, opened again
 * whenever the server shuts one, until --hold runs out. */
static int
run_slow(void)
{
    struct pollfd *p = xmalloc((size_t)opt.slow * sizeof(*p));
    int *fds = xmalloc((size_t)opt.slow * sizeof(int));
    int64_t until, next_byte = now_ns() + 5000000000LL;
    long reopened = 0;

    for (int i = 0; i < opt.slow; i++)
        fds[i] = slow_open(i);
    printf("SLOW connected=%d\n", opt.slow);
    fflush(stdout);
    until = now_ns() + (int64_t)(opt.hold * 1e9);
    while (!stop && now_ns() < until) {
        bool tick = now_ns() >= next_byte;

        for (int i = 0; i < opt.slow; i++)
            p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
        poll(p, (nfds_t)opt.slow, 200);
        for (int i = 0; i < opt.slow; i++) {
            char c;

            if (fds[i] < 0 || (p[i].revents && recv(fds[i], &c, 1, MSG_DONTWAIT) <= 0)) {
                if (fds[i] >= 0)
                    close(fds[i]);
                fds[i] = slow_open(i);
                reopened++;
            } else if (tick && send(fds[i], "a", 1, MSG_NOSIGNAL) != 1) {
                close(fds[i]);
                fds[i] = -1;
            }
        }
        if (tick)
            next_byte = now_ns() + 5000000000LL;
    }
    printf("SLOW reopened=%ld\n", reopened);
    return 0;
}

static void
usage(void)
{
    fprintf(stderr,
            "usage: ratebench -p PORT -c CONNS -r RATE -d SECONDS [-w WARMUP] [-H HEADER]...\n"
            "                 (-u PATH | -i IDFILE -u PREFIX)\n"
            "       ratebench -p PORT --idle N [--hold SECONDS] [-u PATH]\n"
            "       ratebench -p PORT --slow N [--hold SECONDS]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    const char *idfile = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (v == NULL)
            usage();
        if (strcmp(a, "-h") == 0)
            opt.host = v;
        else if (strcmp(a, "-p") == 0)
            opt.port = atoi(v);
        else if (strcmp(a, "-c") == 0)
            opt.conns = atoi(v);
        else if (strcmp(a, "-r") == 0)
            opt.rate = atof(v);
        else if (strcmp(a, "-d") == 0)
            opt.duration = atof(v);
        else if (strcmp(a, "-w") == 0)
            opt.warmup = atof(v);
        else if (strcmp(a, "-H") == 0 && opt.nheaders < MAX_HEADERS)
            opt.headers[opt.nheaders++] = v;
        else if (strcmp(a, "-u") == 0)
            opt.path = v;
        else if (strcmp(a, "-i") == 0)
            idfile = v;
        else if (strcmp(a, "--idle") == 0)
            opt.idle = atoi(v);
        else if (strcmp(a, "--slow") == 0)
            opt.slow = atoi(v);
        else if (strcmp(a, "--hold") == 0)
            opt.hold = atof(v);
        else
            usage();
        i++;
    }
    if (opt.port <= 0 ||
        (opt.idle == 0 && opt.slow == 0 && (opt.rate <= 0 || opt.duration <= 0 || !opt.path)))
        usage();
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)opt.port);
    if (inet_pton(AF_INET, opt.host, &addr.sin_addr) != 1)
        die("bad address %s (numeric IPv4 only)", opt.host);
    raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    rng ^= (uint64_t)now_ns();
    if (opt.slow > 0)
        return run_slow();
    if (opt.idle > 0) {
        if (opt.path == NULL)
            opt.path = "/healthz";
        return run_idle();
    }
    if (idfile)
        load_ids(idfile);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        die("epoll: %s", strerror(errno));
    return run_rate();
}
