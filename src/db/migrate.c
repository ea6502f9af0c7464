/*
 * migrate: schema migrations embedded at build time (src/embed.c).
 *
 * A migration is an embedded file named NNNN_<what>. Files are sent whole
 * as one simple-protocol query inside BEGIN/COMMIT, so a migration may hold
 * any number of statements and is applied entirely or not at all. After
 * the migrations, every time, the files of sql/current/ (embedded_current)
 * go the same way: the definition of every function and view as it is now.
 *
 * A migration whose first line is `-- inboxd: no-transaction` runs outside
 * a transaction instead, one statement at a time (lib/sqltext.c splits
 * it), without the session's timeouts: for CREATE INDEX CONCURRENTLY on a
 * large table, which must not run in a transaction and must not hold
 * writes back for as long as it builds. It is recorded once all its statements succeeded, so an
 * interrupted one runs again from its first statement on the next migrate:
 * each statement must be re-runnable (IF NOT EXISTS), and an index that an
 * interrupted CREATE INDEX CONCURRENTLY left INVALID is dropped before its
 * statement runs again.
 */
#include "inboxd/db/migrate.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "inboxd/db/db.h"
#include "inboxd/lib/embedded.h"
#include "inboxd/lib/sig.h"
#include "inboxd/lib/sqltext.h"

/* An arbitrary constant: the advisory-lock key of "inboxd migrate". */
#define MIGRATE_LOCK_KEY "7345102203"

static const struct db_stmt st_version = {
    "migrate_version", "SELECT coalesce(max(version), 0) FROM schema_migrations", 0};
static const struct db_stmt st_exists = {
    "migrate_exists", "SELECT to_regclass('schema_migrations') IS NOT NULL", 0};
/* Every function and view of the schema, defined as pg_get_functiondef and
 * pg_get_viewdef print them, hashed: the same before and after a file of
 * sql/current/ ran means the file changed nothing. Extensions' functions
 * are not ours, and aggregates have no functiondef. */
static const struct db_stmt st_defs = {
    "migrate_defs",
    "SELECT md5(coalesce(string_agg(def, E'\\n' ORDER BY def), '')) FROM ("
    " SELECT pg_get_functiondef(p.oid) AS def FROM pg_proc p"
    " WHERE p.pronamespace = to_regnamespace(current_schema()) AND p.prokind IN ('f', 'p')"
    " AND NOT EXISTS (SELECT FROM pg_depend d"
    " WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')"
    " UNION ALL"
    " SELECT format('VIEW %s AS %s', c.oid::regclass, pg_get_viewdef(c.oid)) FROM pg_class c"
    " WHERE c.relnamespace = to_regnamespace(current_schema()) AND c.relkind IN ('v', 'm')) s",
    0};

/* Made by migrate (as the owner) and by roles (as a superuser, before the
 * grants: the runtime role may only read it). */
static const char create_schema_migrations[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())";

static bool
is_migration(const char *name)
{
    return strlen(name) > 5 && name[4] == '_' && name[0] >= '0' && name[0] <= '9';
}

/*
 * The migrations this binary applies, in order: the embedded ones, and in
 * builds with assertions (not release builds) also the NNNN_<what>.sql
 * files of the folder INBOXD_TEST_MIGRATIONS_DIR names, after them. That
 * is how a test makes "the next release's binary" (one migration more)
 * without another build (README "Rolling upgrades"); a release build never
 * looks. Read once per process.
 */
static const struct embedded_file **migrations;
static pthread_once_t migrations_once = PTHREAD_ONCE_INIT;

#ifndef NDEBUG
static int
by_name(const void *a, const void *b)
{
    return strcmp((*(const struct embedded_file *const *)a)->name,
                  (*(const struct embedded_file *const *)b)->name);
}

/* The file dir/name as a migration entry, or NULL. Never freed: it lives
 * as long as the embedded ones. */
