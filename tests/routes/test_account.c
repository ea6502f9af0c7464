/* routes/account.c: the key's account and the account's API keys, listed and
 * revoked (issue #2 section 4; API.md "Account, users, channels"). How every
 * route checks keys and scopes is stories/test_auth.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "fixtures.h"

TestSuite(account, .init = fx_setup, .fini = fx_teardown, .timeout = 60);

Test(account, account_answers_the_keys_account)
{
    struct resp r;

    th_get(&t, "/v1/account", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "id")), account);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "name")), "Hot Rod AN");
    cr_assert(json_is_string(json_object_get(r.json, "createdAt")));
    resp_free(&r);
}

Test(account, api_keys_list_shows_prefixes_never_hashes)
{
    struct resp r;
    json_t *items;
    size_t i;
    json_t *k;

    th_get(&t, "/v1/api-keys", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 1);
    json_array_foreach (items, i, k) {
        cr_assert_eq(strncmp(json_string_value(json_object_get(k, "prefix")), key, 12), 0);
        cr_assert_null(json_object_get(k, "keyHash"));
        cr_assert(json_is_array(json_object_get(k, "scopes")));
    }
    cr_assert_null(strstr(r.body, key + 13), "the secret part never appears");
    cr_assert(json_is_null(json_object_get(r.json, "nextCursor")));
    resp_free(&r);
}

Test(account, api_keys_paginate_without_gaps_or_repeats)
{
    char extra[64];
    char path[256];
    const char *cursor = NULL;
    char cur[128] = "";
    int seen = 0, pages = 0;
    struct resp r;

    for (int i = 0; i < 6; i++)
        th_key(&t, account, "read", extra);
    do {
        json_t *next;

        if (cursor)
            snprintf(path, sizeof(path), "/v1/api-keys?limit=2&cursor=%s", cursor);
        else
            snprintf(path, sizeof(path), "/v1/api-keys?limit=2");
        th_get(&t, path, key, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        seen += (int)json_array_size(json_object_get(r.json, "items"));
        pages++;
        next = json_object_get(r.json, "nextCursor");
        cursor = NULL;
        if (json_is_string(next)) {
            snprintf(cur, sizeof(cur), "%s", json_string_value(next));
            cursor = cur;
        }
        resp_free(&r);
    } while (cursor && pages < 10);
    cr_assert_eq(seen, 7);
    cr_assert_eq(pages, 4);
}

Test(account, revoked_key_stops_working_at_once)
{
    char victim[64];
    struct resp r;
    char path[128];
    PGresult *res;

    th_key(&t, account, "read", victim);
    th_get(&t, "/v1/account", victim, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    res = th_sql(&t, "SELECT id FROM api_keys ORDER BY id DESC LIMIT 1");
    snprintf(path, sizeof(path), "/v1/api-keys/%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    th_http(&t, "DELETE", path, key, NULL, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(json_is_string(json_object_get(r.json, "revokedAt")));
    resp_free(&r);
    th_get(&t, "/v1/account", victim, &r);
    expect_problem(&r, 401);
    resp_free(&r);
    cr_assert_eq(th_sql_long(&t, "SELECT count(*) FROM audit_log WHERE action = 'api_key.revoke'"),
                 1);
}

Test(account, another_tenants_key_is_a_404)
{
    char other_acct[37], other_key[64], path[128];
    struct resp r;
    PGresult *res;

    th_tenant(&t, "Other Shop", other_acct, other_key);
    res = th_sql(&t, "SELECT id FROM api_keys ORDER BY id LIMIT 1");
    snprintf(path, sizeof(path), "/v1/api-keys/%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    /* Account B tries to revoke account A's first key. */
    th_http(&t, "DELETE", path, other_key, NULL, NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    cr_assert_eq(th_sql_long(&t, "SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL"), 0);
    /* And B's list shows only B's key. */
    th_get(&t, "/v1/api-keys", other_key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1);
    resp_free(&r);
    th_get(&t, "/v1/account", other_key, &r);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "id")), other_acct);
    resp_free(&r);
}
