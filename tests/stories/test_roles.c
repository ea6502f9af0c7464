/* The database roles of `inboxd roles` (sql/roles.sql): the owner
 * migrates, the runtime serves and can change no schema, the read-only
 * role only reads. Each role is tried against every table of the
 * migrated schema, so a table a later migration adds is covered too.
 * tests/meson.build also runs the route and story suites with inboxd
 * connected as the runtime role (INBOXD_TEST_DB_ROLE). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "inboxd/db/migrate.h"

TestSuite(roles, .fini = fx_teardown, .timeout = 120);

/* A connection to the test database as that role (trust auth). */
static PGconn *
connect_as(const char *role)
{
    char ci[800];
    PGconn *c;

    snprintf(ci, sizeof(ci), "%s user=%s", t.conninfo, role);
    c = PQconnectdb(ci);
    cr_assert_eq(PQstatus(c), CONNECTION_OK, "as %s: %s", role, PQerrorMessage(c));
    return c;
}

static void
set_up_roles(void)
{
    char err[600];

    cr_assert_eq(migrate_roles(t.conninfo, err, sizeof(err)), 0, "roles: %s", err);
}

/* A migrated database with the roles, and a connection as that role. */
static PGconn *
migrated_as(const char *role)
{
    th_start(&t, true, NULL);
    set_up_roles();
    return connect_as(role);
}

/* Runs sql and expects it to fail with that SQLSTATE. */
static void
refused(PGconn *c, const char *sqlstate, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE);

    cr_assert(PQresultStatus(r) == PGRES_FATAL_ERROR, "allowed: %s", sql);
    cr_assert_str_eq(st ? st : "", sqlstate, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQclear(PQexec(c, "ROLLBACK"));
}

static void
allowed(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);

    cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
              "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* Every table of the schema, with one of its columns, as SQL names. */
static PGresult *
tables(void)
{
    PGresult *r = th_sql(&t, "SELECT quote_ident(c.relname), quote_ident(a.attname)"
                             " FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid"
                             " AND a.attnum = 1"
                             " WHERE c.relnamespace = 'public'::regnamespace"
                             " AND c.relkind IN ('r', 'p') ORDER BY 1");

    cr_assert_gt(PQntuples(r), 15, "the migrated schema has its tables");
    return r;
}

Test(roles, setting_up_twice_changes_nothing_and_the_owner_owns_everything)
{
    th_start(&t, true, NULL);
    set_up_roles();
    set_up_roles();
    cr_assert_eq(th_sql_long(&t, "SELECT count(*) FROM pg_class c WHERE c.relnamespace = "
                                 "'public'::regnamespace AND c.relkind IN ('r', 'v', 'm', 'S')"
                                 " AND c.relowner <> 'inboxd_owner'::regrole"),
                 0);
    cr_assert_eq(th_sql_long(&t, "SELECT count(*) FROM pg_proc WHERE pronamespace = "
                                 "'public'::regnamespace AND proowner <> 'inboxd_owner'::regrole"),
                 0);
    cr_assert_eq(th_sql_long(&t, "SELECT count(*) FROM pg_type WHERE typnamespace = "
                                 "'public'::regnamespace AND typtype = 'e'"
                                 " AND typowner <> 'inboxd_owner'::regrole"),
                 0);
}

Test(roles, the_runtime_can_drop_alter_truncate_and_create_nothing)
{
    PGconn *c = migrated_as("inboxd_runtime");
    PGresult *tb = tables();
    char sql[300];

    for (int i = 0; i < PQntuples(tb); i++) {
        const char *name = PQgetvalue(tb, i, 0);

        snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", name);
        allowed(c, sql);
        snprintf(sql, sizeof(sql), "DROP TABLE %s", name);
        refused(c, "42501", sql);
        snprintf(sql, sizeof(sql), "ALTER TABLE %s ADD COLUMN intruder int", name);
        refused(c, "42501", sql);
        snprintf(sql, sizeof(sql), "CREATE INDEX ON %s (%s)", name, PQgetvalue(tb, i, 1));
        refused(c, "42501", sql);
        snprintf(sql, sizeof(sql), "TRUNCATE %s", name);
        refused(c, "42501", sql);
    }
    PQclear(tb);
    refused(c, "42501", "CREATE TABLE intruder (id int)");
    refused(c, "42501", "CREATE TEMP TABLE intruder (id int)");
    refused(c, "42501", "CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'");
    refused(c, "42501", "CREATE OR REPLACE FUNCTION inboxd_uuid7() RETURNS uuid "
                        "LANGUAGE sql AS 'SELECT gen_random_uuid()'");
    refused(c, "42501", "CREATE VIEW intruder AS SELECT 1");
    refused(c, "42501", "CREATE TYPE intruder AS ENUM ('x')");
    refused(c, "42501", "CREATE SCHEMA intruder");
    refused(c, "42501", "DROP FUNCTION inboxd_uuid7()");
    refused(c, "42501", "ALTER TYPE channel_type ADD VALUE 'fax'");
    /* It reads the schema version (/readyz) and may not change it. */
    allowed(c, "SELECT max(version) FROM schema_migrations");
    refused(c, "42501", "DELETE FROM schema_migrations");
    refused(c, "42501", "INSERT INTO schema_migrations VALUES (9999, 'x', 'x')");
    PQfinish(c);
}

