/*
 * fuzz_http: raw bytes to the whole server, in-process.
 *
 * LLVMFuzzerInitialize() starts inboxd the way the integration harness
 * does (config_load() and app_start(), listening on a free loopback
 * port), with a database URL that can never connect: routes that reach
 * the database answer 503, and that is fine. What is fuzzed is everything
 * before it: libmicrohttpd's parsing as we configure it, the router, the
 * Authorization header, the guards (401/403/404/405/413/415), reading the
 * body, the webhook signature check (source "shop" is configured) and the
 * problem documents. Each input is written as is on one new connection,
 * whose write side is then shut (once the server has read it all, see
 * server_read_all()); the harness reads until the server closes. The
 * server must answer well-formed status lines with valid problem
 * documents, never a 5xx other than the database's 503, and never hang
 * (a deadline aborts).
 */
#include "fuzz.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "inboxd/app.h"
#include "inboxd/http/server.h"
#include "inboxd/lib/config.h"

/* Far longer than any answer takes, even under the sanitizers on a busy
 * machine; past it the server is taken to hang. */
#define DEADLINE_MS 60000
#define KEEP_BYTES (64 * 1024)

static struct config cf;
static struct sockaddr_in server;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char *args[] = {
        "inboxd-fuzz",
        "--listen=127.0.0.1:0",
        /* No server listens there: every connection attempt fails at once. */
        "--database-url=host=/nonexistent/inboxd-fuzz dbname=fuzz connect_timeout=1",
        "--log-level=error",
        "--pool-wait-ms=100",
        "--shutdown-timeout-s=1",
        /* Small, so that fuzzed inputs reach the 413 of a large body. */
        "--body-limit=1024",
        NULL,
    };
    int n = (int)(sizeof(args) / sizeof(args[0])) - 1;
    char err[256];

    (void)argc;
    (void)argv;
    fuzz_clear_env();
    for (const struct config_key *k = config_keys; k->name; k++)
        unsetenv(k->env);
    setenv("INBOXD_WEBHOOK_SHOP_SECRET", "whsec_fuzz", 1);
    setenv("INBOXD_WEBHOOK_SHOP_ACCOUNT", "fuzz", 1);
    if (config_load(&cf, "/dev/null", &n, args, err, sizeof(err)) != 0 ||
        app_start(&cf, err, sizeof(err)) != 0) {
        fprintf(stderr, "fuzz_http: %s\n", err);
        abort();
    }
    server.sin_family = AF_INET;
    server.sin_port = htons((uint16_t)server_port());
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return 0;
}

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The problem document of an answer, when it has one and all of it was
 * kept: valid JSON whose "status" is the status line's. A HEAD answer
 * declares a length but has no body: what follows is not '{'. */
static void
check_problem(const char *head, const char *end, int status)
{
    const char *hend = memmem(head, (size_t)(end - head), "\r\n\r\n", 4);
    const char *cl, *body;
    json_t *doc;
    size_t len;

    if (hend == NULL || !memmem(head, (size_t)(hend - head), "application/problem+json", 24))
        return;
    cl = memmem(head, (size_t)(hend - head), "\r\nContent-Length: ", 18);
    if (cl == NULL)
        return;
    len = strtoul(cl + 18, NULL, 10);
    body = hend + 4;
    if (len == 0 || len > (size_t)(end - body) || *body != '{')
        return;
    doc = json_loadb(body, len, 0, NULL);
    if (doc == NULL || json_integer_value(json_object_get(doc, "status")) != status) {
        fprintf(stderr, "fuzz_http: a %d answer with the problem document %.*s\n", status,
                (int)len, body);
        abort();
    }
    json_decref(doc);
}

/* Every answer (several when requests were pipelined): its status line
 * "HTTP/1.x NNN", no 5xx but the database's 503 and the two that name the
 * client's protocol error, which libmicrohttpd sends itself: 501 (a
 * Transfer-Encoding it does not know) and 505 (an HTTP version other than
 * 1.0 and 1.1); and its problem document, if any. */
