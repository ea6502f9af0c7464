/*
 * harness: in-process inboxd + libcurl for the integration suites.
 */
#include "harness.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "inboxd/app.h"
#include "inboxd/http/auth.h"
#include "inboxd/db/db.h"
#include "inboxd/db/keys.h"
#include "inboxd/lib/embedded.h"
#include "inboxd/db/migrate.h"
#include "inboxd/http/router.h"
#include "inboxd/lib/problem_types.h"
#include "inboxd/lib/sbuf.h"
#include "inboxd/lib/sig.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/http/server.h"
#include "oas.h"

long long
th_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long
th_lock_waiters(struct th *t)
{
    PQclear(th_sql(t, "SELECT pg_stat_clear_snapshot()"));
    return th_sql_long(t, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                          "AND datname = current_database() AND application_name = 'inboxd'");
}

int
th_connect(struct th *t, const char *from)
{
    struct sockaddr_in to = {.sin_family = AF_INET};
    const char *colon = strrchr(t->base, ':');
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    cr_assert_not_null(colon);
    to.sin_port = htons((uint16_t)atoi(colon + 1));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (from != NULL) {
        struct sockaddr_in src = {.sin_family = AF_INET};

        cr_assert_eq(inet_pton(AF_INET, from, &src.sin_addr), 1);
        cr_assert_eq(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0, "bind %s: %s", from,
                     strerror(errno));
    }
    cr_assert_eq(connect(fd, (struct sockaddr *)&to, sizeof(to)), 0, "connect: %s",
                 strerror(errno));
    return fd;
}

size_t
th_raw(struct th *t, const char *bytes, size_t n, char **out)
{
    int fd = th_connect(t, NULL);
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    long long start = th_now_ms();

    cr_assert_not_null(buf);
    /* The server may close before it has read all of it: that is what
     * some tests are about, so a failed send only ends the sending. */
    for (size_t off = 0; off < n;) {
        ssize_t w = send(fd, bytes + off, n - off, MSG_NOSIGNAL);

        if (w <= 0)
            break;
        off += (size_t)w;
    }
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t got;

        cr_assert_lt(th_now_ms() - start, TH_PATIENCE_MS, "the server never closed: %.*s",
                     (int)len, buf);
        if (poll(&p, 1, 100) <= 0)
            continue;
        if (len + 1024 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            cr_assert_not_null(buf);
        }
        got = recv(fd, buf + len, cap - len - 1, 0);
        if (got <= 0)
            break; /* closed, or reset */
        len += (size_t)got;
    }
    close(fd);
    buf[len] = '\0';
    *out = buf;
    return len;
}


/* An answer's JSON. inboxd hands back callers' numbers as sent, integers
 * beyond int64 too, which jansson reads only as reals; the checks here need
 * the shape, not those digits. */
static json_t *
th_json(const char *text, size_t len)
{
    json_t *j = json_loadb(text, len, 0, NULL);

    return j != NULL ? j : json_loadb(text, len, JSON_DECODE_INT_AS_REAL, NULL);
}

static const char *
admin_url(void)
{
    const char *u = getenv("INBOXD_TEST_DATABASE_URL");

    if (u == NULL || u[0] == '\0')
        cr_assert_fail("INBOXD_TEST_DATABASE_URL is not set: run the tests with ./dev.sh test");
    return u;
}

static void
admin_exec(const char *sql)
{
    PGconn *c = PQconnectdb(admin_url());
    PGresult *r;

    cr_assert_eq(PQstatus(c), CONNECTION_OK, "admin connection: %s", PQerrorMessage(c));
    r = PQexec(c, sql);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
}

