/* Keys and scopes on every route (src/http/auth.c; issue #2 section 4):
 * missing, malformed, unknown and revoked keys, a key without the route's
 * scope, the key cache and last_used_at. The key routes themselves are
 * routes/test_account.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"

TestSuite(auth, .init = fx_setup, .fini = fx_teardown, .timeout = 60);

Test(auth, missing_malformed_and_unknown_keys_are_401)
{
    static const char *const bad[] = {
        NULL,
        "Authorization: Basic dXNlcjpwYXNz",
        "Authorization: Bearer",
        "Authorization: Bearer ibx_short",
        "Authorization: Bearer ibx_00000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "Authorization: Bearer ibx_0000000!_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *const hdr[] = {bad[i], NULL};
        struct resp r;
        char www[128];

        th_http(&t, "GET", "/v1/account", NULL, NULL, bad[i] ? hdr : NULL, &r);
        expect_problem(&r, 401);
        cr_assert(resp_header(&r, "WWW-Authenticate", www, sizeof(www)), "case %zu", i);
        resp_free(&r);
    }
}

Test(auth, a_key_without_the_scope_is_403)
{
    char readonly[64];
    struct resp r;

    th_key(&t, account, "read", readonly);
    th_get(&t, "/v1/api-keys", readonly, &r);
    expect_problem(&r, 403);
    cr_assert_not_null(strstr(json_string_value(json_object_get(r.json, "detail")), "admin"));
    resp_free(&r);
    th_get(&t, "/v1/account", readonly, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
}

static long
account_status(const char *k)
{
    struct resp r;
    long status;

    th_get(&t, "/v1/account", k, &r);
    status = r.status;
    resp_free(&r);
    return status;
}

/* The cache trusts a key for key_cache_ms (1 s): the revocation must win
 * once that has passed. The test waits for it, never times it. */
Test(auth, revocation_elsewhere_takes_effect_once_the_cache_expires)
{
    char victim[64];
    struct resp r;

    th_key(&t, account, "read", victim);
    th_get(&t, "/v1/account", victim, &r); /* now cached */
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    /* Another instance (or the CLI) revokes it in the database. */
    PQclear(th_sql(&t, "UPDATE api_keys SET revoked_at = now() WHERE id = "
                       "(SELECT id FROM api_keys ORDER BY id DESC LIMIT 1)"));
    TH_WAIT_UNTIL(account_status(victim) == 401, "the revoked key is still accepted");
}

Test(auth, last_used_at_is_recorded)
{
    struct resp r;

    cr_assert_eq(th_sql_long(&t, "SELECT count(*) FROM api_keys WHERE last_used_at IS NOT NULL"),
                 0);
    th_get(&t, "/v1/account", key, &r);
    resp_free(&r);
    cr_assert_eq(th_sql_long(&t, "SELECT count(*) FROM api_keys WHERE last_used_at IS NOT NULL"),
                 1);
}
