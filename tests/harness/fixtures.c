/*
 * fixtures: the helpers the integration suites share (see fixtures.h).
 */
#include "fixtures.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <libgen.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inboxd/lib/sig.h"

struct th t;
char account[37], key[64];

/* --- the test's server and tenant --------------------------------------- */

void
fx_start(const char *name, const char *const *settings)
{
    th_start(&t, true, settings);
    th_tenant(&t, name ? name : "Hot Rod AN", account, key);
}

void
fx_setup(void)
{
    fx_start(NULL, NULL);
}

void
fx_teardown(void)
{
    th_stop(&t);
}

/* --- a stream of requests ------------------------------------------------- */

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

CURL *
fx_curl(const char *path, struct curl_slist **hl)
{
    CURL *c = curl_easy_init();
    char url[256], auth[128];

    cr_assert_not_null(c);
    snprintf(url, sizeof(url), "%s%s", t.base, path);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    *hl = curl_slist_append(NULL, auth);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hl);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    if (t.tls_ca != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, t.tls_ca);
    if (t.tls_cert != NULL) {
        curl_easy_setopt(c, CURLOPT_SSLCERT, t.tls_cert);
        curl_easy_setopt(c, CURLOPT_SSLKEY, t.tls_key);
    }
    return c;
}

/* Runs the stream; cr_assert has no place on this thread, so it counts. */
static void *
stream_main(void *arg)
{
    struct fx_stream *s = arg;
    struct curl_slist *hl = NULL;
    CURL *c = NULL;

    while (!atomic_load(&s->stop)) {
        long status = 0, connects = 0;

        if (c == NULL)
            c = fx_curl(s->path, &hl);
        if (curl_easy_perform(c) == CURLE_OK &&
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200)
            atomic_fetch_add(&s->ok, 1);
        else
            atomic_fetch_add(&s->failed, 1);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
        s->connects += connects;
        if (s->fresh) {
            curl_easy_cleanup(c);
            curl_slist_free_all(hl);
            c = NULL;
        }
    }
    if (c != NULL) {
        curl_easy_cleanup(c);
        curl_slist_free_all(hl);
    }
    return NULL;
}

void
fx_stream_start(struct fx_stream *s)
{
    curl_global_init(CURL_GLOBAL_ALL); /* before any thread makes a handle */
    atomic_store(&s->stop, false);
    cr_assert_eq(pthread_create(&s->thread, NULL, stream_main, s), 0);
}

void
fx_stream_advance(struct fx_stream *s, int more)
{
    int goal = atomic_load(&s->ok) + more;

    TH_WAIT_UNTIL(atomic_load(&s->ok) >= goal, "the request stream stalled");
}

void
fx_stream_stop(struct fx_stream *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
}

/* --- JSON ---------------------------------------------------------------- */

const char *
jstr(const json_t *o, const char *path)
{
    const char *dot = strchr(path, '.');

    if (dot != NULL) {
        char first[64];

        snprintf(first, sizeof(first), "%.*s", (int)(dot - path), path);
        return jstr(json_object_get(o, first), dot + 1);
    }
    return json_string_value(json_object_get(o, path));
}

/* --- SQL ---------------------------------------------------------------- */

/* fmt formatted into a new string. */
static char *
format(const char *fmt, va_list ap)
{
    va_list again;
    int n;
    char *s;

    va_copy(again, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    cr_assert_geq(n, 0, "%s", fmt);
    s = malloc((size_t)n + 1);
    cr_assert_not_null(s);
    vsnprintf(s, (size_t)n + 1, fmt, again);
    va_end(again);
    return s;
}

/* In a function (const char *fmt, ...): `sql`, fmt formatted with the
 * arguments, for the caller to free. */
#define FORMAT_SQL(fmt)                                                                            \
    va_list ap;                                                                                    \
    char *sql;                                                                                     \
    va_start(ap, fmt);                                                                             \
    sql = format(fmt, ap);                                                                         \
    va_end(ap)

/* The one value of a one-row result ("NULL" for NULL) into out; clears r. */
static void
one_value(PGresult *r, const char *sql, char *out, size_t outlen)
{
    cr_assert_eq(PQntuples(r), 1, "%s: %d rows", sql, PQntuples(r));
    snprintf(out, outlen, "%s", PQgetisnull(r, 0, 0) ? "NULL" : PQgetvalue(r, 0, 0));
    PQclear(r);
}

void
sql_exec(const char *fmt, ...)
{
    FORMAT_SQL(fmt);
    PQclear(th_sql(&t, sql));
    free(sql);
}

PGresult *
sql_query(const char *fmt, ...)
{
    FORMAT_SQL(fmt);
    PGresult *r = th_sql(&t, sql);

    free(sql);
    return r;
}

long
sql_long(const char *fmt, ...)
{
    FORMAT_SQL(fmt);
    long v = th_sql_long(&t, sql);

    free(sql);
    return v;
}

void
sql_text(char *out, size_t outlen, const char *fmt, ...)
{
    FORMAT_SQL(fmt);
    one_value(th_sql(&t, sql), sql, out, outlen);
    free(sql);
}

PGresult *
sqlp_query(const char *sql, int n, const char *const *params)
{
    PGresult *r;

    if (PQstatus(t.sql) != CONNECTION_OK)
        PQreset(t.sql);
    r = PQexecParams(t.sql, sql, n, NULL, params, NULL, NULL, 0);
    cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK || PQresultStatus(r) == PGRES_COMMAND_OK,
              "%s: %s", sql, PQresultErrorMessage(r));
    return r;
}

