/*
 * test_watchdog: systemd's WATCHDOG=1 means "serving". `inboxd serve` runs
 * as a child with NOTIFY_SOCKET pointing at a datagram socket of this test
 * and WATCHDOG_USEC set: an idle inboxd keeps pinging; a stalled HTTP loop
 * (the debug build's INBOXD_DEBUG_STALL_LOOP hook) or a read stuck in the
 * reader (a lock held in PostgreSQL, no timeouts) stops the pings, which
 * resume once the stall ends. And `inboxd health` answers for the child.
 *
 * No wall-clock bounds: "stopped" is a silence of three whole intervals,
 * waited for with a generous deadline; "resumed" is a ping arriving.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixtures.h"

#define INTERVAL_MS 1000

static struct {
    pid_t pid;
    int nfd;
    char dir[64], notify[100], log[100], stall[100], held[110];
    unsigned port;
} ch = {.pid = -1, .nfd = -1};

static void
pause_briefly(void)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000000L};

    nanosleep(&ts, NULL);
}

/* The next notification within timeout_ms, into buf; false when none came. */
static bool
next_note(int timeout_ms, char *buf, size_t cap)
{
    struct pollfd p = {.fd = ch.nfd, .events = POLLIN};
    ssize_t n;

    if (poll(&p, 1, timeout_ms) <= 0)
        return false;
    n = recv(ch.nfd, buf, cap - 1, 0);
    cr_assert_geq(n, 0, "recv: %s", strerror(errno));
    buf[n] = '\0';
    return true;
}

/* Waits for `count` WATCHDOG=1 pings (other notifications are skipped). */
static void
expect_pings(int count, const char *why)
{
    long long deadline = th_now_ms() + TH_PATIENCE_MS;
    char buf[256];

    while (count > 0) {
        long long left = deadline - th_now_ms();

        cr_assert_gt(left, 0, "%s: no WATCHDOG=1 within %d ms", why, TH_PATIENCE_MS);
        if (next_note((int)left, buf, sizeof(buf)) && strcmp(buf, "WATCHDOG=1") == 0)
            count--;
    }
}

/* Waits for a silence of three whole intervals: the pings have stopped. */
static void
expect_silence(const char *why)
{
    long long deadline = th_now_ms() + TH_PATIENCE_MS;
    char buf[256];

    for (;;) {
        cr_assert_lt(th_now_ms(), deadline, "%s: WATCHDOG=1 kept coming for %d ms", why,
                     TH_PATIENCE_MS);
        if (!next_note(3 * INTERVAL_MS, buf, sizeof(buf)))
            return;
        cr_assert_str_eq(buf, "WATCHDOG=1", "%s: unexpected notification", why);
    }
}

/* The port from the child's server.start log line. */
static unsigned
logged_port(void)
{
    long long deadline = th_now_ms() + TH_PATIENCE_MS;

    for (;;) {
        char buf[8192];
        FILE *f = fopen(ch.log, "r");
        size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        const char *s, *p;

        if (f != NULL)
            fclose(f);
        buf[n] = '\0';
        s = strstr(buf, "\"server.start\"");
        p = s ? strstr(s, "\"port\":") : NULL;
        if (p != NULL)
            return (unsigned)strtoul(p + 7, NULL, 10);
        cr_assert_lt(th_now_ms(), deadline, "no server.start in the child's log:\n%s", buf);
        pause_briefly();
    }
}

/* Starts `inboxd serve` on the test's database, with a watchdog of
 * INTERVAL_MS and the extra environment (NAME=VALUE, NULL-ended), and
 * waits for READY=1. */
