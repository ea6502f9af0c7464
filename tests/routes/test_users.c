/* routes/users.c: users (issue #3; API.md "Account, users, channels"). The
 * checks users and channels share (bodies that are not JSON, bad query
 * parameters, 404s, the admin scope, paging, simultaneous posts) run on
 * both here; routes/test_channels.c has the channels' own. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "inboxd/http/auth.h"
#include "inboxd/lib/sig.h"

TestSuite(users, .init = fx_setup, .fini = fx_teardown, .timeout = 120);

/* --- helpers --------------------------------------------------------------- */

/* --- users ----------------------------------------------------------------- */

Test(users, user_create_get_and_list)
{
    const char *body = "{\"email\":\"ana@hotrod.example\",\"displayName\":\"Ana\","
                       "\"role\":\"admin\",\"authProvider\":\"google\",\"authSubject\":\"g-1\"}";
    const char *const hdr[] = {"X-Request-Id: req-user-create-1", NULL};
    char id[37], path[128], hash[AUTH_HASH_HEX + 1];
    struct resp r;

    th_http(&t, "POST", "/v1/users", key, body, hdr, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
    cr_assert_eq(strlen(id), 36);
    cr_assert_str_eq(jstr(r.json, "accountId"), account);
    cr_assert_str_eq(jstr(r.json, "email"), "ana@hotrod.example");
    cr_assert_str_eq(jstr(r.json, "displayName"), "Ana");
    cr_assert_str_eq(jstr(r.json, "role"), "admin");
    cr_assert_str_eq(jstr(r.json, "authProvider"), "google");
    cr_assert_str_eq(jstr(r.json, "authSubject"), "g-1");
    cr_assert(json_is_string(json_object_get(r.json, "createdAt")));
    cr_assert(json_is_string(json_object_get(r.json, "updatedAt")));
    resp_free(&r);

    /* A second user with only an email: role defaults to agent, the rest null. */
    post_status("/v1/users", key, "{\"email\":\"bo@hotrod.example\"}", 201, NULL);

    snprintf(path, sizeof(path), "/v1/users/%s", id);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "id"), id);
    cr_assert_str_eq(jstr(r.json, "email"), "ana@hotrod.example");
    resp_free(&r);

    th_get(&t, "/v1/users", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 2);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "items"), 0), "id"), id,
                     "oldest first");
    {
        const json_t *bo = json_array_get(json_object_get(r.json, "items"), 1);

        cr_assert_str_eq(jstr(bo, "role"), "agent");
        cr_assert(json_is_null(json_object_get(bo, "displayName")));
        cr_assert(json_is_null(json_object_get(bo, "authProvider")));
        cr_assert(json_is_null(json_object_get(bo, "authSubject")));
    }
    cr_assert(json_is_null(json_object_get(r.json, "nextCursor")));
    resp_free(&r);

    /* The database holds what the answer said, and the audit row names the
     * caller, the request and the body's hash. */
    cr_assert_eq(sql_long("SELECT count(*) FROM users WHERE account_id = '%s' AND id = '%s' "
                          "AND email = 'ana@hotrod.example' AND role = 'admin' "
                          "AND display_name = 'Ana' AND auth_provider = 'google' "
                          "AND auth_subject = 'g-1'",
                          account, id),
                 1);
    cr_assert_eq(sig_sha256_hex(body, strlen(body), hash), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE account_id = '%s' "
                          "AND action = 'user.create' AND resource_type = 'user' "
                          "AND resource_id = '%s' AND request_id = 'req-user-create-1' "
                          "AND request_hash = '%s' AND actor_key_id IS NOT NULL",
                          account, id, hash),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE account_id = '%s' "
                          "AND action = 'user.create'",
                          account),
                 2);
}