static struct embedded_file *
test_migration(const char *dir, const char *name)
{
    char path[4096];
    struct embedded_file *f = calloc(1, sizeof(*f));
    char *base = strdup(name), *data = NULL;
    FILE *in;
    long n;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    in = fopen(path, "rb");
    if (f == NULL || base == NULL || in == NULL || fseek(in, 0, SEEK_END) != 0 ||
        (n = ftell(in)) < 0 || fseek(in, 0, SEEK_SET) != 0 ||
        (data = malloc((size_t)n + 1)) == NULL || fread(data, 1, (size_t)n, in) != (size_t)n) {
        fprintf(stderr, "inboxd: cannot read the test migration %s\n", path);
        free(f);
        free(base);
        free(data);
        if (in)
            fclose(in);
        return NULL;
    }
    fclose(in);
    data[n] = '\0';
    base[strlen(base) - 4] = '\0'; /* ".sql" */
    *f = (struct embedded_file){.name = base, .data = data, .len = (size_t)n};
    return f;
}
#endif

static void
migrations_load(void)
{
    size_t n = 0, cap = 16;
    const struct embedded_file **all = malloc(cap * sizeof(*all));

    if (all == NULL)
        abort(); /* at start-up, before anything could be served */
    for (const struct embedded_file *f = embedded_files; f->name; f++) {
        if (!is_migration(f->name))
            continue;
        if (n + 2 > cap && (all = realloc(all, (cap *= 2) * sizeof(*all))) == NULL)
            abort();
        all[n++] = f;
    }
#ifndef NDEBUG
    {
        const char *dir = getenv("INBOXD_TEST_MIGRATIONS_DIR");
        DIR *d = dir && dir[0] ? opendir(dir) : NULL;
        struct dirent *e;
        size_t first = n;

        while (d != NULL && (e = readdir(d)) != NULL) {
            size_t len = strlen(e->d_name);
            struct embedded_file *f;

            if (!is_migration(e->d_name) || len < 5 || strcmp(e->d_name + len - 4, ".sql") != 0 ||
                (f = test_migration(dir, e->d_name)) == NULL)
                continue;
            if (n + 2 > cap && (all = realloc(all, (cap *= 2) * sizeof(*all))) == NULL)
                abort();
            all[n++] = f;
        }
        if (d != NULL)
            closedir(d);
        qsort(all + first, n - first, sizeof(*all), by_name);
    }
#endif
    all[n] = NULL;
    migrations = all;
}

static const struct embedded_file *const *
migration_list(void)
{
    pthread_once(&migrations_once, migrations_load);
    return migrations;
}

int
migrate_expected(void)
{
    int v = 0;

    for (const struct embedded_file *const *f = migration_list(); *f; f++)
        if (atoi((*f)->name) > v)
            v = atoi((*f)->name);
    return v;
}

int
migrate_previous(void)
{
    int top = migrate_expected(), v = 0;

    for (const struct embedded_file *const *f = migration_list(); *f; f++)
        if (atoi((*f)->name) > v && atoi((*f)->name) < top)
            v = atoi((*f)->name);
    return v;
}

