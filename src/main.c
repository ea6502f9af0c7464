/*
 * main: the inboxd command line.
 *
 *   inboxd [serve]                    the daemon
 *   inboxd migrate [--status]         apply (or list) schema migrations, then sql/current
 *   inboxd seed                       the demo tenant
 *   inboxd accounts create NAME       prints the new account's id
 *   inboxd keys create --account ID|NAME --name NAME --scopes "read …"
 *   inboxd keys list [--account ID|NAME]
 *   inboxd keys revoke ID
 *   inboxd sql [NAME]                 the statement names, or one statement's SQL
 *   inboxd retention                  one retention sweep of every account
 *
 * Settings come from config/inboxd.conf (or --config), the environment and
 * flags (config.c). Every command exits non-zero with a one-line reason.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "build_config.h"
#include "inboxd/app.h"
#include "inboxd/http/auth.h"
#include "inboxd/lib/config.h"
#include "inboxd/db/db.h"
#include "inboxd/db/keys.h"
#include "inboxd/db/retention.h"
#include "inboxd/lib/log.h"
#include "inboxd/db/migrate.h"
#include "inboxd/lib/notify.h"
#include "inboxd/http/router.h"
#include "inboxd/http/server.h"

static int
die(const char *fmt, const char *a)
{
    fprintf(stderr, "inboxd: ");
    fprintf(stderr, fmt, a);
    fputc('\n', stderr);
    return 1;
}

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: inboxd [--config FILE] [--SETTING VALUE ...] [COMMAND]\n"
            "\n"
            "commands:\n"
            "  serve                      serve the HTTP API (the default)\n"
            "  migrate [--status]         apply the schema migrations, then the current functions\n"
            "                             of sql/current, every time (or list both)\n"
            "  seed                       create the demo tenant (idempotent)\n"
            "  accounts create NAME       create an account; prints its id\n"
            "  keys create --account ID|NAME --name NAME --scopes \"read ...\"\n"
            "                             create an API key; prints it once, on the last line\n"
            "  keys list [--account ID|NAME]\n"
            "  keys revoke ID\n"
            "  sql [NAME]                 list the SQL statements, or print one\n"
            "  retention                  one retention sweep of every account; prints the counts\n"
            "  --version, --help\n"
            "\n"
            "settings (file key, environment variable, flag, default):\n");
    for (const struct config_key *k = config_keys; k->name; k++)
        fprintf(out, "  %-28s %-36s %s\n      %s (default: %s)\n", k->name, k->env, k->flag,
                k->help, k->def[0] ? k->def : "empty");
    fprintf(out, "\nwebhook sources: INBOXD_WEBHOOK_<S>_SECRET, _SECRET_PREVIOUS, _ACCOUNT\n");
}

/* Finds "--name VALUE" or "--name=VALUE" in argv[from..]. */
static const char *
opt(int argc, char **argv, int from, const char *name)
{
    size_t n = strlen(name);

    for (int i = from; i < argc; i++) {
        if (strcmp(argv[i], name) == 0 && i + 1 < argc)
            return argv[i + 1];
        if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
            return argv[i] + n + 1;
    }
    return NULL;
}

