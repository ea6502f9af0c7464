/* The command line (src/main.c), run as the built binary: a wrong command
 * line is refused with one line and exit status 2 before anything is
 * touched, read-only commands write nothing, migrate --dump-to dumps
 * before it changes the schema, and serve reports a failed start as a
 * JSON log line. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixtures.h"
#include "inboxd/db/migrate.h"

TestSuite(cli, .fini = fx_teardown, .timeout = 120);

static char out[16384];
static char env[800];

static int
lines(const char *s)
{
    int n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* DATABASE_URL of the test database, for th_inboxd's env. */
static const char *
db_env(void)
{
    snprintf(env, sizeof(env), "DATABASE_URL='%s'", t.conninfo);
    return env;
}

static void
expect_usage_error(const char *args, const char *mention)
{
    int rc = th_inboxd(out, sizeof(out), db_env(), "--config /dev/null %s", args);

    cr_assert_eq(rc, 2, "inboxd %s: exit %d: %s", args, rc, out);
    cr_assert_eq(lines(out), 1, "inboxd %s: one line, got: %s", args, out);
    cr_assert_not_null(strstr(out, "inboxd --help"), "inboxd %s: %s", args, out);
    cr_assert_not_null(strstr(out, mention), "inboxd %s: %s", args, out);
}

/* The typo of `migrate --status` applied every migration. */
Test(cli, migrate_status_without_dashes_is_refused_and_applies_nothing)
{
    th_start(&t, false, NULL);
    expect_usage_error("migrate status", "\"status\"");
    expect_usage_error("migrate --stauts", "--stauts");
    cr_assert_eq(th_sql_long(&t, "SELECT count(*) FROM pg_class WHERE relnamespace = "
                                 "'public'::regnamespace"),
                 0, "nothing was created");
}

Test(cli, every_command_refuses_unknown_options_and_extra_arguments)
{
    static const char *const wrong[][2] = {
        {"serve now", "\"now\""},
        {"--bogus", "--bogus"},
        {"-x", "-x"},
        {"--pool-size", "--pool-size"},
        {"--pool-size=many", "pool_size"},
        {"migrate --account x", "--account"},
        {"migrate --status --dump-to /tmp/x.dump", "--dump-to"},
        {"roles everything", "\"everything\""},
        {"seed twice", "\"twice\""},
        {"accounts", "subcommand"},
        {"accounts create", "missing argument"},
        {"accounts create A B", "\"B\""},
        {"accounts delete A", "\"delete\""},
        {"keys", "subcommand"},
        {"keys lsit", "\"lsit\""},
        {"keys list extra", "\"extra\""},
        {"keys list --name n", "--name"},
        {"keys list --account", "--account"},
        {"keys create --account a --name n --scopes read extra", "\"extra\""},
        {"keys create --account a --name n", "--scopes"},
        {"keys create --account a --account b --name n --scopes read", "twice"},
        {"keys revoke", "missing argument"},
        {"keys revoke a b", "\"b\""},
        {"sql a b", "\"b\""},
        {"sql --status", "--status"},
        {"retention now", "\"now\""},
        {"retetnion", "\"retetnion\""},
    };

    th_start(&t, true, NULL);
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++)
        expect_usage_error(wrong[i][0], wrong[i][1]);
    cr_assert_eq(th_sql_long(&t, "SELECT count(*) FROM accounts"), 0, "nothing was written");
}

Test(cli, options_go_before_or_after_the_command_and_help_is_short_of_nothing)
{
    int rc;

    th_start(&t, true, NULL);
    rc = th_inboxd(out, sizeof(out), db_env(), "--config /dev/null migrate --status");
    cr_assert_eq(rc, 0, "%s", out);
    rc = th_inboxd(out, sizeof(out), db_env(), "migrate --config=/dev/null --status");
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_not_null(strstr(out, "applied  0001_init"), "%s", out);
    rc = th_inboxd(out, sizeof(out), NULL, "--help");
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_not_null(strstr(out, "migrate [--status] [--dump-to FILE]"), "%s", out);
    cr_assert_not_null(strstr(out, "database_owner_url"), "%s", out);
    rc = th_inboxd(out, sizeof(out), NULL, "--version");
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_eq(strncmp(out, "inboxd ", 7), 0, "%s", out);
}

/* migrate --status changes nothing: on an empty database it creates not
 * even schema_migrations, and a pending migration stays pending. */
