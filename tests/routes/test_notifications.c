/*
 * routes/notifications.c: notifications (issue #5): create, the list's
 * filters, mark read, validation, tenancy, scopes and audit rows. Each test
 * checks statuses, bodies and the database.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"

TestSuite(notifications, .init = fx_setup, .fini = fx_teardown, .timeout = 120);

/* --- notifications --------------------------------------------------------- */

static void
list_ids(const char *path, char ids[][37], int *n)
{
    struct resp r;
    json_t *it;
    size_t i;

    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s: %s", path, r.body);
    *n = 0;
    json_array_foreach (json_object_get(r.json, "items"), i, it) {
        snprintf(ids[(*n)++], 37, "%s", jstr(it, "id"));
    }
    resp_free(&r);
}

Test(notifications, create_is_201_and_audited)
{
    char user[37];
    struct resp r;
    char body[256];

    th_post(&t, "/v1/notifications", key, "{\"type\":\"kb.stale\",\"payload\":{\"count\":3}}", &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "accountId"), account);
    cr_assert(json_is_null(json_object_get(r.json, "userId")));
    cr_assert_str_eq(jstr(r.json, "type"), "kb.stale");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(r.json, "payload"), "count")),
                 3);
    cr_assert(json_is_null(json_object_get(r.json, "readAt")));
    cr_assert(json_is_string(json_object_get(r.json, "createdAt")));
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'notification.create' AND "
                          "resource_type = 'notification' AND resource_id = '%s'",
                          jstr(r.json, "id")),
                 1);
    resp_free(&r);

    mk_user(account, "agent@hotrod.example", user);
    snprintf(body, sizeof(body), "{\"type\":\"hello\",\"userId\":\"%s\"}", user);
    /* Upper-case ids are the same ids. */
    for (char *p = strstr(body, user); p && *p != '"'; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    th_post(&t, "/v1/notifications", key, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "userId"), user);
    cr_assert_eq(json_object_size(json_object_get(r.json, "payload")), 0);
    resp_free(&r);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM notifications WHERE user_id = '%s' AND payload = '{}'",
                 user),
        1);
}

Test(notifications, list_filters_by_user_and_read_state_oldest_first)
{
    char ua[37], ub[37], na[37], nb[37], nall[37], na2[37], path[256];
    char ids[16][37];
    char body[256];
    struct resp r;
    int n;

    mk_user(account, "a@hotrod.example", ua);
    mk_user(account, "b@hotrod.example", ub);
    snprintf(body, sizeof(body), "{\"type\":\"t\",\"userId\":\"%s\"}", ua);
    post_status("/v1/notifications", key, body, 201, na);
    snprintf(body, sizeof(body), "{\"type\":\"t\",\"userId\":\"%s\"}", ub);
    post_status("/v1/notifications", key, body, 201, nb);
    post_status("/v1/notifications", key, "{\"type\":\"t\"}", 201, nall);
    snprintf(body, sizeof(body), "{\"type\":\"t2\",\"userId\":\"%s\"}", ua);
    post_status("/v1/notifications", key, body, 201, na2);

    list_ids("/v1/notifications", ids, &n);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(ids[0], na);
    cr_assert_str_eq(ids[1], nb);
    cr_assert_str_eq(ids[2], nall);
    cr_assert_str_eq(ids[3], na2);

    /* userId: that user's and the account-wide ones. */
    snprintf(path, sizeof(path), "/v1/notifications?userId=%s", ua);
    list_ids(path, ids, &n);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(ids[0], na);
    cr_assert_str_eq(ids[1], nall);
    cr_assert_str_eq(ids[2], na2);
    snprintf(path, sizeof(path), "/v1/notifications?userId=%s", ub);
    list_ids(path, ids, &n);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(ids[0], nb);
    cr_assert_str_eq(ids[1], nall);

    /* Read one of A's: unread=true leaves it out, unread=false has only it. */
    snprintf(path, sizeof(path), "/v1/notifications/%s/read", na);
    th_post(&t, path, key, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/notifications?userId=%s&unread=true", ua);
    list_ids(path, ids, &n);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(ids[0], nall);
    cr_assert_str_eq(ids[1], na2);
    snprintf(path, sizeof(path), "/v1/notifications?userId=%s&unread=false", ua);
    list_ids(path, ids, &n);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(ids[0], na);
    list_ids("/v1/notifications?unread=true", ids, &n);
    cr_assert_eq(n, 3);
    snprintf(path, sizeof(path), "/v1/notifications?userId=%s&unread=false", ub);
    list_ids(path, ids, &n);
    cr_assert_eq(n, 0);

    n = walk(key, "/v1/notifications", 2, ids, 16, NULL);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(ids[3], na2);
    snprintf(path, sizeof(path), "/v1/notifications?userId=%s&unread=true", ua);
    n = walk(key, path, 2, ids, 16, NULL);
    cr_assert_eq(n, 2);
}

Test(notifications, mark_read_is_idempotent_and_keeps_the_first_read_at)
{
    char id[37], path[128], first[64], db_first[64], db_again[64];
    struct resp r;

    post_status("/v1/notifications", key, "{\"type\":\"t\"}", 201, id);
    snprintf(path, sizeof(path), "/v1/notifications/%s/read", id);

    th_post(&t, path, key, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "id"), id);
    cr_assert(json_is_string(json_object_get(r.json, "readAt")));
    snprintf(first, sizeof(first), "%s", jstr(r.json, "readAt"));
    resp_free(&r);
    /* Back-date the stamp: a second read that stamped again would differ. */
    sql_exec("UPDATE notifications SET read_at = read_at - interval '1 hour' WHERE id = '%s'", id);
    sql_text(db_first, sizeof(db_first), "SELECT read_at::text FROM notifications WHERE id = '%s'",
             id);
    th_post(&t, path, key, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_neq(jstr(r.json, "readAt"), first, "the answer shows the stored stamp");
    resp_free(&r);
    sql_text(db_again, sizeof(db_again), "SELECT read_at::text FROM notifications WHERE id = '%s'",
             id);
    cr_assert_str_eq(db_first, db_again);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'notification.read' AND "
                          "resource_id = '%s'",
                          id),
                 2);
}

