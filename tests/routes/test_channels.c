/* routes/channels.c: channels (issue #3; API.md "Account, users,
 * channels"). What channels share with users (bodies that are not JSON, bad
 * query parameters, 404s, the admin scope, paging, simultaneous posts) is
 * checked on both in routes/test_users.c. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "fixtures.h"

TestSuite(channels, .init = fx_setup, .fini = fx_teardown, .timeout = 120);

struct bad {
    const char *body;
    const char *field;
};

/* --- channels -------------------------------------------------------------- */

Test(channels, channel_create_get_and_list)
{
    char id[37], plain[37], path[128];
    struct resp r;

    th_post(&t, "/v1/channels", key,
            "{\"type\":\"email\",\"externalId\":\"zoho-support\",\"name\":\"Support inbox\","
            "\"metadata\":{\"mailbox\":\"support@hotrod.example\",\"n\":[1,2,{\"x\":null}]}}",
            &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
    cr_assert_str_eq(jstr(r.json, "accountId"), account);
    cr_assert_str_eq(jstr(r.json, "type"), "email");
    cr_assert_str_eq(jstr(r.json, "externalId"), "zoho-support");
    cr_assert_str_eq(jstr(r.json, "name"), "Support inbox");
    cr_assert_str_eq(jstr(json_object_get(r.json, "metadata"), "mailbox"),
                     "support@hotrod.example");
    cr_assert_eq(json_array_size(json_object_get(json_object_get(r.json, "metadata"), "n")), 3);
    cr_assert(json_is_string(json_object_get(r.json, "createdAt")));
    cr_assert(json_is_string(json_object_get(r.json, "updatedAt")));
    resp_free(&r);

    /* Without metadata: an empty object, never null. Every channel type. */
    th_post(&t, "/v1/channels", key,
            "{\"type\":\"shopify\",\"externalId\":\"shop\",\"name\":\"S\"}", &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(plain, sizeof(plain), "%s", jstr(r.json, "id"));
    cr_assert(json_is_object(json_object_get(r.json, "metadata")));
    cr_assert_eq(json_object_size(json_object_get(r.json, "metadata")), 0);
    resp_free(&r);
    post_status("/v1/channels", key, "{\"type\":\"chat\",\"externalId\":\"w\",\"name\":\"W\"}", 201,
                NULL);
    post_status("/v1/channels", key,
                "{\"type\":\"slack\",\"externalId\":\"T0\",\"name\":\"Slack\",\"metadata\":null}",
                201, NULL);

    snprintf(path, sizeof(path), "/v1/channels/%s", id);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "externalId"), "zoho-support");
    resp_free(&r);

    th_get(&t, "/v1/channels", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 4);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "items"), 0), "id"), id);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "items"), 1), "id"), plain);
    resp_free(&r);

    cr_assert_eq(sql_long("SELECT count(*) FROM channels WHERE account_id = '%s' AND id = '%s' "
                          "AND type = 'email' AND external_id = 'zoho-support' "
                          "AND metadata->>'mailbox' = 'support@hotrod.example'",
                          account, id),
                 1);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM channels WHERE id = '%s' AND metadata = '{}'", plain), 1);
    cr_assert_eq(audit_count("channel.create", id), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE account_id = '%s' "
                          "AND action = 'channel.create' AND resource_type = 'channel'",
                          account),
                 4);
}

Test(channels, channel_repeat_post_is_200_when_same_and_409_when_different)
{
    char id[37], again[37];
    struct resp r;

    post_status(
        "/v1/channels", key,
        "{\"type\":\"email\",\"externalId\":\"ext-1\",\"name\":\"Inbox\",\"metadata\":{\"a\":1}}",
        201, id);
    post_status(
        "/v1/channels", key,
        "{\"type\":\"email\",\"externalId\":\"ext-1\",\"name\":\"Inbox\",\"metadata\":{\"a\":1}}",
        200, again);
    cr_assert_str_eq(again, id);
    /* openapi.json: type and name decide; metadata is not compared. */
    th_post(&t, "/v1/channels", key,
            "{\"type\":\"email\",\"externalId\":\"ext-1\",\"name\":\"Inbox\"}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "id"), id);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(r.json, "metadata"), "a")), 1,
                 "the stored row is answered");
    resp_free(&r);

    th_post(&t, "/v1/channels", key,
            "{\"type\":\"email\",\"externalId\":\"ext-1\",\"name\":\"Other name\"}", &r);
    expect_problem(&r, 409);
    resp_free(&r);
    th_post(&t, "/v1/channels", key,
            "{\"type\":\"chat\",\"externalId\":\"ext-1\",\"name\":\"Inbox\"}", &r);
    expect_problem(&r, 409);
    resp_free(&r);

    cr_assert_eq(sql_long("SELECT count(*) FROM channels WHERE account_id = '%s'", account), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM channels WHERE id = '%s' AND name = 'Inbox' "
                          "AND type = 'email' AND metadata = '{\"a\":1}'",
                          id),
                 1);
    cr_assert_eq(audit_count("channel.create", id), 1);
}