static void
load_config(struct th *t, const char *const *settings)
{
    char *argv[64];
    char flags[32][800];
    char err[512];
    int argc = 0, n = 0;

    /* The caller's environment must not leak into a test's settings. */
    for (const struct config_key *k = config_keys; k->name; k++)
        unsetenv(k->env);
    argv[argc++] = "inboxd-test";
#define FLAG(...) (snprintf(flags[n], sizeof(flags[n]), __VA_ARGS__), argv[argc++] = flags[n++])
    FLAG("--database-url=%s", t->app_conninfo);
    FLAG("--listen=127.0.0.1:0");
    FLAG("--log-level=%s", getenv("INBOXD_TEST_LOG") ? getenv("INBOXD_TEST_LOG") : "error");
    FLAG("--shutdown-timeout-s=10");
    FLAG("--pool-wait-ms=3000");
    /* Behind a transaction pooler (INBOXD_TEST_POOLER), as README says. */
    if (getenv("INBOXD_TEST_POOLER") != NULL)
        FLAG("--prepare=false");
    for (int i = 0; settings && settings[i]; i++) {
        char key[128];
        const char *eq = strchr(settings[i], '=');
        size_t kl = eq ? (size_t)(eq - settings[i]) : 0;

        cr_assert(eq && kl < sizeof(key), "setting %s", settings[i]);
        memcpy(key, settings[i], kl);
        key[kl] = '\0';
        for (char *p = key; *p; p++)
            if (*p == '_')
                *p = '-';
        FLAG("--%s=%s", key, eq + 1);
    }
#undef FLAG
    argv[argc] = NULL;
    cr_assert_eq(config_load(&t->cf, "/dev/null", &argc, argv, err, sizeof(err)), 0, "config: %s",
                 err);
}

void
th_app_start(struct th *t)
{
    char err[512];

    cr_assert_eq(app_start(&t->cf, err, sizeof(err)), 0, "app_start: %s", err);
    snprintf(t->base, sizeof(t->base), "%s://127.0.0.1:%u",
             t->cf.tls_cert[0] ? "https" : "http", server_port());
    t->running = true;
}

void
th_app_stop(struct th *t)
{
    if (t->running)
        app_stop();
    t->running = false;
}

/* The name of a template database migrated to exactly this binary's
 * migrations: their checksums, hashed. */
static void
template_name(char out[64])
{
    struct sbuf b;
    char hash[AUTH_HASH_HEX + 1];
    char *all;
    size_t len;

    sbuf_init(&b);
    for (const struct embedded_file *f = embedded_files; f->name; f++)
        if (strlen(f->name) > 5 && f->name[4] == '_')
            sbuf_add(&b, f->data, f->len);
    all = sbuf_steal(&b, &len);
    cr_assert_not_null(all);
    cr_assert_eq(sig_sha256_hex(all, len, hash), 0);
    free(all);
    snprintf(out, 64, "inboxd_tpl_%.16s", hash);
}

/* Migrating takes most of a test's setup, so it happens once per cluster
 * into a template that each test's database is copied from. The advisory
 * lock makes concurrent test processes build it once. */
static void
ensure_template(const char *tpl)
{
    PGconn *c = PQconnectdb(admin_url());
    const char *p[] = {tpl};
    PGresult *r;
    char sql[200], conninfo[700], err[600];

    cr_assert_eq(PQstatus(c), CONNECTION_OK, "admin connection: %s", PQerrorMessage(c));
    PQclear(PQexec(c, "SELECT pg_advisory_lock(7345102204)"));
    r = PQexecParams(c, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL, p, NULL, NULL, 0);
    if (PQntuples(r) == 0) {
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s_tmp STRATEGY = FILE_COPY", tpl);
        PQclear(PQexec(c, sql));
        snprintf(conninfo, sizeof(conninfo), "%s dbname=%s_tmp", admin_url(), tpl);
        cr_assert_eq(migrate_apply(conninfo, NULL, err, sizeof(err)), 0, "migrate: %s", err);
        /* Renamed only when complete: a half-built template is never used. */
        snprintf(sql, sizeof(sql), "ALTER DATABASE %s_tmp RENAME TO %s", tpl, tpl);
        PQclear(PQexec(c, sql));
    }
    PQclear(r);
    PQclear(PQexec(c, "SELECT pg_advisory_unlock(7345102204)"));
    PQfinish(c);
}