Test(roles, the_read_only_role_reads_every_table_and_writes_none)
{
    PGconn *c = migrated_as("inboxd_readonly");
    PGresult *tb = tables();
    char sql[300];

    for (int i = 0; i < PQntuples(tb); i++) {
        const char *name = PQgetvalue(tb, i, 0), *col = PQgetvalue(tb, i, 1);

        snprintf(sql, sizeof(sql), "SELECT * FROM %s LIMIT 1", name);
        allowed(c, sql);
        /* Its transactions are read-only ... */
        snprintf(sql, sizeof(sql), "DELETE FROM %s", name);
        refused(c, "25006", sql);
        /* ... and asking for a writing one does not help. */
        snprintf(sql, sizeof(sql), "BEGIN READ WRITE; INSERT INTO %s DEFAULT VALUES", name);
        refused(c, "42501", sql);
        snprintf(sql, sizeof(sql), "BEGIN READ WRITE; UPDATE %s SET %s = %s", name, col, col);
        refused(c, "42501", sql);
        snprintf(sql, sizeof(sql), "BEGIN READ WRITE; DELETE FROM %s", name);
        refused(c, "42501", sql);
        snprintf(sql, sizeof(sql), "BEGIN READ WRITE; TRUNCATE %s", name);
        refused(c, "42501", sql);
    }
    PQclear(tb);
    allowed(c, "SELECT inboxd_json_account(a) FROM accounts a");
    refused(c, "42501", "BEGIN READ WRITE; CREATE TABLE intruder (id int)");
    PQfinish(c);
}

/* A later migration, run by the owner, gets the same grants without
 * running `inboxd roles` again. */
Test(roles, what_the_owner_creates_later_gets_the_same_grants)
{
    PGconn *owner = migrated_as("inboxd_owner"), *rt, *ro;

    allowed(owner, "CREATE TABLE later (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                   "note text NOT NULL)");
    allowed(owner, "CREATE FUNCTION later_count() RETURNS bigint LANGUAGE sql "
                   "AS 'SELECT count(*) FROM later'");
    rt = connect_as("inboxd_runtime");
    allowed(rt, "INSERT INTO later (note) VALUES ('a'), ('b')");
    allowed(rt, "UPDATE later SET note = 'c' WHERE note = 'b'");
    allowed(rt, "DELETE FROM later WHERE note = 'a'");
    allowed(rt, "SELECT later_count()");
    refused(rt, "42501", "DROP TABLE later");
    refused(rt, "42501", "TRUNCATE later");
    ro = connect_as("inboxd_readonly");
    allowed(ro, "SELECT note, later_count() FROM later");
    refused(ro, "42501", "BEGIN READ WRITE; INSERT INTO later (note) VALUES ('x')");
    PQfinish(ro);
    PQfinish(rt);
    PQfinish(owner);
}

/* The order of README's "Creating the roles": roles on an empty
 * database, migrate as the owner, serve as the runtime. */
Test(roles, a_fresh_database_migrates_as_the_owner)
{
    char ci[800], err[600];

    th_start(&t, false, NULL);
    set_up_roles();
    snprintf(ci, sizeof(ci), "%s user=inboxd_owner", t.conninfo);
    cr_assert_eq(migrate_apply(ci, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(migrate_apply(ci, NULL, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(th_sql_long(&t, "SELECT max(version) FROM schema_migrations"), migrate_expected());
    cr_assert_eq(th_sql_long(&t, "SELECT count(*) FROM pg_class WHERE relnamespace = "
                                 "'public'::regnamespace AND relowner <> 'inboxd_owner'::regrole"),
                 0);
    snprintf(ci, sizeof(ci), "%s user=inboxd_runtime", t.conninfo);
    cr_assert_eq(migrate_apply(ci, NULL, err, sizeof(err)), -1, "the runtime cannot migrate");
}

static void
serve_as_runtime(void)
{
    setenv("INBOXD_TEST_DB_ROLE", "inboxd_runtime", 1);
    webhook_sources();
}

TestSuite(roles_serving, .init = serve_as_runtime, .fini = fx_teardown, .timeout = 120);

/* Reads, writes and a signed webhook, served as the runtime role. */
Test(roles_serving, the_api_reads_writes_and_takes_webhooks_as_the_runtime)
{
    char body[2048], path[160];
    struct webhook_ids x;
    struct resp r;

    fx_start("Hook Shop", NULL);
    th_get(&t, "/readyz", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    webhook_delivery(body, sizeof(body), "evt-1", "T-1", "m-1");
    deliver("hookshop", "shop-secret", body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    take_ids(&r, &x);
    resp_free(&r);
    th_post(&t, "/v1/users", key, "{\"email\":\"a@shop.example\",\"displayName\":\"A\"}", &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/conversations/%s/messages", x.conv);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1, "%s", r.body);
    resp_free(&r);
    th_get(&t, "/v1/feed", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    /* And it was the runtime role that did it. */
    cr_assert_eq(sql_long("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                          "current_database() AND application_name = 'inboxd' "
                          "AND usename <> 'inboxd_runtime'"),
                 0);
    cr_assert_gt(sql_long("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                          "current_database() AND usename = 'inboxd_runtime'"),
                 0);
}