void
sqlp_text(char *out, size_t outlen, const char *sql, int n, const char *const *params)
{
    one_value(sqlp_query(sql, n, params), sql, out, outlen);
}

long
sqlp_long(const char *sql, int n, const char *const *params)
{
    char v[32];

    sqlp_text(v, sizeof(v), sql, n, params);
    return atol(v);
}

/* --- rows ----------------------------------------------------------------- */

void
mk_channel(const char *acct, const char *type, const char *ext, char id[37])
{
    const char *p[] = {acct, type ? type : "email", ext};

    sqlp_text(id, 37,
              "INSERT INTO channels (account_id, id, type, external_id, name) "
              "VALUES ($1, inboxd_uuid7(), $2, coalesce($3, 'ch-' || inboxd_uuid7()), 'Support') "
              "RETURNING id",
              3, p);
}

void
mk_user(const char *acct, const char *email, char id[37])
{
    const char *p[] = {acct, email};

    sqlp_text(id, 37,
              "INSERT INTO users (account_id, id, email) VALUES ($1, inboxd_uuid7(), $2) "
              "RETURNING id",
              2, p);
}

void
mk_conv(const char *acct, const char *channel, const char *ext, char id[37])
{
    const char *p[] = {acct, channel, ext};

    sqlp_text(id, 37,
              "WITH x AS (SELECT coalesce($3, 'cv-' || inboxd_uuid7()) AS ext) "
              "INSERT INTO conversations (account_id, id, channel_id, external_id, subject, "
              "                           last_message_at, last_inbound_at) "
              "SELECT $1::uuid, inboxd_uuid7(), $2::uuid, x.ext, 'About ' || x.ext, "
              "       now() - interval '5 min', now() - interval '5 min' FROM x RETURNING id",
              3, p);
}

void
mk_msg(const char *acct, const char *conv, const char *dir, int age, char id[37])
{
    char secs[16];
    const char *p[] = {acct, conv, dir, secs};

    snprintf(secs, sizeof(secs), "%d", age);
    sqlp_text(id, 37,
              "INSERT INTO messages (account_id, id, conversation_id, direction, body_text, "
              "                      delivery_status, created_at) "
              "VALUES ($1, inboxd_uuid7(), $2, $3::message_direction, 'Where is my order?', "
              "        CASE WHEN $3::message_direction = 'outbound' "
              "             THEN 'pending'::delivery_status END, "
              "        now() - make_interval(secs => $4::int)) RETURNING id",
              4, p);
}

void
mk_request(const char *acct, const char *conv, int age, char msg[37], char req[37])
{
    char secs[16];
    const char *p[] = {acct, conv, NULL, secs};

    mk_msg(acct, conv, "inbound", age, msg);
    p[2] = msg;
    snprintf(secs, sizeof(secs), "%d", age);
    sqlp_text(req, 37,
              "INSERT INTO draft_requests (account_id, id, conversation_id, message_id, "
              "                            created_at) "
              "VALUES ($1, inboxd_uuid7(), $2, $3, now() - make_interval(secs => $4::int)) "
              "RETURNING id",
              4, p);
}