Test(users, user_repeat_post_is_200_when_same_and_409_when_different)
{
    char id[37], again[37];
    struct resp r;

    post_status("/v1/users", key,
                "{\"email\":\"cy@hotrod.example\",\"displayName\":\"Cy\",\"role\":\"agent\"}", 201,
                id);
    /* Same content, and a subset of it: the stored row, no second write. */
    post_status("/v1/users", key,
                "{\"email\":\"cy@hotrod.example\",\"displayName\":\"Cy\",\"role\":\"agent\"}", 200,
                again);
    cr_assert_str_eq(again, id);
    post_status("/v1/users", key, "{\"email\":\"cy@hotrod.example\"}", 200, again);
    cr_assert_str_eq(again, id);

    /* Any given field that differs: 409, nothing changes. */
    th_post(&t, "/v1/users", key, "{\"email\":\"cy@hotrod.example\",\"displayName\":\"Cyril\"}",
            &r);
    expect_problem(&r, 409);
    resp_free(&r);
    th_post(&t, "/v1/users", key, "{\"email\":\"cy@hotrod.example\",\"role\":\"admin\"}", &r);
    expect_problem(&r, 409);
    resp_free(&r);
    th_post(&t, "/v1/users", key, "{\"email\":\"cy@hotrod.example\",\"authSubject\":\"x\"}", &r);
    expect_problem(&r, 409);
    resp_free(&r);

    cr_assert_eq(sql_long("SELECT count(*) FROM users WHERE account_id = '%s'", account), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM users WHERE account_id = '%s' "
                          "AND display_name = 'Cy' AND role = 'agent'",
                          account),
                 1);
    cr_assert_eq(audit_count("user.create", id), 1, "only the first POST wrote");

    /* The same email in another account is another user. */
    {
        char other_acct[37], other_key[64], other_id[37];

        th_tenant(&t, "Other Shop", other_acct, other_key);
        post_status("/v1/users", other_key,
                    "{\"email\":\"cy@hotrod.example\",\"displayName\":\"C\"}", 201, other_id);
        cr_assert_str_neq(other_id, id);
    }
}

