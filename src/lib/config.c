/*
 * config: the settings table, the file reader, environment and flags.
 *
 * One static table names every setting once: its file key, environment
 * variable, flag, default and bounds (pgbouncer's bouncer_params). Webhook
 * sources are the one family of dynamic keys: INBOXD_WEBHOOK_<S>_SECRET,
 * _SECRET_PREVIOUS, _ACCOUNT and _SCHEME, or `webhook.<s>.secret` (and so
 * on) in the file. Secrets are never printed, not even in errors. The
 * configuration in force and reload are config_live.c.
 */
#include "inboxd/lib/config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "inboxd/lib/scope.h"
#include "inboxd/lib/sig.h"

extern char **environ;

#define KEY(n, e, f, t, d, lo, hi, field, h) \
    {n, e, f, t, d, lo, hi, offsetof(struct config, field), h, false}
/* A setting a reload (SIGHUP) applies while serving. */
#define LIVE(n, e, f, t, d, lo, hi, field, h) \
    {n, e, f, t, d, lo, hi, offsetof(struct config, field), h, true}

const struct config_key config_keys[] = {
    KEY("listen", "INBOXD_LISTEN", "--listen", CONFIG_STR, "127.0.0.1:8080", 0, 0, listen,
        "address and port to serve HTTP on (host:port; port 0 picks a free one)"),
    KEY("database_url", "DATABASE_URL", "--database-url", CONFIG_STR, "", 0, 0, database_url,
        "libpq connection string or URI of the primary"),
    KEY("database_owner_url", "DATABASE_OWNER_URL", "--database-owner-url", CONFIG_STR, "", 0, 0,
        database_owner_url,
        "connection of the role that owns the schema, for migrate (empty: database_url)"),
    KEY("database_url_ro", "DATABASE_URL_RO", "--database-url-ro", CONFIG_STR, "", 0, 0,
        database_url_ro, "optional read replica for plain reads (empty: use the primary)"),
    KEY("pool_size", "INBOXD_POOL_SIZE", "--pool-size", CONFIG_INT, "5", 1, 500, pool_size,
        "database connections per pool"),
    KEY("pool_wait_ms", "INBOXD_POOL_WAIT_MS", "--pool-wait-ms", CONFIG_INT, "2000", 1, 600000,
        pool_wait_ms, "longest wait for a free connection before answering 503"),
    KEY("pool_streams", "INBOXD_POOL_STREAMS", "--pool-streams", CONFIG_INT, "2", 1, 500,
        pool_streams,
        "connections streamed exports may hold at once (never all of a pool larger than 1)"),
    KEY("pool_max_lifetime_s", "INBOXD_POOL_MAX_LIFETIME_S", "--pool-max-lifetime-s", CONFIG_INT,
        "3600", 0, 604800, pool_max_lifetime_s,
        "a connection older than this (+-10%) is replaced when returned; 0 = forever"),
    KEY("connect_timeout_s", "INBOXD_CONNECT_TIMEOUT_S", "--connect-timeout-s", CONFIG_INT, "5",
        1, 300, connect_timeout_s, "timeout for opening a database connection"),
    LIVE("statement_timeout_ms", "INBOXD_STATEMENT_TIMEOUT_MS", "--statement-timeout-ms",
        CONFIG_INT, "10000", 0, 3600000, statement_timeout_ms,
        "statement_timeout of every connection; 0 = none"),
    LIVE("lock_timeout_ms", "INBOXD_LOCK_TIMEOUT_MS", "--lock-timeout-ms", CONFIG_INT, "5000", 0,
        3600000, lock_timeout_ms, "lock_timeout of every connection; 0 = none"),
    KEY("prepare", "INBOXD_PREPARE", "--prepare", CONFIG_BOOL, "true", 0, 0, prepare,
        "prepare named statements once per connection (false behind PgBouncer transaction mode)"),
    KEY("tx_retries", "INBOXD_TX_RETRIES", "--tx-retries", CONFIG_INT, "3", 0, 20, tx_retries,
        "retries of a transaction that hit a serialization failure or deadlock"),
    KEY("http_max_connections", "INBOXD_HTTP_MAX_CONNECTIONS", "--http-max-connections",
        CONFIG_INT, "2048", 1, 100000, http_max_connections, "simultaneous client connections"),
    KEY("http_connection_timeout_s", "INBOXD_HTTP_CONNECTION_TIMEOUT_S",
        "--http-connection-timeout-s", CONFIG_INT, "60", 1, 86400, http_connection_timeout_s,
        "an idle or stalled client connection is closed after this"),
    KEY("http_header_timeout_s", "INBOXD_HTTP_HEADER_TIMEOUT_S", "--http-header-timeout-s",
        CONFIG_INT, "20", 1, 3600, http_header_timeout_s,
        "a connection must send its request line and headers within this (slow clients)"),
    KEY("http_max_connections_per_ip", "INBOXD_HTTP_MAX_CONNECTIONS_PER_IP",
        "--http-max-connections-per-ip", CONFIG_INT, "0", 0, 100000,
        http_max_connections_per_ip,
        "connections one client address may hold; 0 = no cap (behind a balancer, keep 0)"),
    KEY("body_limit", "INBOXD_BODY_LIMIT", "--body-limit", CONFIG_LLONG, "1048576", 1024,
        1073741824LL, body_limit, "largest request body in bytes (413 above it)"),
    KEY("shutdown_timeout_s", "INBOXD_SHUTDOWN_TIMEOUT_S", "--shutdown-timeout-s", CONFIG_INT,
        "20", 0, 3600, shutdown_timeout_s, "on SIGTERM, how long in-flight requests may finish"),
    LIVE("log_level", "INBOXD_LOG_LEVEL", "--log-level", CONFIG_STR, "info", 0, 0, log_level,
        "debug, info, warn or error"),
    KEY("metrics_require_key", "INBOXD_METRICS_REQUIRE_KEY", "--metrics-require-key",
        CONFIG_BOOL, "false", 0, 0, metrics_require_key,
        "require a bearer key (any scope) for /metrics"),
    KEY("key_cache_ms", "INBOXD_KEY_CACHE_MS", "--key-cache-ms", CONFIG_INT, "1000", 0, 1000,
        key_cache_ms, "how long a looked-up API key is trusted; a revocation takes effect within it"),
    KEY("feed_cache_kb", "INBOXD_FEED_CACHE_KB", "--feed-cache-kb", CONFIG_INT, "16384", 0,
        4194304, feed_cache_kb,
        "memory for rendered review-feed items, checked against the rows on every page; 0 = none"),
    KEY("feed_pages", "INBOXD_FEED_PAGES", "--feed-pages", CONFIG_INT, "32", 0, 4096, feed_pages,
        "whole feed pages kept, sent again while the database has committed nothing since; 0 = none"),
    KEY("idempotency_lease_s", "INBOXD_IDEMPOTENCY_LEASE_S", "--idempotency-lease-s", CONFIG_INT,
        "60", 1, 86400, idempotency_lease_s,
        "an Idempotency-Key still in flight after this is taken to be abandoned"),
    LIVE("webhook_max_skew_s", "INBOXD_WEBHOOK_MAX_SKEW_S", "--webhook-max-skew-s", CONFIG_INT,
        "300", 1, 3600, webhook_max_skew_s, "webhook timestamps further off than this are refused"),
    KEY("draft_request_max_attempts", "INBOXD_DRAFT_REQUEST_MAX_ATTEMPTS",
        "--draft-request-max-attempts", CONFIG_INT, "5", 1, 100, draft_request_max_attempts,
        "attempts before a draft request is failed"),
    KEY("draft_request_backoff_s", "INBOXD_DRAFT_REQUEST_BACKOFF_S", "--draft-request-backoff-s",
        CONFIG_INT, "10", 0, 86400, draft_request_backoff_s,
        "first retry delay of a failed draft request; doubles with every attempt"),
    KEY("outbox_max_attempts", "INBOXD_OUTBOX_MAX_ATTEMPTS", "--outbox-max-attempts", CONFIG_INT,
        "8", 1, 100, outbox_max_attempts, "delivery attempts before an outbound message is failed"),
    KEY("outbox_backoff_s", "INBOXD_OUTBOX_BACKOFF_S", "--outbox-backoff-s", CONFIG_INT, "30", 0,
        86400, outbox_backoff_s, "first retry delay of an outbound message; doubles per attempt"),
    KEY("retention_interval_s", "INBOXD_RETENTION_INTERVAL_S",
        "--retention-interval-s", CONFIG_INT, "3600", 0, 604800, retention_interval_s,
        "run a retention sweep this often inside serve (every account); 0 = never"),
    KEY("retention_closed_days", "INBOXD_RETENTION_CLOSED_DAYS",
        "--retention-closed-days", CONFIG_INT, "365", 1, 36500, retention_closed_days,
        "text copied from customers (message bodies and subjects, drafts, actions, webhook payloads) is blanked once its conversation has been closed this long"),
    KEY("retention_batch", "INBOXD_RETENTION_BATCH",
        "--retention-batch", CONFIG_INT, "1000", 1, 100000, retention_batch,
        "rows per retention batch (one short transaction each)"),
    KEY("retention_webhook_events_days", "INBOXD_RETENTION_WEBHOOK_EVENTS_DAYS",
        "--retention-webhook-events-days", CONFIG_INT, "14", 0, 36500, retention_webhook_events_days,
        "webhook events of every status, with their raw bodies, are deleted after this; 0 = kept"),
    KEY("retention_drafts_days", "INBOXD_RETENTION_DRAFTS_DAYS",
        "--retention-drafts-days", CONFIG_INT, "90", 0, 36500, retention_drafts_days,
        "archived/superseded drafts without a learning sample are deleted after this; 0 = kept"),
    KEY("retention_deleted_days", "INBOXD_RETENTION_DELETED_DAYS",
        "--retention-deleted-days", CONFIG_INT, "30", 0, 36500, retention_deleted_days,
        "soft-deleted conversations are removed, with all they hold, after this; 0 = kept"),
    KEY("retention_notifications_days", "INBOXD_RETENTION_NOTIFICATIONS_DAYS",
        "--retention-notifications-days", CONFIG_INT, "90", 0, 36500, retention_notifications_days,
        "notifications are deleted after this; 0 = kept"),
    KEY("retention_draft_requests_days", "INBOXD_RETENTION_DRAFT_REQUESTS_DAYS",
        "--retention-draft-requests-days", CONFIG_INT, "30", 0, 36500, retention_draft_requests_days,
        "done/failed draft requests are deleted this long after they finished; 0 = kept"),
    KEY("retention_job_runs_days", "INBOXD_RETENTION_JOB_RUNS_DAYS",
        "--retention-job-runs-days", CONFIG_INT, "90", 0, 36500, retention_job_runs_days,
        "succeeded/failed job runs are deleted this long after they finished; 0 = kept"),
    KEY("retention_learning_samples_days", "INBOXD_RETENTION_LEARNING_SAMPLES_DAYS",
        "--retention-learning-samples-days", CONFIG_INT, "0", 0, 36500, retention_learning_samples_days,
        "learning samples (the corrections export) are deleted after this; 0 = kept"),
    KEY("retention_audit_log_days", "INBOXD_RETENTION_AUDIT_LOG_DAYS",
        "--retention-audit-log-days", CONFIG_INT, "0", 0, 36500, retention_audit_log_days,
        "audit log entries are deleted after this; 0 = kept"),
    LIVE("tls_cert", "INBOXD_TLS_CERT", "--tls-cert", CONFIG_STR, "", 0, 0, tls_cert,
         "PEM file of the server certificate chain; set with tls_key, inboxd serves HTTPS only"),
    LIVE("tls_key", "INBOXD_TLS_KEY", "--tls-key", CONFIG_STR, "", 0, 0, tls_key,
         "PEM file of the server certificate's private key"),
    LIVE("tls_client_ca", "INBOXD_TLS_CLIENT_CA", "--tls-client-ca", CONFIG_STR, "", 0, 0,
         tls_client_ca,
         "PEM file of the CA(s) that must sign client certificates; set: every client needs one"),
    LIVE("tls_client_names", "INBOXD_TLS_CLIENT_NAMES", "--tls-client-names", CONFIG_STR, "", 0,
         0, tls_client_names,
         "scopes a client certificate name may use: \"name=scope scope, ...\"; empty: any"),
    /* The live event stream and waiting claims (README "Live events"). */
    KEY("database_listen_url", "DATABASE_LISTEN_URL", "--database-listen-url", CONFIG_STR, "", 0,
        0, database_listen_url,
        "direct connection to the primary that LISTENs for events (never PgBouncer, never a "
        "replica; empty: database_url)"),
    KEY("events_heartbeat_s", "INBOXD_EVENTS_HEARTBEAT_S", "--events-heartbeat-s", CONFIG_INT,
        "15", 1, 3600, events_heartbeat_s, "a comment line on every idle event stream this often"),
    KEY("retention_events_days", "INBOXD_RETENTION_EVENTS_DAYS", "--retention-events-days",
        CONFIG_INT, "7", 0, 36500, retention_events_days,
        "live events are deleted after this (a client further behind gets `reset`); 0 = kept"),
    {NULL, NULL, NULL, 0, NULL, 0, 0, 0, NULL, false},
};

