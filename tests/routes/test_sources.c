/*
 * routes/sources.c: source documents (issue #5): the upsert by URL, the
 * due-before list, delete, validation, tenancy, scopes and audit rows. Each
 * test checks statuses, bodies and the database.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"

TestSuite(sources, .init = fx_setup, .fini = fx_teardown, .timeout = 120);

/* --- sources --------------------------------------------------------------- */

Test(sources, upsert_is_201_then_200_with_the_same_id_and_new_fields)
{
    char id[37], created[64], path[128];
    struct resp r;
    json_t *meta;

    th_http(&t, "PUT", "/v1/source-documents", key,
            "{\"sourceUrl\":\"https://hotrod.example/faq/shipping\",\"title\":\"Shipping\","
            "\"hash\":\"sha256:aa\",\"indexedAt\":\"2026-11-22T10:04:05.123+02:00\","
            "\"nextRefreshAt\":\"2026-12-01T00:00:00Z\",\"metadata\":{\"lang\":\"en\"}}",
            NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(id, sizeof(id), "%s", jstr(r.json, "id"));
    snprintf(created, sizeof(created), "%s", jstr(r.json, "createdAt"));
    cr_assert_str_eq(jstr(r.json, "accountId"), account);
    cr_assert_str_eq(jstr(r.json, "sourceUrl"), "https://hotrod.example/faq/shipping");
    cr_assert_str_eq(jstr(r.json, "title"), "Shipping");
    cr_assert_str_eq(jstr(r.json, "hash"), "sha256:aa");
    cr_assert_str_eq(jstr(r.json, "indexedAt"), "2026-11-22T08:04:05.123Z");
    cr_assert_str_eq(jstr(r.json, "nextRefreshAt"), "2026-12-01T00:00:00.000Z");
    cr_assert_str_eq(jstr(json_object_get(r.json, "metadata"), "lang"), "en");
    resp_free(&r);

    /* Created a second ago, so that the update's time differs from it. */
    sql_exec("UPDATE source_documents SET created_at = created_at - interval '1 s', "
             "updated_at = updated_at - interval '1 s' WHERE id = '%s'",
             id);
    sql_text(created, sizeof(created),
             "SELECT inboxd_ts(created_at) FROM source_documents WHERE id = '%s'", id);
    /* Same URL: an update. title and indexedAt change, hash is omitted
     * (kept), nextRefreshAt is null (cleared), metadata replaced. */
    th_http(
        &t, "PUT", "/v1/source-documents", key,
        "{\"sourceUrl\":\"https://hotrod.example/faq/shipping\",\"title\":\"Shipping & returns\","
        "\"indexedAt\":\"2026-11-23T00:00:00Z\",\"nextRefreshAt\":null,"
        "\"metadata\":{\"lang\":\"de\"}}",
        NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "id"), id);
    cr_assert_str_eq(jstr(r.json, "createdAt"), created);
    cr_assert_str_neq(jstr(r.json, "updatedAt"), created);
    cr_assert_str_eq(jstr(r.json, "title"), "Shipping & returns");
    cr_assert_str_eq(jstr(r.json, "hash"), "sha256:aa");
    cr_assert_str_eq(jstr(r.json, "indexedAt"), "2026-11-23T00:00:00.000Z");
    cr_assert(json_is_null(json_object_get(r.json, "nextRefreshAt")));
    meta = json_object_get(r.json, "metadata");
    cr_assert_str_eq(jstr(meta, "lang"), "de");
    resp_free(&r);

    /* Only the URL: everything is kept. */
    th_http(&t, "PUT", "/v1/source-documents", key,
            "{\"sourceUrl\":\"https://hotrod.example/faq/shipping\"}", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "title"), "Shipping & returns");
    cr_assert_str_eq(jstr(json_object_get(r.json, "metadata"), "lang"), "de");
    resp_free(&r);

    cr_assert_eq(sql_long("SELECT count(*) FROM source_documents WHERE account_id = '%s'", account),
                 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM source_documents WHERE id = '%s' AND "
                          "title = 'Shipping & returns' AND hash = 'sha256:aa' AND "
                          "next_refresh_at IS NULL AND metadata = '{\"lang\":\"de\"}' AND "
                          "indexed_at = '2026-11-23T00:00:00Z'",
                          id),
                 1);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM audit_log WHERE resource_type = 'source_document' AND "
                 "resource_id = '%s' AND action = 'source_document.create'",
                 id),
        1);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM audit_log WHERE resource_type = 'source_document' AND "
                 "resource_id = '%s' AND action = 'source_document.update'",
                 id),
        2);

    snprintf(path, sizeof(path), "/v1/source-documents/%s", id);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "id"), id);
    cr_assert_str_eq(jstr(r.json, "sourceUrl"), "https://hotrod.example/faq/shipping");
    resp_free(&r);
}

