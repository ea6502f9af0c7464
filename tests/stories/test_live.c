/*
 * Live (issue 17): claims that wait for work, and the whole story on two
 * instances. A signed webhook reaches one instance; a worker waiting on
 * the other gets the draft request; two dashboards, one per instance, see
 * every event once, in commit order, one of them across a reconnect with
 * Last-Event-ID; a sync worker waiting for the outbox gets the approved
 * reply.
 *
 * The second instance is a real `inboxd serve` process on the same
 * database; the first is the harness's, in this process.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixtures.h"
#include "inboxd/http/live.h"

static void
live_setup(void)
{
    webhook_sources();
    fx_start("Hook Shop", NULL);
}

TestSuite(live, .init = live_setup, .fini = fx_teardown, .timeout = 240);

/* --- a request on a thread of its own ------------------------------------- */

struct call {
    struct th at; /* the instance it goes to */
    char path[128];
    char body[512];
    pthread_t thread;
    struct resp r;
};

static void *
call_main(void *arg)
{
    struct call *c = arg;

    th_post(&c->at, c->path, key, c->body, &c->r);
    return NULL;
}

static void
call_start(struct call *c, const struct th *at, const char *path, const char *body)
{
    c->at = *at;
    snprintf(c->path, sizeof(c->path), "%s", path);
    snprintf(c->body, sizeof(c->body), "%s", body);
    cr_assert_eq(pthread_create(&c->thread, NULL, call_main, c), 0);
}

/* Joins the call; its answer must be 200 with n items. Returns the items. */
static json_t *
call_items(struct call *c, size_t n)
{
    json_t *items;

    pthread_join(c->thread, NULL);
    cr_assert_eq(c->r.status, 200, "%s: %ld %s", c->path, c->r.status, c->r.body);
    items = json_object_get(c->r.json, "items");
    cr_assert_eq(json_array_size(items), n, "%s: %s", c->path, c->r.body);
    return items;
}

static long long
waiting(struct th *at)
{
    return th_metric(at, NULL, "inboxd_claims_waiting");
}

#define WAIT_CLAIM(seconds)                                                                        \
    "{\"limit\": 1, \"leaseSeconds\": 60, \"workerId\": \"w\", \"waitSeconds\": " #seconds "}"

/* --- claims that wait -------------------------------------------------------- */

Test(live, a_waiting_claim_gets_work_queued_by_another_connection)
{
    struct call c;
    char ch[37], conv[37], msg[37], req[37];
    json_t *items;

    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    call_start(&c, &t, "/v1/draft-requests/claim", WAIT_CLAIM(30));
    TH_WAIT_UNTIL(waiting(&t) == 1, "the claim did not wait");
    mk_request(account, conv, 0, msg, req);
    items = call_items(&c, 1);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), req);
    cr_assert_eq(waiting(&t), 0);
    resp_free(&c.r);
}

