/*
 * test_upgrade: rolling upgrades (README "Rolling upgrades"). /readyz
 * serves a window of schema versions; a migration marked
 * `-- inboxd: no-transaction` builds its index concurrently, lets writes
 * through while it waits, and runs again after an interruption. The
 * "next release" is the built binary with tests/migrations as
 * INBOXD_TEST_MIGRATIONS_DIR (debug builds only). Every wait is on a
 * lock the test holds, never on time.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_config.h"
#include "harness.h"
#include "inboxd/db/migrate.h"

#define NEXT 9000
#define NEXT_INDEX "messages_test_upgrade_idx"

static struct th t;
static char account[37], key[64];

static void
setup(void)
{
    th_start(&t, true, NULL);
    th_tenant(&t, "Upgrade Shop", account, key);
}

static void
teardown(void)
{
    th_stop(&t);
}

TestSuite(upgrade, .init = setup, .fini = teardown, .timeout = 240);

/* /readyz: its status code; the schema version it reports in *version. */
static long
readyz(long *version)
{
    struct resp r;
    long status;

    th_get(&t, "/readyz", NULL, &r);
    status = r.status;
    cr_assert_eq(json_integer_value(json_object_get(r.json, "expectedSchemaVersion")),
                 migrate_expected());
    cr_assert_eq(json_integer_value(json_object_get(r.json, "previousSchemaVersion")),
                 migrate_previous());
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "version")), INBOXD_VERSION);
    *version = (long)json_integer_value(json_object_get(r.json, "schemaVersion"));
    resp_free(&r);
    return status;
}

static void
fake_version(int v)
{
    char sql[200];

    snprintf(sql, sizeof(sql),
             "INSERT INTO schema_migrations (version, name, checksum) VALUES (%d, 'fake', 'x')", v);
    PQclear(th_sql(&t, sql));
}

static void
forget_versions_from(int v)
{
    char sql[120];

    snprintf(sql, sizeof(sql), "DELETE FROM schema_migrations WHERE version >= %d", v);
    PQclear(th_sql(&t, sql));
}

Test(upgrade, readyz_serves_one_schema_version_either_side)
{
    int n = migrate_expected(), prev = migrate_previous();
    long v;

    cr_assert_gt(prev, 0);
    cr_assert_eq(readyz(&v), 200);
    cr_assert_eq(v, n);
    /* The next release migrated: one newer is served, two are not. */
    fake_version(n + 1);
    cr_assert_eq(readyz(&v), 200);
    cr_assert_eq(v, n + 1);
    fake_version(n + 2);
    cr_assert_eq(readyz(&v), 503);
    cr_assert_eq(v, n + 2);
    /* This release's migration has not run yet: the one before is served,
     * the one before that is not. */
    forget_versions_from(n);
    cr_assert_eq(readyz(&v), 200);
    cr_assert_eq(v, prev);
    forget_versions_from(prev);
    cr_assert_eq(readyz(&v), 503);
}

/* inboxd migrate as the next release (with tests/migrations), on a
 * thread so that the test can look at it while it waits. */
struct run {
    pthread_t thread;
    int rc;
    char out[4096];
};

static void
migrate_next(struct run *r)
{
    char env[1200];

    snprintf(env, sizeof(env), "DATABASE_OWNER_URL='%s' INBOXD_TEST_MIGRATIONS_DIR='%s'",
             t.conninfo, SOURCE_ROOT "/tests/migrations");
    r->rc = th_inboxd(r->out, sizeof(r->out), env, "--config /dev/null migrate");
}

static void *
migrate_main(void *arg)
{
    migrate_next(arg);
    return NULL;
}

/* The migrate backend's pid once its CREATE INDEX CONCURRENTLY waits for
 * a lock, else 0. */
static long
build_waiting(void)
{
    return th_sql_long(&t, "SELECT coalesce(max(pid), 0) FROM pg_stat_activity "
                           "WHERE datname = current_database() "
                           "AND query LIKE 'CREATE INDEX CONCURRENTLY%' "
                           "AND wait_event_type = 'Lock'");
}