Test(users, user_patch_changes_only_the_given_fields)
{
    char id[37], path[128];
    struct resp r;

    post_status(
        "/v1/users", key,
        "{\"email\":\"di@hotrod.example\",\"displayName\":\"Di\",\"authProvider\":\"google\","
        "\"authSubject\":\"s-9\"}",
        201, id);
    snprintf(path, sizeof(path), "/v1/users/%s", id);

    th_http(&t, "PATCH", path, key, "{\"displayName\":\"Diana\",\"role\":\"admin\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "displayName"), "Diana");
    cr_assert_str_eq(jstr(r.json, "role"), "admin");
    cr_assert_str_eq(jstr(r.json, "email"), "di@hotrod.example");
    cr_assert_str_eq(jstr(r.json, "authProvider"), "google");
    cr_assert_str_eq(jstr(r.json, "authSubject"), "s-9");
    resp_free(&r);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM users WHERE id = '%s' AND updated_at > created_at", id), 1);

    /* null clears a nullable field; email changes. */
    th_http(&t, "PATCH", path, key, "{\"authProvider\":null,\"email\":\"diana@hotrod.example\"}",
            NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(json_is_null(json_object_get(r.json, "authProvider")));
    cr_assert_str_eq(jstr(r.json, "authSubject"), "s-9");
    cr_assert_str_eq(jstr(r.json, "email"), "diana@hotrod.example");
    cr_assert_str_eq(jstr(r.json, "displayName"), "Diana");
    resp_free(&r);

    cr_assert_eq(sql_long("SELECT count(*) FROM users WHERE id = '%s' AND auth_provider IS NULL "
                          "AND email = 'diana@hotrod.example' AND role = 'admin'",
                          id),
                 1);
    cr_assert_eq(audit_count("user.update", id), 2);

    /* GET answers the changed row. */
    th_get(&t, path, key, &r);
    cr_assert_str_eq(jstr(r.json, "email"), "diana@hotrod.example");
    resp_free(&r);
}

Test(users, user_patch_to_a_taken_email_is_409)
{
    char a[37], b[37], path[128];
    struct resp r;

    post_status("/v1/users", key, "{\"email\":\"a@x.example\"}", 201, a);
    post_status("/v1/users", key, "{\"email\":\"b@x.example\"}", 201, b);
    snprintf(path, sizeof(path), "/v1/users/%s", b);
    th_http(&t, "PATCH", path, key, "{\"email\":\"a@x.example\"}", NULL, &r);
    expect_problem(&r, 409);
    resp_free(&r);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM users WHERE id = '%s' AND email = 'b@x.example'", b), 1);
    cr_assert_eq(audit_count("user.update", b), 0);

    /* Setting a user's own email again is no conflict. */
    th_http(&t, "PATCH", path, key, "{\"email\":\"b@x.example\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
}

struct bad {
    const char *body;
    const char *field;
};

Test(users, user_post_validation_names_each_field)
{
    static char long_email[300], long_name[300], long_subject[300];
    static const struct bad cases[] = {
        {"{}", "email"},
        {"{\"email\":null}", "email"},
        {"{\"email\":42}", "email"},
        {"{\"email\":\"\"}", "email"},
        {"{\"email\":\"no-at-sign\"}", "email"},
        {"{\"email\":\"two@@x.example\"}", "email"},
        {"{\"email\":\"a@b@c.example\"}", "email"},
        {"{\"email\":\"@x.example\"}", "email"},
        {"{\"email\":\"ana@\"}", "email"},
        {"{\"email\":\"ana smith@x.example\"}", "email"},
        {"{\"email\":\"ana\\t@x.example\"}", "email"},
        {"{\"email\":\"ana\\u0000@x.example\"}", "email"},
        {long_email, "email"},
        {"{\"email\":\"ok@x.example\",\"displayName\":\"A\\u0000B\"}", "displayName"},
        {"{\"email\":\"ok@x.example\",\"displayName\":7}", "displayName"},
        {long_name, "displayName"},
        {"{\"email\":\"ok@x.example\",\"role\":\"owner\"}", "role"},
        {"{\"email\":\"ok@x.example\",\"role\":1}", "role"},
        {"{\"email\":\"ok@x.example\",\"authProvider\":[]}", "authProvider"},
        {"{\"email\":\"ok@x.example\",\"authSubject\":\"\\u0000\"}", "authSubject"},
        {long_subject, "authSubject"},
        {"{\"email\":\"ok@x.example\",\"accountId\":\"x\"}", "accountId"},
    };
    struct resp r;

    /* 255 bytes of email, 201 of displayName, 256 of authSubject: one over. */
    snprintf(long_email, sizeof(long_email), "{\"email\":\"%0*d@x.example\"}", 255 - 10, 0);
    snprintf(long_name, sizeof(long_name), "{\"email\":\"ok@x.example\",\"displayName\":\"%0*d\"}",
             201, 0);
    snprintf(long_subject, sizeof(long_subject),
             "{\"email\":\"ok@x.example\",\"authSubject\":\"%0*d\"}", 256, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        th_post(&t, "/v1/users", key, cases[i].body, &r);
        expect_field(&r, cases[i].field, cases[i].body);
        resp_free(&r);
    }
    /* Several bad fields: every one named in one answer. */
    th_post(&t, "/v1/users", key, "{\"email\":\"bad\",\"role\":\"x\",\"displayName\":false}", &r);
    expect_field(&r, "email", "several");
    expect_field(&r, "role", "several");
    expect_field(&r, "displayName", "several");
    resp_free(&r);

    /* Exactly at the limits is fine. */
    snprintf(long_email, sizeof(long_email), "{\"email\":\"%0*d@x.example\"}", 254 - 10, 0);
    post_status("/v1/users", key, long_email, 201, NULL);
    cr_assert_eq(sql_long("SELECT count(*) FROM users WHERE account_id = '%s'", account), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE account_id = '%s'", account), 1);
}

Test(users, user_patch_validation)
{
    static const struct bad cases[] = {
        {"{}", ""},
        {"{\"email\":null}", "email"},
        {"{\"role\":null}", "role"},
        {"{\"role\":\"root\"}", "role"},
        {"{\"email\":\"nope\"}", "email"},
        {"{\"displayName\":\"\\u0000\"}", "displayName"},
        {"{\"authProvider\":5}", "authProvider"},
        {"{\"id\":\"00000000-0000-7000-8000-000000000000\"}", "id"},
    };
    char id[37], path[128];
    struct resp r;

    post_status("/v1/users", key, "{\"email\":\"p@x.example\",\"displayName\":\"P\"}", 201, id);
    snprintf(path, sizeof(path), "/v1/users/%s", id);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        th_http(&t, "PATCH", path, key, cases[i].body, NULL, &r);
        expect_field(&r, cases[i].field, cases[i].body);
        resp_free(&r);
    }
    cr_assert_eq(sql_long("SELECT count(*) FROM users WHERE id = '%s' AND email = 'p@x.example' "
                          "AND display_name = 'P' AND updated_at = created_at",
                          id),
                 1, "a refused PATCH changes nothing");
    cr_assert_eq(audit_count("user.update", id), 0);
}

/* --- both resources -------------------------------------------------------- */

Test(users, non_json_bodies_are_400)
{
    static const char *const bodies[] = {"not json", "{\"email\":", "[1,2]", "\"text\"",
                                         "{\"a\":1,\"a\":2}"};
    char uid[37], cid[37], upath[128], cpath[128];
    struct resp r;

    post_status("/v1/users", key, "{\"email\":\"j@x.example\"}", 201, uid);
    post_status("/v1/channels", key, "{\"type\":\"chat\",\"externalId\":\"c-j\",\"name\":\"J\"}",
                201, cid);
    snprintf(upath, sizeof(upath), "/v1/users/%s", uid);
    snprintf(cpath, sizeof(cpath), "/v1/channels/%s", cid);
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        const char *m[] = {"POST", "PATCH", "POST", "PATCH"};
        const char *p[] = {"/v1/users", upath, "/v1/channels", cpath};

        for (int j = 0; j < 4; j++) {
            th_http(&t, m[j], p[j], key, bodies[i], NULL, &r);
            expect_problem(&r, 400);
            resp_free(&r);
        }
    }
    /* No body at all is a 400 too. */
    th_http(&t, "POST", "/v1/users", key, NULL, NULL, &r);
    expect_problem(&r, 400);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE account_id = '%s'", account), 2);
}

Test(users, bad_query_parameters_are_400)
{
    static const char *const q[] = {"limit=0", "limit=201",      "limit=abc",       "limit=-1",
                                    "limit=",  "cursor=garbage", "cursor=%25%25%25"};
    static const char *const field[] = {"limit", "limit",  "limit", "limit",
                                        "limit", "cursor", "cursor"};
    const char *lists[] = {"/v1/users", "/v1/channels"};
    char path[256];
    struct resp r;

    for (int l = 0; l < 2; l++) {
        for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++) {
            const json_t *errs;

            snprintf(path, sizeof(path), "%s?%s", lists[l], q[i]);
            th_get(&t, path, key, &r);
            expect_problem(&r, 400);
            errs = json_object_get(r.json, "errors");
            cr_assert_str_eq(jstr(json_array_get(errs, 0), "field"), field[i], "%s", path);
            resp_free(&r);
        }
    }
}

Test(users, another_tenants_or_unknown_rows_are_404)
{
    char other_acct[37], other_key[64], uid[37], cid[37], path[128];
    const char *missing = "0190f5c2-0000-7000-8000-000000000001";
    struct resp r;

    post_status("/v1/users", key, "{\"email\":\"mine@x.example\",\"displayName\":\"Mine\"}", 201,
                uid);
    post_status("/v1/channels", key,
                "{\"type\":\"email\",\"externalId\":\"inbox\",\"name\":\"Mine\"}", 201, cid);
    th_tenant(&t, "Other Shop", other_acct, other_key);

    /* B reads and changes A's rows: 404, as for ids that exist nowhere. */
    for (int k = 0; k < 3; k++) {
        const char *uids[] = {uid, missing, "not-a-uuid"};
        const char *cids[] = {cid, missing, "not-a-uuid"};

        snprintf(path, sizeof(path), "/v1/users/%s", uids[k]);
        th_get(&t, path, other_key, &r);
        expect_problem(&r, 404);
        resp_free(&r);
        th_http(&t, "PATCH", path, other_key, "{\"displayName\":\"Stolen\"}", NULL, &r);
        expect_problem(&r, 404);
        resp_free(&r);
        snprintf(path, sizeof(path), "/v1/channels/%s", cids[k]);
        th_get(&t, path, other_key, &r);
        expect_problem(&r, 404);
        resp_free(&r);
        th_http(&t, "PATCH", path, other_key, "{\"name\":\"Stolen\"}", NULL, &r);
        expect_problem(&r, 404);
        resp_free(&r);
    }
    /* A's own key gets a 404 for the missing id too. */
    snprintf(path, sizeof(path), "/v1/users/%s", missing);
    th_get(&t, path, key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_http(&t, "PATCH", path, key, "{\"displayName\":\"X\"}", NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);

    /* B's lists are empty; A's rows are untouched. */
    th_get(&t, "/v1/users", other_key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    resp_free(&r);
    th_get(&t, "/v1/channels", other_key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM users WHERE display_name = 'Stolen'"), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM channels WHERE name = 'Stolen'"), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE account_id = '%s'", other_acct), 0);
}

Test(users, writes_need_the_admin_scope)
{
    char reader[64], writer[64], uid[37], cid[37], path[128];
    struct resp r;

    th_key(&t, account, "read", reader);
    th_key(&t, account, "read messages:write drafts:write actions:write outbox:write jobs:write",
           writer);
    post_status("/v1/users", key, "{\"email\":\"s@x.example\"}", 201, uid);
    post_status("/v1/channels", key, "{\"type\":\"slack\",\"externalId\":\"T1\",\"name\":\"S\"}",
                201, cid);

    for (int k = 0; k < 2; k++) {
        const char *kk = k == 0 ? reader : writer;

        th_post(&t, "/v1/users", kk, "{\"email\":\"new@x.example\"}", &r);
        expect_problem(&r, 403);
        cr_assert_not_null(strstr(jstr(r.json, "detail"), "admin"));
        resp_free(&r);
        th_post(&t, "/v1/channels", kk, "{\"type\":\"chat\",\"externalId\":\"n\",\"name\":\"N\"}",
                &r);
        expect_problem(&r, 403);
        resp_free(&r);
        snprintf(path, sizeof(path), "/v1/users/%s", uid);
        th_http(&t, "PATCH", path, kk, "{\"displayName\":\"N\"}", NULL, &r);
        expect_problem(&r, 403);
        resp_free(&r);
        snprintf(path, sizeof(path), "/v1/channels/%s", cid);
        th_http(&t, "PATCH", path, kk, "{\"name\":\"N\"}", NULL, &r);
        expect_problem(&r, 403);
        resp_free(&r);
    }
    /* Reads need only `read`. */
    snprintf(path, sizeof(path), "/v1/users/%s", uid);
    th_get(&t, path, reader, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/channels/%s", cid);
    th_get(&t, path, reader, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    th_get(&t, "/v1/users", reader, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    th_get(&t, "/v1/channels", reader, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    /* And a key without `read` cannot list. */
    th_key(&t, account, "outbox:write", writer);
    th_get(&t, "/v1/users", writer, &r);
    expect_problem(&r, 403);
    resp_free(&r);

    cr_assert_eq(sql_long("SELECT count(*) FROM users WHERE account_id = '%s'", account), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM channels WHERE account_id = '%s'", account), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE account_id = '%s'", account), 2);
}

Test(users, lists_page_through_every_row_once_in_order)
{
    enum { N = 7 };
    char other_acct[37], other_key[64], body[200];
    char made_u[N][37], made_c[N][37], seen[N + 5][37];
    int n, pages;

    th_tenant(&t, "Other Shop", other_acct, other_key);
    for (int i = 0; i < N; i++) {
        snprintf(body, sizeof(body), "{\"email\":\"u%d@x.example\"}", i);
        post_status("/v1/users", key, body, 201, made_u[i]);
        snprintf(body, sizeof(body),
                 "{\"type\":\"email\",\"externalId\":\"box-%d\",\"name\":\"B\"}", i);
        post_status("/v1/channels", key, body, 201, made_c[i]);
        /* Another tenant's rows interleave and must never show up. */
        snprintf(body, sizeof(body), "{\"email\":\"u%d@x.example\"}", i);
        post_status("/v1/users", other_key, body, 201, NULL);
        snprintf(body, sizeof(body),
                 "{\"type\":\"email\",\"externalId\":\"box-%d\",\"name\":\"B\"}", i);
        post_status("/v1/channels", other_key, body, 201, NULL);
    }
    n = walk(key, "/v1/users", 2, seen, N + 5, &pages);
    cr_assert_eq(n, N);
    cr_assert_eq(pages, 4);
    for (int i = 0; i < N; i++)
        cr_assert_str_eq(seen[i], made_u[i], "users oldest first, position %d", i);
    n = walk(key, "/v1/channels", 2, seen, N + 5, &pages);
    cr_assert_eq(n, N);
    cr_assert_eq(pages, 4);
    for (int i = 0; i < N; i++)
        cr_assert_str_eq(seen[i], made_c[i], "channels oldest first, position %d", i);

    /* A page size that divides the count evenly ends with an empty-cursor
     * page and no repeats either. */
    {
        struct resp r;
        char path[256];

        th_get(&t, "/v1/users?limit=7", key, &r);
        cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 7);
        cr_assert(json_is_null(json_object_get(r.json, "nextCursor")));
        resp_free(&r);
        th_get(&t, "/v1/users?limit=6", key, &r);
        cr_assert(json_is_string(json_object_get(r.json, "nextCursor")));
        snprintf(path, sizeof(path), "/v1/users?limit=6&cursor=%s", jstr(r.json, "nextCursor"));
        resp_free(&r);
        th_get(&t, path, key, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1);
        cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "items"), 0), "id"),
                         made_u[6]);
        cr_assert(json_is_null(json_object_get(r.json, "nextCursor")));
        resp_free(&r);
    }
}

/* --- races ----------------------------------------------------------------- */

#define RACERS 12

struct racer {
    const char *path;
    const char *body;
    long status;
    char id[37];
};

static void *
race(void *arg)
{
    struct racer *x = arg;
    struct resp r;

    th_post(&t, x->path, key, x->body, &r);
    x->status = r.status;
    if (r.json && json_is_string(json_object_get(r.json, "id")))
        snprintf(x->id, sizeof(x->id), "%s", jstr(r.json, "id"));
    resp_free(&r);
    return NULL;
}

/* Simultaneous identical POSTs make one row: one 201, the rest 200 with the
 * same id (ON CONFLICT waits for the first inserter). */
Test(users, simultaneous_identical_posts_make_one_row)
{
    const char *paths[] = {"/v1/users", "/v1/channels"};
    const char *bodies[] = {"{\"email\":\"race@x.example\",\"displayName\":\"R\"}",
                            "{\"type\":\"chat\",\"externalId\":\"race\",\"name\":\"R\"}"};

    for (int k = 0; k < 2; k++) {
        struct racer x[RACERS];
        pthread_t th[RACERS];
        int created = 0;

        for (int i = 0; i < RACERS; i++) {
            memset(&x[i], 0, sizeof(x[i]));
            x[i].path = paths[k];
            x[i].body = bodies[k];
            cr_assert_eq(pthread_create(&th[i], NULL, race, &x[i]), 0);
        }
        for (int i = 0; i < RACERS; i++)
            pthread_join(th[i], NULL);
        for (int i = 0; i < RACERS; i++) {
            cr_assert(x[i].status == 201 || x[i].status == 200, "%s: racer %d got %ld", paths[k], i,
                      x[i].status);
            created += x[i].status == 201;
            cr_assert_str_eq(x[i].id, x[0].id, "every answer names the one row");
        }
        cr_assert_eq(created, 1, "%s: exactly one 201", paths[k]);
    }
    cr_assert_eq(sql_long("SELECT count(*) FROM users WHERE account_id = '%s'", account), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM channels WHERE account_id = '%s'", account), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE account_id = '%s'", account), 2);
}

