/*
 * main: the inboxd command line.
 *
 *   inboxd [serve]                    the daemon
 *   inboxd migrate [--status] [--dump-to FILE]
 *                                     apply (or list) schema migrations, then sql/current
 *   inboxd roles                      the database roles and their grants (a superuser)
 *   inboxd seed                       the demo tenant
 *   inboxd accounts create NAME       prints the new account's id
 *   inboxd keys create --account ID|NAME --name NAME --scopes "read …"
 *   inboxd keys list [--account ID|NAME]
 *   inboxd keys revoke ID
 *   inboxd sql [NAME]                 the statement names, or one statement's SQL
 *   inboxd retention                  one retention sweep of every account
 *   inboxd health [HOST:PORT]         GET /readyz; exit 0 on 200 (container health check)
 *
 * Settings come from config/inboxd.conf (or --config), the environment and
 * flags (config.c). One getopt_long parses the settings' flags and the
 * commands' options; a command refuses an option it does not take and an
 * argument too many. Every command exits non-zero with a one-line reason:
 * 2 when the command line is wrong, 1 when the work failed. serve says it
 * as a JSON log line, like everything else it logs.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
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
#include "inboxd/routes/routes.h"
#include "inboxd/lib/log.h"
#include "inboxd/db/migrate.h"
#include "inboxd/lib/notify.h"
#include "inboxd/lib/watchdog.h"
#include "inboxd/http/probe.h"
#include "inboxd/http/router.h"
#include "inboxd/http/server.h"

#define EXIT_USAGE 2

static int
die(const char *fmt, const char *a)
{
    fprintf(stderr, "inboxd: ");
    fprintf(stderr, fmt, a);
    fputc('\n', stderr);
    return 1;
}

/* A wrong command line: one line, a pointer to --help, exit status 2. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "inboxd: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see inboxd --help)\n");
    return EXIT_USAGE;
}

/* serve reports a failed start as a JSON log line, as it logs everything. */
static int
serve_failed(const char *err)
{
    log_event(LOG_ERROR, NULL, "server.start_failed", LOG_S("err", err));
    return 1;
}

/* The commands' own options; a bit each in struct args.given. */
enum opt { OPT_HELP = 1, OPT_VERSION, OPT_STATUS, OPT_DUMP_TO, OPT_ACCOUNT, OPT_NAME, OPT_SCOPES,
           OPT_COUNT };

#define BIT(o) (1u << (o))

static const struct option cmd_options[] = {
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"status", no_argument, NULL, OPT_STATUS},
    {"dump-to", required_argument, NULL, OPT_DUMP_TO},
    {"account", required_argument, NULL, OPT_ACCOUNT},
    {"name", required_argument, NULL, OPT_NAME},
    {"scopes", required_argument, NULL, OPT_SCOPES},
    {NULL, 0, NULL, 0},
};

struct args {
    unsigned given;              /* BIT(OPT_...) of each option given */
    const char *val[OPT_COUNT];  /* their values */
    char **pos;                  /* the command's arguments, after its name */
    int npos;
};

static const char *
opt_name(int val)
{
    for (const struct option *o = cmd_options; o->name; o++)
        if (o->val == val)
            return o->name;
    return "?";
}

static int
on_option(int val, const char *arg, void *ud, char *err, size_t errlen)
{
    struct args *a = ud;

    if (val == 'h')
        val = OPT_HELP;
    if (a->given & BIT(val)) {
        snprintf(err, errlen, "option --%s given twice", opt_name(val));
        return -1;
    }
    a->given |= BIT(val);
    a->val[val] = arg;
    return 0;
}

/* The command line as given, for a reload to read the settings again
 * from the same file, environment and flags (config_load consumes flags). */
static int saved_argc;
static char **saved_argv;

/* SIGHUP: reads the configuration again and applies what can change. */
static void
reload(void)
{
    char **argv = calloc((size_t)saved_argc + 1, sizeof(*argv));
    int argc = saved_argc;
    struct config next;
    char err[512];

    if (argv == NULL) {
        log_event(LOG_ERROR, NULL, "config.reload_failed", LOG_S("err", "out of memory"));
        return;
    }
    memcpy(argv, saved_argv, (size_t)saved_argc * sizeof(*argv));
    if (config_load(&next, NULL, &argc, argv, err, sizeof(err)) != 0) {
        log_event(LOG_ERROR, NULL, "config.reload_failed", LOG_S("err", err));
    } else {
        (void)app_reload(&next);
        config_cleanup(&next);
    }
    free(argv);
}