void
mk_pending(const char *acct, const char *chan, const char *ext, int minutes, const char *suggested,
           const char *suggested_html, char conv[37], char draft[37])
{
    char min[16];
    const char *p[] = {acct, chan, ext, min, suggested, suggested_html};
    const char *q[] = {acct, NULL, NULL};
    PGresult *r;

    snprintf(min, sizeof(min), "%d", minutes);
    r = sqlp_query(
        "WITH c AS ("
        "  INSERT INTO conversations (account_id, id, channel_id, external_id, subject, "
        "                             last_message_at, last_inbound_at) "
        "  VALUES ($1, inboxd_uuid7(), $2, $3, 'Subject ' || $3, "
        "          timestamptz '2026-01-01 00:00:00+00' + $4::int * interval '1 minute', "
        "          timestamptz '2026-01-01 00:00:00+00' + $4::int * interval '1 minute') "
        "  RETURNING id, last_inbound_at), "
        "m AS ("
        "  INSERT INTO messages (account_id, id, conversation_id, direction, body_text, "
        "                        sent_at, created_at) "
        "  SELECT $1, inboxd_uuid7(), c.id, 'inbound', 'Where is my order ' || $3, "
        "         c.last_inbound_at, c.last_inbound_at FROM c "
        "  RETURNING id, conversation_id), "
        "d AS ("
        "  INSERT INTO drafts (account_id, id, conversation_id, trigger_message_id, "
        "                     model_key, prompt_version, suggested_text, suggested_html) "
        "  SELECT $1, inboxd_uuid7(), m.conversation_id, m.id, 'gpt', 'v1', $5, $6 "
        "  FROM m RETURNING id) "
        "SELECT c.id, d.id FROM c, d",
        6, p);
    cr_assert_eq(PQntuples(r), 1);
    snprintf(conv, 37, "%s", PQgetvalue(r, 0, 0));
    snprintf(draft, 37, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    q[1] = conv;
    q[2] = draft;
    PQclear(sqlp_query("UPDATE conversations SET pending_draft_id = $3, feed_at = last_inbound_at "
                       "WHERE account_id = $1 AND id = $2",
                       3, q));
}

/* --- requests ------------------------------------------------------------- */

void
post_status(const char *path, const char *k, const char *body, long status, char id[37])
{
    struct resp r;

    th_post(&t, path, k, body, &r);
    cr_assert_eq(r.status, status, "POST %s %.200s: %ld %.500s", path, body, r.status, r.body);
    if (id != NULL)
        snprintf(id, 37, "%s", jstr(r.json, "id") ? jstr(r.json, "id") : "");
    resp_free(&r);
}

void
patch_if(const char *path, const char *k, const char *body, const char *if_match, struct resp *r)
{
    char h[128];
    const char *const hdr[] = {h, NULL};

    snprintf(h, sizeof(h), "If-Match: %s", if_match ? if_match : "");
    th_http(&t, "PATCH", path, k, body, if_match ? hdr : NULL, r);
}

static int
by_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Fails the test when an id of ids[0..n) comes twice (sorted in a copy:
 * a search walk holds 10,000). */
static void
expect_distinct(char ids[][37], int n)
{
    char(*sorted)[37] = malloc(sizeof(*sorted) * (size_t)(n > 0 ? n : 1));

    cr_assert_not_null(sorted);
    memcpy(sorted, ids, sizeof(*sorted) * (size_t)n);
    qsort(sorted, (size_t)n, sizeof(*sorted), by_id);
    for (int i = 1; i < n; i++)
        cr_assert_str_neq(sorted[i - 1], sorted[i], "id repeated across pages");
    free(sorted);
}

int
walk(const char *k, const char *path, int limit, char ids[][37], int max, int *pages)
{
    char url[1024], cur[256] = "";
    int n = 0, np = 0;

    for (;;) {
        struct resp r;
        const json_t *items, *it, *next;
        size_t i;

        snprintf(url, sizeof(url), "%s%slimit=%d%s%s", path, strchr(path, '?') ? "&" : "?", limit,
                 cur[0] ? "&cursor=" : "", cur);
        th_get(&t, url, k, &r);
        cr_assert_eq(r.status, 200, "GET %s: %s", url, r.body);
        items = json_object_get(r.json, "items");
        cr_assert(json_is_array(items), "%s", r.body);
        cr_assert_leq(json_array_size(items), (size_t)limit, "%s: a page over the limit", url);
        json_array_foreach (items, i, it) {
            cr_assert_lt(n, max, "more items than expected");
            const json_t *hit = json_object_get(it, "message");

            snprintf(ids[n], 37, "%s", jstr(hit != NULL ? hit : it, "id"));
            n++;
        }
        np++;
        next = json_object_get(r.json, "nextCursor");
        cr_assert(json_is_string(next) || json_is_null(next), "%s", r.body);
        cur[0] = '\0';
        if (json_is_string(next))
            snprintf(cur, sizeof(cur), "%s", json_string_value(next));
        resp_free(&r);
        if (!cur[0])
            break;
        cr_assert_lt(np, 1000, "pagination does not end");
    }
    expect_distinct(ids, n);
    if (pages != NULL)
        *pages = np;
    return n;
}

void
claim_requests(const char *k, int limit, int lease, const char *worker, struct resp *r)
{
    char body[256];

    snprintf(body, sizeof(body), "{\"limit\": %d, \"leaseSeconds\": %d, \"workerId\": \"%s\"}",
             limit, lease, worker);
    th_post(&t, "/v1/draft-requests/claim", k, body, r);
}

void
act(const char *draft, const char *k, const char *type, const char *uid, const char *final_text,
    const char *final_html, const char *const *headers, struct resp *r)
{
    json_t *o = json_object();
    char path[128];
    char *body;

    if (type)
        json_object_set_new(o, "type", json_string(type));
    if (uid)
        json_object_set_new(o, "userId", json_string(uid));
    if (final_text)
        json_object_set_new(o, "finalText", json_string(final_text));
    if (final_html)
        json_object_set_new(o, "finalHtml", json_string(final_html));
    body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    snprintf(path, sizeof(path), "/v1/drafts/%s/actions", draft);
    th_http(&t, "POST", path, k, body, headers, r);
    free(body);
}

int
feed_ids(const json_t *page, char ids[][37], int n)
{
    size_t i;
    json_t *it;

    json_array_foreach (json_object_get(page, "items"), i, it) {
        snprintf(ids[n++], 37, "%s", jstr(it, "conversation.id"));
    }
    return n;
}

char *
big_object_body(const char *prefix, const char *field)
{
    size_t n = 70 * 1024;
    char *b = malloc(n + 256);
    int k;

    cr_assert_not_null(b);
    k = snprintf(b, 256, "{%s\"%s\":{\"k\":\"", prefix, field);
    memset(b + k, 'x', n);
    strcpy(b + k + n, "\"}}");
    return b;
}

/* --- webhooks --------------------------------------------------------------- */

void
webhook_sources(void)
{
    setenv("INBOXD_WEBHOOK_HOOKSHOP_SECRET", "shop-secret", 1);
    setenv("INBOXD_WEBHOOK_HOOKSHOP_ACCOUNT", "Hook Shop", 1);
    setenv("INBOXD_WEBHOOK_ROT_SECRET", "rot-new", 1);
    setenv("INBOXD_WEBHOOK_ROT_SECRET_PREVIOUS", "rot-old", 1);
    setenv("INBOXD_WEBHOOK_ROT_ACCOUNT", "Hook Shop", 1);
    setenv("INBOXD_WEBHOOK_OTHER_SECRET", "other-secret", 1);
    setenv("INBOXD_WEBHOOK_OTHER_ACCOUNT", "Other Shop", 1);
    setenv("INBOXD_WEBHOOK_GHOST_SECRET", "ghost-secret", 1);
    setenv("INBOXD_WEBHOOK_GHOST_ACCOUNT", "Nobody", 1);
    setenv("INBOXD_WEBHOOK_STD_SECRET", STD_SECRET_NEW, 1);
    setenv("INBOXD_WEBHOOK_STD_SECRET_PREVIOUS", STD_SECRET_OLD, 1);
    setenv("INBOXD_WEBHOOK_STD_ACCOUNT", "Hook Shop", 1);
    setenv("INBOXD_WEBHOOK_STD_SCHEME", "standard", 1);
}

void
standard_sign(const char *secret, const char *id, long long ts, const char *body, char *out,
              size_t outlen)
{
    char path[] = "/tmp/inboxd-std-body-XXXXXX", cmd[1024];
    int fd = mkstemp(path);
    size_t n = strlen(body);
    FILE *p;

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, body, n), (ssize_t)n);
    close(fd);
    /* Python's hmac and base64, not sig.c: an independent signer. */
    snprintf(cmd, sizeof(cmd),
             "python3 -c 'import sys, hmac, hashlib, base64\n"
             "key = base64.b64decode(sys.argv[1][len(\"whsec_\"):])\n"
             "msg = sys.argv[2].encode() + b\".\" + sys.argv[3].encode() + b\".\" + "
             "open(sys.argv[4], \"rb\").read()\n"
             "print(\"v1,\" + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest())"
             ".decode())' '%s' '%s' %lld '%s'",
             secret, id, ts, path);
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    cr_assert_not_null(fgets(out, (int)outlen, p));
    cr_assert_eq(pclose(p), 0);
    unlink(path);
    out[strcspn(out, "\n")] = '\0';
    cr_assert_eq(strncmp(out, "v1,", 3), 0, "%s", out);
}