/* --- identities and deactivation (issue 17, API.md "Additions in v1.1") ---- */

/* GET path: 200 with a page; its items' ids into ids (at most 4). */
static int
list_ids(const char *path, char ids[4][37])
{
    struct resp r;
    const json_t *items;
    int n;

    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s: %s", path, r.body);
    items = json_object_get(r.json, "items");
    n = (int)json_array_size(items);
    for (int i = 0; i < n && i < 4; i++)
        snprintf(ids[i], 37, "%s", jstr(json_array_get(items, (size_t)i), "id"));
    cr_assert(json_is_null(json_object_get(r.json, "nextCursor")));
    resp_free(&r);
    return n;
}

Test(users, a_user_is_found_by_their_identity)
{
    char ana[37], bo[37], ids[4][37];

    post_status("/v1/users", key,
                "{\"email\":\"ana@hotrod.example\",\"authProvider\":\"google\","
                "\"authSubject\":\"1087\"}",
                201, ana);
    /* The same subject at another provider is another identity. */
    post_status("/v1/users", key,
                "{\"email\":\"bo@hotrod.example\",\"authProvider\":\"okta\","
                "\"authSubject\":\"1087\"}",
                201, bo);
    post_status("/v1/users", key, "{\"email\":\"cy@hotrod.example\"}", 201, NULL);

    cr_assert_eq(list_ids("/v1/users?authProvider=google&authSubject=1087", ids), 1);
    cr_assert_str_eq(ids[0], ana);
    cr_assert_eq(list_ids("/v1/users?authSubject=1087&authProvider=okta", ids), 1);
    cr_assert_str_eq(ids[0], bo);
    /* Subjects are compared exactly, as providers issue them. */
    cr_assert_eq(list_ids("/v1/users?authProvider=google&authSubject=1087%20", ids), 0);
    cr_assert_eq(list_ids("/v1/users?authProvider=Google&authSubject=1087", ids), 0);
    cr_assert_eq(list_ids("/v1/users?authProvider=google&authSubject=nobody", ids), 0);
    /* Without the pair the list is every user. */
    cr_assert_eq(list_ids("/v1/users", ids), 3);
}