static void
child_start(const char *const *extra)
{
    const char *bin = getenv("INBOXD_BIN");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char buf[256];
    long long deadline;

    cr_assert_not_null(bin, "INBOXD_BIN is not set (tests/meson.build sets it)");
    snprintf(ch.dir, sizeof(ch.dir), "/tmp/inboxd-wd-XXXXXX");
    cr_assert_not_null(mkdtemp(ch.dir));
    snprintf(ch.notify, sizeof(ch.notify), "%s/notify", ch.dir);
    snprintf(ch.log, sizeof(ch.log), "%s/log", ch.dir);
    snprintf(ch.stall, sizeof(ch.stall), "%s/stall", ch.dir);
    snprintf(ch.held, sizeof(ch.held), "%s.held", ch.stall);
    ch.nfd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(ch.nfd, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ch.notify);
    cr_assert_eq(bind(ch.nfd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));

    ch.pid = fork();
    cr_assert_geq(ch.pid, 0);
    if (ch.pid == 0) {
        char usec[32], pid[32];
        int fd = open(ch.log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        /* Never outlive the test, however it ends. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(127);
        snprintf(usec, sizeof(usec), "%d", INTERVAL_MS * 1000);
        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        setenv("NOTIFY_SOCKET", ch.notify, 1);
        setenv("WATCHDOG_USEC", usec, 1);
        setenv("WATCHDOG_PID", pid, 1);
        setenv("DATABASE_URL", t.conninfo, 1);
        setenv("INBOXD_LISTEN", "127.0.0.1:0", 1);
        setenv("INBOXD_LOG_LEVEL", "info", 1);
        setenv("INBOXD_DEBUG_STALL_LOOP", ch.stall, 1);
        for (int i = 0; extra && extra[i]; i++) {
            char kv[256], *eq;

            snprintf(kv, sizeof(kv), "%s", extra[i]);
            eq = strchr(kv, '=');
            if (eq == NULL)
                _exit(127);
            *eq = '\0';
            setenv(kv, eq + 1, 1);
        }
        execl(bin, "inboxd", "serve", (char *)NULL);
        _exit(127);
    }
    deadline = th_now_ms() + TH_PATIENCE_MS;
    for (;;) {
        long long left = deadline - th_now_ms();

        cr_assert_gt(left, 0, "no READY=1 from inboxd serve (log: %s)", ch.log);
        if (next_note((int)left, buf, sizeof(buf)) && strcmp(buf, "READY=1") == 0)
            break;
    }
    ch.port = logged_port();
}

/* SIGTERM, and the exit status. */
static int
child_stop(void)
{
    int st = 0;

    if (ch.pid <= 0)
        return -1;
    kill(ch.pid, SIGTERM);
    waitpid(ch.pid, &st, 0);
    ch.pid = -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void
setup(void)
{
    fx_setup();
    /* The tenant and key are made; the child serves, not this process. */
    th_app_stop(&t);
}

static void
teardown(void)
{
    if (ch.pid > 0) {
        kill(ch.pid, SIGKILL);
        waitpid(ch.pid, NULL, 0);
    }
    if (ch.nfd >= 0)
        close(ch.nfd);
    if (ch.dir[0] != '\0') {
        unlink(ch.notify);
        unlink(ch.log);
        unlink(ch.stall);
        unlink(ch.held);
        rmdir(ch.dir);
    }
    fx_teardown();
}

TestSuite(watchdog, .init = setup, .fini = teardown, .timeout = 240);

/* `inboxd health ADDR`'s exit status. */
static int
run_health(void)
{
    char addr[64];
    pid_t pid;
    int st = 0;

    snprintf(addr, sizeof(addr), "127.0.0.1:%u", ch.port);
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        execl(getenv("INBOXD_BIN"), "inboxd", "health", addr, (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

Test(watchdog, a_stalled_loop_stops_the_pings_until_it_goes_round_again)
{
    struct stat sb;
    long long deadline;

    child_start(NULL);
    /* Idle, with no request at all, the loop still shows progress. */
    expect_pings(3, "idle");
    cr_expect_eq(run_health(), 0, "inboxd health against a ready inboxd");

    /* Hold the loop; it renames the file once it is held. */
    cr_assert_eq(mknod(ch.stall, S_IFREG | 0600, 0), 0, "%s", strerror(errno));
    deadline = th_now_ms() + TH_PATIENCE_MS;
    while (stat(ch.held, &sb) != 0) {
        cr_assert_lt(th_now_ms(), deadline, "the loop never took hold (debug build?)");
        pause_briefly();
    }
    expect_silence("loop held");
    /* Nothing answers HTTP meanwhile: the health check fails too. */
    cr_expect_neq(run_health(), 0, "inboxd health while the loop is held");

    cr_assert_eq(unlink(ch.held), 0);
    expect_pings(2, "loop released");
    cr_expect_eq(run_health(), 0, "inboxd health after the release");
    cr_expect_eq(child_stop(), 0, "inboxd serve exit status");
}

/* Connects to the child and sends one request, without waiting. */
static int
send_request(const char *path)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ch.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char req[512];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), n;

    cr_assert_geq(fd, 0);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
    n = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: inboxd\r\nAuthorization: Bearer %s\r\n"
                 "Connection: close\r\n\r\n",
                 path, key);
    cr_assert_eq(send(fd, req, (size_t)n, MSG_NOSIGNAL), n);
    return fd;
}

/* The status code of the answer on fd. */
static int
answer_status(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char buf[256];
    int code = 0;
    ssize_t n;

    cr_assert_gt(poll(&p, 1, TH_PATIENCE_MS), 0, "no answer");
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    cr_assert_gt(n, 0);
    buf[n] = '\0';
    cr_assert_eq(sscanf(buf, "HTTP/1.%*d %d", &code), 1, "%s", buf);
    return code;
}

static void
locker_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);

    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

Test(watchdog, a_read_stuck_in_the_reader_stops_the_pings_until_it_is_answered)
{
    /* No timeouts: only the lock's release ends the read. */
    static const char *const env[] = {"INBOXD_STATEMENT_TIMEOUT_MS=0", "INBOXD_LOCK_TIMEOUT_MS=0",
                                       NULL};
    PGconn *locker;
    long long deadline;
    int fd;

    child_start(env);
    expect_pings(2, "idle");

    /* A conversation read goes to the reader (GET /v1/conversations/{id}),
     * which waits behind this lock with the loop still going round. */
    /* On a connection of its own: pg_stat_activity, read below on t.sql,
     * is a snapshot taken once per transaction. */
    locker = PQconnectdb(t.conninfo);
    cr_assert_eq(PQstatus(locker), CONNECTION_OK, "%s", PQerrorMessage(locker));
    locker_exec(locker, "BEGIN");
    locker_exec(locker, "LOCK TABLE conversations IN ACCESS EXCLUSIVE MODE");
    fd = send_request("/v1/conversations/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
    deadline = th_now_ms() + TH_PATIENCE_MS;
    while (sql_long("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = 'inboxd' AND wait_event_type = 'Lock'") < 1) {
        if (th_now_ms() > deadline) {
            char what[2048];

            sql_text(what, sizeof(what),
                     "SELECT string_agg(concat_ws(' ', application_name, state, "
                     "wait_event_type, left(query, 60)), '; ') "
                     "FROM pg_stat_activity WHERE datname = current_database()");
            cr_assert_fail("the read never waited on the lock; sessions: %s", what);
        }
        pause_briefly();
    }
    expect_silence("read stuck");
    /* The loop itself still serves: it is the reader that stalled. */
    cr_expect_eq(run_health(), 0, "inboxd health while a read is stuck");

    locker_exec(locker, "ROLLBACK");
    PQfinish(locker);
    expect_pings(2, "read answered");
    cr_expect_eq(answer_status(fd), 404, "the stuck read's answer (no such conversation)");
    close(fd);
    cr_expect_eq(child_stop(), 0, "inboxd serve exit status");
}
