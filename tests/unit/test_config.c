/* config (config.c, config_live.c): precedence, validation, webhook sources,
 * the shipped file, and reload. */
#include "inboxd/lib/config.h"
#include "inboxd/lib/scope.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpfile_path[64];

static const char *
write_conf(const char *text)
{
    int fd;

    snprintf(tmpfile_path, sizeof(tmpfile_path), "/tmp/inboxd-conf-XXXXXX");
    fd = mkstemp(tmpfile_path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return tmpfile_path;
}

static void
clear_env(void)
{
    for (const struct config_key *k = config_keys; k->name; k++)
        unsetenv(k->env);
}

TestSuite(config, .init = clear_env);

Test(config, defaults_apply_without_a_file)
{
    struct config cf;
    char err[256];
    char *argv[] = {"inboxd", NULL};
    int argc = 1;

    cr_assert_eq(config_load(&cf, "/dev/null", &argc, argv, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(cf.listen, "127.0.0.1:8080");
    cr_assert_eq(cf.pool_size, 5);
    cr_assert_eq(cf.body_limit, 1048576);
    cr_assert(cf.prepare);
    config_cleanup(&cf);
}

Test(config, file_then_environment_then_flag)
{
    struct config cf;
    char err[256];
    const char *path = write_conf("pool_size = 7\nlisten = 0.0.0.0:9000\nprepare = off\n");
    char *argv[] = {"inboxd", "--pool-size", "11", "serve", NULL};
    int argc = 4;

    setenv("INBOXD_LISTEN", "127.0.0.1:7000", 1);
    setenv("INBOXD_POOL_SIZE", "9", 1);
    cr_assert_eq(config_load(&cf, path, &argc, argv, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(cf.pool_size, 11, "flag beats environment");
    cr_assert_str_eq(cf.listen, "127.0.0.1:7000", "environment beats file");
    cr_assert(!cf.prepare, "file beats default");
    cr_assert_eq(argc, 2, "setting flags are consumed");
    cr_assert_str_eq(argv[1], "serve");
    config_cleanup(&cf);
    unlink(path);
}

struct seen {
    int n;
    int val[8];
    const char *arg[8];
};

static int
note_option(int val, const char *arg, void *ud, char *err, size_t errlen)
{
    struct seen *s = ud;

    (void)err;
    (void)errlen;
    cr_assert_lt(s->n, 8);
    s->val[s->n] = val;
    s->arg[s->n++] = arg;
    return 0;
}

/* One getopt_long: settings and the caller's options in any order around
 * the positionals, which stay in theirs. */
Test(config, command_options_and_settings_share_one_parser)
{
    static const struct option opts[] = {
        {"status", no_argument, NULL, 1}, {"name", required_argument, NULL, 2}, {NULL, 0, NULL, 0}};
    struct seen s = {0};
    const struct config_cli cli = {opts, "h", note_option, &s};
    struct config cf;
    char err[256];
    char *argv[] = {"inboxd", "keys", "--name=n1", "--pool-size", "3", "create", "-h",
                    "--status", "--", "--listen", NULL};
    int argc = 10;

    cr_assert_eq(config_load_cli(&cf, "/dev/null", &argc, argv, &cli, err, sizeof(err)), 0, "%s",
                 err);
    cr_assert_eq(cf.pool_size, 3);
    cr_assert_eq(s.n, 3);
    cr_assert_eq(s.val[0], 2);
    cr_assert_str_eq(s.arg[0], "n1");
    cr_assert_eq(s.val[1], 'h');
    cr_assert_eq(s.val[2], 1);
    cr_assert_null(s.arg[2]);
    cr_assert_eq(argc, 4, "positionals: keys create --listen");
    cr_assert_str_eq(argv[1], "keys");
    cr_assert_str_eq(argv[2], "create");
    cr_assert_str_eq(argv[3], "--listen", "after --, an argument");
    config_cleanup(&cf);
}

Test(config, an_unknown_option_is_a_usage_error)
{
    char bad[][16] = {"--pool-sise", "-q", "--status"};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct config cf;
        char err[256];
        char *argv[] = {"inboxd", bad[i], "1", NULL};
        int argc = 3;

        cr_assert_eq(config_load(&cf, "/dev/null", &argc, argv, err, sizeof(err)), CONFIG_USAGE,
                     "%s", bad[i]);
        cr_assert_not_null(strstr(err, bad[i]), "%s", err);
    }
}

Test(config, errors_name_the_key_and_its_source)
{
    static const struct {
        const char *file;
        const char *env_name, *env_value;
        const char *expect;
    } cases[] = {
        {"pool_size = 0\n", NULL, NULL, ":1"},
        {"\n\npool_size = many\n", NULL, NULL, ":3"},
        {"no_such_key = 1\n", NULL, NULL, "unknown setting"},
        {"just words\n", NULL, NULL, "expected key = value"},
        {"", "INBOXD_POOL_WAIT_MS", "-5", "INBOXD_POOL_WAIT_MS"},
        {"", "INBOXD_PREPARE", "maybe", "INBOXD_PREPARE"},
        {"listen = nowhere\n", NULL, NULL, "listen"},
        {"log_level = loud\n", NULL, NULL, "log_level"},
        {"tls_cert = a.pem\n", NULL, NULL, "tls_cert and tls_key"},
        {"tls_client_ca = ca.pem\n", NULL, NULL, "tls_client_ca"},
        {"tls_cert = a.pem\ntls_key = a.key\ntls_client_names = x=read\n", NULL, NULL,
         "tls_client_names: needs tls_client_ca"},
        {"tls_cert = a\ntls_key = b\ntls_client_ca = c\ntls_client_names = x=read, y\n", NULL,
         NULL, "expected name=scope"},
        {"tls_cert = a\ntls_key = b\ntls_client_ca = c\ntls_client_names = x=fly\n", NULL,
         NULL, "unknown or no scope"},
        {"webhook.s.secret = x\nwebhook.s.account = A\nwebhook.s.scheme = svix\n", NULL, NULL,
         "webhook.s.scheme (" },
        {"webhook.s.secret = x\nwebhook.s.account = A\n", "INBOXD_WEBHOOK_S_SCHEME", "standard",
         "webhook source s: scheme standard needs secrets of the form whsec_"},
        {"webhook.s.secret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\nwebhook.s.account = A\n"
         "webhook.s.secret_previous = old\nwebhook.s.scheme = standard\n",
         NULL, NULL, "webhook source s: scheme standard"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct config cf;
        char err[256] = "";
        char *argv[] = {"inboxd", NULL};
        int argc = 1;
        const char *path = write_conf(cases[i].file);

        clear_env();
        if (cases[i].env_name)
            setenv(cases[i].env_name, cases[i].env_value, 1);
        cr_assert_eq(config_load(&cf, path, &argc, argv, err, sizeof(err)), -1, "case %zu", i);
        cr_assert_not_null(strstr(err, cases[i].expect), "case %zu: \"%s\" lacks \"%s\"", i, err,
                           cases[i].expect);
        unlink(path);
    }
}

Test(config, flag_without_value_is_an_error)
{
    struct config cf;
    char err[256];
    char *argv[] = {"inboxd", "--pool-size", NULL};
    int argc = 2;

    cr_assert_eq(config_load(&cf, "/dev/null", &argc, argv, err, sizeof(err)), CONFIG_USAGE);
    cr_assert_not_null(strstr(err, "--pool-size"), "%s", err);
}

Test(config, webhook_sources_from_file_and_environment)
{
    struct config cf;
    char err[256];
    const char *path = write_conf("webhook.zoho.secret = s1\nwebhook.zoho.account = Hot Rod AN\n");
    char *argv[] = {"inboxd", NULL};
    int argc = 1;
    const struct config_source *s;

    setenv("INBOXD_WEBHOOK_SHOPIFY_SECRET", "s2", 1);
    setenv("INBOXD_WEBHOOK_SHOPIFY_SECRET_PREVIOUS", "s2old", 1);
    setenv("INBOXD_WEBHOOK_SHOPIFY_ACCOUNT", "acme", 1);
    setenv("INBOXD_WEBHOOK_ZOHO_SECRET", "s1env", 1);
    cr_assert_eq(config_load(&cf, path, &argc, argv, err, sizeof(err)), 0, "%s", err);
    s = config_source_find(&cf, "zoho");
    cr_assert_not_null(s);
    cr_assert_str_eq(s->secret, "s1env");
    cr_assert_str_eq(s->account, "Hot Rod AN");
    s = config_source_find(&cf, "shopify");
    cr_assert_not_null(s);
    cr_assert_str_eq(s->secret_previous, "s2old");
    cr_assert_null(config_source_find(&cf, "intercom"));
    config_cleanup(&cf);
    unsetenv("INBOXD_WEBHOOK_SHOPIFY_SECRET");
    unsetenv("INBOXD_WEBHOOK_SHOPIFY_SECRET_PREVIOUS");
    unsetenv("INBOXD_WEBHOOK_SHOPIFY_ACCOUNT");
    unsetenv("INBOXD_WEBHOOK_ZOHO_SECRET");
    unlink(path);
}

Test(config, a_webhook_source_scheme_from_file_or_environment)
{
    struct config cf;
    char err[256];
    const char *path = write_conf("webhook.a.secret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"
                                  "webhook.a.account = A\nwebhook.a.scheme = Standard\n"
                                  "webhook.b.secret = s\nwebhook.b.account = A\n"
                                  "webhook.c.secret = s\nwebhook.c.account = A\n"
                                  "webhook.c.scheme = inboxd\n");
    char *argv[] = {"inboxd", NULL};
    int argc = 1;

    setenv("INBOXD_WEBHOOK_D_SECRET", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 1);
    setenv("INBOXD_WEBHOOK_D_ACCOUNT", "A", 1);
    setenv("INBOXD_WEBHOOK_D_SCHEME", "standard", 1);
    cr_assert_eq(config_load(&cf, path, &argc, argv, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(config_source_find(&cf, "a")->scheme, CONFIG_SCHEME_STANDARD);
    cr_assert_eq(config_source_find(&cf, "b")->scheme, CONFIG_SCHEME_INBOXD, "the default");
    cr_assert_eq(config_source_find(&cf, "c")->scheme, CONFIG_SCHEME_INBOXD);
    cr_assert_eq(config_source_find(&cf, "d")->scheme, CONFIG_SCHEME_STANDARD);
    config_cleanup(&cf);
    unsetenv("INBOXD_WEBHOOK_D_SECRET");
    unsetenv("INBOXD_WEBHOOK_D_ACCOUNT");
    unsetenv("INBOXD_WEBHOOK_D_SCHEME");
    unlink(path);
}

/* A reload that changes only a source's scheme is a change of "webhook". */
Test(config, reconcile_sees_a_changed_scheme)
{
    struct config running, next;
    char err[256], kept[256], changed[256];
    char *argv1[] = {"inboxd", NULL}, *argv2[] = {"inboxd", NULL};
    int argc1 = 1, argc2 = 1;
    const char *a = write_conf("webhook.z.secret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"
                               "webhook.z.account = A\n");

    cr_assert_eq(config_load(&running, a, &argc1, argv1, err, sizeof(err)), 0, "%s", err);
    unlink(a);
    a = write_conf("webhook.z.secret = whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"
                   "webhook.z.account = A\nwebhook.z.scheme = standard\n");
    cr_assert_eq(config_load(&next, a, &argc2, argv2, err, sizeof(err)), 0, "%s", err);
    unlink(a);
    cr_assert_eq(config_reconcile(&next, &running, kept, sizeof(kept), changed, sizeof(changed)),
                 0);
    cr_assert_str_eq(changed, "webhook");
    config_cleanup(&next);
    config_cleanup(&running);
}

Test(config, webhook_source_without_account_is_refused)
{
    struct config cf;
    char err[256];
    char *argv[] = {"inboxd", NULL};
    int argc = 1;

    setenv("INBOXD_WEBHOOK_LONELY_SECRET", "x", 1);
    cr_assert_eq(config_load(&cf, "/dev/null", &argc, argv, err, sizeof(err)), -1);
    cr_assert_not_null(strstr(err, "lonely"));
    cr_assert_null(strstr(err, "x\""), "the secret is not echoed");
    unsetenv("INBOXD_WEBHOOK_LONELY_SECRET");
}

/* config/inboxd.conf lists every key of the table with its default, and
 * nothing else; and loading it unchanged gives the defaults. */
Test(config, shipped_file_matches_the_table)
{
    FILE *f = fopen(SOURCE_ROOT "/config/inboxd.conf", "r");
    char line[1024];
    int seen[128] = {0};
    int nkeys = 0;

    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f)) {
        char key[128], val[512] = "";
        int i = 0, off = 0;

        if (sscanf(line, "# %127[a-z_.] =%n", key, &off) != 1 || off == 0)
            continue;
        sscanf(line + off, " %511[^\n]", val);
        if (strncmp(key, "webhook.", 8) == 0)
            continue;
        for (const struct config_key *k = config_keys; k->name; k++, i++)
            if (strcmp(k->name, key) == 0) {
                seen[i]++;
                cr_assert_str_eq(val, k->def, "%s: file says %s, table %s", key, val, k->def);
                break;
            }
        cr_assert(config_keys[i].name != NULL, "file has unknown key %s", key);
    }
    fclose(f);
    for (const struct config_key *k = config_keys; k->name; k++, nkeys++)
        cr_assert_eq(seen[nkeys], 1, "%s is listed %d times in config/inboxd.conf", k->name,
                     seen[nkeys]);
}

/* tls_client_names: names to scopes, case-insensitive, "*" for everyone. */
Test(config, client_names_give_scopes_by_name)
{
    static const char rules[] = "sync.internal=messages:write outbox:write, "
                                "Dashboard.internal = read drafts:write,*=read";
    char err[128];
    unsigned sc;

    sc = 0;
    cr_assert_eq(config_client_scopes(rules, "sync.internal", &sc, err, sizeof(err)), 1);
    cr_assert_eq(sc, SCOPE_MESSAGES_WRITE | SCOPE_OUTBOX_WRITE | SCOPE_READ);
    sc = 0;
    cr_assert_eq(config_client_scopes(rules, "dashboard.INTERNAL", &sc, err, sizeof(err)), 1);
    cr_assert_eq(sc, SCOPE_READ | SCOPE_DRAFTS_WRITE);
    sc = 0;
    cr_assert_eq(config_client_scopes("a=read", "b", &sc, err, sizeof(err)), 0);
    cr_assert_eq(sc, 0);
    cr_assert_eq(config_client_scopes("a b=read", NULL, &sc, err, sizeof(err)), -1);
    cr_assert_eq(config_client_scopes("", "a", &sc, err, sizeof(err)), 0);
}

/* A reload keeps the running value of what cannot change while serving,
 * and names both kinds; secrets are never among the names. */
Test(config, reconcile_keeps_what_needs_a_restart)
{
    struct config running, next;
    char err[256], kept[256], changed[256];
    char *argv1[] = {"inboxd", NULL}, *argv2[] = {"inboxd", NULL};
    int argc1 = 1, argc2 = 1;
    const char *a = write_conf("pool_size = 5\nlog_level = info\nwebhook.z.secret = s1\n"
                               "webhook.z.account = A\n");

    cr_assert_eq(config_load(&running, a, &argc1, argv1, err, sizeof(err)), 0, "%s", err);
    unlink(a);
    a = write_conf("pool_size = 9\nlog_level = warn\nwebhook.z.secret = s2\n"
                   "webhook.z.account = A\ntls_cert = x.pem\ntls_key = x.key\n");
    cr_assert_eq(config_load(&next, a, &argc2, argv2, err, sizeof(err)), 0, "%s", err);
    unlink(a);
    cr_assert_eq(config_reconcile(&next, &running, kept, sizeof(kept), changed, sizeof(changed)),
                 0);
    cr_assert_str_eq(kept, "tls_cert pool_size");
    cr_assert_str_eq(changed, "log_level webhook");
    cr_assert_eq(next.pool_size, 5);
    cr_assert_str_eq(next.tls_cert, "", "plain HTTP cannot turn into HTTPS");
    cr_assert_str_eq(next.log_level, "warn");
    cr_assert_str_eq(config_source_find(&next, "z")->secret, "s2");
    config_cleanup(&next);
    config_cleanup(&running);
}

/* A published configuration stays whole for its holder across a reload. */
Test(config, a_held_configuration_outlives_its_replacement)
{
    struct config cf;
    char err[256];
    char *argv[] = {"inboxd", "--pool-size", "3", NULL};
    int argc = 3;
    const struct config *held;

    cr_assert_eq(config_load(&cf, "/dev/null", &argc, argv, err, sizeof(err)), 0, "%s", err);
    config_publish(config_dup(&cf));
    held = config_hold();
    cf.pool_size = 4;
    config_publish(config_dup(&cf));
    cr_assert_eq(held->pool_size, 3);
    cr_assert_str_eq(held->listen, "127.0.0.1:8080");
    config_release(held);
    held = config_hold();
    cr_assert_eq(held->pool_size, 4);
    config_release(held);
    config_publish(NULL);
    cr_assert_null(config_hold());
    config_cleanup(&cf);
}