Test(users, one_half_of_an_identity_is_400)
{
    static const char *const paths[] = {
        "/v1/users?authProvider=google",
        "/v1/users?authSubject=1087",
    };
    static const char *const fields[] = {"authSubject", "authProvider"};

    for (size_t i = 0; i < 2; i++) {
        struct resp r;

        th_get(&t, paths[i], key, &r);
        expect_problem(&r, 400);
        cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "errors"), 0), "field"),
                         fields[i], "%s: %s", paths[i], r.body);
        resp_free(&r);
    }
}

Test(users, an_identity_names_one_user_of_an_account)
{
    char other_acct[37], other_key[64], ana[37], bo[37], path[128];
    struct resp r;

    post_status("/v1/users", key,
                "{\"email\":\"ana@hotrod.example\",\"authProvider\":\"google\","
                "\"authSubject\":\"1087\"}",
                201, ana);
    /* Another user with that identity: 409, nothing written. */
    th_post(&t, "/v1/users", key,
            "{\"email\":\"bo@hotrod.example\",\"authProvider\":\"google\","
            "\"authSubject\":\"1087\"}",
            &r);
    expect_problem(&r, 409);
    cr_assert(strstr(jstr(r.json, "detail"), "authSubject") != NULL, "%s", r.body);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM users WHERE account_id = '%s'", account), 1);

    /* Nor may a PATCH give a user someone else's identity, in one field
     * or both. */
    post_status("/v1/users", key,
                "{\"email\":\"bo@hotrod.example\",\"authProvider\":\"google\","
                "\"authSubject\":\"2000\"}",
                201, bo);
    snprintf(path, sizeof(path), "/v1/users/%s", bo);
    th_http(&t, "PATCH", path, key, "{\"authSubject\":\"1087\"}", NULL, &r);
    expect_problem(&r, 409);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM users WHERE id = '%s' AND auth_subject = '2000'",
                          bo),
                 1);

    /* Users without an identity never collide. */
    post_status("/v1/users", key, "{\"email\":\"cy@hotrod.example\"}", 201, NULL);
    post_status("/v1/users", key, "{\"email\":\"di@hotrod.example\"}", 201, NULL);

    /* Another account may have the same identity: it is another person's
     * login there, and neither account sees the other's. */
    th_tenant(&t, "Other Shop", other_acct, other_key);
    post_status("/v1/users", other_key,
                "{\"email\":\"ana@other.example\",\"authProvider\":\"google\","
                "\"authSubject\":\"1087\"}",
                201, NULL);
    th_get(&t, "/v1/users?authProvider=google&authSubject=1087", other_key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "items"), 0), "email"),
                     "ana@other.example");
    resp_free(&r);
}