Test(sources, a_new_document_without_optional_fields_is_mostly_null)
{
    struct resp r;

    th_http(&t, "PUT", "/v1/source-documents", key, "{\"sourceUrl\":\"http://a.example\"}", NULL,
            &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert(json_is_null(json_object_get(r.json, "title")));
    cr_assert(json_is_null(json_object_get(r.json, "hash")));
    cr_assert(json_is_null(json_object_get(r.json, "indexedAt")));
    cr_assert(json_is_null(json_object_get(r.json, "nextRefreshAt")));
    cr_assert(json_is_object(json_object_get(r.json, "metadata")));
    cr_assert_eq(json_object_size(json_object_get(r.json, "metadata")), 0);
    resp_free(&r);
}

struct put_race {
    long status;
    char id[37];
};

static void *
race_put(void *arg)
{
    struct put_race *a = arg;
    struct resp r;

    th_http(&t, "PUT", "/v1/source-documents", key,
            "{\"sourceUrl\":\"https://hotrod.example/race\",\"title\":\"t\"}", NULL, &r);
    a->status = r.status;
    if (r.json && jstr(r.json, "id"))
        snprintf(a->id, sizeof(a->id), "%s", jstr(r.json, "id"));
    resp_free(&r);
    return NULL;
}

Test(sources, simultaneous_puts_of_one_url_make_one_row)
{
    enum { N = 8 };
    pthread_t th[N];
    struct put_race a[N];
    int created = 0, updated = 0;

    memset(a, 0, sizeof(a));
    for (int i = 0; i < N; i++)
        pthread_create(&th[i], NULL, race_put, &a[i]);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        created += a[i].status == 201;
        updated += a[i].status == 200;
    }
    cr_assert_eq(created, 1);
    cr_assert_eq(updated, N - 1);
    for (int i = 1; i < N; i++)
        cr_assert_str_eq(a[i].id, a[0].id);
    cr_assert_eq(sql_long("SELECT count(*) FROM source_documents"), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'source_document.create'"),
                 1);
}

static void
put_doc(const char *url, const char *next_refresh, char id[37])
{
    char body[512];
    struct resp r;

    if (next_refresh)
        snprintf(body, sizeof(body), "{\"sourceUrl\":\"%s\",\"nextRefreshAt\":\"%s\"}", url,
                 next_refresh);
    else
        snprintf(body, sizeof(body), "{\"sourceUrl\":\"%s\"}", url);
    th_http(&t, "PUT", "/v1/source-documents", key, body, NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(id, 37, "%s", jstr(r.json, "id"));
    resp_free(&r);
}

Test(sources, due_before_lists_only_documents_due_in_creation_order)
{
    char a[37], b[37], c[37], d[37], e[37];
    char ids[16][37];
    struct resp r;
    json_t *items;
    int n;

    put_doc("https://k.example/a", "2026-01-01T00:00:00Z", a);
    put_doc("https://k.example/b", "2030-01-01T00:00:00Z", b);
    put_doc("https://k.example/c", NULL, c);
    put_doc("https://k.example/d", "2025-06-01T12:00:00Z", d);
    put_doc("https://k.example/e", "2026-03-01T00:00:00Z", e);

    th_get(&t, "/v1/source-documents?dueBefore=2026-03-01T00:00:00Z", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 2, "%s", r.body);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), a);
    cr_assert_str_eq(jstr(json_array_get(items, 1), "id"), d);
    resp_free(&r);

    /* Any offset: 2026-03-01T00:00:00Z is 2026-03-01T01:00:00+01:00 (strictly before). */
    th_get(&t, "/v1/source-documents?dueBefore=2026-03-01T01:00:00.001%2B01:00", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 3, "%s", r.body);
    resp_free(&r);

    n = walk(key, "/v1/source-documents", 2, ids, 16, NULL);
    cr_assert_eq(n, 5);
    cr_assert_str_eq(ids[0], a);
    cr_assert_str_eq(ids[1], b);
    cr_assert_str_eq(ids[2], c);
    cr_assert_str_eq(ids[3], d);
    cr_assert_str_eq(ids[4], e);
    n = walk(key, "/v1/source-documents?dueBefore=2100-01-01T00:00:00Z", 2, ids, 16, NULL);
    cr_assert_eq(n, 4, "documents without nextRefreshAt are left out");
}