Test(notifications, a_user_outside_the_account_is_a_422_on_user_id)
{
    char other_acct[37], other_key[64], theirs[37], body[256];
    struct resp r;

    th_tenant(&t, "Other Shop", other_acct, other_key);
    mk_user(other_acct, "them@other.example", theirs);
    snprintf(body, sizeof(body), "{\"type\":\"t\",\"userId\":\"%s\"}", theirs);
    th_post(&t, "/v1/notifications", key, body, &r);
    expect_field(&r, "userId", NULL);
    resp_free(&r);
    th_post(&t, "/v1/notifications", key,
            "{\"type\":\"t\",\"userId\":\"01890000-0000-7000-8000-000000000000\"}", &r);
    expect_field(&r, "userId", NULL);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications"), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'notification.create'"),
                 0);
    /* The other account may address its own user. */
    th_post(&t, "/v1/notifications", other_key, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
}

Test(notifications, invalid_bodies_are_422_naming_each_field)
{
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"{}", "type"},
        {"{\"type\":\"\"}", "type"},
        {"{\"type\":null}", "type"},
        {"{\"type\":1}", "type"},
        {"{\"type\":\"a\\u0000b\"}", "type"},
        {"{\"type\":\"t\",\"userId\":\"nope\"}", "userId"},
        {"{\"type\":\"t\",\"userId\":12}", "userId"},
        {"{\"type\":\"t\",\"payload\":[]}", "payload"},
        {"{\"type\":\"t\",\"payload\":\"x\"}", "payload"},
        {"{\"type\":\"t\",\"payload\":{\"a\":\"\\u0000\"}}", "payload"},
        {"{\"type\":\"t\",\"readAt\":\"2026-01-01T00:00:00Z\"}", "readAt"},
    };
    struct resp r;
    char *b;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        th_post(&t, "/v1/notifications", key, cases[i].body, &r);
        expect_field(&r, cases[i].field, NULL);
        resp_free(&r);
    }
    b = malloc(512);
    {
        int k = snprintf(b, 512, "{\"type\":\"");

        memset(b + k, 'y', 201);
        strcpy(b + k + 201, "\"}");
    }
    th_post(&t, "/v1/notifications", key, b, &r);
    expect_field(&r, "type", NULL);
    resp_free(&r);
    free(b);
    b = big_object_body("\"type\":\"t\",", "payload");
    th_post(&t, "/v1/notifications", key, b, &r);
    expect_field(&r, "payload", NULL);
    resp_free(&r);
    free(b);
    th_post(&t, "/v1/notifications", key, "\"t\"", &r);
    expect_problem(&r, 400);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications"), 0);
}

Test(notifications, malformed_query_parameters_are_400_naming_them)
{
    static const struct {
        const char *query, *param;
    } cases[] = {
        {"userId=bob", "userId"}, {"userId=01890000-0000-7000-8000-00000000000", "userId"},
        {"unread=yes", "unread"}, {"unread=", "unread"},
        {"limit=1.5", "limit"},   {"cursor=AAAA", "cursor"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[160];
        struct resp r;

        snprintf(path, sizeof(path), "/v1/notifications?%s", cases[i].query);
        th_get(&t, path, key, &r);
        expect_param(&r, cases[i].param, NULL);
        resp_free(&r);
    }
}

Test(notifications, another_tenants_notification_is_a_404)
{
    char other_acct[37], other_key[64], id[37], path[128];
    struct resp r;

    post_status("/v1/notifications", key, "{\"type\":\"t\"}", 201, id);
    th_tenant(&t, "Other Shop", other_acct, other_key);
    snprintf(path, sizeof(path), "/v1/notifications/%s/read", id);
    th_post(&t, path, other_key, NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_post(&t, "/v1/notifications/01890000-0000-7000-8000-000000000000/read", key, NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_get(&t, "/v1/notifications", other_key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM notifications WHERE read_at IS NOT NULL"), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'notification.read'"), 0);
}

Test(notifications, the_dashboard_key_marks_read_and_the_crawler_key_creates)
{
    char dashboard[64], crawler[64], id[37], path[128];
    struct resp r;

    th_key(&t, account, "read actions:write", dashboard);
    th_key(&t, account, "read jobs:write", crawler);
    post_status("/v1/notifications", crawler, "{\"type\":\"t\"}", 201, id);
    th_post(&t, "/v1/notifications", dashboard, "{\"type\":\"t\"}", &r);
    expect_problem(&r, 403);
    resp_free(&r);

    snprintf(path, sizeof(path), "/v1/notifications/%s/read", id);
    th_post(&t, path, crawler, NULL, &r);
    expect_problem(&r, 403);
    cr_assert_not_null(strstr(jstr(r.json, "detail"), "actions:write"));
    resp_free(&r);
    th_post(&t, path, dashboard, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    th_get(&t, "/v1/notifications?unread=false", dashboard, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1);
    resp_free(&r);
}
