/*
 * config: every setting of inboxd, from one static table.
 *
 * Precedence: built-in default < file < environment < command-line flag.
 * Everything is validated by config_load(); afterwards modules read one
 * `const struct config *` and nothing else.
 */
#ifndef INBOXD_CONFIG_H
#define INBOXD_CONFIG_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "inboxd/lib/shared.h"

#define CONFIG_MAX_SOURCES 16

/* How a webhook source signs its deliveries (`webhook.<s>.scheme`). */
enum config_scheme {
    CONFIG_SCHEME_INBOXD = 0, /* X-Inboxd-Timestamp, X-Inboxd-Signature (the default) */
    CONFIG_SCHEME_STANDARD,   /* Standard Webhooks: webhook-id, -timestamp, -signature */
};

/* A webhook source (API.md "Authentication and tenancy"). */
struct config_source {
    char name[32];           /* as in /v1/webhooks/{source}, lower-case */
    char *secret;
    char *secret_previous;   /* NULL when no rotation is under way */
    char *account;           /* account id or name */
    enum config_scheme scheme;
};

struct config {
    char *listen;            /* host:port */
    char *database_url;
    char *database_owner_url;    /* migrate; empty: database_url */
    char *database_url_ro;
    int pool_size;
    int pool_wait_ms;
    int pool_streams;
    int pool_max_lifetime_s;
    int connect_timeout_s;
    int statement_timeout_ms;
    int lock_timeout_ms;
    bool prepare;
    int tx_retries;
    int http_max_connections;
    int http_connection_timeout_s;
    int http_header_timeout_s;
    int http_max_connections_per_ip;
    long long body_limit;
    int shutdown_timeout_s;
    char *log_level;
    bool metrics_require_key;
    int key_cache_ms;
    int feed_cache_kb;
    int feed_pages;
    int idempotency_lease_s;
    int webhook_max_skew_s;
    int draft_request_max_attempts;
    int draft_request_backoff_s;
    int outbox_max_attempts;
    int outbox_backoff_s;
    int retention_interval_s;
    int retention_closed_days;
    int retention_batch;
    char *tls_cert;          /* PEM file paths; "" when not serving HTTPS */
    char *tls_key;
    char *tls_client_ca;     /* "": no client certificate asked for */
    char *tls_client_names;  /* name=scope ... rules (config_client_scopes) */
    int retention_webhook_events_days;
    int retention_drafts_days;
    int retention_deleted_days;
    int retention_notifications_days;
    int retention_draft_requests_days;
    int retention_job_runs_days;
    int retention_learning_samples_days;
    int retention_audit_log_days;
    char *database_listen_url;   /* the hub's LISTEN; empty: database_url */
    int events_heartbeat_s;
    int retention_events_days;
    int nsources;
    struct config_source sources[CONFIG_MAX_SOURCES];
    struct shared shared;    /* a published copy's references (config_hold) */
};

/* One entry of the settings table, exported for `inboxd --help` and for the
 * test that checks config/inboxd.conf against it. */
struct config_key {
    const char *name;        /* file key: pool_size */
    const char *env;         /* environment variable: INBOXD_POOL_SIZE */
    const char *flag;        /* command-line flag: --pool-size */
    int type;                /* CONFIG_INT, CONFIG_STR, ... */
    const char *def;         /* default, as text */
    long long min, max;      /* bounds for integers */
    size_t offset;           /* into struct config */
    const char *help;        /* one line */
    bool reload;             /* a reload (SIGHUP) applies it while serving */
};

enum { CONFIG_STR, CONFIG_INT, CONFIG_LLONG, CONFIG_BOOL };

extern const struct config_key config_keys[];   /* terminated by name == NULL */

/*
 * Loads the configuration: defaults, then the file (`path`, `--config
 * FILE`, or config/inboxd.conf when neither is given and that file
 * exists), then the environment, then the `argv` flags (`--key value` or
 * `--key=value`), parsed with getopt_long. An option that is neither a
 * setting nor --config is an error. The positional arguments are left in
 * argv[1..], in order, and *argc updated.
 * Returns 0, or -1 with a one-line reason naming the key and its source in
 * `err`, or CONFIG_USAGE when the command line itself is wrong (an unknown
 * option, a missing or bad flag value). On failure `cf` is cleaned up.
 */
int config_load(struct config *cf, const char *path, int *argc, char **argv, char *err,
                size_t errlen) __attribute__((warn_unused_result));

#define CONFIG_USAGE (-2)

/* A command's own options, parsed by the same getopt_long as the
 * settings. Each option's val must be below 0x10000 (a short option's
 * character, or a value of the caller's). fn is called for each, in
 * order, with its value (NULL when it takes none); it returns 0, or -1
 * with a one-line reason in err. */
struct config_cli {
    const struct option *opts;  /* ends with a zeroed entry */
    const char *shortopts;      /* getopt's, without the leading ':'; may be NULL */
    int (*fn)(int val, const char *arg, void *ud, char *err, size_t errlen);
    void *ud;
};

/* config_load() with the command's options (cli may be NULL). */
int config_load_cli(struct config *cf, const char *path, int *argc, char **argv,
                    const struct config_cli *cli, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Frees what config_load() allocated. Safe on a zeroed struct. */
void config_cleanup(struct config *cf);

/* The webhook source of that name, or NULL. Returns borrowed. */
const struct config_source *config_source_find(const struct config *cf, const char *name);

/*
 * tls_client_names: "name=scope scope, name=scope ..." (scopes as in
 * `inboxd keys create --scopes`; the name "*" matches every certificate).
 * Adds to *scopes the scopes of every entry whose name is `name`
 * (case-insensitive). Returns 1 when an entry matched, 0 when none did,
 * -1 with err when the text is malformed. name NULL: only checks the text.
 */
int config_client_scopes(const char *rules, const char *name, unsigned *scopes, char *err,
                         size_t errlen);

/*
 * The configuration in force, shared by the threads that serve and
 * replaced whole by a reload (RCU-like, with reference counts): readers
 * hold the copy they started with until they let go, so a reload never
 * changes or frees a configuration under a reader.
 */

/* A deep copy of cf on the heap (to publish), or NULL (out of memory). */
struct config *config_dup(const struct config *cf) __attribute__((warn_unused_result));

/* Makes cf (from config_dup, ownership taken) the configuration in force;
 * the one it replaces is freed once its last holder lets go. NULL
 * withdraws it (at stop). */
void config_publish(struct config *cf);

/* The configuration in force, held: valid until config_release(). NULL
 * when none is published. */
const struct config *config_hold(void);

/* Lets go of what config_hold() returned (NULL is fine). */
void config_release(const struct config *cf);

/*
 * For a reload: `next` is the configuration just read, `running` the one
 * in force. Every setting that cannot change at run time (no .reload in
 * the table) and differs is set back to running's value in next, its name
 * added to `kept` (space-separated); turning HTTPS on or off counts as
 * one (tls_cert). The names of reloadable settings that changed go to
 * `changed` ("webhook" for the webhook sources; never a value).
 * Returns 0, or -1 (out of memory).
 */
int config_reconcile(struct config *next, const struct config *running, char *kept,
                     size_t keptlen, char *changed, size_t changedlen)
    __attribute__((warn_unused_result));

#endif