static int
fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int
parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on", NULL};
    static const char *const no[] = {"0", "false", "no", "off", NULL};

    for (int i = 0; yes[i]; i++)
        if (strcasecmp(v, yes[i]) == 0)
            return *out = true, 0;
    for (int i = 0; no[i]; i++)
        if (strcasecmp(v, no[i]) == 0)
            return *out = false, 0;
    return -1;
}

/* Sets one table key from text; `where` names the source for the error. */
static int
set_key(struct config *cf, const struct config_key *k, const char *v, const char *where,
        char *err, size_t errlen)
{
    char *p = (char *)cf + k->offset;
    char *end;
    long long n;

    switch (k->type) {
    case CONFIG_STR: {
        char *dup = strdup(v);

        if (dup == NULL)
            return fail(err, errlen, "out of memory");
        free(*(char **)p);
        *(char **)p = dup;
        return 0;
    }
    case CONFIG_BOOL:
        if (parse_bool(v, (bool *)p) != 0)
            return fail(err, errlen, "%s (%s): expected true or false", k->name, where);
        return 0;
    case CONFIG_INT:
    case CONFIG_LLONG:
        errno = 0;
        n = strtoll(v, &end, 10);
        if (errno != 0 || end == v || *end != '\0')
            return fail(err, errlen, "%s (%s): expected an integer", k->name, where);
        if (n < k->min || n > k->max)
            return fail(err, errlen, "%s (%s): must be between %lld and %lld", k->name, where,
                        k->min, k->max);
        if (k->type == CONFIG_INT)
            *(int *)p = (int)n;
        else
            *(long long *)p = n;
        return 0;
    }
    return fail(err, errlen, "%s: unknown type", k->name);
}

