/* Signals to a real `inboxd serve` process. SIGHUP: it reads its configuration file
 * again and applies it without dropping a connection: a webhook secret
 * rotated in the file (with _SECRET_PREVIOUS during the rotation), the
 * log level, a setting that needs a restart, a file that does not parse;
 * and a stream of requests running across the reloads never fails.
 * SIGTERM: it finishes the request in flight and exits 0. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixtures.h"
#include "inboxd/app.h"
#include "inboxd/db/pool.h"

static char dir[PATH_MAX], conf[PATH_MAX + 16], logpath[PATH_MAX + 16];
static pid_t child;

/* A failed test leaves no inboxd behind. */
static void
teardown(void)
{
    char cmd[PATH_MAX + 32];

    if (child > 0 && waitpid(child, NULL, WNOHANG) == 0) {
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
    fx_teardown();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (dir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

TestSuite(reload, .init = fx_setup, .fini = teardown, .timeout = 120);

/* Writes the configuration file: the webhook source "zoho" with these
 * secrets (previous may be NULL), the log level, and `extra` lines. */
static void
write_conf(const char *secret, const char *previous, const char *level, const char *extra)
{
    char tmp[PATH_MAX + 32];
    FILE *f;

    /* Renamed into place: the reload never reads a half-written file. */
    snprintf(tmp, sizeof(tmp), "%s.tmp", conf);
    f = fopen(tmp, "w");
    cr_assert_not_null(f);
    fprintf(f,
            "database_url = %s\nlisten = 127.0.0.1:0\nlog_level = %s\n"
            "webhook.zoho.secret = %s\nwebhook.zoho.account = %s\n",
            t.conninfo, level, secret, account);
    if (previous != NULL)
        fprintf(f, "webhook.zoho.secret_previous = %s\n", previous);
    if (extra != NULL)
        fprintf(f, "%s\n", extra);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(rename(tmp, conf), 0);
}

/* The log so far, NUL-terminated; caller frees. */
static char *
read_log(void)
{
    FILE *f = fopen(logpath, "r");
    char *s = calloc(1, 1 << 20);
    size_t n;

    cr_assert_not_null(s);
    if (f == NULL) /* not made yet */
        return s;
    n = fread(s, 1, (1 << 20) - 1, f);
    s[n] = '\0';
    fclose(f);
    return s;
}

/* How many log lines contain every one of the needles (NULL-ended). */
static int
log_count(const char *const *needles)
{
    char *all = read_log(), *line = all;
    int n = 0;

    while (line && *line) {
        char *end = strchr(line, '\n');
        bool every = true;

        if (end)
            *end = '\0';
        for (int i = 0; needles[i]; i++)
            every &= strstr(line, needles[i]) != NULL;
        n += every;
        line = end ? end + 1 : NULL;
    }
    free(all);
    return n;
}

/* Waits (generously) until `count` lines contain the needles. */
static void
wait_log(const char *const *needles, int count)
{
    TH_WAIT_UNTIL(log_count(needles) >= count, needles[0]);
}

/* SIGHUP, then waits for the reload's line (the n-th of its kind). */
static void
reload(const char *event, int n)
{
    cr_assert_eq(kill(child, SIGHUP), 0);
    wait_log((const char *const[]){event, NULL}, n);
}

/* The port of the child's server.start line, or 0 before it. */
static int
logged_port(void)
{
    char *all = read_log(), *p = strstr(all, "\"event\":\"server.start\"");
    int port = 0;

    if (p && (p = strstr(p, "\"port\":")) != NULL)
        port = atoi(p + 7);
    free(all);
    return port;
}

static void
start_child(void)
{
    char bin[PATH_MAX];
    int port = 0;

    th_inboxd_path(bin);
    child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int null = open("/dev/null", O_RDWR);

        /* Nothing of the test runner's: meson waits for its pipes. */
        if (fd < 0 || null < 0 || dup2(fd, 2) < 0 || dup2(null, 1) < 0 || dup2(null, 0) < 0)
            _exit(127);
        execl(bin, bin, "--config", conf, "serve", (char *)NULL);
        _exit(127);
    }
    TH_WAIT_UNTIL((port = logged_port()) > 0, "inboxd serve did not start");
    /* From here on the harness's requests go to the child. */
    snprintf(t.base, sizeof(t.base), "http://127.0.0.1:%d", port);
}

static void
stop_child(void)
{
    int status = 0;

    cr_assert_eq(kill(child, SIGTERM), 0);
    cr_assert_eq(waitpid(child, &status, 0), child);
    child = 0;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "inboxd exited with %d", status);
}

/* Delivers a new event signed with secret; returns the status. */
static long
deliver_signed(const char *secret, int n)
{
    char body[2048], id[64];
    struct resp r;
    long status;

    snprintf(id, sizeof(id), "reload-%d", n);
    webhook_delivery(body, sizeof(body), id, id, id);
    deliver("zoho", secret, body, &r);
    status = r.status;
    if (status != 201)
        cr_assert_eq(status, 401, "%s", r.body);
    resp_free(&r);
    return status;
}

static bool
logged_request(const char *request_id)
{
    return log_count((const char *const[]){"\"event\":\"http.request\"", request_id, NULL}) > 0;
}

static void
get_with_id(const char *request_id)
{
    char h[96];
    struct resp r;

    snprintf(h, sizeof(h), "X-Request-Id: %s", request_id);
    th_http(&t, "GET", "/v1/account", key, NULL, (const char *const[]){h, NULL}, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
}

Test(reload, sighup_rotates_webhook_secrets_and_the_log_level_without_failing_a_request)
{
    struct fx_stream stream = {.path = "/v1/account"};
    int n = 0;

    snprintf(dir, sizeof(dir), "/tmp/inboxd-reload-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(conf, sizeof(conf), "%s/inboxd.conf", dir);
    snprintf(logpath, sizeof(logpath), "%s/inboxd.log", dir);
    write_conf("old-secret", NULL, "info", NULL);
    th_app_stop(&t); /* the in-process server is not needed */
    start_child();
    fx_stream_start(&stream);
    fx_stream_advance(&stream, 5);

    cr_assert_eq(deliver_signed("old-secret", n++), 201);
    cr_assert_eq(deliver_signed("new-secret", n++), 401);

    /* The rotation starts: the new secret, the old one as previous, the
     * log level raised to warn, and a pool size that needs a restart. */
    write_conf("new-secret", "old-secret", "warn", "pool_size = 7");
    reload("\"event\":\"config.reloaded\"", 1);
    wait_log((const char *const[]){"\"event\":\"config.restart_needed\"", "pool_size", NULL}, 1);
    cr_assert_eq(log_count((const char *const[]){"config.reloaded", "webhook", NULL}), 1);
    fx_stream_advance(&stream, 20);
    cr_assert_eq(deliver_signed("new-secret", n++), 201);
    cr_assert_eq(deliver_signed("old-secret", n++), 201, "the previous secret during a rotation");
    cr_assert_eq(deliver_signed("other-secret", n++), 401);
    /* At warn, a successful request writes no access line. */
    get_with_id("reload-at-warn");

    /* The rotation ends: the old secret goes, the log level is info again. */
    write_conf("new-secret", NULL, "info", "pool_size = 7");
    reload("\"event\":\"config.reloaded\"", 2);
    fx_stream_advance(&stream, 20);
    cr_assert_eq(deliver_signed("old-secret", n++), 401, "a removed secret");
    cr_assert_eq(deliver_signed("new-secret", n++), 201);
    get_with_id("reload-at-info");
    /* The loop writes access lines in the order it answers. */
    for (long long start = th_now_ms(); !logged_request("reload-at-info");)
        cr_assert_lt(th_now_ms() - start, 30000, "no access line at info");
    cr_assert(!logged_request("reload-at-warn"), "an access line was written at warn");

    /* A file that does not parse changes nothing. */
    write_conf("newest-secret", NULL, "info", "pool_size = many");
    reload("\"event\":\"config.reload_failed\"", 1);
    cr_assert_eq(log_count((const char *const[]){"config.reload_failed", "pool_size", NULL}), 1);
    fx_stream_advance(&stream, 20);
    cr_assert_eq(deliver_signed("newest-secret", n++), 401);
    cr_assert_eq(deliver_signed("new-secret", n++), 201);

    fx_stream_stop(&stream);
    cr_assert_eq(atomic_load(&stream.failed), 0, "%d requests across the reloads failed (%d ok)",
                 atomic_load(&stream.failed), atomic_load(&stream.ok));
    stop_child();
    /* Secrets are never logged. */
    cr_assert_eq(log_count((const char *const[]){"-secret", NULL}), 0);
}

/* A reload moves a source to Standard Webhooks (webhook.zoho.scheme) and
 * back: each signature scheme verifies exactly while it is configured. */
Test(reload, sighup_switches_a_source_to_standard_webhooks_and_back)
{
    char body[2048], id[64];
    struct resp r;

    snprintf(dir, sizeof(dir), "/tmp/inboxd-reload-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(conf, sizeof(conf), "%s/inboxd.conf", dir);
    snprintf(logpath, sizeof(logpath), "%s/inboxd.log", dir);
    write_conf(STD_SECRET_NEW, NULL, "info", NULL);
    th_app_stop(&t);
    start_child();

    webhook_delivery(body, sizeof(body), "std-reload-0", "std-reload-0", "std-reload-0");
    deliver_standard_signed("zoho", STD_SECRET_NEW, "std-reload-0", 0, body, &r);
    cr_assert_eq(r.status, 401, "the inboxd scheme by default: %s", r.body);
    resp_free(&r);

    write_conf(STD_SECRET_NEW, NULL, "info", "webhook.zoho.scheme = standard");
    reload("\"event\":\"config.reloaded\"", 1);
    cr_assert_eq(log_count((const char *const[]){"config.reloaded", "webhook", NULL}), 1);
    for (int i = 1; i <= 2; i++) {
        snprintf(id, sizeof(id), "std-reload-%d", i);
        webhook_delivery(body, sizeof(body), id, id, id);
        if (i == 1)
            deliver_standard_signed("zoho", STD_SECRET_NEW, id, 0, body, &r);
        else
            deliver("zoho", STD_SECRET_NEW, body, &r);
        cr_assert_eq(r.status, i == 1 ? 201 : 401, "%s: %s", id, r.body);
        resp_free(&r);
    }

    write_conf(STD_SECRET_NEW, NULL, "info", "webhook.zoho.scheme = inboxd");
    reload("\"event\":\"config.reloaded\"", 2);
    webhook_delivery(body, sizeof(body), "std-reload-3", "std-reload-3", "std-reload-3");
    deliver_standard_signed("zoho", STD_SECRET_NEW, "std-reload-3", 0, body, &r);
    cr_assert_eq(r.status, 401, "%s", r.body);
    resp_free(&r);
    deliver("zoho", STD_SECRET_NEW, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    stop_child();
    cr_assert_eq(log_count((const char *const[]){"whsec_", NULL}), 0, "secrets are never logged");
}

/* --- the timeouts, in-process ----------------------------------------------- */

struct shown {
    char statement[32], lock[32];
};

/* What the borrowed pooled connection runs with. */
static int
show_timeouts(struct dbconn *c, void *arg, struct problem *pb)
{
    struct shown *s = arg;
    PGresult *r = PQexec(c->pg, "SELECT current_setting('statement_timeout'), "
                                "current_setting('lock_timeout')");

    (void)pb;
    cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQresultErrorMessage(r));
    snprintf(s->statement, sizeof(s->statement), "%s", PQgetvalue(r, 0, 0));
    snprintf(s->lock, sizeof(s->lock), "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    return 0;
}

/* A pooled connection takes reloaded timeouts before its next
 * transaction: the same connection, no reconnect. */
Test(reload, timeouts_apply_from_each_connections_next_transaction)
{
    struct problem pb = {0};
    struct config *cf = config_dup(&t.cf);
    unsigned long long connects;
    struct db_stats st;
    struct shown s;

    cr_assert_eq(db_read(show_timeouts, &s, false, &pb), 0, "%s", pb.detail);
    cr_assert_str_eq(s.statement, "10s");
    cr_assert_str_eq(s.lock, "5s");
    db_stats(&st);
    connects = st.reconnects;
    cf->statement_timeout_ms = 1234;
    cf->lock_timeout_ms = 567;
    cr_assert_eq(app_reload(cf), 0);
    config_cleanup(cf);
    free(cf);
    for (int i = 0; i < t.cf.pool_size * 2; i++) {
        cr_assert_eq(db_read(show_timeouts, &s, false, &pb), 0, "%s", pb.detail);
        cr_assert_str_eq(s.statement, "1234ms");
        cr_assert_str_eq(s.lock, "567ms");
    }
    db_stats(&st);
    cr_assert_eq(st.reconnects, connects, "a reload reconnected");
}

/* --- SIGTERM with a request in flight ------------------------------------- */

struct held {
    struct resp r;
};

static void *
held_post(void *arg)
{
    struct held *h = arg;

    th_post(&t, "/v1/users", key, "{\"email\":\"held@example.com\",\"displayName\":\"Held\"}",
            &h->r);
    return NULL;
}

/* Whether a new connection to the child is refused (its listener closed). */
static bool
refused(void)
{
    CURL *c = curl_easy_init();
    CURLcode rc;

    cr_assert_not_null(c);
    curl_easy_setopt(c, CURLOPT_URL, t.base);
    curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
    rc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    return rc == CURLE_COULDNT_CONNECT;
}

/* The real process gets SIGTERM while a request waits on a lock: it stops
 * taking connections at once, answers the request once the lock goes, and
 * exits 0. Were it to wait out shutdown_timeout_s instead, the test would
 * hang into its timeout. */
Test(reload, sigterm_stops_taking_connections_and_finishes_the_request_in_flight)
{
    struct held h = {{0}};
    pthread_t th;
    int status = 0;

    snprintf(dir, sizeof(dir), "/tmp/inboxd-reload-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(conf, sizeof(conf), "%s/inboxd.conf", dir);
    snprintf(logpath, sizeof(logpath), "%s/inboxd.log", dir);
    write_conf("s3cret", NULL, "info", "shutdown_timeout_s = 3600");
    th_app_stop(&t); /* the in-process server is not needed */
    start_child();
    /* The request's insert waits on this lock. */
    PQclear(th_sql(&t, "BEGIN"));
    PQclear(th_sql(&t, "LOCK TABLE users IN EXCLUSIVE MODE"));
    cr_assert_eq(pthread_create(&th, NULL, held_post, &h), 0);
    TH_WAIT_UNTIL(th_lock_waiters(&t) >= 1,
                  "the request never reached the lock");
    cr_assert_eq(kill(child, SIGTERM), 0);
    wait_log((const char *const[]){"\"event\":\"server.stopping\"", NULL}, 1);
    TH_WAIT_UNTIL(refused(), "still taking connections after SIGTERM");
    PQclear(th_sql(&t, "COMMIT"));
    pthread_join(th, NULL);
    cr_assert_eq(h.r.status, 201, "the request in flight: %ld %s", h.r.status, h.r.body);
    resp_free(&h.r);
    cr_assert_eq(waitpid(child, &status, 0), child);
    child = 0;
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "inboxd exited with %d", status);
}