const struct embedded_file *
embedded_find(const char *name)
{
    for (const struct embedded_file *f = embedded_files; f->name; f++)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static int
run(struct dbconn *c, const char *sql, char *err, size_t errlen)
{
    struct problem pb = {0};

    if (db_simple(c, sql, &pb) != 0) {
        snprintf(err, errlen, "%s", pb.internal[0] ? pb.internal : pb.detail);
        return -1;
    }
    return 0;
}

/* Looks up an applied migration's checksum: 1 applied (sum filled), 0 not. */
static int
applied_sum(struct dbconn *c, int version, char sum[SIG_SHA256_HEX + 1], char *err, size_t errlen)
{
    static const struct db_stmt st = {
        "migrate_sum", "SELECT checksum FROM schema_migrations WHERE version = $1", 1};
    struct problem pb = {0};
    char v[16];
    const char *p[] = {v};
    PGresult *res;
    int found;

    snprintf(v, sizeof(v), "%d", version);
    res = db_exec(c, &st, p, &pb);
    if (res == NULL) {
        snprintf(err, errlen, "%s", pb.internal);
        return -1;
    }
    found = PQntuples(res) == 1;
    if (found)
        snprintf(sum, SIG_SHA256_HEX + 1, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return found;
}

static int
record(struct dbconn *c, int version, const char *name, const char *sum, char *err, size_t errlen)
{
    static const struct db_stmt st = {
        "migrate_record",
        "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)", 3};
    struct problem pb = {0};
    char v[16];
    const char *p[] = {v, name, sum};
    PGresult *res;

    snprintf(v, sizeof(v), "%d", version);
    res = db_exec(c, &st, p, &pb);
    if (res == NULL) {
        snprintf(err, errlen, "%s", pb.internal);
        return -1;
    }
    PQclear(res);
    return 0;
}

/* After a failed step inside the transaction of one file: err becomes
 * "<what><name> failed: <why>" and the transaction is rolled back.
 * Returns -1. */
static int
file_failed(struct dbconn *c, const char *what, const char *name, char *err, size_t errlen)
{
    char why[400];
    struct problem pb = {0};

    snprintf(why, sizeof(why), "%s", err);
    snprintf(err, errlen, "%s%s failed: %s", what, name, why);
    if (db_simple(c, "ROLLBACK", &pb) != 0) {
        /* The connection is gone; the error above says why. */
    }
    return -1;
}

/* Copies the hash of st_defs into defs. Returns 0, or -1 with err. */
static int
defs_hash(struct dbconn *c, char defs[33], char *err, size_t errlen)
{
    struct problem pb = {0};
    PGresult *res = db_exec(c, &st_defs, NULL, &pb);

    if (res == NULL) {
        snprintf(err, errlen, "%s", pb.internal);
        return -1;
    }
    snprintf(defs, 33, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

/*
 * Runs each file of sql/current/ in a transaction of its own and prints
 * "applied  current/<name>" for each that changed a definition, counted in
 * *napplied. With dry, each is run and rolled back and printed "applied"
 * when the database already holds what it defines, else "pending"; while
 * a migration is pending they all are, as they may need its schema.
 */
static int
apply_current(struct dbconn *c, FILE *out, bool dry, int npending, int *napplied, char *err,
              size_t errlen)
{
    /* A dry run's session is read-only: only this trial, rolled back,
     * may write. */
    const char *begin = dry ? "BEGIN READ WRITE" : "BEGIN";

    for (const struct embedded_file *f = embedded_current; f->name; f++) {
        char before[33], after[33];
        bool same;

        if (dry && npending > 0) {
            if (out)
                fprintf(out, "pending  current/%s\n", f->name);
            continue;
        }
        if (run(c, begin, err, errlen) != 0)
            return -1;
        if (defs_hash(c, before, err, errlen) != 0 || run(c, f->data, err, errlen) != 0 ||
            defs_hash(c, after, err, errlen) != 0 ||
            run(c, dry ? "ROLLBACK" : "COMMIT", err, errlen) != 0)
            return file_failed(c, "sql/current/", f->name, err, errlen);
        same = strcmp(before, after) == 0;
        if (!same)
            (*napplied)++;
        if (out && (dry || !same))
            fprintf(out, "%s  current/%s\n", dry && !same ? "pending" : "applied", f->name);
    }
    return 0;
}

/* --- migrations outside a transaction --------------------------------------- */

#define NO_TX_MARKER "-- inboxd: no-transaction"

static bool
is_no_transaction(const struct embedded_file *f)
{
    size_t n = strlen(NO_TX_MARKER);

    return strncmp(f->data, NO_TX_MARKER, n) == 0 &&
           (f->data[n] == '\n' || f->data[n] == '\r' || f->data[n] == '\0');
}

/* Drops the index `name` when an interrupted CREATE INDEX CONCURRENTLY
 * left it INVALID, so that its statement builds it anew. */
static int
drop_if_invalid(struct dbconn *c, const char *name, FILE *out, char *err, size_t errlen)
{
    static const struct db_stmt st = {
        "migrate_index_invalid",
        "SELECT NOT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass($1)", 1};
    struct problem pb = {0};
    const char *p[] = {name};
    PGresult *res = db_exec(c, &st, p, &pb);
    bool invalid;
    char sql[400];

    if (res == NULL) {
        snprintf(err, errlen, "%s", pb.internal);
        return -1;
    }
    invalid = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!invalid)
        return 0;
    if (out)
        fprintf(out, "dropping the invalid index %s an interrupted build left\n", name);
    snprintf(sql, sizeof(sql), "DROP INDEX CONCURRENTLY IF EXISTS %s", name);
    return run(c, sql, err, errlen);
}

/* The session's timeouts are lifted for a no-transaction migration (an
 * index build takes as long as the table needs, and waits for every
 * transaction older than it) and put back after. */
static const char lift_timeouts[] =
    "SELECT set_config('inboxd.saved_statement_timeout', current_setting('statement_timeout'), "
    "false), set_config('inboxd.saved_lock_timeout', current_setting('lock_timeout'), false), "
    "set_config('statement_timeout', '0', false), set_config('lock_timeout', '0', false)";
static const char restore_timeouts[] =
    "SELECT set_config('statement_timeout', current_setting('inboxd.saved_statement_timeout'), "
    "false), set_config('lock_timeout', current_setting('inboxd.saved_lock_timeout'), false)";

/* Runs a no-transaction migration statement by statement, then records it. */
static int
apply_no_transaction(struct dbconn *c, const struct embedded_file *f, int version,
                     const char *sum, FILE *out, char *err, size_t errlen)
{
    const char *p = f->data, *stmt;
    size_t len;
    int rc = run(c, lift_timeouts, err, errlen);

    while (rc == 0 && (stmt = sqltext_next(&p, &len)) != NULL) {
        char *one = strndup(stmt, len), name[200];

        if (one == NULL) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
            break;
        }
        if (sqltext_concurrent_index(one, len, name, sizeof(name)))
            rc = drop_if_invalid(c, name, out, err, errlen);
        if (rc == 0)
            rc = run(c, one, err, errlen);
        free(one);
    }
    if (rc == 0)
        rc = run(c, restore_timeouts, err, errlen);
    if (rc == 0)
        rc = record(c, version, f->name, sum, err, errlen);
    if (rc != 0) {
        char why[400];

        snprintf(why, sizeof(why), "%s", err);
        snprintf(err, errlen, "migration %s failed: %s (it runs again from its first statement "
                              "on the next migrate)", f->name, why);
    }
    return rc;
}

/* The highest version applied, 0 when none (or no schema_migrations). */
static int
schema_version(struct dbconn *c, bool exists, int *version, char *err, size_t errlen)
{
    struct problem pb = {0};
    PGresult *res;

    *version = 0;
    if (!exists)
        return 0;
    res = db_exec(c, &st_version, NULL, &pb);
    if (res == NULL) {
        snprintf(err, errlen, "%s", pb.internal);
        return -1;
    }
    *version = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

/* 1 when schema_migrations exists, 0 when not, -1 with pb. */
static int
table_exists(struct dbconn *c, struct problem *pb)
{
    PGresult *res = db_exec(c, &st_exists, NULL, pb);
    int exists;

    if (res == NULL)
        return -1;
    exists = PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return exists;
}

/*
 * Applies what is missing, or with dry lists it. *nchanged counts the
 * migrations and current files applied (dry: that would be). A dry run
 * creates nothing: without schema_migrations every migration is pending.
 */
static int
apply_all(struct dbconn *c, FILE *out, bool dry, int *nchanged, char *err, size_t errlen)
{
    struct problem pb = {0};
    int napplied = 0, npending = 0, exists = 1, have_version;

    if (!dry && run(c, create_schema_migrations, err, errlen) != 0)
        return -1;
    if (dry && (exists = table_exists(c, &pb)) < 0) {
        snprintf(err, errlen, "%s", pb.internal);
        return -1;
    }
    /* In order: meson lists the embedded ones sorted, the test ones follow. */
    for (const struct embedded_file *const *fp = migration_list(); *fp; fp++) {
        const struct embedded_file *f = *fp;
        char sum[SIG_SHA256_HEX + 1], have[SIG_SHA256_HEX + 1];
        int version, st = 0;

        version = atoi(f->name);
        if (sig_sha256_hex(f->data, f->len, sum) != 0) {
            snprintf(err, errlen, "sha256 failed");
            return -1;
        }
        if (exists)
            st = applied_sum(c, version, have, err, errlen);
        if (st < 0)
            return -1;
        if (st == 1) {
            if (strcmp(have, sum) != 0) {
                snprintf(err, errlen,
                         "migration %s was changed after it was applied (checksum differs); "
                         "add a new migration instead",
                         f->name);
                return -1;
            }
            if (dry && out)
                fprintf(out, "applied  %s\n", f->name);
            continue;
        }
        if (dry) {
            npending++;
            if (out)
                fprintf(out, "pending  %s\n", f->name);
            continue;
        }
        if (is_no_transaction(f)) {
            if (apply_no_transaction(c, f, version, sum, out, err, errlen) != 0)
                return -1;
        } else {
            if (run(c, "BEGIN", err, errlen) != 0)
                return -1;
            if (run(c, f->data, err, errlen) != 0 ||
                record(c, version, f->name, sum, err, errlen) != 0 || run(c, "COMMIT", err, errlen) != 0)
                return file_failed(c, "migration ", f->name, err, errlen);
        }
        napplied++;
        if (out)
            fprintf(out, "applied  %s\n", f->name);
    }
    /* A database a newer release migrated (a rolling upgrade, while this
     * binary still runs somewhere) keeps that release's definitions: the
     * older ones here would undo them under the newer instances. */
    if (schema_version(c, exists, &have_version, err, errlen) != 0)
        return -1;
    if (have_version > migrate_expected()) {
        if (out)
            fprintf(out, "schema version %d is newer than this binary's %d: sql/current/ left "
                         "as the newer release made it\n", have_version, migrate_expected());
    } else if (apply_current(c, out, dry, npending, &napplied, err, errlen) != 0) {
        return -1;
    }
    *nchanged = napplied + npending;
    if (out && !dry && napplied == 0)
        fprintf(out, "schema is up to date (version %d)\n", migrate_expected());
    if (out && dry && *nchanged > 0)
        fprintf(out, "migrate would change the schema: back it up first (README, "
                     "\"Backups\"), or let migrate --dump-to FILE do it\n");
    return 0;
}

static int
with_lock(const char *conninfo, FILE *out, bool dry, int *nchanged, char *err, size_t errlen)
{
    struct dbconn *c = db_connect_once(conninfo, err, errlen);
    int rc = 0, n = 0;

    if (c == NULL)
        return -1;
    /* A dry run never writes: every transaction of its session is read
     * only, but for the trial of the current files (rolled back). */
    if (dry)
        rc = run(c, "SET default_transaction_read_only = on", err, errlen);
    /* Session lock: held across the per-migration transactions, released
     * when the connection closes even if we crash. */
    if (rc == 0)
        rc = run(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err, errlen);
    if (rc == 0)
        rc = apply_all(c, out, dry, &n, err, errlen);
    db_close_once(c);
    if (nchanged)
        *nchanged = n;
    return rc;
}

int
migrate_apply(const char *conninfo, FILE *out, char *err, size_t errlen)
{
    return with_lock(conninfo, out, false, NULL, err, errlen);
}

int
migrate_status(const char *conninfo, FILE *out, char *err, size_t errlen)
{
    return with_lock(conninfo, out, true, NULL, err, errlen);
}

int
migrate_pending(const char *conninfo, int *n, char *err, size_t errlen)
{
    return with_lock(conninfo, NULL, true, n, err, errlen);
}

/* Runs the statements on a connection of its own, in one transaction. */
static int
one_tx(const char *conninfo, const char *const *stmts, char *err, size_t errlen)
{
    struct dbconn *c = db_connect_once(conninfo, err, errlen);
    int rc;

    if (c == NULL)
        return -1;
    rc = run(c, "BEGIN", err, errlen);
    for (int i = 0; rc == 0 && stmts[i]; i++)
        rc = run(c, stmts[i], err, errlen);
    if (rc == 0)
        rc = run(c, "COMMIT", err, errlen);
    db_close_once(c);
    return rc;
}

int
migrate_roles(const char *conninfo, char *err, size_t errlen)
{
    const struct embedded_file *roles = embedded_find("roles");
    /* Under the migrate lock, so no migration runs half-granted; the
     * grants need schema_migrations to exist (the runtime may only read
     * it). */
    const char *const stmts[] = {"SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")",
                                 create_schema_migrations, roles ? roles->data : NULL, NULL};

    if (roles == NULL) {
        snprintf(err, errlen, "no roles.sql in this build");
        return -1;
    }
    return one_tx(conninfo, stmts, err, errlen);
}

int
migrate_seed(const char *conninfo, char *err, size_t errlen)
{
    const struct embedded_file *seed = embedded_find("seed");
    const char *const stmts[] = {seed ? seed->data : NULL, NULL};

    if (seed == NULL) {
        snprintf(err, errlen, "no seed in this build");
        return -1;
    }
    return one_tx(conninfo, stmts, err, errlen);
}

int
migrate_dump(const char *conninfo, const char *file, char *err, size_t errlen)
{
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
    pid_t pid;
    int status;

    if (opts == NULL) {
        snprintf(err, errlen, "database url: %s", perr ? perr : "out of memory");
        err[strcspn(err, "\n")] = '\0';
        PQfreemem(perr);
        return -1;
    }
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        /* The connection goes to pg_dump as libpq's environment
         * variables, not as arguments: a password never shows in ps. */
        for (const PQconninfoOption *o = opts; o->keyword; o++)
            if (o->val && o->val[0] && o->envvar)
                setenv(o->envvar, o->val, 1);
        execlp("pg_dump", "pg_dump", "--format=custom", "--file", file, (char *)NULL);
        fprintf(stderr, "inboxd: cannot run pg_dump: %s\n", strerror(errno));
        _exit(127);
    }
    PQconninfoFree(opts);
    if (pid < 0) {
        snprintf(err, errlen, "fork: %s", strerror(errno));
        return -1;
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            snprintf(err, errlen, "waitpid: %s", strerror(errno));
            return -1;
        }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, errlen, "pg_dump to %s failed (exit %d); nothing was migrated", file,
                 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        return -1;
    }
    return 0;
}