static const struct config_key *
find_key(const char *name, size_t len)
{
    for (const struct config_key *k = config_keys; k->name; k++)
        if (strlen(k->name) == len && strncmp(k->name, name, len) == 0)
            return k;
    return NULL;
}

static struct config_source *
source_get(struct config *cf, const char *name, size_t len, char *err, size_t errlen)
{
    struct config_source *s;

    if (len == 0 || len >= sizeof(s->name))
        return fail(err, errlen, "webhook source name must be 1-31 characters"), NULL;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '_')
            return fail(err, errlen, "webhook source name has invalid characters"), NULL;
    for (int i = 0; i < cf->nsources; i++) {
        s = &cf->sources[i];
        if (strlen(s->name) == len && strncasecmp(s->name, name, len) == 0)
            return s;
    }
    if (cf->nsources >= CONFIG_MAX_SOURCES)
        return fail(err, errlen, "more than %d webhook sources", CONFIG_MAX_SOURCES), NULL;
    s = &cf->sources[cf->nsources++];
    for (size_t i = 0; i < len; i++)
        s->name[i] = (char)tolower((unsigned char)name[i]);
    s->name[len] = '\0';
    return s;
}

/* The signing schemes of webhook.<s>.scheme, by enum config_scheme. */
static const char *const scheme_names[] = {"inboxd", "standard", NULL};