Test(users, users_are_active_until_deactivated)
{
    char id[37], path[128];
    struct resp r;

    th_post(&t, "/v1/users", key, "{\"email\":\"ana@hotrod.example\"}", &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert(json_is_true(json_object_get(r.json, "active")), "%s", r.body);
    snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
    resp_free(&r);

    snprintf(path, sizeof(path), "/v1/users/%s", id);
    th_http(&t, "PATCH", path, key, "{\"active\":false}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(json_is_false(json_object_get(r.json, "active")), "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "email"), "ana@hotrod.example", "the rest stays");
    resp_free(&r);
    th_get(&t, path, key, &r);
    cr_assert(json_is_false(json_object_get(r.json, "active")), "%s", r.body);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM users WHERE id = '%s' AND NOT active", id), 1);

    th_http(&t, "PATCH", path, key, "{\"active\":true}", NULL, &r);
    cr_assert(json_is_true(json_object_get(r.json, "active")), "%s", r.body);
    resp_free(&r);

    /* A user may be made inactive from the start; active is a boolean. */
    post_status("/v1/users", key, "{\"email\":\"bo@hotrod.example\",\"active\":false}", 201, id);
    cr_assert_eq(sql_long("SELECT count(*) FROM users WHERE id = '%s' AND NOT active", id), 1);
    /* A repeated POST with another active value is a conflict, like any
     * other field. */
    post_status("/v1/users", key, "{\"email\":\"bo@hotrod.example\",\"active\":true}", 409, NULL);
    post_status("/v1/users", key, "{\"email\":\"bo@hotrod.example\",\"active\":false}", 200, NULL);
    th_http(&t, "PATCH", path, key, "{\"active\":null}", NULL, &r);
    expect_problem(&r, 422);
    resp_free(&r);
    th_http(&t, "PATCH", path, key, "{\"active\":\"no\"}", NULL, &r);
    expect_problem(&r, 422);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "errors"), 0), "field"),
                     "active");
    resp_free(&r);
}
