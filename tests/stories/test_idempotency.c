/* Idempotency-Key on POST (API.md "Conventions"; issue #3): replay, reuse
 * with another body, in-flight repeats, simultaneous first requests. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"

TestSuite(idempotency, .init = fx_setup, .fini = fx_teardown, .timeout = 60);

static void
post_user(const char *idem, const char *email, struct resp *r)
{
    char hdr[300], body[300];
    const char *const hdrs[] = {hdr, NULL};

    snprintf(hdr, sizeof(hdr), "Idempotency-Key: %s", idem);
    snprintf(body, sizeof(body), "{\"email\": \"%s\", \"displayName\": \"Tessa\"}", email);
    th_http(&t, "POST", "/v1/users", key, body, hdrs, r);
}

static long
users(void)
{
    return th_sql_long(&t, "SELECT count(*) FROM users");
}

Test(idempotency, a_repeat_gets_the_first_answer_and_writes_nothing)
{
    struct resp a, b;
    char replayed[16];

    post_user("k-1", "tessa@example.com", &a);
    cr_assert_eq(a.status, 201, "%s", a.body);
    post_user("k-1", "tessa@example.com", &b);
    cr_assert_eq(b.status, 201);
    cr_assert_str_eq(b.body, a.body, "the stored body is replayed byte for byte");
    cr_assert(resp_header(&b, "Idempotent-Replayed", replayed, sizeof(replayed)));
    cr_assert_eq(users(), 1);
    cr_assert_eq(th_sql_long(&t, "SELECT count(*) FROM audit_log WHERE action LIKE 'user.%'"), 1);
    resp_free(&a);
    resp_free(&b);
}

Test(idempotency, the_same_key_with_another_body_is_422)
{
    struct resp a, b;

    post_user("k-2", "a@example.com", &a);
    cr_assert_eq(a.status, 201, "%s", a.body);
    post_user("k-2", "b@example.com", &b);
    expect_problem(&b, 422);
    cr_assert_str_eq(json_string_value(json_object_get(b.json, "type")),
                     "/problems/idempotency-key-reused");
    /* Every 422 names its field (API.md): here the header. */
    expect_field(&b, "Idempotency-Key", NULL);
    cr_assert_eq(users(), 1);
    resp_free(&a);
    resp_free(&b);
}

Test(idempotency, a_failed_validation_is_replayed_too)
{
    struct resp a, b;

    post_user("k-3", "not an email", &a);
    expect_problem(&a, 422);
    post_user("k-3", "not an email", &b);
    cr_assert_eq(b.status, 422);
    cr_assert_str_eq(b.body, a.body);
    resp_free(&a);
    resp_free(&b);
}

Test(idempotency, keys_are_per_account)
{
    char other_acct[37], other_key[64], hdr[] = "Idempotency-Key: shared";
    const char *const hdrs[] = {hdr, NULL};
    struct resp a, b;

    th_tenant(&t, "Other", other_acct, other_key);
    post_user("shared", "x@example.com", &a);
    cr_assert_eq(a.status, 201);
    th_http(&t, "POST", "/v1/users", other_key, "{\"email\": \"x@example.com\"}", hdrs, &b);
    cr_assert_eq(b.status, 201, "another account's key of the same name is its own: %s", b.body);
    cr_assert_str_neq(json_string_value(json_object_get(a.json, "id")),
                      json_string_value(json_object_get(b.json, "id")));
    resp_free(&a);
    resp_free(&b);
}

Test(idempotency, malformed_keys_are_400)
{
    char longkey[400];
    struct resp r;

    memset(longkey, 'k', 300);
    longkey[300] = '\0';
    post_user(longkey, "l@example.com", &r);
    expect_problem(&r, 400);
    resp_free(&r);
    cr_assert_eq(users(), 0);
}

struct call {
    const char *idem;
    struct resp r;
};

static void *
call_thread(void *p)
{
    struct call *c = p;

    post_user(c->idem, "race@example.com", &c->r);
    return NULL;
}

Test(idempotency, a_repeat_while_the_first_is_in_flight_is_409)
{
    struct call first = {.idem = "k-4"};
    struct resp second, third;
    pthread_t th;

    /* Hold the users table so the first request waits inside its write. */
    PQclear(th_sql(&t, "BEGIN"));
    PQclear(th_sql(&t, "LOCK TABLE users IN EXCLUSIVE MODE"));
    pthread_create(&th, NULL, call_thread, &first);
    TH_WAIT_UNTIL(th_lock_waiters(&t) >= 1,
                  "the first request never reached the lock");
    post_user("k-4", "race@example.com", &second);
    expect_problem(&second, 409);
    PQclear(th_sql(&t, "COMMIT"));
    pthread_join(th, NULL);
    cr_assert_eq(first.r.status, 201, "%s", first.r.body);
    post_user("k-4", "race@example.com", &third);
    cr_assert_eq(third.status, 201);
    cr_assert_str_eq(third.body, first.r.body);
    cr_assert_eq(users(), 1);
    resp_free(&first.r);
    resp_free(&second);
    resp_free(&third);
}

Test(idempotency, simultaneous_first_requests_write_once)
{
    enum { N = 12 };
    struct call calls[N];
    pthread_t th[N];
    int created = 0, in_flight = 0;

    for (int i = 0; i < N; i++) {
        calls[i].idem = "k-5";
        pthread_create(&th[i], NULL, call_thread, &calls[i]);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (calls[i].r.status == 201)
            created++;
        else if (calls[i].r.status == 409)
            in_flight++;
        else
            cr_assert_fail("unexpected %ld: %s", calls[i].r.status, calls[i].r.body);
    }
    cr_assert_geq(created, 1);
    cr_assert_eq(created + in_flight, N);
    cr_assert_eq(users(), 1, "one write, whatever the answers");
    for (int i = 0; i < N; i++)
        resp_free(&calls[i].r);
}

Test(idempotency, a_replay_carries_the_first_answers_etag)
{
    const char *const hdrs[] = {"Idempotency-Key: job-1", NULL};
    struct resp a, b;
    char tag_a[80], tag_b[80], replayed[16];

    th_http(&t, "POST", "/v1/jobs", key, "{\"type\": \"crawl\"}", hdrs, &a);
    cr_assert_eq(a.status, 201, "%s", a.body);
    cr_assert(resp_header(&a, "ETag", tag_a, sizeof(tag_a)), "a new job run has an ETag");
    th_http(&t, "POST", "/v1/jobs", key, "{\"type\": \"crawl\"}", hdrs, &b);
    cr_assert_eq(b.status, 201, "%s", b.body);
    cr_assert(resp_header(&b, "Idempotent-Replayed", replayed, sizeof(replayed)));
    cr_assert_str_eq(b.body, a.body);
    cr_assert(resp_header(&b, "ETag", tag_b, sizeof(tag_b)), "the replay lost the ETag");
    cr_assert_str_eq(tag_b, tag_a);
    cr_assert_eq(th_sql_long(&t, "SELECT count(*) FROM job_runs"), 1);
    resp_free(&a);
    resp_free(&b);
}