void
deliver_standard(const char *source, const char *id, long long ts, const char *signature,
                 const char *body, struct resp *r)
{
    char path[128], id_h[300], ts_h[64], sig_h[1024];
    const char *h[] = {id_h, ts_h, sig_h, NULL};

    snprintf(path, sizeof(path), "/v1/webhooks/%s", source);
    snprintf(id_h, sizeof(id_h), "webhook-id: %s", id);
    snprintf(ts_h, sizeof(ts_h), "webhook-timestamp: %lld", ts);
    snprintf(sig_h, sizeof(sig_h), "webhook-signature: %s", signature);
    th_http(&t, "POST", path, NULL, body, h, r);
}

void
deliver_standard_signed(const char *source, const char *secret, const char *id, long skew,
                        const char *body, struct resp *r)
{
    char sig[128];
    long long ts = (long long)time(NULL) + skew;

    standard_sign(secret, id, ts, body, sig, sizeof(sig));
    deliver_standard(source, id, ts, sig, body, r);
}

void
deliver_with(const char *source, const char *secret, long skew, const char *extra, const char *body,
             struct resp *r)
{
    char path[128], ts_h[64], sig_h[128], sig[72];
    long long ts = (long long)time(NULL) + skew;
    const char *h[] = {ts_h, sig_h, extra, NULL};