static int
cmd_serve(const struct config *cf, const struct args *a)
{
    char err[512];
    sigset_t set;
    uint64_t wd = notify_watchdog_usec();
    int sig;

    (void)a;
    if (cf->database_url == NULL || cf->database_url[0] == '\0')
        return serve_failed("DATABASE_URL (database_url) is not set");
    /* Block the stop signals and SIGHUP (reload) in every thread; the
     * main thread waits for them below. SIGPIPE is never wanted: a client
     * gone is an EPIPE. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
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
        return serve_failed(err);
    log_event(LOG_INFO, NULL, "server.start", LOG_S("listen", cf->listen),
              LOG_I("port", server_port()), LOG_S("version", INBOXD_VERSION),
              LOG_I("pool_size", cf->pool_size));
    notify_send("READY=1");
    for (;;) {
        struct timespec ts = {.tv_sec = 3600, .tv_nsec = 0};

        if (wd > 0) {
            /* Check at a quarter of the interval systemd asked for; ping
             * only while the loop and the reader make progress. */
            ts.tv_sec = (time_t)(wd / 4 / 1000000);
            ts.tv_nsec = (long)((wd / 4) % 1000000) * 1000;
        }
        sig = sigtimedwait(&set, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT)
            break;
        if (sig == SIGHUP)
            reload();
        if (wd > 0 && watchdog_ok())
            notify_send("WATCHDOG=1");
    }
    log_event(LOG_INFO, NULL, "server.stopping", LOG_I("signal", sig),
              LOG_I("inflight", server_inflight()));
    notify_send("STOPPING=1");
    app_stop();
    log_plain(LOG_INFO, NULL, "server.stopped");
    return 0;
}

/* migrate runs as the schema's owner; without database_owner_url that is
 * whoever database_url names. */
static const char *
owner_url(const struct config *cf)
{
    if (cf->database_owner_url && cf->database_owner_url[0])
        return cf->database_owner_url;
    return cf->database_url;
}

static int
cmd_migrate(const struct config *cf, const struct args *a)
{
    const char *url = owner_url(cf), *dump = a->val[OPT_DUMP_TO];
    char err[600];
    int pending = 0;

    if ((a->given & BIT(OPT_STATUS)) && dump)
        return usage_error("migrate --status changes nothing and dumps nothing: drop --dump-to");
    if (url == NULL || url[0] == '\0')
        return die("%s", "DATABASE_OWNER_URL or DATABASE_URL (database_owner_url) is not set");
    if (a->given & BIT(OPT_STATUS)) {
        if (migrate_status(url, stdout, err, sizeof(err)) != 0)
            return die("%s", err);
        return 0;
    }
    if (dump) {
        if (migrate_pending(url, &pending, err, sizeof(err)) != 0)
            return die("%s", err);
        if (pending > 0 && migrate_dump(url, dump, err, sizeof(err)) != 0)
            return die("%s", err);
        if (pending > 0)
            printf("dumped the database to %s (pg_restore reads it)\n", dump);
    }
    if (migrate_apply(url, stdout, err, sizeof(err)) != 0)
        return die("%s", err);
    return 0;
}

static int
cmd_roles(const struct config *cf, const struct args *a)
{
    char err[600];

    (void)a;
    if (cf->database_url == NULL || cf->database_url[0] == '\0')
        return die("%s", "DATABASE_URL (database_url) is not set: give a superuser's");
    if (migrate_roles(cf->database_url, err, sizeof(err)) != 0)
        return die("roles failed: %s", err);
    printf("roles inboxd_owner, inboxd_runtime and inboxd_readonly are set up; "
           "give them passwords or pg_hba.conf entries\n");
    return 0;
}

static int
need_db(const struct config *cf, bool read_only)
{
    struct db_settings dbs;
    char err[256];

    if (cf->database_url == NULL || cf->database_url[0] == '\0')
        return die("%s", "DATABASE_URL (database_url) is not set");
    app_db_settings(cf, &dbs);
    dbs.read_only = read_only;
    if (db_init(&dbs, err, sizeof(err)) != 0)
        return die("%s", err);
    return 0;
}