/* Sets a webhook source's scheme from its name (any case). */
static int
set_scheme(struct config_source *s, const char *v, const char *where, char *err, size_t errlen)
{
    for (int i = 0; scheme_names[i]; i++)
        if (strcasecmp(v, scheme_names[i]) == 0) {
            s->scheme = (enum config_scheme)i;
            return 0;
        }
    return fail(err, errlen, "webhook.%s.scheme (%s): expected inboxd or standard", s->name, where);
}

/* Sets a webhook source attribute ("secret", "secret_previous", "account",
 * "scheme"). */
static int
set_source(struct config *cf, const char *src, size_t srclen, const char *attr, const char *v,
           const char *where, char *err, size_t errlen)
{
    struct config_source *s = source_get(cf, src, srclen, err, errlen);
    char **slot;
    char *dup;

    if (s == NULL)
        return -1;
    if (strcasecmp(attr, "scheme") == 0)
        return set_scheme(s, v, where, err, errlen);
    if (strcasecmp(attr, "secret") == 0)
        slot = &s->secret;
    else if (strcasecmp(attr, "secret_previous") == 0)
        slot = &s->secret_previous;
    else if (strcasecmp(attr, "account") == 0)
        slot = &s->account;
    else
        return fail(err, errlen, "webhook.%s.%s (%s): unknown webhook setting", s->name, attr,
                    where);
    dup = strdup(v);
    if (dup == NULL)
        return fail(err, errlen, "out of memory");
    free(*slot);
    *slot = dup;
    return 0;
}