Test(live, a_wait_that_ends_answers_no_items)
{
    struct resp r;

    th_post(&t, "/v1/draft-requests/claim", key, WAIT_CLAIM(1), &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    resp_free(&r);
    th_post(&t, "/v1/outbox/claim", key, "{\"limit\": 1, \"leaseSeconds\": 60, \"waitSeconds\": 1}",
            &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    resp_free(&r);
}

Test(live, two_waiting_workers_get_different_items)
{
    struct call a, b;
    char ch[37], conv[37];
    const char *ia, *ib;

    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    call_start(&a, &t, "/v1/outbox/claim", "{\"limit\": 1, \"leaseSeconds\": 60, \"waitSeconds\": 30}");
    call_start(&b, &t, "/v1/outbox/claim", "{\"limit\": 1, \"leaseSeconds\": 60, \"waitSeconds\": 30}");
    TH_WAIT_UNTIL(waiting(&t) == 2, "the claims did not wait");
    /* Two outbound messages in one transaction: one wake-up for both. */
    sql_exec("INSERT INTO messages (account_id, id, conversation_id, direction, body_text, "
             "                      delivery_status) "
             "SELECT '%s', inboxd_uuid7(), '%s', 'outbound', 'Hi', 'pending' "
             "FROM generate_series(1, 2)",
             account, conv);
    ia = jstr(json_array_get(call_items(&a, 1), 0), "id");
    ib = jstr(json_array_get(call_items(&b, 1), 0), "id");
    cr_assert_not_null(ia);
    cr_assert_not_null(ib);
    cr_assert_str_neq(ia, ib);
    resp_free(&a.r);
    resp_free(&b.r);
}

Test(live, nothing_is_claimed_for_a_worker_that_hung_up)
{
    char ch[37], conv[37], msg[37], req[37], http[512];
    const char *body = WAIT_CLAIM(30);
    int fd = th_connect(&t, NULL);

    mk_channel(account, NULL, NULL, ch);
    mk_conv(account, ch, NULL, conv);
    snprintf(http, sizeof(http),
             "POST /v1/draft-requests/claim HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
             "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
             key, strlen(body), body);
    cr_assert_eq(write(fd, http, strlen(http)), (ssize_t)strlen(http));
    TH_WAIT_UNTIL(waiting(&t) == 1, "the claim did not wait");
    close(fd);
    /* The hub sees the hang-up on the suspended connection. */
    TH_WAIT_UNTIL(waiting(&t) == 0, "the hang-up was not noticed");
    mk_request(account, conv, 0, msg, req);
    /* Queued, never leased: nothing was claimed for the gone worker. */
    cr_assert_eq(sql_long("SELECT attempts FROM draft_requests WHERE id = '%s'", req), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM draft_requests WHERE id = '%s' "
                          "AND status = 'queued'", req), 1);
}

Test(live, wait_seconds_out_of_range_is_refused)
{
    struct resp r;

    th_post(&t, "/v1/draft-requests/claim", key, WAIT_CLAIM(31), &r);
    expect_field(&r, "waitSeconds", "31");
    resp_free(&r);
    th_post(&t, "/v1/outbox/claim", key, "{\"limit\": 1, \"leaseSeconds\": 60, \"waitSeconds\": -1}",
            &r);
    expect_field(&r, "waitSeconds", "-1");
    resp_free(&r);
}

/* --- the story on two instances ------------------------------------------------ */

static pid_t child;
static char child_log[PATH_MAX];

static int
child_port(void)
{
    FILE *f = fopen(child_log, "r");
    char line[4096];
    int port = 0;

    while (f && fgets(line, sizeof(line), f)) {
        char *p = strstr(line, "\"event\":\"server.start\"");

        if (p && (p = strstr(p, "\"port\":")) != NULL)
            port = atoi(p + 7);
    }
    if (f)
        fclose(f);
    return port;
}

/* A second `inboxd serve` on the test's database; its base into at. */
static void
start_second(struct th *at)
{
    char bin[PATH_MAX];
    int port = 0;

    snprintf(child_log, sizeof(child_log), "/tmp/inboxd-live-%d.log", (int)getpid());
    th_inboxd_path(bin);
    child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        int fd = open(child_log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int null = open("/dev/null", O_RDWR);

        if (fd < 0 || null < 0 || dup2(fd, 2) < 0 || dup2(null, 1) < 0 || dup2(null, 0) < 0)
            _exit(127);
        setenv("DATABASE_URL", t.app_conninfo, 1);
        unsetenv("DATABASE_OWNER_URL");
        execl(bin, bin, "--listen", "127.0.0.1:0", "--log-level", "info", "serve", (char *)NULL);
        _exit(127);
    }
    TH_WAIT_UNTIL((port = child_port()) > 0, "the second inboxd did not start");
    *at = t;
    snprintf(at->base, sizeof(at->base), "http://127.0.0.1:%d", port);
}

static void
stop_second(void)
{
    int status = 0;

    cr_assert_eq(kill(child, SIGTERM), 0);
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "inboxd exited with %d", status);
    unlink(child_log);
}

/* What one dashboard saw. */
struct seen {
    char ids[64][80];
    char types[64][40];
    int n;
};

/* Reads events until one of `type` holding `needle` came; records each. */
static void
read_until(struct sse *s, struct seen *v, const char *type, const char *needle)
{
    for (;;) {
        struct sse_event e;

        sse_next(s, &e);
        cr_assert_lt(v->n, 64);
        snprintf(v->ids[v->n], sizeof(v->ids[0]), "%s", e.id);
        snprintf(v->types[v->n], sizeof(v->types[0]), "%s", e.type);
        v->n++;
        if (strcmp(e.type, type) == 0 && (needle == NULL || strstr(e.data, needle)))
            return;
    }
}

/* Reads the rest of what the log holds; then every id once, each after
 * the one before, and the types of the account's event log in its commit
 * order. */