static void
check_answers(const char *r, size_t n)
{
    for (size_t i = 0; i + 12 <= n; i++) {
        int st;

        if ((i > 0 && r[i - 1] != '\n') || memcmp(r + i, "HTTP/1.", 7) != 0)
            continue;
        FUZZ_CHECK(r[i + 8] == ' ');
        st = (r[i + 9] - '0') * 100 + (r[i + 10] - '0') * 10 + (r[i + 11] - '0');
        FUZZ_CHECK(st >= 100 && st <= 599);
        if (st >= 500 && st != 503 && st != 501 && st != 505) {
            fprintf(stderr, "fuzz_http: the server answered %d\n", st);
            abort();
        }
        check_problem(r + i, r + n, st);
    }
}

/* The server's end of the client socket fd: the socket of this process
 * whose peer is fd's own address. -1 while the server has not accepted. */
static int
server_end(int fd)
{
    struct sockaddr_in me, peer;
    socklen_t len = sizeof(me);

    if (getsockname(fd, (struct sockaddr *)&me, &len) != 0)
        return -1;
    for (int s = 3; s < 1024; s++) {
        len = sizeof(peer);
        if (s == fd || getpeername(s, (struct sockaddr *)&peer, &len) != 0 ||
            peer.sin_family != AF_INET || peer.sin_port != me.sin_port ||
            peer.sin_addr.s_addr != me.sin_addr.s_addr)
            continue;
        return s;
    }
    return -1;
}

/*
 * Whether the server has read every byte sent so far. libmicrohttpd
 * 0.9.75 on epoll (edge-triggered) does not see a FIN that arrives in the
 * same wake-up as the last bytes of an unfinished request: it reads the
 * bytes, takes the socket for drained and waits for the connection
 * timeout. So the write side is shut only once the server has taken
 * everything in, and the FIN wakes it anew.
 */
static bool
server_read_all(int fd, int *sfd)
{
    int queued = 0;

    if (*sfd < 0)
        *sfd = server_end(fd);
    return *sfd >= 0 && ioctl(*sfd, SIOCINQ, &queued) == 0 && queued == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char kept[KEEP_BYTES];
    size_t sent = 0, got = 0;
    long long deadline = now_ms() + DEADLINE_MS;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), sfd = -1;
    bool shut = false;

    FUZZ_CHECK(fd >= 0);
    if (connect(fd, (const struct sockaddr *)&server, sizeof(server)) != 0) {
        fprintf(stderr, "fuzz_http: connect: %s\n", strerror(errno));
        abort();
    }
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN | (sent < size ? POLLOUT : 0)};
        long long left = deadline - now_ms();
        char buf[4096];
        ssize_t n;

        if (left <= 0) {
            fprintf(stderr, "fuzz_http: no end of the answer after %d ms\n", DEADLINE_MS);
            abort();
        }
        if (!shut && sent == size && server_read_all(fd, &sfd)) {
            shutdown(fd, SHUT_WR);
            shut = true;
        }
        /* Until the write side is shut, look again soon (50 us). */
        if (ppoll(&p, 1,
                  &(struct timespec){.tv_sec = shut || sent < size ? left / 1000 : 0,
                                     .tv_nsec = shut || sent < size ? left % 1000 * 1000000 : 50000},
                  NULL) < 0) {
            FUZZ_CHECK(errno == EINTR);
            continue;
        }
        if (sent < size && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
            n = send(fd, data + sent, size - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0)
                sent += (size_t)n;
            /* The server may answer and close before it read everything. */
            else if (n < 0 && errno != EAGAIN && errno != EINTR)
                break;
        }
        if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
            n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                break;
            if (n > 0 && got < sizeof(kept)) {
                size_t k = (size_t)n < sizeof(kept) - got ? (size_t)n : sizeof(kept) - got;

                memcpy(kept + got, buf, k);
                got += k;
            }
        }
    }
    /* Closed with a reset: the harness shut its side first, so a plain
     * close would leave it in TIME_WAIT, and a million connections would
     * run out of local ports. The server has answered by now. */
    FUZZ_CHECK(setsockopt(fd, SOL_SOCKET, SO_LINGER, &(struct linger){.l_onoff = 1, .l_linger = 0},
                          sizeof(struct linger)) == 0);
    close(fd);
    check_answers(kept, got);
    return 0;
}