Test(channels, channel_patch_changes_name_and_metadata_only)
{
    char id[37], path[128];
    struct resp r;

    post_status(
        "/v1/channels", key,
        "{\"type\":\"chat\",\"externalId\":\"widget\",\"name\":\"Chat\",\"metadata\":{\"a\":1,"
        "\"b\":2}}",
        201, id);
    snprintf(path, sizeof(path), "/v1/channels/%s", id);

    th_http(&t, "PATCH", path, key, "{\"name\":\"Website chat\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "name"), "Website chat");
    cr_assert_eq(json_object_size(json_object_get(r.json, "metadata")), 2, "metadata kept");
    cr_assert_str_eq(jstr(r.json, "type"), "chat");
    cr_assert_str_eq(jstr(r.json, "externalId"), "widget");
    resp_free(&r);

    /* metadata is replaced whole. */
    th_http(&t, "PATCH", path, key, "{\"metadata\":{\"c\":\"3\"}}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_object_size(json_object_get(r.json, "metadata")), 1);
    cr_assert_str_eq(jstr(json_object_get(r.json, "metadata"), "c"), "3");
    cr_assert_str_eq(jstr(r.json, "name"), "Website chat");
    resp_free(&r);

    cr_assert_eq(sql_long("SELECT count(*) FROM channels WHERE id = '%s' AND name = 'Website chat' "
                          "AND metadata = '{\"c\":\"3\"}' AND updated_at > created_at",
                          id),
                 1);
    cr_assert_eq(audit_count("channel.update", id), 2);
}

Test(channels, channel_post_validation_names_each_field)
{
    static char long_ext[300], long_name[300];
    static const struct bad cases[] = {
        {"{\"externalId\":\"e\",\"name\":\"n\"}", "type"},
        {"{\"type\":\"fax\",\"externalId\":\"e\",\"name\":\"n\"}", "type"},
        {"{\"type\":\"Email\",\"externalId\":\"e\",\"name\":\"n\"}", "type"},
        {"{\"type\":3,\"externalId\":\"e\",\"name\":\"n\"}", "type"},
        {"{\"type\":\"email\\u0000\",\"externalId\":\"e\",\"name\":\"n\"}", "type"},
        {"{\"type\":\"email\",\"name\":\"n\"}", "externalId"},
        {"{\"type\":\"email\",\"externalId\":\"\",\"name\":\"n\"}", "externalId"},
        {"{\"type\":\"email\",\"externalId\":1,\"name\":\"n\"}", "externalId"},
        {"{\"type\":\"email\",\"externalId\":\"a\\u0000\",\"name\":\"n\"}", "externalId"},
        {long_ext, "externalId"},
        {"{\"type\":\"email\",\"externalId\":\"e\"}", "name"},
        {"{\"type\":\"email\",\"externalId\":\"e\",\"name\":\"\"}", "name"},
        {"{\"type\":\"email\",\"externalId\":\"e\",\"name\":null}", "name"},
        {"{\"type\":\"email\",\"externalId\":\"e\",\"name\":\"x\\u0000y\"}", "name"},
        {long_name, "name"},
        {"{\"type\":\"email\",\"externalId\":\"e\",\"name\":\"n\",\"metadata\":[]}", "metadata"},
        {"{\"type\":\"email\",\"externalId\":\"e\",\"name\":\"n\",\"metadata\":\"{}\"}",
         "metadata"},
        {"{\"type\":\"email\",\"externalId\":\"e\",\"name\":\"n\",\"metadata\":{\"k\":"
         "[\"a\\u0000\"]}}",
         "metadata"},
        {"{\"type\":\"email\",\"externalId\":\"e\",\"name\":\"n\",\"id\":\"x\"}", "id"},
        /* NUL in a member name is NUL text too: 422 naming it, not 400. */
        {"{\"type\":\"email\",\"externalId\":\"e\",\"name\":\"n\",\"metadata\":{\"k\\u0000\":1}}",
         "metadata.k\\u0000"},
    };
    struct resp r;
    char *big;
    size_t n = 64 * 1024;

    snprintf(long_ext, sizeof(long_ext),
             "{\"type\":\"email\",\"externalId\":\"%0*d\",\"name\":\"n\"}", 201, 0);
    snprintf(long_name, sizeof(long_name),
             "{\"type\":\"email\",\"externalId\":\"e\",\"name\":\"%0*d\"}", 201, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        th_post(&t, "/v1/channels", key, cases[i].body, &r);
        expect_field(&r, cases[i].field, cases[i].body);
        resp_free(&r);
    }

    /* metadata of 64 KiB + 1 byte as compact JSON: {"k":"xxx..."} */
    big = malloc(n + 200);
    cr_assert_not_null(big);
    {
        size_t fill = n + 1 - strlen("{\"k\":\"\"}");
        int off = sprintf(big, "{\"type\":\"email\",\"externalId\":\"big\",\"name\":\"n\","
                               "\"metadata\":{\"k\":\"");

        memset(big + off, 'x', fill);
        strcpy(big + off + fill, "\"}}");
        th_post(&t, "/v1/channels", key, big, &r);
        expect_field(&r, "metadata", "65537 bytes");
        resp_free(&r);
        /* Exactly 64 KiB is accepted. */
        memset(big + off, 'x', fill - 1);
        strcpy(big + off + fill - 1, "\"}}");
        post_status("/v1/channels", key, big, 201, NULL);
    }
    free(big);
    cr_assert_eq(sql_long("SELECT count(*) FROM channels WHERE account_id = '%s'", account), 1);
    cr_assert_eq(sql_long("SELECT length(metadata->>'k') FROM channels WHERE account_id = '%s' "
                          "AND external_id = 'big'",
                          account),
                 65536 - 8);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE account_id = '%s'", account), 1);
}

Test(channels, channel_patch_validation)
{
    static const struct bad cases[] = {
        {"{}", ""},
        {"{\"type\":\"chat\"}", "type"},
        {"{\"externalId\":\"other\"}", "externalId"},
        {"{\"name\":null}", "name"},
        {"{\"name\":\"\"}", "name"},
        {"{\"name\":\"a\\u0000\"}", "name"},
        {"{\"name\":[\"x\"]}", "name"},
        {"{\"metadata\":null}", "metadata"},
        {"{\"metadata\":5}", "metadata"},
        {"{\"colour\":\"red\"}", "colour"},
    };
    char id[37], path[128];
    struct resp r;

    post_status("/v1/channels", key, "{\"type\":\"email\",\"externalId\":\"fixed\",\"name\":\"F\"}",
                201, id);
    snprintf(path, sizeof(path), "/v1/channels/%s", id);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        th_http(&t, "PATCH", path, key, cases[i].body, NULL, &r);
        expect_field(&r, cases[i].field, cases[i].body);
        resp_free(&r);
    }
    cr_assert_eq(sql_long("SELECT count(*) FROM channels WHERE id = '%s' AND type = 'email' "
                          "AND external_id = 'fixed' AND name = 'F' AND metadata = '{}' "
                          "AND updated_at = created_at",
                          id),
                 1, "a refused PATCH changes nothing");
    cr_assert_eq(audit_count("channel.update", id), 0);
}

/* Length limits count characters (code points), not bytes: a name of 200
 * Hebrew, Arabic and emoji characters (600 bytes) fits, 201 do not. */
Test(channels, name_limit_counts_characters_not_bytes)
{
    static const char *const glyphs[] = {"\xd7\xa9", "\xd9\x85", "\xf0\x9f\x98\x80"};
    char name[201 * 4 + 1], body[1200];
    size_t used = 0;
    struct resp r;

    for (int i = 0; i < 200; i++) {
        const char *g = glyphs[i % 3];

        memcpy(name + used, g, strlen(g));
        used += strlen(g);
    }
    name[used] = '\0';
    snprintf(body, sizeof(body), "{\"type\":\"email\",\"externalId\":\"wide\",\"name\":\"%s\"}",
             name);
    th_post(&t, "/v1/channels", key, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "name"), name);
    resp_free(&r);

    memcpy(name + used, "\xf0\x9f\x98\x80", 5);
    snprintf(body, sizeof(body), "{\"type\":\"email\",\"externalId\":\"wider\",\"name\":\"%s\"}",
             name);
    th_post(&t, "/v1/channels", key, body, &r);
    expect_field(&r, "name", NULL);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "errors"), 0), "message"),
                     "must be at most 200 characters");
    resp_free(&r);
}