static bool
has_flag(int argc, char **argv, int from, const char *name)
{
    for (int i = from; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return true;
    return false;
}

static int
need_db(const struct config *cf)
{
    struct db_settings dbs;
    char err[256];

    if (cf->database_url == NULL || cf->database_url[0] == '\0')
        return die("%s", "DATABASE_URL (database_url) is not set");
    app_db_settings(cf, &dbs);
    if (db_init(&dbs, err, sizeof(err)) != 0)
        return die("%s", err);
    return 0;
}

static int
cmd_serve(const struct config *cf)
{
    char err[512];
    sigset_t set;
    uint64_t wd = notify_watchdog_usec();
    int sig;

    if (cf->database_url == NULL || cf->database_url[0] == '\0')
        return die("%s", "DATABASE_URL (database_url) is not set");
    /* Block the stop signals in every thread; the main thread waits for
     * them below. SIGPIPE is never wanted: a client gone is an EPIPE. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* glibc gives each of up to 8 × cores threads a malloc arena of its
     * own, and memory freed in one stays there: with the loop, the reader
     * and 32 job threads allocating and freeing each other's blocks, many
     * arenas hold far more memory than a few, and serve no faster
     * (tests/bench/RESULTS.md). MALLOC_ARENA_MAX, when set, decides. */
    if (getenv("MALLOC_ARENA_MAX") == NULL)
        mallopt(M_ARENA_MAX, 4);
    /* An arena's free top is given back (madvise) once it passes 128 KiB:
     * with requests' blocks coming and going on several threads that was
     * a system call and fresh page faults again and again on the loop
     * thread. Give back only past 4 MiB; blocks of
     * 1 MiB and more come from mmap as before (fixed, not adaptive, once a
     * threshold is set). The peak RSS is what it was. */
    if (getenv("MALLOC_TRIM_THRESHOLD_") == NULL) {
        mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
        mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
    }

    if (app_start(cf, err, sizeof(err)) != 0)
        return die("%s", err);
    log_event(LOG_INFO, NULL, "server.start", LOG_S("listen", cf->listen),
              LOG_I("port", server_port()), LOG_S("version", INBOXD_VERSION),
              LOG_I("pool_size", cf->pool_size));
    notify_send("READY=1");
    for (;;) {
        struct timespec ts = {.tv_sec = 3600, .tv_nsec = 0};

        if (wd > 0) {
            /* Ping at half the interval systemd asked for. */
            ts.tv_sec = (time_t)(wd / 2 / 1000000);
            ts.tv_nsec = (long)((wd / 2) % 1000000) * 1000;
        }
        sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT)
            break;
        if (wd > 0)
            notify_send("WATCHDOG=1");
    }
    log_event(LOG_INFO, NULL, "server.stopping", LOG_I("signal", sig),
              LOG_I("inflight", server_inflight()));
    notify_send("STOPPING=1");
    app_stop();
    log_plain(LOG_INFO, NULL, "server.stopped");
    return 0;
}

static int
cmd_migrate(const struct config *cf, bool status)
{
    char err[600];

    if (cf->database_url == NULL || cf->database_url[0] == '\0')
        return die("%s", "DATABASE_URL (database_url) is not set");
    if ((status ? migrate_status : migrate_apply)(cf->database_url, stdout, err, sizeof(err)) != 0)
        return die("%s", err);
    return 0;
}

static int
cmd_seed(const struct config *cf)
{
    char err[600];

    if (cf->database_url == NULL || cf->database_url[0] == '\0')
        return die("%s", "DATABASE_URL (database_url) is not set");
    if (migrate_seed(cf->database_url, err, sizeof(err)) != 0)
        return die("seed failed: %s", err);
    printf("seeded the demo tenant \"Hot Rod AN\"\n");
    return 0;
}

static int
cmd_accounts(const struct config *cf, int argc, char **argv)
{
    struct problem pb = {0};
    char id[37];

    if (argc < 4 || strcmp(argv[2], "create") != 0)
        return die("%s", "usage: inboxd accounts create NAME");
    if (strlen(argv[3]) == 0 || strlen(argv[3]) > 200)
        return die("%s", "account name must be 1-200 characters");
    if (need_db(cf) != 0)
        return 1;
    if (db_accounts_create(argv[3], id, &pb) != 0)
        return die("%s", pb.detail);
    printf("%s\n", id);
    return 0;
}