static char *
trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int
load_file(struct config *cf, const char *path, bool must_exist, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[4096], where[512];
    int lineno = 0, rc = 0;

    if (f == NULL) {
        if (!must_exist && errno == ENOENT)
            return 0;
        return fail(err, errlen, "config file %s: %s", path, strerror(errno));
    }
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        char *key, *val, *eq;
        const struct config_key *k;

        lineno++;
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        if (strchr(line, '\n') == NULL && !feof(f)) {
            rc = fail(err, errlen, "%s: line too long", where);
            break;
        }
        key = trim(line);
        if (*key == '\0' || *key == '#' || *key == ';')
            continue;
        eq = strchr(key, '=');
        if (eq == NULL) {
            rc = fail(err, errlen, "%s: expected key = value", where);
            break;
        }
        *eq = '\0';
        key = trim(key);
        val = trim(eq + 1);
        /* Quotes are optional around values that contain spaces. */
        if (strlen(val) >= 2 && val[0] == '"' && val[strlen(val) - 1] == '"') {
            val[strlen(val) - 1] = '\0';
            val++;
        }
        if (strncmp(key, "webhook.", 8) == 0) {
            const char *src = key + 8, *dot = strchr(src, '.');

            if (dot == NULL)
                rc = fail(err, errlen, "%s: expected webhook.<source>.<setting>", where);
            else
                rc = set_source(cf, src, (size_t)(dot - src), dot + 1, val, where, err, errlen);
            continue;
        }
        k = find_key(key, strlen(key));
        if (k == NULL)
            rc = fail(err, errlen, "%s: unknown setting \"%s\"", where, key);
        else
            rc = set_key(cf, k, val, where, err, errlen);
    }
    if (rc == 0 && ferror(f))
        rc = fail(err, errlen, "config file %s: read error", path);
    fclose(f);
    return rc;
}