void
th_start(struct th *t, bool migrate, const char *const *settings)
{
    const char *role = getenv("INBOXD_TEST_DB_ROLE");
    const char *pooler = getenv("INBOXD_TEST_POOLER");
    char sql[300], tpl[64];

    memset(t, 0, sizeof(*t));
    snprintf(t->dbname, sizeof(t->dbname), "inboxd_t_%d_%ld", (int)getpid(),
             (long)(th_now_ms() % 100000000));
    /* FILE_COPY: for a small template a file copy beats WAL-logging every
     * block (PostgreSQL 15 default) several times over. */
    if (migrate) {
        template_name(tpl);
        ensure_template(tpl);
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s TEMPLATE %s STRATEGY = FILE_COPY",
                 t->dbname, tpl);
    } else {
        snprintf(sql, sizeof(sql), "CREATE DATABASE %s STRATEGY = FILE_COPY", t->dbname);
    }
    admin_exec(sql);
    /* key=value conninfo: a later dbname overrides the admin URL's. */
    snprintf(t->conninfo, sizeof(t->conninfo), "%s dbname=%s", admin_url(), t->dbname);
    t->sql = PQconnectdb(t->conninfo);
    cr_assert_eq(PQstatus(t->sql), CONNECTION_OK, "%s", PQerrorMessage(t->sql));
    snprintf(t->app_conninfo, sizeof(t->app_conninfo), "%s", t->conninfo);
    if (migrate && role && role[0]) {
        char err[600];

        cr_assert_eq(migrate_roles(t->conninfo, err, sizeof(err)), 0, "roles: %s", err);
        snprintf(t->app_conninfo, sizeof(t->app_conninfo), "%s user=%s", t->conninfo, role);
    }
    /* INBOXD_TEST_POOLER: "host=... port=..." of a PgBouncer in front of
     * the cluster (tests/topology/with-pgbouncer.sh); inboxd goes through
     * it, the test's own SQL connection does not. */
    if (pooler != NULL && pooler[0] != '\0') {
        size_t len = strlen(t->app_conninfo);

        cr_assert_lt(len + 1 + strlen(pooler), sizeof(t->app_conninfo), "INBOXD_TEST_POOLER");
        snprintf(t->app_conninfo + len, sizeof(t->app_conninfo) - len, " %s", pooler);
    }
    load_config(t, settings);
    th_app_start(t);
}

void
th_stop(struct th *t)
{
    char sql[200];

    th_app_stop(t);
    if (t->sql)
        PQfinish(t->sql);
    t->sql = NULL;
    config_cleanup(&t->cf);
    if (t->dbname[0]) {
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", t->dbname);
        admin_exec(sql);
    }
}

PGresult *
th_sql(struct th *t, const char *sql)
{
    PGresult *r;

    if (PQstatus(t->sql) != CONNECTION_OK)
        PQreset(t->sql);
    r = PQexec(t->sql, sql);
    cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK,
              "%s: %s", sql, PQresultErrorMessage(r));
    return r;
}