    snprintf(path, sizeof(path), "/v1/webhooks/%s", source);
    if (secret != NULL) {
        cr_assert_eq(sig_sign(secret, ts, body, strlen(body), sig), 0);
        snprintf(ts_h, sizeof(ts_h), "X-Inboxd-Timestamp: %lld", ts);
        snprintf(sig_h, sizeof(sig_h), "X-Inboxd-Signature: %s", sig);
    }
    th_http(&t, "POST", path, NULL, body, secret ? h : NULL, r);
}

void
deliver_at(const char *source, const char *secret, long skew, const char *body, struct resp *r)
{
    deliver_with(source, secret, skew, NULL, body, r);
}

void
deliver(const char *source, const char *secret, const char *body, struct resp *r)
{
    deliver_at(source, secret, 0, body, r);
}

void
webhook_delivery(char *out, size_t n, const char *delivery_id, const char *conv_ext,
                 const char *msg_ext)
{
    snprintf(out, n,
             "{\"deliveryId\":\"%s\",\"topic\":\"message.created\","
             "\"channel\":{\"type\":\"email\",\"externalId\":\"zoho-support\","
             "\"name\":\"Support inbox\"},"
             "\"conversation\":{\"externalId\":\"%s\",\"subject\":\"Order 1042\","
             "\"customerEmail\":\"anna@example.com\",\"customerName\":\"Anna\"},"
             "\"message\":{\"externalId\":\"%s\",\"subject\":\"Where is it?\","
             "\"bodyText\":\"Where is my order 1042?\",\"bodyHtml\":\"<p>Where?</p>\","
             "\"sentAt\":\"2026-11-22T11:04:05.123+01:00\",\"metadata\":{\"lang\":\"en\"},"
             "\"attachments\":[{\"fileName\":\"a.png\",\"mimeType\":\"image/png\","
             "\"sizeBytes\":12,\"fileUrl\":\"s3://b/a.png\"}]}}",
             delivery_id, conv_ext, msg_ext);
}