static int
cmd_seed(const struct config *cf, const struct args *a)
{
    char err[600];

    (void)a;
    if (cf->database_url == NULL || cf->database_url[0] == '\0')
        return die("%s", "DATABASE_URL (database_url) is not set");
    if (migrate_seed(cf->database_url, err, sizeof(err)) != 0)
        return die("seed failed: %s", err);
    printf("seeded the demo tenant \"Hot Rod AN\"\n");
    return 0;
}

static int
cmd_accounts_create(const struct config *cf, const struct args *a)
{
    struct problem pb = {0};
    const char *name = a->pos[0];
    char id[37];

    if (strlen(name) == 0 || strlen(name) > 200)
        return die("%s", "account name must be 1-200 characters");
    if (need_db(cf, false) != 0)
        return 1;
    if (db_accounts_create(name, id, &pb) != 0)
        return die("%s", pb.detail);
    printf("%s\n", id);
    return 0;
}

static int
cmd_keys_create(const struct config *cf, const struct args *a)
{
    struct problem pb = {0};
    const char *name = a->val[OPT_NAME], *sc = a->val[OPT_SCOPES];
    char account_id[37], id[37], key[AUTH_KEY_LEN + 1], prefix[AUTH_PREFIX_LEN + 1];
    char hash[AUTH_HASH_HEX + 1], scopes_text[160];
    unsigned scopes;

    if (a->val[OPT_ACCOUNT] == NULL || name == NULL || sc == NULL)
        return usage_error("keys create needs --account ID|NAME --name NAME --scopes \"read ...\"");
    if (scope_parse(sc, &scopes) != 0)
        return die("unknown scope in \"%s\" (read messages:write drafts:write actions:write "
                   "outbox:write jobs:write admin)",
                   sc);
    if (strlen(name) == 0 || strlen(name) > 200)
        return die("%s", "key name must be 1-200 characters");
    if (need_db(cf, false) != 0)
        return 1;
    if (db_accounts_resolve(a->val[OPT_ACCOUNT], account_id, &pb) != 0)
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

/* Read-only: every transaction of its connections is READ ONLY. */
static int
cmd_keys_list(const struct config *cf, const struct args *a)
{
    struct problem pb = {0};
    const char *account = a->val[OPT_ACCOUNT];
    char account_id[37];

    if (need_db(cf, true) != 0)
        return 1;
    if (account != NULL && db_accounts_resolve(account, account_id, &pb) != 0)
        return die("%s", pb.detail);
    if (db_keys_print(account ? account_id : NULL, stdout, &pb) != 0)
        return die("%s", pb.detail);
    return 0;
}

static int
cmd_keys_revoke(const struct config *cf, const struct args *a)
{
    struct problem pb = {0};
    const char *id = a->pos[0];

    if (strlen(id) != 36)
        return usage_error("keys revoke takes a key id (36 characters), not \"%s\"", id);
    if (need_db(cf, false) != 0)
        return 1;
    if (db_keys_revoke_any(id, &pb) != 0)
        return die("%s", pb.detail);
    printf("revoked %s\n", id);
    return 0;
}

static int
cmd_retention(const struct config *cf, const struct args *a)
{
    struct retention_opts o;
    struct retention_counts n;
    struct problem pb = {0};

    (void)a;
    routes_retention_opts(cf, NULL, &o);
    if (need_db(cf, false) != 0)
        return 1;
    switch (db_retention_run_all(&o, &n, &pb)) {
    case 0:
        break;
    case 1:
        printf("skipped: another retention sweep is running (it holds the retention lock)\n");
        return 0;
    default:
        return die("retention failed: %s", pb.detail);
    }
    for (int i = 0; i < RETENTION_TABLES; i++)
        printf("%-22s %lld\n", retention_table_name(i), n.rows[i]);
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
 * what inboxd runs. It never connects. */
static int
cmd_sql(const struct config *cf, const struct args *a)
{
    const struct db_stmt *st;

    (void)cf;
    if (a->npos == 0) {
        db_stmt_each(print_stmt_name, NULL);
        return 0;
    }
    st = db_stmt_find(a->pos[0]);
    if (st == NULL)
        return die("no statement \"%s\" (inboxd sql lists them)", a->pos[0]);
    printf("%s\n", st->sql);
    return 0;
}

/* `inboxd health [HOST:PORT]`: the container health check (the image has
 * no curl and no shell). GETs /readyz from the listen setting's address,
 * the wildcard made loopback, or from HOST:PORT; exits 0 on 200 only. */
static int
cmd_health(const struct config *cf, const struct args *a)
{
    char addr[300], err[400];
    int status = 0;

    if (cf->tls_cert != NULL && cf->tls_cert[0] != '\0')
        return die("health: %s", "inboxd serves HTTPS here (tls_cert); health speaks plain HTTP only");
    if (a->npos > 0)
        snprintf(addr, sizeof(addr), "%s", a->pos[0]);
    else if (probe_local_addr(cf->listen, addr, sizeof(addr)) != 0)
        return die("health: cannot tell where \"%s\" is reached", cf->listen);
    if (probe_get(addr, "/readyz", 5000, &status, err, sizeof(err)) != 0)
        return die("health: %s", err);
    if (status != 200) {
        snprintf(err, sizeof(err), "GET http://%s/readyz answered %d", addr, status);
        return die("health: %s", err);
    }
    return 0;
}

/* Every command: its words, how many arguments follow them, the options
 * it takes, and its lines of --help. */
struct command {
    const char *name, *sub;     /* "keys", "list"; sub NULL for one word */
    int min_args, max_args;
    unsigned opts;
    int (*run)(const struct config *cf, const struct args *a);
    const char *synopsis, *help;
};

static const struct command commands[] = {
    {"serve", NULL, 0, 0, 0, cmd_serve, "serve", "serve the HTTP API (the default)"},
    {"migrate", NULL, 0, 0, BIT(OPT_STATUS) | BIT(OPT_DUMP_TO), cmd_migrate,
     "migrate [--status] [--dump-to FILE]",
     "apply the schema migrations, then the current functions of sql/current, every time,\n"
     "as database_owner_url (or list both, changing nothing; with --dump-to, pg_dump the\n"
     "database to FILE first when anything is pending)"},
    {"roles", NULL, 0, 0, 0, cmd_roles, "roles",
     "create the roles inboxd_owner, inboxd_runtime and inboxd_readonly and their grants\n"
     "(idempotent; database_url must be a superuser's)"},
    {"seed", NULL, 0, 0, 0, cmd_seed, "seed", "create the demo tenant (idempotent)"},
    {"accounts", "create", 1, 1, 0, cmd_accounts_create, "accounts create NAME",
     "create an account; prints its id"},
    {"keys", "create", 0, 0, BIT(OPT_ACCOUNT) | BIT(OPT_NAME) | BIT(OPT_SCOPES), cmd_keys_create,
     "keys create --account ID|NAME --name NAME --scopes \"read ...\"",
     "create an API key; prints it once, on the last line"},
    {"keys", "list", 0, 0, BIT(OPT_ACCOUNT), cmd_keys_list, "keys list [--account ID|NAME]",
     "list the keys (read-only)"},
    {"keys", "revoke", 1, 1, 0, cmd_keys_revoke, "keys revoke KEY-ID", "revoke a key"},
    {"sql", NULL, 0, 1, 0, cmd_sql, "sql [NAME]", "list the SQL statements, or print one"},
    {"retention", NULL, 0, 0, 0, cmd_retention, "retention",
     "one retention sweep of every account; prints the counts"},
    {"health", NULL, 0, 1, 0, cmd_health, "health [HOST:PORT]",
     "GET /readyz on the listen address (or HOST:PORT); exit 0 on 200, else 1"},
    {NULL, NULL, 0, 0, 0, NULL, NULL, NULL},
};

static void
usage(FILE *out)
{
    fprintf(out, "usage: inboxd [--config FILE] [--SETTING VALUE ...] [COMMAND] [ARGS]\n"
                 "\n"
                 "commands:\n");
    for (const struct command *c = commands; c->name; c++) {
        const char *h = c->help;

        fprintf(out, "  %s\n", c->synopsis);
        while (*h) {
            size_t n = strcspn(h, "\n");

            fprintf(out, "      %.*s\n", (int)n, h);
            h += n + (h[n] == '\n');
        }
    }
    fprintf(out, "  --version, --help\n"
                 "\n"
                 "settings (file key, environment variable, flag, default):\n");
    for (const struct config_key *k = config_keys; k->name; k++)
        fprintf(out, "  %-28s %-36s %s\n      %s (default: %s)\n", k->name, k->env, k->flag,
                k->help, k->def[0] ? k->def : "empty");
    fprintf(out, "\nwebhook sources: INBOXD_WEBHOOK_<S>_SECRET, _SECRET_PREVIOUS, _ACCOUNT\n");
}

/* The command argv[1..] names, or NULL after reporting why (*rc). */
static const struct command *
find_command(int argc, char **argv, struct args *a, int *rc)
{
    const char *name = argc >= 2 ? argv[1] : "serve";
    const struct command *found = NULL, *named = NULL;
    char what[64];
    int words = 1;

    for (const struct command *c = commands; c->name && found == NULL; c++) {
        if (strcmp(c->name, name) != 0)
            continue;
        named = c;
        if (c->sub == NULL)
            found = c;
        else if (argc >= 3 && strcmp(c->sub, argv[2]) == 0)
            found = c, words = 2;
    }
    if (found == NULL) {
        if (named == NULL)
            *rc = usage_error("unknown command \"%s\"", name);
        else if (argc >= 3)
            *rc = usage_error("%s has no subcommand \"%s\"", name, argv[2]);
        else
            *rc = usage_error("%s needs a subcommand", name);
        return NULL;
    }
    snprintf(what, sizeof(what), "%s%s%s", found->name, found->sub ? " " : "",
             found->sub ? found->sub : "");
    a->npos = argc < 2 ? 0 : argc - 1 - words;
    a->pos = argv + argc - a->npos;
    if (a->npos > found->max_args) {
        *rc = usage_error("%s: unexpected argument \"%s\"", what, a->pos[found->max_args]);
        return NULL;
    }
    if (a->npos < found->min_args) {
        *rc = usage_error("%s: missing argument; usage: inboxd %s", what, found->synopsis);
        return NULL;
    }
    for (int o = 1; o < OPT_COUNT; o++)
        if ((a->given & BIT(o)) && !(found->opts & BIT(o))) {
            *rc = usage_error("%s has no option --%s", what, opt_name(o));
            return NULL;
        }
    return found;
}

int
main(int argc, char **argv)
{
    struct args a = {0};
    const struct config_cli cli = {cmd_options, "h", on_option, &a};
    const struct command *cmd;
    struct config cf;
    char err[512];
    int rc;

    /* Kept whole for reload(): the load below consumes the flags. */
    saved_argc = argc;
    saved_argv = malloc(((size_t)argc + 1) * sizeof(*argv));
    if (saved_argv == NULL)
        return die("%s", "out of memory");
    memcpy(saved_argv, argv, ((size_t)argc + 1) * sizeof(*argv));
    rc = config_load_cli(&cf, NULL, &argc, argv, &cli, err, sizeof(err));
    if (rc == CONFIG_USAGE)
        return usage_error("%s", err);
    /* --help and --version answer even when the settings are wrong;
     * config_cleanup is safe after a failed load too. */
    if (a.given & (BIT(OPT_HELP) | BIT(OPT_VERSION))) {
        if (a.given & BIT(OPT_HELP))
            usage(stdout);
        else
            printf("inboxd %s\n", INBOXD_VERSION);
        config_cleanup(&cf);
        return 0;
    }
    a.given &= ~(BIT(OPT_HELP) | BIT(OPT_VERSION));
    cmd = find_command(argc, argv, &a, &rc);
    if (cmd == NULL || rc != 0) {
        config_cleanup(&cf);
        if (cmd == NULL)
            return rc;
        /* The settings are wrong: say so as the command would. */
        return cmd->run == cmd_serve ? serve_failed(err) : die("%s", err);
    }
    log_set_level(cf.log_level);
    rc = cmd->run(&cf, &a);
    db_shutdown();
    config_cleanup(&cf);
    free(saved_argv);
    return rc;
}