static void
expect_log_order(struct sse *s, struct seen *v, const char *who)
{
    PGresult *res = sql_query("SELECT type FROM events WHERE account_id = '%s' "
                              "ORDER BY write_xid, id",
                              account);

    while (v->n < PQntuples(res))
        read_until(s, v, PQgetvalue(res, v->n, 0), NULL);

    cr_assert_eq(PQntuples(res), v->n, "%s saw %d events, the log has %d", who, v->n,
                 PQntuples(res));
    for (int i = 0; i < v->n; i++) {
        cr_assert_str_eq(v->types[i], PQgetvalue(res, i, 0), "%s: event %d", who, i);
        if (i > 0) {
            struct event_pos a, b;

            cr_assert(live_id_decode(v->ids[i - 1], &a) && live_id_decode(v->ids[i], &b));
            cr_assert_lt(event_pos_cmp(&a, &b), 0, "%s: event %d out of order", who, i);
        }
    }
    PQclear(res);
}

Test(live, two_instances_two_dashboards_one_story)
{
    struct th second;
    struct sse one, two;
    struct seen saw1 = {0}, saw2 = {0};
    struct call drafter, syncer;
    char body[1024], path[160], uid[37], draft[37], out[37], last[80];
    struct webhook_ids x;
    struct resp r;
    json_t *items;

    start_second(&second);
    mk_user(account, "rev@example.com", uid);
    sse_open(&one, t.base, "/v1/events", key, NULL);
    sse_open(&two, second.base, "/v1/events", key, NULL);
    cr_assert_eq(one.status, 200);
    cr_assert_eq(two.status, 200);

    /* The assistants service waits on the second instance. */
    call_start(&drafter, &second, "/v1/draft-requests/claim", WAIT_CLAIM(30));
    TH_WAIT_UNTIL(waiting(&second) == 1, "the drafting worker did not wait");
    webhook_delivery(body, sizeof(body), "d-live-1", "conv-live", "msg-live");
    deliver("hookshop", "shop-secret", body, &r);
    cr_assert(r.status == 200 || r.status == 201, "webhook: %ld %s", r.status, r.body);
    take_ids(&r, &x);
    resp_free(&r);
    items = call_items(&drafter, 1);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), x.req);
    resp_free(&drafter.r);

    /* Its draft, posted to the second instance. */
    post_request_draft(&second, key, &x, draft);
    read_until(&one, &saw1, "draft.ready", draft);
    read_until(&two, &saw2, "draft.ready", draft);
    read_until(&one, &saw1, "notification.created", NULL);
    read_until(&two, &saw2, "notification.created", NULL);

    /* The second dashboard drops out; the sync service waits on the first. */
    snprintf(last, sizeof(last), "%s", saw2.ids[saw2.n - 1]);
    sse_close(&two);
    call_start(&syncer, &t, "/v1/outbox/claim",
               "{\"limit\": 1, \"leaseSeconds\": 60, \"waitSeconds\": 30}");
    TH_WAIT_UNTIL(waiting(&t) == 1, "the sync worker did not wait");
    act(draft, key, "approve", uid, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    read_until(&one, &saw1, "draft.acted", "\"sent\"");
    read_until(&one, &saw1, "feed.changed", "\"left\"");
    items = call_items(&syncer, 1);
    snprintf(out, sizeof(out), "%s", jstr(json_array_get(items, 0), "id"));
    resp_free(&syncer.r);

    /* Back, from where it was; the delivery through the second instance. */
    sse_open(&two, second.base, "/v1/events", key, last);
    cr_assert_eq(two.status, 200);
    read_until(&two, &saw2, "feed.changed", "\"left\"");
    snprintf(path, sizeof(path), "/v1/outbox/%s/delivered", out);
    th_post(&second, path, key, "{\"externalId\": \"prov-live\"}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    read_until(&one, &saw1, "message.delivered", out);
    read_until(&two, &saw2, "message.delivered", out);

    expect_log_order(&one, &saw1, "the first dashboard");
    expect_log_order(&two, &saw2, "the second dashboard");
    for (int i = 0; i < saw1.n; i++)
        cr_assert_str_eq(saw1.ids[i], saw2.ids[i], "event %d", i);
    /* SIGTERM ends the second instance's stream: it exits at once, and
     * cleanly (stop_second), with a dashboard still connected. */
    stop_second();
    {
        struct sse_event e;

        cr_assert_not(sse_poll(&two, &e, TH_PATIENCE_MS), "an event after SIGTERM: %s", e.type);
        cr_assert(two.closed);
    }
    sse_close(&one);
    sse_close(&two);
}