void
take_ids(const struct resp *r, struct webhook_ids *x)
{
    const char *v;

    cr_assert_not_null(r->json, "%s", r->body);
    snprintf(x->event, sizeof(x->event), "%s", jstr(r->json, "eventId"));
    v = jstr(r->json, "conversationId");
    snprintf(x->conv, sizeof(x->conv), "%s", v ? v : "");
    v = jstr(r->json, "messageId");
    snprintf(x->msg, sizeof(x->msg), "%s", v ? v : "");
    v = jstr(r->json, "draftRequestId");
    snprintf(x->req, sizeof(x->req), "%s", v ? v : "");
}

/* --- assertions ------------------------------------------------------------- */

void
expect_field(const struct resp *r, const char *field, const char *what)
{
    const json_t *errs, *e;
    size_t i;

    if (what == NULL)
        what = field;
    cr_assert_eq(r->status, 422, "%s: expected 422, got %ld: %.500s", what, r->status, r->body);
    expect_problem(r, 422);
    errs = json_object_get(r->json, "errors");
    cr_assert(json_is_array(errs), "%s: no errors[]: %.500s", what, r->body);
    json_array_foreach (errs, i, e) {
        const char *f = jstr(e, "field");

        if (f != NULL && strcmp(f, field) == 0) {
            cr_assert(json_is_string(json_object_get(e, "message")), "%s: %.500s", what, r->body);
            return;
        }
    }
    cr_assert_fail("%s: field %s not named: %.500s", what, field, r->body);
}

bool
names_field(const struct resp *r, const char *field)
{
    const json_t *e;
    size_t i;

    json_array_foreach (json_object_get(r->json, "errors"), i, e) {
        const char *f = jstr(e, "field");

        if (f != NULL && strcmp(f, field) == 0)
            return true;
    }
    return false;
}

void
expect_fields(const struct resp *r, const char *const *fields)
{
    size_t n = 0;

    expect_problem(r, 422);
    for (; fields[n]; n++)
        cr_assert(names_field(r, fields[n]), "no error for %s: %s", fields[n], r->body);
    cr_assert_eq(json_array_size(json_object_get(r->json, "errors")), n, "other errors too: %s",
                 r->body);
}

void
expect_param(const struct resp *r, const char *name, const char *what)
{
    if (what == NULL)
        what = name;
    cr_assert_eq(r->status, 400, "%s: expected 400, got %ld: %.500s", what, r->status, r->body);
    expect_problem(r, 400);
    cr_assert(names_field(r, name), "%s: parameter %s not named: %.500s", what, name, r->body);
}

long
audit_count(const char *action, const char *id)
{
    return sql_long("SELECT count(*) FROM audit_log WHERE account_id = '%s' AND action = '%s' "
                    "AND resource_id = '%s'",
                    account, action, id);
}

