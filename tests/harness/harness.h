/*
 * harness: one inboxd inside the test process, on a fresh database of the
 * throwaway cluster that ./dev.sh test started (INBOXD_TEST_DATABASE_URL),
 * spoken to over real HTTP with libcurl.
 *
 * Criterion runs every test in its own process, so each test gets its own
 * database, its own accounts and keys, and its own server on a free port.
 */
#ifndef INBOXD_TEST_HARNESS_H
#define INBOXD_TEST_HARNESS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <unistd.h>

#include "inboxd/lib/config.h"

struct th {
    char dbname[64];
    char conninfo[600];
    char app_conninfo[700];  /* inboxd's: conninfo, or as INBOXD_TEST_DB_ROLE */
    struct config cf;
    char base[64];           /* http://127.0.0.1:PORT, https:// with tls_cert set */
    /* With HTTPS: the CA file requests trust, and the client certificate
     * and key they show (NULL: none). Files the test made. */
    const char *tls_ca, *tls_cert, *tls_key;
    bool running;
    PGconn *sql;             /* superuser connection to the test database */
};

struct resp {
    long status;
    char *body;
    size_t len;              /* of body, decoded when it came with Content-Encoding */
    size_t wire_len;         /* of the body as it came */
    json_t *json;            /* parsed body when it is JSON, else NULL */
    char *headers;           /* raw response header block */
};

/* Creates the database; migrates it unless `migrate` is false; starts
 * inboxd with the given extra settings ("key=value" strings, NULL-ended;
 * may be NULL). Fails the test on any error. With INBOXD_TEST_DB_ROLE
 * set (tests/meson.build runs suites so), a migrated database also gets
 * `inboxd roles` and inboxd connects as that role (inboxd_runtime). */
void th_start(struct th *t, bool migrate, const char *const *settings);

/* Starts inboxd again on the same database (after th_app_stop). */
void th_app_start(struct th *t);
void th_app_stop(struct th *t);

/* Stops inboxd (if running) and drops the database. */
void th_stop(struct th *t);

/* Creates an account named `name` (unique per test is fine). */
void th_account(struct th *t, const char *name, char id[37]);
/* Creates a key for account with the scopes ("read admin"). */
void th_key(struct th *t, const char *account_id, const char *scopes, char key[64]);
/* An account plus a key with every scope: the usual start of a test. */
void th_tenant(struct th *t, const char *name, char account_id[37], char key[64]);

/* One HTTP request. key may be NULL (no Authorization); body may be NULL;
 * headers: extra "Name: value" strings, NULL-ended, may be NULL. */
void th_http(struct th *t, const char *method, const char *path, const char *key,
             const char *body, const char *const *headers, struct resp *r);
/* The same, returning libcurl's result instead of failing the test when
 * no answer came (0: an answer is in r; else r is empty): for refused TLS
 * handshakes. */
int th_http_try(struct th *t, const char *method, const char *path, const char *key,
                const char *body, const char *const *headers, struct resp *r);
/* Shorthands. */
void th_get(struct th *t, const char *path, const char *key, struct resp *r);
void th_post(struct th *t, const char *path, const char *key, const char *body, struct resp *r);

/* Checks an answer read some other way (a raw connection) as th_http
 * checks its own: against openapi.json, and noted for route coverage. */
void th_check_response(const char *method, const char *path, const struct resp *r);

/* A response header's value (case-insensitive name) copied into out, or
 * false when absent. */
bool resp_header(const struct resp *r, const char *name, char *out, size_t outlen);
void resp_free(struct resp *r);

/* Asserts a problem document with that status (and checks its members). */
void expect_problem(const struct resp *r, long status);

/* Runs SQL on the test database as superuser; fails the test on error.
 * Returns the result (caller PQclear()s). */
PGresult *th_sql(struct th *t, const char *sql);
/* The first value of a one-row query, as a long. */
long th_sql_long(struct th *t, const char *sql);

/* inboxd's connections waiting on a lock in the test database now. Fresh
 * even inside a transaction of t->sql (which would otherwise see
 * pg_stat_activity as it was at its first look). */
long th_lock_waiters(struct th *t);

/* The value of one /metrics series, named with its labels as exposed
 * ("inboxd_db_errors_total", "x_total{result=\"hit\"}"); fails the test
 * when the scrape fails or the series is missing. */
long long th_metric(struct th *t, const char *key, const char *series);

/* Runs a script named by an environment variable (INBOXD_TEST_PG_RESTART,
 * ...). Fails the test when the variable is unset or the script fails. */
void th_run_env_script(const char *var);

/* The inboxd binary of this build (beside the tests directory). */
void th_inboxd_path(char *out /* PATH_MAX */);

/* Runs the built inboxd from / with the arguments (shell words), env
 * ("DATABASE_URL='...'", may be NULL) in its environment and not the
 * caller's DATABASE_URL or DATABASE_OWNER_URL; its stdout and stderr go
 * to out (cut to outlen). Returns its exit status. */
int th_inboxd(char *out, size_t outlen, const char *env, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Milliseconds since an arbitrary point. */
long long th_now_ms(void);

/* A TCP connection to inboxd from the loopback address `from` ("127.0.0.2";
 * NULL: any), blocking; fails the test when it cannot connect. */
int th_connect(struct th *t, const char *from);

/* Sends n bytes of raw HTTP on a new connection, then reads whatever
 * comes back until the server closes it (or TH_PATIENCE_MS pass: a test
 * failure). Returns the bytes read, NUL-terminated in a malloc()ed *out. */
size_t th_raw(struct th *t, const char *bytes, size_t n, char **out);

/* How long a test waits for something that must happen before it calls it
 * a failure. Generous on purpose: a test states what must happen, never how
 * fast, and CI runs on two shared cores under sanitizers. */
#define TH_PATIENCE_MS 60000

/* Polls COND every 10 ms until it holds; fails the test, saying WHAT, once
 * TH_PATIENCE_MS have gone by without it. */
#define TH_WAIT_UNTIL(cond, what) TH_WAIT_UNTIL_TOLD(cond, what, "")

/* TH_WAIT_UNTIL, whose failure also says STORY: a string expression,
 * evaluated only then, telling where things stand. */
#define TH_WAIT_UNTIL_TOLD(cond, what, story)                                                      \
    do {                                                                                           \
        long long th_wait_start_ = th_now_ms();                                                    \
        while (!(cond)) {                                                                          \
            if (th_now_ms() - th_wait_start_ >= TH_PATIENCE_MS) {                                  \
                const char *th_story_ = (story);                                                   \
                cr_assert_fail("%s%s%s", (what), *th_story_ ? ": " : "", th_story_);               \
            }                                                                                      \
            usleep(10 * 1000);                                                                     \
        }                                                                                          \
    } while (0)

#endif