static int
cmd_keys(const struct config *cf, int argc, char **argv)
{
    struct problem pb = {0};
    const char *sub = argc >= 3 ? argv[2] : "";
    const char *account = opt(argc, argv, 3, "--account");
    char account_id[37], id[37], key[AUTH_KEY_LEN + 1], prefix[AUTH_PREFIX_LEN + 1];
    char hash[AUTH_HASH_HEX + 1], scopes_text[160];
    unsigned scopes;

    if (strcmp(sub, "create") == 0) {
        const char *name = opt(argc, argv, 3, "--name");
        const char *sc = opt(argc, argv, 3, "--scopes");

        if (account == NULL || name == NULL || sc == NULL)
            return die("%s", "usage: inboxd keys create --account ID|NAME --name NAME "
                             "--scopes \"read ...\"");
        if (scope_parse(sc, &scopes) != 0)
            return die("unknown scope in \"%s\" (read messages:write drafts:write actions:write "
                       "outbox:write jobs:write admin)",
                       sc);
        if (strlen(name) == 0 || strlen(name) > 200)
            return die("%s", "key name must be 1-200 characters");
        if (need_db(cf) != 0)
            return 1;
        if (db_accounts_resolve(account, account_id, &pb) != 0)
            return die("%s", pb.detail);
        if (auth_key_generate(key, prefix, hash) != 0)
            return die("%s", "no randomness available");
        if (db_keys_insert(account_id, name, scopes, prefix, hash, id, &pb) != 0)
            return die("%s", pb.status == 409 ? "key collision, try again" : pb.detail);
        scope_format(scopes, scopes_text, sizeof(scopes_text));
        printf("key id:  %s\naccount: %s\nscopes:  %s\n"
               "the key is shown once; store it now:\n%s\n",
               id, account_id, scopes_text, key);
        return 0;
    }
    if (strcmp(sub, "list") == 0) {
        if (need_db(cf) != 0)
            return 1;
        if (account != NULL && db_accounts_resolve(account, account_id, &pb) != 0)
            return die("%s", pb.detail);
        if (db_keys_print(account ? account_id : NULL, stdout, &pb) != 0)
            return die("%s", pb.detail);
        return 0;
    }
    if (strcmp(sub, "revoke") == 0) {
        if (argc < 4 || strlen(argv[3]) != 36)
            return die("%s", "usage: inboxd keys revoke KEY-ID");
        if (need_db(cf) != 0)
            return 1;
        if (db_keys_revoke_any(argv[3], &pb) != 0)
            return die("%s", pb.detail);
        printf("revoked %s\n", argv[3]);
        return 0;
    }
    return die("%s", "usage: inboxd keys create|list|revoke ...");
}

static int
cmd_retention(const struct config *cf)
{
    struct retention_opts o = {cf->retention_batch, cf->retention_closed_days, NULL};
    struct retention_counts n;
    struct problem pb = {0};

    if (need_db(cf) != 0)
        return 1;
    if (db_retention_run_all(&o, &n, &pb) != 0)
        return die("retention failed: %s", pb.detail);
    printf("webhook events deleted: %lld\n"
           "drafts deleted:         %lld\n"
           "message bodies blanked: %lld\n"
           "conversations removed:  %lld\n",
           n.webhook_events, n.drafts, n.message_bodies, n.conversations);
    return 0;
}

static void
print_stmt_name(const struct db_stmt *st, void *arg)
{
    (void)arg;
    printf("%s\n", st->name);
}

/* `inboxd sql` lists the statement names; `inboxd sql NAME` prints one
 * statement's SQL, so tools (the benchmark's pgbench scripts) run exactly
 * what inboxd runs. */
static int
cmd_sql(int argc, char **argv)
{
    const struct db_stmt *st;

    if (argc < 3) {
        db_stmt_each(print_stmt_name, NULL);
        return 0;
    }
    st = db_stmt_find(argv[2]);
    if (st == NULL)
        return die("no statement \"%s\" (inboxd sql lists them)", argv[2]);
    printf("%s\n", st->sql);
    return 0;
}

int
main(int argc, char **argv)
{
    struct config cf;
    char err[512];
    const char *cmd;
    int rc;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--version") == 0) {
            printf("inboxd %s\n", INBOXD_VERSION);
            return 0;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
    }
    if (config_load(&cf, NULL, &argc, argv, err, sizeof(err)) != 0)
        return die("%s", err);
    log_set_level(cf.log_level);
    cmd = argc >= 2 ? argv[1] : "serve";

    if (strcmp(cmd, "serve") == 0)
        rc = cmd_serve(&cf);
    else if (strcmp(cmd, "migrate") == 0)
        rc = cmd_migrate(&cf, has_flag(argc, argv, 2, "--status"));
    else if (strcmp(cmd, "seed") == 0)
        rc = cmd_seed(&cf);
    else if (strcmp(cmd, "accounts") == 0)
        rc = cmd_accounts(&cf, argc, argv);
    else if (strcmp(cmd, "keys") == 0)
        rc = cmd_keys(&cf, argc, argv);
    else if (strcmp(cmd, "retention") == 0)
        rc = cmd_retention(&cf);
    else if (strcmp(cmd, "sql") == 0)
        rc = cmd_sql(argc, argv);
    else {
        usage(stderr);
        rc = die("unknown command \"%s\"", cmd);
    }
    db_shutdown();
    config_cleanup(&cf);
    return rc;
}