void
post_request_draft(struct th *at, const char *k, const struct webhook_ids *x, char draft[37])
{
    char path[160], body[512];
    struct resp r;

    snprintf(path, sizeof(path), "/v1/conversations/%s/drafts", x->conv);
    snprintf(body, sizeof(body),
             "{\"triggerMessageId\":\"%s\",\"draftRequestId\":\"%s\",\"modelKey\":\"m\","
             "\"promptVersion\":\"v1\",\"suggestedText\":\"It ships today.\"}",
             x->msg, x->req);
    th_post(at, path, k, body, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    snprintf(draft, 37, "%s", jstr(r.json, "id"));
    resp_free(&r);
}

/* --- live event streams ------------------------------------------------------ */

static void
sse_grow(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    *cap = need * 2;
    *buf = realloc(*buf, *cap);
    cr_assert_not_null(*buf);
}

/* De-chunks what raw holds into body. */
static void
sse_dechunk(struct sse *s)
{
    for (;;) {
        char *crlf = s->rlen ? memmem(s->raw, s->rlen, "\r\n", 2) : NULL;
        size_t size, head;

        if (crlf == NULL)
            return;
        size = strtoul(s->raw, NULL, 16);
        head = (size_t)(crlf - s->raw) + 2;
        if (size == 0) {
            s->closed = true;
            s->rlen = 0;
            return;
        }
        if (s->rlen < head + size + 2)
            return;
        sse_grow(&s->body, &s->bcap, s->blen + size + 1);
        memcpy(s->body + s->blen, s->raw + head, size);
        s->blen += size;
        s->body[s->blen] = '\0';
        memmove(s->raw, s->raw + head + size + 2, s->rlen - head - size - 2);
        s->rlen -= head + size + 2;
    }
}

/* Reads what comes within ms; false when nothing came. */
static bool
sse_read(struct sse *s, int ms)
{
    struct pollfd p = {.fd = s->fd, .events = POLLIN};
    ssize_t n;

    if (s->closed || poll(&p, 1, ms) <= 0)
        return false;
    sse_grow(&s->raw, &s->rcap, s->rlen + 65536);
    n = read(s->fd, s->raw + s->rlen, 65536);
    if (n <= 0) {
        s->closed = true;
        return false;
    }
    s->rlen += (size_t)n;
    return true;
}

void
sse_open(struct sse *s, const char *base, const char *path, const char *k, const char *last)
{
    struct th at = {0};
    char req[1024], *end;
    long long start = th_now_ms();

    memset(s, 0, sizeof(*s));
    snprintf(at.base, sizeof(at.base), "%s", base);
    s->fd = th_connect(&at, NULL);
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nAccept: text/event-stream\r\n"
             "%s%s%s\r\n",
             path, k, last ? "Last-Event-ID: " : "", last ? last : "", last ? "\r\n" : "");
    cr_assert_eq(write(s->fd, req, strlen(req)), (ssize_t)strlen(req));
    while ((end = s->rlen ? memmem(s->raw, s->rlen, "\r\n\r\n", 4) : NULL) == NULL) {
        cr_assert_lt(th_now_ms() - start, TH_PATIENCE_MS, "no answer to GET %s", path);
        sse_read(s, 100);
        cr_assert(!s->closed || s->rlen > 0, "closed without an answer");
        if (s->closed)
            break;
    }
    cr_assert(s->rlen > 12);
    s->status = strtol(s->raw + 9, NULL, 10);
    if (end != NULL) {
        size_t head = (size_t)(end - s->raw) + 4;
        struct resp r = {.status = s->status};

        r.headers = strndup(s->raw, head);
        cr_assert_not_null(r.headers);
        th_check_response("GET", path, &r);
        free(r.headers);

        memmove(s->raw, s->raw + head, s->rlen - head);
        s->rlen -= head;
    }
    if (s->status != 200)
        s->closed = true;
}

/* Takes one block ("...\n\n") off body: an event (true) or comments. */
static bool
sse_take(struct sse *s, struct sse_event *e, bool *got)
{
    char *end = s->blen ? strstr(s->body, "\n\n") : NULL;
    char *line;

    *got = false;
    if (end == NULL)
        return false;
    *end = '\0';
    memset(e, 0, sizeof(*e));
    for (line = s->body; line && *line; ) {
        char *nl = strchr(line, '\n');

        if (nl)
            *nl = '\0';
        if (line[0] == ':')
            s->comments++;
        else if (strncmp(line, "id: ", 4) == 0)
            snprintf(e->id, sizeof(e->id), "%s", line + 4);
        else if (strncmp(line, "event: ", 7) == 0)
            snprintf(e->type, sizeof(e->type), "%s", line + 7);
        else if (strncmp(line, "data: ", 6) == 0)
            snprintf(e->data, sizeof(e->data), "%s", line + 6);
        line = nl ? nl + 1 : NULL;
    }
    *got = e->type[0] != '\0';
    s->blen -= (size_t)(end + 2 - s->body);
    memmove(s->body, end + 2, s->blen + 1);
    return true;
}

bool
sse_poll(struct sse *s, struct sse_event *e, int ms)
{
    long long start = th_now_ms();

    for (;;) {
        bool got;

        sse_dechunk(s);
        while (sse_take(s, e, &got))
            if (got)
                return true;
        if (th_now_ms() - start >= ms || s->closed)
            return false;
        sse_read(s, 50);
    }
}

void
sse_next(struct sse *s, struct sse_event *e)
{
    cr_assert(sse_poll(s, e, TH_PATIENCE_MS), "no event came (closed: %d)", s->closed);
}

void
sse_wait_comments(struct sse *s, int n)
{
    long long start = th_now_ms();
    struct sse_event e;

    while (s->comments < n) {
        bool got;

        cr_assert_lt(th_now_ms() - start, TH_PATIENCE_MS, "only %d comments came", s->comments);
        cr_assert(!s->closed, "the stream ended");
        sse_dechunk(s);
        while (sse_take(s, &e, &got))
            cr_assert(!got, "unexpected event %s", e.type);
        if (s->comments < n)
            sse_read(s, 50);
    }
}

void
sse_close(struct sse *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    free(s->raw);
    free(s->body);
    s->raw = s->body = NULL;
}
