/*
 * fixtures: what the integration suites share on top of the harness: the
 * test's server and tenant, SQL on its database, rows made directly in the
 * database, and the requests and assertions more than one suite makes.
 * A helper that one suite alone uses stays in that suite.
 *
 * Criterion runs every test in its own process, so the globals below are
 * that one test's own: a suite's .init (fx_setup, or its own function that
 * calls fx_start) fills them, its .fini (fx_teardown) drops the database.
 */
#ifndef INBOXD_TEST_FIXTURES_H
#define INBOXD_TEST_FIXTURES_H

#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "harness.h"

#define FX_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* --- the test's server and tenant --------------------------------------- */

extern struct th t;
/* The tenant's account and a key of it with every scope. */
extern char account[37], key[64];

/* Starts inboxd on a fresh migrated database with the given settings
 * ("key=value", NULL-ended; may be NULL) and makes the tenant `name`
 * (NULL: "Hot Rod AN"). */
void fx_start(const char *name, const char *const *settings);
/* fx_start(NULL, NULL): a suite's usual .init. */
void fx_setup(void);
/* A suite's .fini: stops inboxd and drops the database. */
void fx_teardown(void);


/* A libcurl handle for GET `path` on the test's server with the test's
 * key (*hl, which the caller frees after the handle) and TLS files; the
 * answer's body is thrown away. */
CURL *fx_curl(const char *path, struct curl_slist **hl);

/* A stream of GET `path` requests with the test's key (and TLS files) on
 * a thread of its own, to show that something (a reload) fails none:
 * all on one kept-alive connection, or each on a new one (`fresh`). */
struct fx_stream {
    const char *path;
    bool fresh;
    pthread_t thread;
    atomic_bool stop;
    atomic_int ok, failed; /* answers 200, and anything else */
    long connects;         /* connections it opened */
};
void fx_stream_start(struct fx_stream *s);
/* Waits (generously) until `more` further requests succeeded. */
void fx_stream_advance(struct fx_stream *s, int more);
void fx_stream_stop(struct fx_stream *s);

/* --- JSON ---------------------------------------------------------------- */

/* The string member `path` of o ("a.b" reaches one level down), or NULL
 * when it is missing or not a string. */
const char *jstr(const json_t *o, const char *path);

/* --- SQL on the test database, as superuser; an error fails the test ---- */

/* printf-formatted: the caller quotes and escapes what it formats in. */
void sql_exec(const char *fmt, ...) FX_PRINTF(1, 2);
/* The result, which the caller PQclear()s. */
PGresult *sql_query(const char *fmt, ...) FX_PRINTF(1, 2);
/* The value of a one-row query, as a long. */
long sql_long(const char *fmt, ...) FX_PRINTF(1, 2);
/* The value of a one-row query, as text ("NULL" for NULL), into out. */
void sql_text(char *out, size_t outlen, const char *fmt, ...) FX_PRINTF(3, 4);

/* With text parameters $1..$n instead of formatting. */
PGresult *sqlp_query(const char *sql, int n, const char *const *params);
void sqlp_text(char *out, size_t outlen, const char *sql, int n, const char *const *params);
long sqlp_long(const char *sql, int n, const char *const *params);

/* --- rows made directly in the database ---------------------------------- */

/* A channel named "Support"; type NULL is "email", ext NULL a fresh
 * external id. */
void mk_channel(const char *acct, const char *type, const char *ext, char id[37]);
void mk_user(const char *acct, const char *email, char id[37]);
/* An open conversation "About <ext>" (ext NULL: a fresh one) whose latest
 * inbound message was 5 minutes ago. */
void mk_conv(const char *acct, const char *channel, const char *ext, char id[37]);
/* A message of direction `dir` made `age` seconds ago (an outbound one is
 * pending in the outbox). */
void mk_msg(const char *acct, const char *conv, const char *dir, int age, char id[37]);
/* An inbound message and its queued draft request, both `age` seconds old. */
void mk_request(const char *acct, const char *conv, int age, char msg[37], char req[37]);
/* A conversation whose customer wrote at 2026-01-01 00:00 + `minutes`, with
 * its inbound message and a pending draft, in the feed (feed_at set, as the
 * messages and drafts routes keep it). suggested_html may be NULL. */
void mk_pending(const char *acct, const char *chan, const char *ext, int minutes,
                const char *suggested, const char *suggested_html, char conv[37], char draft[37]);

/* --- requests ------------------------------------------------------------- */

/* POSTs body to path, asserts `status` and copies the answer's id (when id
 * is not NULL). */
void post_status(const char *path, const char *k, const char *body, long status, char id[37]);
/* PATCH with an If-Match header (if_match NULL: none). */
void patch_if(const char *path, const char *k, const char *body, const char *if_match,
              struct resp *r);
/* Pages through the list at `path` (with or without a query) `limit` items
 * at a time, following nextCursor; collects the items' ids (for a search
 * hit its message's; at most max), and fails on a page error, an id seen
 * twice or a page over the limit. Returns how many; *pages (may be NULL)
 * gets the number of pages. */
int walk(const char *k, const char *path, int limit, char ids[][37], int max, int *pages);
/* POST /v1/draft-requests/claim. */
void claim_requests(const char *k, int limit, int lease, const char *worker, struct resp *r);
/* POSTs an action on a draft; the body is built from the arguments (NULL:
 * the field is left out). headers may be NULL. */