static const struct db_stmt st_window = {
    "migrate_window",
    "SELECT coalesce(max(version), 0), count(*) FILTER (WHERE version > $1) "
    "FROM schema_migrations",
    1};

static int
schema_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct migrate_schema *m = arg;
    int exists = table_exists(c, pb);
    char v[16];
    const char *p[] = {v};
    PGresult *res;

    m->version = m->newer = 0;
    if (exists <= 0)
        return exists;
    snprintf(v, sizeof(v), "%d", m->expected);
    res = db_exec(c, &st_window, p, pb);
    if (res == NULL)
        return -1;
    m->version = atoi(PQgetvalue(res, 0, 0));
    m->newer = atoi(PQgetvalue(res, 0, 1));
    PQclear(res);
    return 0;
}

int
migrate_schema(struct migrate_schema *out, struct problem *pb)
{
    memset(out, 0, sizeof(*out));
    out->expected = migrate_expected();
    out->previous = migrate_previous();
    return db_read(schema_fn, out, false, pb);
}

bool
migrate_schema_ready(const struct migrate_schema *m, char *reason, size_t len)
{
    if (m->version == m->expected && m->newer == 0)
        return true;
    if (m->version > m->expected && m->newer == 1)
        return true; /* the next release migrated; its migrations only expand */
    if (m->version > 0 && m->version == m->previous)
        return true; /* this release's migration is still to come */
    if (m->version > m->expected)
        snprintf(reason, len, "schema version %d is %d migrations ahead of %d; this binary serves "
                              "one ahead at most", m->version, m->newer, m->expected);
    else
        snprintf(reason, len, "schema version %d, expected %d (or %d)", m->version, m->expected,
                 m->previous);
    return false;
}