/* INBOXD_WEBHOOK_<S>_SECRET, _SECRET_PREVIOUS, _ACCOUNT, _SCHEME. */
static int
load_env_sources(struct config *cf, char *err, size_t errlen)
{
    static const char *const attrs[] = {"_SECRET_PREVIOUS", "_SECRET", "_ACCOUNT", "_SCHEME",
                                        NULL};
    static const char prefix[] = "INBOXD_WEBHOOK_";

    for (char **e = environ; e && *e; e++) {
        const char *name = *e, *eq = strchr(name, '=');
        size_t nlen;

        if (eq == NULL || strncmp(name, prefix, sizeof(prefix) - 1) != 0)
            continue;
        nlen = (size_t)(eq - name);
        for (int i = 0; attrs[i]; i++) {
            size_t alen = strlen(attrs[i]);
            const char *src = name + sizeof(prefix) - 1;
            char where[160];

            if (nlen <= sizeof(prefix) - 1 + alen ||
                strncmp(name + nlen - alen, attrs[i], alen) != 0)
                continue;
            snprintf(where, sizeof(where), "environment %.*s", (int)nlen, name);
            if (set_source(cf, src, (size_t)(name + nlen - alen - src), attrs[i] + 1, eq + 1,
                           where, err, errlen) != 0)
                return -1;
            break;
        }
    }
    return 0;
}

/* Whether a standard source's secrets are whsec_ keys (never printed). */
static bool
standard_secrets_ok(const struct config_source *s)
{
    unsigned char key[SIG_STANDARD_KEY_MAX];
    bool ok = sig_standard_key(s->secret, key) >= 0 &&
              (s->secret_previous == NULL || s->secret_previous[0] == '\0' ||
               sig_standard_key(s->secret_previous, key) >= 0);

    memset(key, 0, sizeof key);
    return ok;
}

static int
validate(struct config *cf, char *err, size_t errlen)
{
    if (strcmp(cf->log_level, "debug") && strcmp(cf->log_level, "info") &&
        strcmp(cf->log_level, "warn") && strcmp(cf->log_level, "error"))
        return fail(err, errlen, "log_level: expected debug, info, warn or error");
    if (strrchr(cf->listen, ':') == NULL)
        return fail(err, errlen, "listen: expected host:port");
    if ((cf->tls_cert[0] == '\0') != (cf->tls_key[0] == '\0'))
        return fail(err, errlen, "tls_cert and tls_key: set both or neither");
    if (cf->tls_client_ca[0] != '\0' && cf->tls_cert[0] == '\0')
        return fail(err, errlen, "tls_client_ca: needs tls_cert and tls_key");
    if (cf->tls_client_names[0] != '\0' && cf->tls_client_ca[0] == '\0')
        return fail(err, errlen, "tls_client_names: needs tls_client_ca");
    if (config_client_scopes(cf->tls_client_names, NULL, &(unsigned){0}, err, errlen) < 0)
        return -1;
    for (int i = 0; i < cf->nsources; i++) {
        const struct config_source *s = &cf->sources[i];

        if (s->secret == NULL || s->secret[0] == '\0')
            return fail(err, errlen, "webhook source %s: no secret", s->name);
        if (s->account == NULL || s->account[0] == '\0')
            return fail(err, errlen, "webhook source %s: no account", s->name);
        if (s->scheme == CONFIG_SCHEME_STANDARD && !standard_secrets_ok(s))
            return fail(err, errlen,
                        "webhook source %s: scheme standard needs secrets of the form "
                        "whsec_<base64 of 24-64 bytes>",
                        s->name);
    }
    return 0;
}

