/*
 * test_current_sql: `inboxd migrate` applies sql/current/ after the
 * migrations, every time (README, "Schema").
 *
 * What the database runs is what those files define: dropping every
 * function and view and migrating again gives the very same definitions;
 * migrating twice changes nothing; a function dropped or changed by hand
 * is put back by the next migrate, and --status tells beforehand.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "inboxd/db/migrate.h"
#include "inboxd/lib/embedded.h"

/* Its tests start inboxd themselves. */
TestSuite(current_sql, .fini = fx_teardown, .timeout = 90);

/* Every function and view of the schema, one line each: its signature and
 * the md5 of its definition as PostgreSQL prints it. Caller frees. */
static char *
definitions(void)
{
    PGresult *r = th_sql(
        &t, "SELECT coalesce(string_agg(o, E'\\n' ORDER BY o), '') FROM ("
            " SELECT p.oid::regprocedure || ' ' || md5(pg_get_functiondef(p.oid)) AS o"
            " FROM pg_proc p"
            " WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p')"
            " UNION ALL SELECT c.oid::regclass || ' ' || md5(pg_get_viewdef(c.oid)) FROM pg_class c"
            " WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')) s");
    char *s = strdup(PQgetvalue(r, 0, 0));

    PQclear(r);
    cr_assert_not_null(s);
    return s;
}

/* Runs migrate_apply (or migrate_status) and returns what it printed.
 * Caller frees. */
static char *
migrate(bool status)
{
    char *text = NULL, err[600] = "";
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    int rc;

    cr_assert_not_null(out);
    rc = (status ? migrate_status : migrate_apply)(t.conninfo, out, err, sizeof(err));
    cr_assert_eq(fclose(out), 0);
    cr_assert_eq(rc, 0, "%s", err);
    return text;
}

/* Asserts that `printed` has the line "<state>  current/<name>". */
static void
expect_line(const char *printed, const char *state, const char *name)
{
    char line[128];

    snprintf(line, sizeof(line), "%s  current/%s\n", state, name);
    cr_assert_not_null(strstr(printed, line), "no \"%.*s\" in:\n%s", (int)strlen(line) - 1, line,
                       printed);
}

Test(current_sql, migrating_a_fresh_database_twice_changes_nothing)
{
    char up_to_date[64];
    char *first, *second, *status;
    long n;

    th_start(&t, false, NULL);
    free(migrate(false));
    first = definitions();
    cr_assert_not_null(strstr(first, "inboxd_feed_page("), "%s", first);
    cr_assert_not_null(strstr(first, "inboxd_json_message("), "%s", first);
    n = th_sql_long(&t, "SELECT count(*) FROM schema_migrations");

    second = migrate(false);
    snprintf(up_to_date, sizeof(up_to_date), "schema is up to date (version %d)\n",
             migrate_expected());
    cr_assert_str_eq(second, up_to_date);
    free(second);
    second = definitions();
    cr_assert_str_eq(second, first);
    cr_assert_eq(th_sql_long(&t, "SELECT count(*) FROM schema_migrations"), n);

    /* --status lists the current files after the migrations, all applied. */
    status = migrate(true);
    cr_assert_null(strstr(status, "pending"), "%s", status);
    for (const struct embedded_file *f = embedded_current; f->name; f++)
        expect_line(status, "applied", f->name);
    cr_assert_gt(strstr(status, "current/"), strstr(status, "0001_init"), "%s", status);
    free(status);
    free(first);
    free(second);
}

Test(current_sql, every_function_and_view_is_the_one_sql_current_defines)
{
    char *migrated, *printed, *recreated;

    th_start(&t, true, NULL);
    migrated = definitions();
    /* Gone, every one: what comes back next comes from sql/current/ alone,
     * and one the files do not define does not come back. CASCADE: a
     * trigger function goes with its triggers (migrations 0011's and
     * 0012's), which are tables' parts, not definitions this compares. */
    PQclear(th_sql(&t, "DO $$ DECLARE o record; BEGIN"
                       " FOR o IN SELECT c.oid::regclass AS v, c.relkind FROM pg_class c"
                       "  WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')"
                       " LOOP EXECUTE format(CASE o.relkind WHEN 'm' THEN"
                       "  'DROP MATERIALIZED VIEW %s' ELSE 'DROP VIEW %s' END, o.v); END LOOP;"
                       " FOR o IN SELECT p.oid::regprocedure AS f FROM pg_proc p"
                       "  WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p')"
                       " LOOP EXECUTE format('DROP ROUTINE %s CASCADE', o.f); END LOOP; END $$"));
    recreated = definitions();
    cr_assert_str_eq(recreated, "");
    free(recreated);

    printed = migrate(false);
    for (const struct embedded_file *f = embedded_current; f->name; f++)
        expect_line(printed, "applied", f->name);
    recreated = definitions();
    cr_assert_str_eq(recreated, migrated);
    free(printed);
    free(migrated);
    free(recreated);
}

/* Damages the definitions of sql/current/<file> by hand, then: --status
 * says that file is pending and `other` applied (and changes nothing),
 * and migrate puts back that file alone, every definition as it was. */
static void
expect_put_back(const char *damage, const char *file, const char *other)
{
    char *migrated = definitions(), *damaged, *printed, *now;
    char want[64];

    PQclear(th_sql(&t, damage));
    damaged = definitions();
    cr_assert_str_neq(damaged, migrated, "%s changed no definition", damage);

    printed = migrate(true);
    expect_line(printed, "pending", file);
    expect_line(printed, "applied", other);
    free(printed);
    now = definitions();
    cr_assert_str_eq(now, damaged, "--status changed a definition");
    free(now);

    printed = migrate(false);
    snprintf(want, sizeof(want), "applied  current/%s\n", file);
    cr_assert_str_eq(printed, want);
    now = definitions();
    cr_assert_str_eq(now, migrated);
    free(printed);
    free(now);
    free(damaged);
    free(migrated);
}

Test(current_sql, a_function_dropped_by_hand_is_created_by_the_next_migrate)
{
    struct resp r;

    th_start(&t, true, NULL);
    th_tenant(&t, "Current", account, key);
    expect_put_back("DROP FUNCTION inboxd_feed_page(uuid, timestamptz, uuid, int, uuid, boolean)",
                    "feed", "render");
    /* The route that calls it answers again. */
    th_get(&t, "/v1/feed", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
}

Test(current_sql, a_function_changed_by_hand_is_put_back_by_the_next_migrate)
{
    th_start(&t, true, NULL);
    expect_put_back("CREATE OR REPLACE FUNCTION inboxd_ts(t timestamptz) RETURNS text"
                    " LANGUAGE sql STABLE PARALLEL SAFE AS $$ SELECT t::text $$",
                    "render", "feed");
    cr_assert_eq(th_sql_long(&t, "SELECT length(inboxd_ts('2026-11-22 10:04:05.123+00'))"), 24);
}