Test(cli, migrate_status_writes_nothing)
{
    long commits;
    int rc;

    th_start(&t, false, NULL);
    rc = th_inboxd(out, sizeof(out), db_env(), "--config /dev/null migrate --status");
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_not_null(strstr(out, "pending  0001_init"), "%s", out);
    cr_assert_not_null(strstr(out, "back it up first"), "%s", out);
    cr_assert_eq(th_sql_long(&t, "SELECT count(*) FROM pg_class WHERE relnamespace = "
                                 "'public'::regnamespace"),
                 0);

    rc = th_inboxd(out, sizeof(out), db_env(), "--config /dev/null migrate");
    cr_assert_eq(rc, 0, "%s", out);
    PQclear(th_sql(&t, "DELETE FROM schema_migrations WHERE version = (SELECT max(version) "
                       "FROM schema_migrations)"));
    commits = th_sql_long(&t, "SELECT count(*) FROM schema_migrations");
    rc = th_inboxd(out, sizeof(out), db_env(), "--config /dev/null migrate --status");
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_not_null(strstr(out, "pending  "), "%s", out);
    cr_assert_eq(th_sql_long(&t, "SELECT count(*) FROM schema_migrations"), commits);
}

/* keys list reads (in READ ONLY transactions); sql needs no database. */
Test(cli, keys_list_and_sql_only_read)
{
    char k[64];
    int rc;

    th_start(&t, true, NULL);
    th_tenant(&t, "Lister", account, k);
    rc = th_inboxd(out, sizeof(out), db_env(), "--config /dev/null keys list --account Lister");
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_not_null(strstr(out, "ibx_"), "%s", out);
    rc = th_inboxd(out, sizeof(out), "DATABASE_URL='host=/nonexistent'",
                   "--config /dev/null sql");
    cr_assert_eq(rc, 0, "sql needs no database: %s", out);
    cr_assert_gt(lines(out), 50, "%s", out);
}

Test(cli, migrate_dump_to_dumps_only_when_something_is_pending)
{
    char file[128], cmd[300];
    struct stat st;
    int rc;

    th_start(&t, false, NULL);
    snprintf(file, sizeof(file), "/tmp/inboxd-cli-%d.dump", (int)getpid());
    unlink(file);
    rc = th_inboxd(out, sizeof(out), db_env(), "--config /dev/null migrate --dump-to %s", file);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_not_null(strstr(out, "dumped the database"), "%s", out);
    cr_assert_eq(stat(file, &st), 0, "no dump at %s", file);
    snprintf(cmd, sizeof(cmd), "pg_restore --list %s >/dev/null", file);
    cr_assert_eq(system(cmd), 0, "pg_restore cannot read %s", file);
    cr_assert_eq(th_sql_long(&t, "SELECT max(version) FROM schema_migrations"), migrate_expected());
    unlink(file);

    rc = th_inboxd(out, sizeof(out), db_env(), "--config /dev/null migrate --dump-to %s", file);
    cr_assert_eq(rc, 0, "%s", out);
    cr_assert_not_null(strstr(out, "up to date"), "%s", out);
    cr_assert_neq(stat(file, &st), 0, "nothing pending, nothing dumped");
}

Test(cli, a_failed_dump_migrates_nothing)
{
    int rc;

    th_start(&t, false, NULL);
    rc = th_inboxd(out, sizeof(out), db_env(),
                   "--config /dev/null migrate --dump-to /nonexistent/dir/x.dump");
    cr_assert_eq(rc, 1, "%s", out);
    cr_assert_not_null(strstr(out, "nothing was migrated"), "%s", out);
    cr_assert_eq(th_sql_long(&t, "SELECT count(*) FROM pg_class WHERE relnamespace = "
                                 "'public'::regnamespace"),
                 0);
}

/* Every line serve writes is JSON, its failed start too. */
static void
expect_json_start_failure(const char *env_, const char *args, const char *mention)
{
    json_error_t e;
    json_t *j;
    int rc = th_inboxd(out, sizeof(out), env_, "--config /dev/null %s", args);

    cr_assert_eq(rc, 1, "serve %s: exit %d: %s", args, rc, out);
    cr_assert_eq(lines(out), 1, "%s", out);
    j = json_loads(out, 0, &e);
    cr_assert_not_null(j, "not JSON: %s", out);
    cr_assert_str_eq(json_string_value(json_object_get(j, "level")), "error");
    cr_assert_str_eq(json_string_value(json_object_get(j, "event")), "server.start_failed");
    cr_assert_not_null(strstr(json_string_value(json_object_get(j, "err")), mention), "%s", out);
    json_decref(j);
}

Test(cli, serve_start_up_errors_are_json_log_lines)
{
    th_start(&t, true, NULL);
    expect_json_start_failure(NULL, "serve", "DATABASE_URL");
    expect_json_start_failure(NULL, "", "DATABASE_URL");
    expect_json_start_failure("INBOXD_POOL_SIZE=0", "serve", "pool_size");
    expect_json_start_failure(db_env(), "--listen 256.0.0.1:1 serve", "");
}