Test(sources, malformed_query_parameters_are_400_naming_them)
{
    static const struct {
        const char *query, *param;
    } cases[] = {
        {"dueBefore=tomorrow", "dueBefore"}, {"dueBefore=2026-02-30T00:00:00Z", "dueBefore"},
        {"dueBefore=", "dueBefore"},         {"limit=-1", "limit"},
        {"cursor=%25%25%25", "cursor"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char path[160];
        struct resp r;

        snprintf(path, sizeof(path), "/v1/source-documents?%s", cases[i].query);
        th_get(&t, path, key, &r);
        expect_param(&r, cases[i].param, NULL);
        resp_free(&r);
    }
}

Test(sources, delete_is_204_then_404)
{
    char id[37], keep[37], path[128];
    struct resp r;

    put_doc("https://k.example/gone", NULL, id);
    put_doc("https://k.example/kept", NULL, keep);
    snprintf(path, sizeof(path), "/v1/source-documents/%s", id);

    th_http(&t, "DELETE", path, key, NULL, NULL, &r);
    cr_assert_eq(r.status, 204, "%s", r.body);
    cr_assert_eq(r.len, 0);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM source_documents WHERE id = '%s'", id), 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM source_documents WHERE id = '%s'", keep), 1);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM audit_log WHERE action = 'source_document.delete' AND "
                 "resource_id = '%s'",
                 id),
        1);

    th_get(&t, path, key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_http(&t, "DELETE", path, key, NULL, NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM audit_log WHERE action = 'source_document.delete'"),
                 1);

    /* The URL is free again: a new document, a new id. */
    th_http(&t, "PUT", "/v1/source-documents", key, "{\"sourceUrl\":\"https://k.example/gone\"}",
            NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_str_neq(jstr(r.json, "id"), id);
    resp_free(&r);
}

Test(sources, delete_needs_admin_and_put_needs_jobs_write)
{
    char crawler[64], reader[64], id[37], path[128];
    struct resp r;

    th_key(&t, account, "read jobs:write", crawler);
    th_key(&t, account, "read", reader);
    put_doc("https://k.example/x", NULL, id);
    snprintf(path, sizeof(path), "/v1/source-documents/%s", id);

    th_http(&t, "DELETE", path, crawler, NULL, NULL, &r);
    expect_problem(&r, 403);
    cr_assert_not_null(strstr(jstr(r.json, "detail"), "admin"));
    resp_free(&r);
    th_http(&t, "PUT", "/v1/source-documents", reader, "{\"sourceUrl\":\"https://k.example/y\"}",
            NULL, &r);
    expect_problem(&r, 403);
    resp_free(&r);
    th_http(&t, "PUT", "/v1/source-documents", crawler, "{\"sourceUrl\":\"https://k.example/y\"}",
            NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    th_get(&t, path, reader, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM source_documents"), 2);
}

Test(sources, invalid_bodies_are_422_naming_each_field)
{
    static const struct {
        const char *body, *field;
    } cases[] = {
        {"{}", "sourceUrl"},
        {"{\"sourceUrl\":null}", "sourceUrl"},
        {"{\"sourceUrl\":\"\"}", "sourceUrl"},
        {"{\"sourceUrl\":42}", "sourceUrl"},
        {"{\"sourceUrl\":\"ftp://files.example/a\"}", "sourceUrl"},
        {"{\"sourceUrl\":\"hotrod.example/faq\"}", "sourceUrl"},
        {"{\"sourceUrl\":\"https://\"}", "sourceUrl"},
        {"{\"sourceUrl\":\"https:///path\"}", "sourceUrl"},
        {"{\"sourceUrl\":\"https://a.example/with space\"}", "sourceUrl"},
        {"{\"sourceUrl\":\"https://a.example/\\u0000\"}", "sourceUrl"},
        {"{\"sourceUrl\":\"https://a.example/caf\\u00e9\"}", "sourceUrl"},
        {"{\"sourceUrl\":\"https://a.example\",\"title\":\"a\\u0000b\"}", "title"},
        {"{\"sourceUrl\":\"https://a.example\",\"title\":5}", "title"},
        {"{\"sourceUrl\":\"https://a.example\",\"hash\":[]}", "hash"},
        {"{\"sourceUrl\":\"https://a.example\",\"indexedAt\":\"yesterday\"}", "indexedAt"},
        {"{\"sourceUrl\":\"https://a.example\",\"nextRefreshAt\":\"2026-13-01T00:00:00Z\"}",
         "nextRefreshAt"},
        {"{\"sourceUrl\":\"https://a.example\",\"metadata\":[1]}", "metadata"},
        {"{\"sourceUrl\":\"https://a.example\",\"metadata\":\"x\"}", "metadata"},
        {"{\"sourceUrl\":\"https://a.example\",\"url\":\"x\"}", "url"},
    };
    struct resp r;
    char *b;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        th_http(&t, "PUT", "/v1/source-documents", key, cases[i].body, NULL, &r);
        expect_field(&r, cases[i].field, NULL);
        resp_free(&r);
    }

    /* A URL of 2049 bytes is too long; 2048 is fine. */
    for (int len = 2048; len <= 2049; len++) {
        char *url = malloc((size_t)len + 64);
        const char *pre = "https://a.example/";
        size_t pl = strlen(pre);

        memcpy(url, pre, pl);
        memset(url + pl, 'p', (size_t)len - pl);
        url[len] = '\0';
        b = malloc((size_t)len + 64);
        snprintf(b, (size_t)len + 64, "{\"sourceUrl\":\"%s\"}", url);
        th_http(&t, "PUT", "/v1/source-documents", key, b, NULL, &r);
        if (len == 2048)
            cr_assert_eq(r.status, 201, "%s", r.body);
        else
            expect_field(&r, "sourceUrl", NULL);
        resp_free(&r);
        free(b);
        free(url);
    }

    /* A title over 1000 bytes. */
    b = malloc(2000);
    {
        int k = snprintf(b, 2000, "{\"sourceUrl\":\"https://a.example\",\"title\":\"");

        memset(b + k, 't', 1001);
        strcpy(b + k + 1001, "\"}");
    }
    th_http(&t, "PUT", "/v1/source-documents", key, b, NULL, &r);
    expect_field(&r, "title", NULL);
    resp_free(&r);
    free(b);

    /* metadata over 64 KiB. */
    b = big_object_body("\"sourceUrl\":\"https://a.example\",", "metadata");
    th_http(&t, "PUT", "/v1/source-documents", key, b, NULL, &r);
    expect_field(&r, "metadata", NULL);
    resp_free(&r);
    free(b);

    /* Several at once. */
    th_http(&t, "PUT", "/v1/source-documents", key,
            "{\"sourceUrl\":\"mailto:x@y\",\"title\":1,\"indexedAt\":\"no\"}", NULL, &r);
    expect_field(&r, "sourceUrl", NULL);
    expect_field(&r, "title", NULL);
    expect_field(&r, "indexedAt", NULL);
    resp_free(&r);

    th_http(&t, "PUT", "/v1/source-documents", key, "not json", NULL, &r);
    expect_problem(&r, 400);
    resp_free(&r);

    cr_assert_eq(sql_long("SELECT count(*) FROM source_documents"), 1, "only the 2048-byte URL");
}

Test(sources, another_tenants_document_is_a_404_and_urls_are_per_account)
{
    char other_acct[37], other_key[64], id[37], path[128];
    struct resp r;

    put_doc("https://shared.example/page", NULL, id);
    th_tenant(&t, "Other Shop", other_acct, other_key);
    snprintf(path, sizeof(path), "/v1/source-documents/%s", id);

    th_get(&t, path, other_key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_http(&t, "DELETE", path, other_key, NULL, NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_get(&t, "/v1/source-documents", other_key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    resp_free(&r);
    /* The same URL in another account is that account's own document. */
    th_http(&t, "PUT", "/v1/source-documents", other_key,
            "{\"sourceUrl\":\"https://shared.example/page\",\"title\":\"theirs\"}", NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_str_neq(jstr(r.json, "id"), id);
    resp_free(&r);
    cr_assert_eq(
        sql_long("SELECT count(*) FROM source_documents WHERE id = '%s' AND title IS NULL", id), 1);
    cr_assert_eq(sql_long("SELECT count(*) FROM source_documents"), 2);
}