void act(const char *draft, const char *k, const char *type, const char *uid,
         const char *final_text, const char *final_html, const char *const *headers,
         struct resp *r);
/* Appends the conversation ids of a feed page's items to ids[] from n on;
 * returns the new count. */
int feed_ids(const json_t *page, char ids[][37], int n);
/* A JSON body {<prefix>"<field>":{"k":"xxx…"}} whose object is over 64 KiB.
 * Caller frees. */
char *big_object_body(const char *prefix, const char *field);

/* --- webhooks --------------------------------------------------------------- */

/* Sets the webhook sources the webhook suites deliver to (the harness
 * unsets only the configuration table's keys, so they survive th_start);
 * their accounts are resolved by name on every delivery:
 *
 *   hookshop  secret "shop-secret"                      -> "Hook Shop"
 *   rot       secret "rot-new", previous "rot-old"      -> "Hook Shop"
 *   other     secret "other-secret"                     -> "Other Shop"
 *   ghost     secret "ghost-secret"                     -> "Nobody" (no such account)
 *   std       Standard Webhooks, STD_SECRET_NEW, previous STD_SECRET_OLD -> "Hook Shop"
 */
void webhook_sources(void);
/* The secrets of the source "std" (Standard Webhooks, "Hook Shop"): the
 * current one and, as its previous one, a second. */
#define STD_SECRET_NEW "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define STD_SECRET_OLD "whsec_c2Vjb25kLWtleS1vZi1hdC1sZWFzdC0yNC1ieXRlcw=="
/* The Standard Webhooks signature "v1,<base64>" of a delivery, computed
 * by python3's hmac (not by sig.c) into out. */
void standard_sign(const char *secret, const char *id, long long ts, const char *body, char *out,
                   size_t outlen);
/* POSTs body to /v1/webhooks/<source> with webhook-id `id`, the
 * webhook-timestamp ts and webhook-signature `signature` as given. */
void deliver_standard(const char *source, const char *id, long long ts, const char *signature,
                      const char *body, struct resp *r);
/* The same, signed by standard_sign() with secret. */
void deliver_standard_signed(const char *source, const char *secret, const char *id, long skew,
                             const char *body, struct resp *r);
/* POSTs body to /v1/webhooks/<source>, signed with secret at now + skew
 * seconds (secret NULL: no signature headers at all), with one more header
 * when `extra` is not NULL. */
void deliver_with(const char *source, const char *secret, long skew, const char *extra,
                  const char *body, struct resp *r);
void deliver_at(const char *source, const char *secret, long skew, const char *body,
                struct resp *r);
void deliver(const char *source, const char *secret, const char *body, struct resp *r);
/* A message.created delivery body. */
void webhook_delivery(char *out, size_t n, const char *delivery_id, const char *conv_ext,
                      const char *msg_ext);

/* The ids of a WebhookResult ("" where null). */
struct webhook_ids {
    char event[37], conv[37], msg[37], req[37];
};
void take_ids(const struct resp *r, struct webhook_ids *x);
/* The assistants service's draft for a delivery's request, posted to
 * instance `at` with key k (201 asserted); its id into draft. */
void post_request_draft(struct th *at, const char *k, const struct webhook_ids *x,
                        char draft[37]);

/* --- assertions ------------------------------------------------------------- */

/* A 422 problem whose errors[] names `field` with a message; `what` (may
 * be NULL) says which case in the failure message. */
void expect_field(const struct resp *r, const char *field, const char *what);
/* Whether the problem's errors[] names `field`. */
bool names_field(const struct resp *r, const char *field);
/* A 422 problem whose errors[] names exactly these fields (NULL-ended). */
void expect_fields(const struct resp *r, const char *const *fields);
/* A 400 problem whose errors[] names query parameter `name`. */
void expect_param(const struct resp *r, const char *name, const char *what);
/* The audit rows of this test's account with that action on resource id. */
long audit_count(const char *action, const char *id);

/* --- live event streams (GET /v1/events) ----------------------------------- */

/* One text/event-stream answer read off a raw connection: the status, and
 * then its events one by one. */
struct sse {
    int fd;
    long status;
    char *raw;       /* bytes read, not yet de-chunked */
    size_t rlen, rcap;
    char *body;      /* de-chunked, not yet parsed */
    size_t blen, bcap;
    int comments;    /* comment lines seen (": keepalive") */
    bool closed;     /* the server ended the answer */
};
struct sse_event {
    char id[80];
    char type[40];
    char data[2048];
};

/* GET path on server `base` ("http://127.0.0.1:PORT") with key k and, when
 * not NULL, Last-Event-ID last; reads the status line and headers. */
void sse_open(struct sse *s, const char *base, const char *path, const char *k, const char *last);
/* The next event, waiting up to TH_PATIENCE_MS (a test failure past it). */
void sse_next(struct sse *s, struct sse_event *e);
/* Waits until `n` comment lines have been seen in all (events, if any
 * come meanwhile, fail the test). */
void sse_wait_comments(struct sse *s, int n);
/* Whether an event arrives within ms (for "nothing more came" checks,
 * after something that would have sent it is known to be done). */
bool sse_poll(struct sse *s, struct sse_event *e, int ms);
void sse_close(struct sse *s);

#endif