long
th_sql_long(struct th *t, const char *sql)
{
    PGresult *r = th_sql(t, sql);
    long v;

    cr_assert_eq(PQntuples(r), 1, "%s: %d rows", sql, PQntuples(r));
    v = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

void
th_account(struct th *t, const char *name, char id[37])
{
    struct problem pb = {0};

    (void)t;
    cr_assert_eq(db_accounts_create(name, id, &pb), 0, "account: %s", pb.detail);
}

void
th_key(struct th *t, const char *account_id, const char *scopes, char key[64])
{
    struct problem pb = {0};
    char prefix[AUTH_PREFIX_LEN + 1], hash[AUTH_HASH_HEX + 1], id[37];
    unsigned sc;

    (void)t;
    cr_assert_eq(scope_parse(scopes, &sc), 0, "scopes %s", scopes);
    cr_assert_eq(auth_key_generate(key, prefix, hash), 0);
    cr_assert_eq(db_keys_insert(account_id, "test", sc, prefix, hash, id, &pb), 0, "key: %s",
                 pb.detail);
}

void
th_tenant(struct th *t, const char *name, char account_id[37], char key[64])
{
    th_account(t, name, account_id);
    th_key(t, account_id,
           "read messages:write drafts:write actions:write outbox:write jobs:write admin", key);
}

struct buf {
    char *p;
    size_t len;
};

static size_t
collect(char *data, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    size_t add = size * n;
    char *np = realloc(b->p, b->len + add + 1);

    cr_assert_not_null(np);
    memcpy(np + b->len, data, add);
    b->p = np;
    b->len += add;
    b->p[b->len] = '\0';
    return add;
}

/* Appends "METHOD PATTERN STATUS" to this process's file in
 * INBOXD_TEST_COVERAGE_DIR (which meson sets for every test), for
 * tests/route_coverage.c. One write() with O_APPEND, so the threads of a
 * test never interleave half lines. */
static void
note_route(const char *method, const char *pattern, long status)
{
    const char *dir = getenv("INBOXD_TEST_COVERAGE_DIR");
    char file[1024], line[600];
    int fd, n;

    if (dir == NULL || dir[0] == '\0')
        return;
    /* A subset run may come before any route_coverage_reset made it. */
    cr_assert(mkdir(dir, 0755) == 0 || errno == EEXIST, "coverage dir %s", dir);
    snprintf(file, sizeof(file), "%s/routes-%d", dir, (int)getpid());
    n = snprintf(line, sizeof(line), "%s %s %ld\n", method, pattern, status);
    fd = open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    cr_assert(fd >= 0, "coverage file %s", file);
    cr_assert_eq(write(fd, line, (size_t)n), n, "coverage file %s", file);
    close(fd);
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The path as the server's router saw it: without the query, %XX decoded
 * (MHD decodes the URL before our access handler). */
static void
server_path(const char *path, char *out, size_t outlen)
{
    size_t o = 0;

    for (const char *p = path; *p && *p != '?' && *p != '#' && o + 1 < outlen; p++) {
        if (p[0] == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            out[o++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

/* STYLE.md section 11: every response is checked against openapi.json, and
 * every matched route is noted for the coverage check. */
void
th_check_response(const char *method, const char *path, const struct resp *r)
{
    struct route_match m;
    struct problem pb = {0};
    char p[2048], ct[256] = "", err[2048];
    const char *pattern = NULL;
    int rc = 0;

    server_path(path, p, sizeof(p));
    if (strlen(p) < ROUTER_MAX_PATH && router_match(method, p, &m, &pb) == 0) {
        pattern = m.route->pattern;
        note_route(method, pattern, r->status);
    }
    /* API.md v1.1: every 201 says where what it created is, a path of a
     * route (a GET's where the resource has one). */
    if (r->status == 201) {
        char loc[1100], lp[1100];
        struct route_match lm;
        struct problem lpb = {0};

        cr_assert(resp_header(r, "Location", loc, sizeof(loc)), "%s %s answered 201 without Location",
                  method, path);
        server_path(loc, lp, sizeof(lp));
        cr_assert(loc[0] == '/' && (router_match("GET", lp, &lm, &lpb) == 0 || lpb.status == 405),
                  "%s %s: Location %s names no route", method, path, loc);
    }
    /* A HEAD answer is its GET's without the body (tests/stories/test_http.c
     * compares the two): nothing of it to check against the document. */
    if (strcmp(method, "HEAD") == 0) {
        cr_assert_eq(r->len, 0, "HEAD %s answered a body", path);
        return;
    }
    resp_header(r, "Content-Type", ct, sizeof(ct));
    if (strncasecmp(ct, "application/x-ndjson", 20) == 0) {
        /* One JSON value per line, each checked on its own. */
        for (const char *l = r->body; rc == 0 && *l;) {
            const char *eol = strchr(l, '\n');
            size_t len = eol ? (size_t)(eol - l) : strlen(l);
            json_t *j = th_json(l, len);

            rc = oas_check(method, pattern, r->status, ct, j, err, sizeof(err));
            json_decref(j);
            l += len + (eol != NULL);
        }
    } else {
        rc = oas_check(method, pattern, r->status, ct, r->json, err, sizeof(err));
    }
    if (rc != 0)
        cr_assert_fail("%s %s answered %ld, which openapi.json does not allow: %s\nbody: %.2000s",
                       method, path, r->status, err, r->body);
    /* RFC 9457: every problem type inboxd sends resolves to its page. */
    if (strncasecmp(ct, "application/problem+json", 24) == 0 && r->json != NULL) {
        const char *type = json_string_value(json_object_get(r->json, "type"));

        cr_assert(type != NULL && strncmp(type, "/problems/", 10) == 0 &&
                      problem_type_find(type + 10) != NULL,
                  "%s %s: problem type %s has no page (src/lib/problem_types.c)", method, path,
                  type ? type : "(none)");
    }
}

/* Undoes a Content-Encoding (only gzip is ever sent): r->body becomes what
 * was encoded, r->wire_len stays what came over the wire. */
static void
decode_body(struct resp *r)
{
    char ce[32];
    z_stream zs;
    char *out = NULL;
    size_t cap = 1 << 16;

    if (!resp_header(r, "Content-Encoding", ce, sizeof(ce)))
        return;
    cr_assert_str_eq(ce, "gzip", "an unknown Content-Encoding");
    memset(&zs, 0, sizeof(zs));
    cr_assert_eq(inflateInit2(&zs, 15 + 16), Z_OK);
    zs.next_in = (Bytef *)r->body;
    zs.avail_in = (uInt)r->len;
    for (;;) {
        int rc;

        out = realloc(out, cap + 1);
        cr_assert_not_null(out);
        zs.next_out = (Bytef *)out + zs.total_out;
        zs.avail_out = (uInt)(cap - zs.total_out);
        rc = inflate(&zs, Z_FINISH);
        if (rc == Z_STREAM_END)
            break;
        cr_assert(rc == Z_BUF_ERROR && zs.avail_out == 0, "a broken gzip body (%d)", rc);
        cap *= 2;
    }
    cr_assert_eq(zs.avail_in, 0, "bytes after the gzip member");
    out[zs.total_out] = '\0';
    free(r->body);
    r->body = out;
    r->len = zs.total_out;
    inflateEnd(&zs);
}

void
th_http(struct th *t, const char *method, const char *path, const char *key, const char *body,
        const char *const *headers, struct resp *r)
{
    int rc = th_http_try(t, method, path, key, body, headers, r);

    cr_assert_eq(rc, CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror((CURLcode)rc));
}

int
th_http_try(struct th *t, const char *method, const char *path, const char *key,
            const char *body, const char *const *headers, struct resp *r)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    struct buf b = {0}, h = {0};
    char url[2048], auth[128];
    CURLcode rc;

    cr_assert_not_null(c);
    memset(r, 0, sizeof(*r));
    snprintf(url, sizeof(url), "%s%s", t->base, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    /* A HEAD answer has headers only: curl must not wait for a body. */
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (key != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
        hl = curl_slist_append(hl, auth);
    }
    if (body != NULL) {
        bool typed = false;

        for (int i = 0; headers && headers[i]; i++)
            typed |= strncasecmp(headers[i], "Content-Type:", 13) == 0;
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        if (!typed)
            hl = curl_slist_append(hl, "Content-Type: application/json");
    }
    /* No "Expect: 100-continue" round trip for larger bodies, unless the
     * test asks for one. */
    bool expect = false;

    for (int i = 0; headers && headers[i]; i++)
        expect |= strncasecmp(headers[i], "Expect:", 7) == 0;
    if (!expect)
        hl = curl_slist_append(hl, "Expect:");
    for (int i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (t->tls_ca != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, t->tls_ca);
    if (t->tls_cert != NULL) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, t->tls_cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, t->tls_key);
    }
    rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        free(b.p);
        free(h.p);
        curl_slist_free_all(hl);
        curl_easy_cleanup(c);
        return (int)rc;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    r->body = b.p ? b.p : calloc(1, 1);
    r->len = b.len;
    r->headers = h.p ? h.p : calloc(1, 1);
    r->wire_len = r->len;
    decode_body(r);
    r->json = r->len ? th_json(r->body, r->len) : NULL;
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    th_check_response(method, path, r);
    return 0;
}

void
th_get(struct th *t, const char *path, const char *key, struct resp *r)
{
    th_http(t, "GET", path, key, NULL, NULL, r);
}

void
th_post(struct th *t, const char *path, const char *key, const char *body, struct resp *r)
{
    th_http(t, "POST", path, key, body, NULL, r);
}

bool
resp_header(const struct resp *r, const char *name, char *out, size_t outlen)
{
    size_t n = strlen(name);
    const char *p = r->headers;

    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t len = eol ? (size_t)(eol - p) : strlen(p);

        if (len > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1;
            size_t vl;

            while (*v == ' ')
                v++;
            vl = (size_t)(p + len - v);
            if (vl >= outlen)
                vl = outlen - 1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            return true;
        }
        p = eol ? eol + 2 : NULL;
    }
    return false;
}

void
resp_free(struct resp *r)
{
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

void
expect_problem(const struct resp *r, long status)
{
    char ct[128], rid[128];

    cr_assert_eq(r->status, status, "expected %ld, got %ld: %s", status, r->status, r->body);
    cr_assert(resp_header(r, "Content-Type", ct, sizeof(ct)));
    cr_assert_str_eq(ct, "application/problem+json");
    cr_assert_not_null(r->json, "problem body is not JSON: %s", r->body);
    cr_assert_eq(json_integer_value(json_object_get(r->json, "status")), status);
    cr_assert(json_is_string(json_object_get(r->json, "type")));
    cr_assert(json_is_string(json_object_get(r->json, "title")));
    cr_assert(json_is_string(json_object_get(r->json, "detail")));
    cr_assert(resp_header(r, "X-Request-Id", rid, sizeof(rid)));
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "instance")), rid);
}

void
th_inboxd_path(char *out)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    cr_assert_gt(n, 0);
    self[n] = '\0';
    snprintf(out, PATH_MAX, "%s/../inboxd", dirname(self));
    cr_assert_eq(access(out, X_OK), 0, "no inboxd binary at %s", out);
}

int
th_inboxd(char *out, size_t outlen, const char *env, const char *fmt, ...)
{
    char bin[PATH_MAX], args[2048], cmd[PATH_MAX + 3200];
    size_t len = 0, n;
    va_list ap;
    FILE *p;
    int status;

    th_inboxd_path(bin);
    va_start(ap, fmt);
    cr_assert_lt(vsnprintf(args, sizeof(args), fmt, ap), (int)sizeof(args));
    va_end(ap);
    /* No settings from the environment but those the caller names. */
    cr_assert_lt(snprintf(cmd, sizeof(cmd),
                          "cd / && env -u DATABASE_URL -u DATABASE_OWNER_URL %s '%s' %s 2>&1",
                          env ? env : "", bin, args),
                 (int)sizeof(cmd));
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    while (len + 1 < outlen && (n = fread(out + len, 1, outlen - 1 - len, p)) > 0)
        len += n;
    out[len] = '\0';
    while (fgetc(p) != EOF) {
        /* Drain what does not fit. */
    }
    status = pclose(p);
    cr_assert(WIFEXITED(status), "inboxd %s: killed", args);
    return WEXITSTATUS(status);
}

void
th_run_env_script(const char *var)
{
    const char *s = getenv(var);
    char cmd[1024];

    if (s == NULL || s[0] == '\0')
        cr_assert_fail("%s is not set: run the tests with ./dev.sh test", var);
    snprintf(cmd, sizeof(cmd), "%s >/dev/null 2>&1", s);
    cr_assert_eq(system(cmd), 0, "%s failed", s);
}

long long
th_metric(struct th *t, const char *key, const char *series)
{
    struct resp r;
    char line[256];
    const char *p;
    long long v;

    /* At the start of a line: not the # HELP line that names it too. */
    snprintf(line, sizeof(line), "\n%s ", series);
    th_get(t, "/metrics", key, &r);
    cr_assert_eq(r.status, 200);
    p = strstr(r.body, line);
    cr_assert_not_null(p, "%s missing from /metrics", series);
    v = atoll(p + strlen(line));
    resp_free(&r);
    return v;
}