static long
next_index(const char *cond)
{
    char sql[300];

    snprintf(sql, sizeof(sql),
             "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
             "WHERE c.relname = '" NEXT_INDEX "' AND %s",
             cond);
    return th_sql_long(&t, sql);
}

/* A write through the API: a conversation with an inbound message. */
static void
write_message(const char *ext)
{
    char body[300], path[100], chan[37], conv[37];
    struct resp r;

    snprintf(body, sizeof(body), "{\"type\":\"email\",\"externalId\":\"%s\",\"name\":\"x\"}", ext);
    th_post(&t, "/v1/channels", key, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(chan, sizeof(chan), "%s", json_string_value(json_object_get(r.json, "id")));
    resp_free(&r);
    snprintf(body, sizeof(body), "{\"channelId\":\"%s\",\"externalId\":\"%s\"}", chan, ext);
    th_post(&t, "/v1/conversations", key, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(conv, sizeof(conv), "%s", json_string_value(json_object_get(r.json, "id")));
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/conversations/%s/messages", conv);
    th_post(&t, path, key, "{\"direction\":\"inbound\",\"bodyText\":\"while it builds\"}", &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
}

Test(upgrade, a_concurrent_index_lets_writes_through_and_runs_again_when_interrupted)
{
    PGconn *holder = PQconnectdb(t.conninfo);
    struct run first = {0}, second = {0};
    long pid, before = th_sql_long(&t, "SELECT count(*) FROM messages"), v;
    char sql[80];

    cr_assert_eq(PQstatus(holder), CONNECTION_OK);
    /* A transaction that wrote to messages: the build waits for it. */
    PQclear(PQexec(holder, "BEGIN"));
    PQclear(PQexec(holder, "LOCK TABLE messages IN ROW EXCLUSIVE MODE"));
    cr_assert_eq(pthread_create(&first.thread, NULL, migrate_main, &first), 0);
    TH_WAIT_UNTIL((pid = build_waiting()) != 0, "the index build to wait for the open writer");
    /* Writes are not held back while the build waits. */
    write_message("during-build");
    cr_assert_eq(th_sql_long(&t, "SELECT count(*) FROM messages"), before + 1);
    /* Interrupted: the build leaves an INVALID index, the migration is
     * not recorded. */
    snprintf(sql, sizeof(sql), "SELECT pg_cancel_backend(%ld)::int", pid);
    cr_assert_eq(th_sql_long(&t, sql), 1);
    pthread_join(first.thread, NULL);
    cr_assert_neq(first.rc, 0, "%s", first.out);
    cr_assert(strstr(first.out, "runs again") != NULL, "%s", first.out);
    cr_assert_eq(next_index("NOT i.indisvalid"), 1);
    cr_assert_eq(th_sql_long(&t, "SELECT count(*) FROM schema_migrations WHERE version = 9000"),
                 0);
    PQclear(PQexec(holder, "COMMIT"));
    PQfinish(holder);
    /* The next migrate drops it and builds it anew. */
    migrate_next(&second);
    cr_assert_eq(second.rc, 0, "%s", second.out);
    cr_assert(strstr(second.out, "dropping the invalid index " NEXT_INDEX) != NULL, "%s",
              second.out);
    cr_assert_eq(next_index("i.indisvalid"), 1);
    cr_assert_eq(th_sql_long(&t, "SELECT max(version) FROM schema_migrations"), NEXT);
    /* This release's binary serves the schema one newer, and its migrate
     * leaves the newer release's current SQL alone. */
    cr_assert_eq(readyz(&v), 200);
    cr_assert_eq(v, NEXT);
    {
        char out[4096], env[800];

        snprintf(env, sizeof(env), "DATABASE_OWNER_URL='%s'", t.conninfo);
        cr_assert_eq(th_inboxd(out, sizeof(out), env, "--config /dev/null migrate"), 0, "%s",
                     out);
        cr_assert(strstr(out, "is newer than this binary's") != NULL, "%s", out);
    }
}
