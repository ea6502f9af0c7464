/* Drill (issue 16): 2,500 slow clients (slowloris) from 127.0.0.2-9, one
 * header byte every 5 s each, reconnecting whenever they are shut, against
 * the default http_max_connections (2,048); meanwhile a client on
 * 127.0.0.1 sends whole requests and must keep at least 99 % of them
 * answered. Before admission.c it got none. No latency bound: the figures
 * are printed, the benchmark reports them. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fixtures.h"

#define SLOW 2500
#define REQUESTS 300
#define BYTE_EVERY_MS 5000

static void
start(void)
{
    struct rlimit rl;

    /* 2,500 sockets on each side, in one process. */
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 8192 && rl.rlim_max > rl.rlim_cur) {
        rl.rlim_cur = rl.rlim_max < 8192 ? rl.rlim_max : 8192;
        cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    cr_assert_geq(rl.rlim_cur, 6000, "RLIMIT_NOFILE %llu is too low for this drill",
                  (unsigned long long)rl.rlim_cur);
    fx_start(NULL, NULL);
}

TestSuite(slow_clients, .init = start, .fini = fx_teardown, .timeout = 600);

struct attack {
    unsigned short port;
    atomic_bool stop;
    atomic_int opened; /* connections opened so far, reopenings included */
    int fd[SLOW];
};

static int
slow_connect(struct attack *a, int i)
{
    static const char part[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    struct sockaddr_in src = {.sin_family = AF_INET}, to = {.sin_family = AF_INET};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 2 + (uint32_t)(i % 8)); /* 127.0.0.2-9 */
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    to.sin_port = htons(a->port);
    if (bind(fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
        connect(fd, (struct sockaddr *)&to, sizeof(to)) != 0 ||
        send(fd, part, sizeof(part) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(part) - 1) {
        close(fd);
        return -1;
    }
    atomic_fetch_add(&a->opened, 1);
    return fd;
}

static void *
attacker(void *arg)
{
    struct attack *a = arg;
    static struct pollfd p[SLOW];
    long long next_byte = th_now_ms() + BYTE_EVERY_MS;

    for (int i = 0; i < SLOW; i++)
        a->fd[i] = slow_connect(a, i);
    while (!atomic_load(&a->stop)) {
        bool tick = th_now_ms() >= next_byte;

        for (int i = 0; i < SLOW; i++)
            p[i] = (struct pollfd){.fd = a->fd[i], .events = POLLIN};
        poll(p, SLOW, 200);
        for (int i = 0; i < SLOW; i++) {
            char c;

            /* Shut by the server: come back at once, as an attacker would. */
            if (a->fd[i] < 0 || (p[i].revents && recv(a->fd[i], &c, 1, MSG_DONTWAIT) <= 0)) {
                if (a->fd[i] >= 0)
                    close(a->fd[i]);
                a->fd[i] = slow_connect(a, i);
            } else if (tick && send(a->fd[i], "a", 1, MSG_NOSIGNAL) != 1) {
                close(a->fd[i]);
                a->fd[i] = -1;
            }
        }
        if (tick)
            next_byte = th_now_ms() + BYTE_EVERY_MS;
    }
    for (int i = 0; i < SLOW; i++)
        if (a->fd[i] >= 0)
            close(a->fd[i]);
    return NULL;
}

static int
cmp_ll(const void *x, const void *y)
{
    long long a = *(const long long *)x, b = *(const long long *)y;

    return (a > b) - (a < b);
}

Test(slow_clients, whole_requests_keep_going_through_2500_slow_clients)
{
    static struct attack a;
    static long long ms[REQUESTS];
    pthread_t th;
    int ok = 0;

    a.port = (unsigned short)atoi(strrchr(t.base, ':') + 1);
    cr_assert_eq(pthread_create(&th, NULL, attacker, &a), 0);
    /* The attack is on once every slow client has connected and the
     * server holds as many connections as its reserve lets it. */
    TH_WAIT_UNTIL(atomic_load(&a.opened) >= SLOW, "the slow clients never all connected");
    TH_WAIT_UNTIL(th_metric(&t, NULL, "inboxd_http_connections_open") >=
                      t.cf.http_max_connections * 8 / 10,
                  "the server never filled up");
    for (int i = 0; i < REQUESTS; i++) {
        struct resp r;
        long long t0 = th_now_ms();

        th_get(&t, "/v1/account", key, &r);
        ms[i] = th_now_ms() - t0;
        ok += r.status == 200;
        resp_free(&r);
    }
    atomic_store(&a.stop, true);
    pthread_join(th, NULL);
    qsort(ms, REQUESTS, sizeof(ms[0]), cmp_ll);
    fprintf(stderr,
            "slow clients: %d of %d requests answered 200 beside %d slow connections "
            "(%d opened in all); p50 %lld ms, p99 %lld ms, max %lld ms; shut: %lld past the "
            "header deadline, %lld for the reserve\n",
            ok, REQUESTS, SLOW, atomic_load(&a.opened), ms[REQUESTS / 2],
            ms[REQUESTS * 99 / 100], ms[REQUESTS - 1],
            th_metric(&t, NULL, "inboxd_http_connections_shut_total{reason=\"header_deadline\"}"),
            th_metric(&t, NULL, "inboxd_http_connections_shut_total{reason=\"reserve\"}"));
    cr_assert_geq(ok * 100, REQUESTS * 99, "only %d of %d requests answered", ok, REQUESTS);
    /* Room was made by the reserve, not only by the header deadline (which
     * alone gets requests through too, each after waiting out a deadline
     * in the listen queue). */
    cr_assert_gt(th_metric(&t, NULL, "inboxd_http_connections_shut_total{reason=\"reserve\"}"), 0);
}