/* The val of a setting's option is CONFIG_OPT_BASE + its index in
 * config_keys; --config is one below. Callers' own options stay under it. */
#define CONFIG_OPT_BASE 0x10000
#define CONFIG_OPT_CONFIG (CONFIG_OPT_BASE - 1)

/* One getopt_long table: every setting, --config, then the caller's. */
static struct option *
build_options(const struct config_cli *cli)
{
    size_t nkeys = 0, ncli = 0, i = 0;
    struct option *o;

    while (config_keys[nkeys].name)
        nkeys++;
    while (cli && cli->opts[ncli].name)
        ncli++;
    o = calloc(nkeys + ncli + 2, sizeof(*o));
    if (o == NULL)
        return NULL;
    for (size_t k = 0; k < nkeys; k++)
        o[i++] = (struct option){config_keys[k].flag + 2, required_argument, NULL,
                                 CONFIG_OPT_BASE + (int)k};
    o[i++] = (struct option){"config", required_argument, NULL, CONFIG_OPT_CONFIG};
    for (size_t k = 0; k < ncli; k++)
        o[i++] = cli->opts[k];
    return o;
}

/* A setting flag, kept until the file and the environment are read. */
struct flag {
    const struct config_key *key;
    const char *value;
};

/*
 * Parses argv with getopt_long: settings go to flags[], --config to *path,
 * the caller's options to cli->fn, positionals to argv[1..] in order.
 * Returns 0, or CONFIG_USAGE with err.
 */
static int
parse_argv(int *argc, char **argv, const struct config_cli *cli, const char **path,
           struct flag *flags, int *nflags, char *err, size_t errlen)
{
    struct option *opts = build_options(cli);
    char shortopts[64];
    int c, out = 1, rc = 0;

    if (opts == NULL)
        return fail(err, errlen, "out of memory");
    snprintf(shortopts, sizeof(shortopts), ":%s", cli && cli->shortopts ? cli->shortopts : "");
    *nflags = 0;
    optind = 0; /* glibc: a full reset, so config_load can run more than once */
    opterr = 0;
    while (rc == 0 && (c = getopt_long(*argc, argv, shortopts, opts, NULL)) != -1) {
        const char *seen = argv[optind - 1];

        if (c == '?' && optopt != 0)
            rc = fail(err, errlen, "unknown option -%c", optopt);
        else if (c == '?')
            rc = fail(err, errlen, "unknown option %.*s", (int)strcspn(seen, "="), seen);
        else if (c == ':')
            rc = fail(err, errlen, "option %.*s needs a value", (int)strcspn(seen, "="), seen);
        else if (c == CONFIG_OPT_CONFIG)
            *path = optarg;
        else if (c >= CONFIG_OPT_BASE)
            flags[(*nflags)++] = (struct flag){&config_keys[c - CONFIG_OPT_BASE], optarg};
        else if (cli == NULL || cli->fn(c, optarg, cli->ud, err, errlen) != 0)
            rc = -1;
        if (rc != 0)
            rc = CONFIG_USAGE;
    }
    free(opts);
    if (rc != 0)
        return rc;
    /* glibc moved the positionals behind the options, in their order. */
    for (int i = optind; i < *argc; i++)
        argv[out++] = argv[i];
    *argc = out;
    argv[out] = NULL;
    return 0;
}

int
config_load(struct config *cf, const char *path, int *argc, char **argv, char *err,
            size_t errlen)
{
    return config_load_cli(cf, path, argc, argv, NULL, err, errlen);
}

int
config_load_cli(struct config *cf, const char *path, int *argc, char **argv,
                const struct config_cli *cli, char *err, size_t errlen)
{
    struct flag *flags = calloc((size_t)*argc + 1, sizeof(*flags));
    int nflags = 0, rc;

    memset(cf, 0, sizeof(*cf));
    if (flags == NULL)
        return fail(err, errlen, "out of memory");
    /* The command line first: --config must be known before the file is
     * read, and a mistyped flag is reported before anything else. */
    rc = parse_argv(argc, argv, cli, &path, flags, &nflags, err, errlen);
    if (rc != 0)
        goto out;
    rc = -1;
    for (const struct config_key *k = config_keys; k->name; k++)
        if (set_key(cf, k, k->def, "default", err, errlen) != 0)
            goto out;
    if (load_file(cf, path ? path : "config/inboxd.conf", path != NULL, err, errlen) != 0)
        goto out;

    for (const struct config_key *k = config_keys; k->name; k++) {
        const char *v = getenv(k->env);
        char where[96];

        snprintf(where, sizeof(where), "environment %s", k->env);
        if (v != NULL && set_key(cf, k, v, where, err, errlen) != 0)
            goto out;
    }
    if (load_env_sources(cf, err, errlen) != 0)
        goto out;
    /* Flags last: they beat the file and the environment. */
    for (int i = 0; i < nflags; i++)
        if (set_key(cf, flags[i].key, flags[i].value, flags[i].key->flag, err, errlen) != 0) {
            rc = CONFIG_USAGE;
            goto out;
        }
    if (validate(cf, err, errlen) != 0)
        goto out;
    rc = 0;
out:
    free(flags);
    if (rc != 0)
        config_cleanup(cf);
    return rc;
}

void
config_cleanup(struct config *cf)
{
    for (const struct config_key *k = config_keys; k->name; k++)
        if (k->type == CONFIG_STR) {
            char **p = (char **)((char *)cf + k->offset);

            free(*p);
            *p = NULL;
        }
    for (int i = 0; i < cf->nsources; i++) {
        free(cf->sources[i].secret);
        free(cf->sources[i].secret_previous);
        free(cf->sources[i].account);
    }
    cf->nsources = 0;
}

const struct config_source *
config_source_find(const struct config *cf, const char *name)
{
    for (int i = 0; i < cf->nsources; i++)
        if (strcmp(cf->sources[i].name, name) == 0)
            return &cf->sources[i];
    return NULL;
}

/* --- tls_client_names ------------------------------------------------------ */

int
config_client_scopes(const char *rules, const char *name, unsigned *scopes, char *err,
                     size_t errlen)
{
    const char *p = rules;
    int matched = 0;

    while (*p) {
        char entry[512], *eq, *ename;
        size_t len = strcspn(p, ",");
        unsigned bits;

        if (len >= sizeof(entry))
            return fail(err, errlen, "tls_client_names: an entry is longer than %zu characters",
                        sizeof(entry) - 1);
        memcpy(entry, p, len);
        entry[len] = '\0';
        p += len + (p[len] == ',');
        ename = trim(entry);
        if (*ename == '\0')
            continue;
        eq = strchr(ename, '=');
        if (eq == NULL)
            return fail(err, errlen, "tls_client_names: expected name=scope ... in \"%s\"", ename);
        *eq = '\0';
        ename = trim(ename);
        if (*ename == '\0' || strpbrk(ename, " \t") != NULL)
            return fail(err, errlen, "tls_client_names: a name must be one word (\"%s\")", ename);
        if (scope_parse(trim(eq + 1), &bits) != 0)
            return fail(err, errlen, "tls_client_names: unknown or no scope for \"%s\"", ename);
        if (name != NULL && (strcmp(ename, "*") == 0 || strcasecmp(ename, name) == 0)) {
            *scopes |= bits;
            matched = 1;
        }
    }
    return matched;
}
