/*
 * routes/webhooks: signed inbound deliveries, their event log and replay,
 * the webhook registry and its diagnostics (API.md "Inbound webhooks").
 *
 * POST /v1/webhooks/{source} carries no key: the server skips bearer auth
 * for ROUTE_WEBHOOK and this file authenticates. The source must be
 * configured (else 404), the signature must verify with its current or
 * previous secret within webhook_max_skew_s (else 401, and nothing is
 * stored), and the caller becomes the source's account (resolved by id or
 * name, cached per source). A body that is not a JSON object is a 400 and
 * is not stored either; anything else is stored first and then validated
 * and processed by db_webhooks (validation itself is parse_delivery()
 * here, handed down as a callback so it runs on the stored payload).
 *
 * The literal routes (events, registry, diagnostics) come before
 * POST /v1/webhooks/{source} in the table, and those names are reserved:
 * never a source. No SQL here, and never a signature, secret or payload in
 * a log line.
 */
#include "inboxd/db/webhooks.h"

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inboxd/http/body.h"
#include "inboxd/http/input.h"
#include "inboxd/lib/config.h"
#include "inboxd/db/keys.h"
#include "inboxd/lib/jsontext.h"
#include "inboxd/lib/log.h"
#include "inboxd/http/query.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/http/resource.h"
#include "inboxd/http/server.h"
#include "inboxd/lib/sig.h"
#include "inboxd/lib/utf8.h"

/* Field limits (characters), as in the plain routes of the same resources. */
#define EXTERNAL_ID_MAX 200
#define TOPIC_MAX 200
#define NAME_MAX_CHARS 200
#define SUBJECT_MAX 1000
#define CUSTOMER_NAME_MAX 200
#define DELIVERY_METHOD_MAX 200
#define CALLBACK_URL_MAX 2048
#define HANDSHAKE_RESULT_MAX 1000
#define TOPIC_KEY_MAX 200
#define SOURCE_MAX 31 /* config_source.name */

/* ChannelType and WebhookEventStatus, in the order of the schema's enums. */
static const char *const channel_types[] = {"email", "chat", "shopify", "slack", NULL};
static const char *const event_statuses[] = {"received", "succeeded", "failed", "skipped", NULL};

/* Path segments after /v1/webhooks/ that are routes, never sources. */
static const char *const reserved_sources[] = {"events", "registry", "diagnostics", NULL};

static const char *const subscription_fields[] = {"deliveryMethod", "callbackUrl",
                                                  "lastHandshakeAt", "lastHandshakeResult", NULL};

/* --- small checks --------------------------------------------------------------- */

/* A source name as configured: 1-31 of [A-Za-z0-9_-], lower-cased into out
 * (config names are lower-case). Returns 0 or -1. */
static int
source_name(const char *in, char out[SOURCE_MAX + 1])
{
    size_t n = in ? strlen(in) : 0;

    if (n == 0 || n > SOURCE_MAX)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];

        if (!isalnum(c) && c != '_' && c != '-')
            return -1;
        out[i] = (char)tolower(c);
    }
    out[n] = '\0';
    return 0;
}

static bool
is_reserved(const char *name)
{
    for (int i = 0; reserved_sources[i]; i++)
        if (strcmp(reserved_sources[i], name) == 0)
            return true;
    return false;
}

/* Valid UTF-8 without control characters (a topic key from the path). */
static bool
is_clean_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return utf8_valid(s, n);
}

/* An absolute URI: a scheme, ':', then at least one visible character and
 * no spaces (providers use https:, pubsub:, arn: ...). */
static bool
is_uri(const char *s)
{
    const char *p = s;

    if (!isalpha((unsigned char)*p))
        return false;
    while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
        p++;
    if (*p != ':' || p[1] == '\0')
        return false;
    for (p++; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* --- the delivery's body ----------------------------------------------------------- */

/* The members of a message.created delivery and of its objects. */
static const char *const delivery_fields[] = {"deliveryId", "topic", "channel", "conversation",
                                              "message", NULL};
static const char *const channel_fields[] = {"type", "externalId", "name", NULL};
static const char *const conversation_fields[] = {"externalId", "subject", "customerEmail",
                                                  "customerName", NULL};
static const char *const message_fields[] = {"externalId", "subject", "bodyText", "bodyHtml",
                                             "sentAt",     "metadata", "attachments", NULL};

/* The three objects of a message.created delivery. */
static void
parse_message_created(const json_t *o, struct webhook_in *in, struct problem *pb)
{
    const json_t *ch = NULL, *cv = NULL, *m = NULL;
    struct conversation_in *c = &in->conversation;
    struct message_in *msg = &in->message;
    int type = -1;

    body_no_unknown(o, NULL, delivery_fields, pb);
    body_nested(o, "channel", BODY_REQUIRED, &ch, pb);
    body_nested(o, "conversation", BODY_REQUIRED, &cv, pb);
    body_nested(o, "message", BODY_REQUIRED, &m, pb);
    body_no_unknown(ch, "channel", channel_fields, pb);
    body_no_unknown(cv, "conversation", conversation_fields, pb);
    body_no_unknown(m, "message", message_fields, pb);

    if (body_enum(ch, "channel.type", BODY_REQUIRED, channel_types, &type, pb) == 0 && type >= 0)
        in->channel.type = channel_types[type];
    body_nonempty_string(ch, "channel.externalId", BODY_REQUIRED, EXTERNAL_ID_MAX,
                         &in->channel.external_id, pb);
    body_nonempty_string(ch, "channel.name", BODY_OPTIONAL, NAME_MAX_CHARS, &in->channel.name, pb);

    body_nonempty_string(cv, "conversation.externalId", BODY_REQUIRED, EXTERNAL_ID_MAX,
                         &c->external_id, pb);
    body_string(cv, "conversation.subject", BODY_OPTIONAL, SUBJECT_MAX, &c->subject, pb);
    input_email(cv, "conversation.customerEmail", BODY_OPTIONAL, INPUT_EMAIL_MAX,
                &c->customer_email, pb);
    body_string(cv, "conversation.customerName", BODY_OPTIONAL, CUSTOMER_NAME_MAX,
                &c->customer_name, pb);

    input_message(m, "message.", true, msg, in->sent_at_buf, pb);
}

/*
 * The webhook_parse_fn of db_webhooks: validates a stored delivery
 * (openapi.json WebhookDelivery). deliveryId and topic are required; for
 * message.created so are channel {type, externalId, name?}, conversation
 * {externalId, subject?, customerEmail?, customerName?} and message
 * {externalId, subject?, bodyText, bodyHtml?, sentAt?, metadata?,
 * attachments?}. A member it does not know is a field error, as on every
 * route (README "Request bodies"); the delivery is kept as a failed event
 * and can be replayed once fixed. Another topic's data is not read, so
 * nothing in it is unknown: such a delivery is stored as skipped.
 */
static json_t *
parse_delivery(const char *payload, size_t len, struct webhook_in *in, struct problem *pb)
{
    json_t *o;

    memset(in, 0, sizeof(*in));
    if ((o = body_parse(payload, len, pb)) == NULL)
        return NULL;
    body_nonempty_string(o, "deliveryId", BODY_REQUIRED, EXTERNAL_ID_MAX, &in->delivery_id, pb);
    body_nonempty_string(o, "topic", BODY_REQUIRED, TOPIC_MAX, &in->topic, pb);
    if (in->topic != NULL && strcmp(in->topic, WEBHOOKS_TOPIC_MESSAGE_CREATED) == 0)
        parse_message_created(o, in, pb);
    if (body_failed(pb)) {
        json_decref(o);
        return NULL;
    }
    /* A channel is created with a name; the delivery may not give one. */
    if (in->channel.name == NULL)
        in->channel.name = in->channel.external_id;
    in->message.direction = "inbound";
    return o;
}

/* --- the source's account ------------------------------------------------------------ */

/* Resolved accounts, per source and account text (the configuration does
 * not change while the process runs; an account's id never changes). Only
 * successes are kept, so an account created after start is found. */
static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char source[SOURCE_MAX + 1];
    char account[200];
    char id[37];
} cache[CONFIG_MAX_SOURCES];
static int ncache;

static int
source_account(struct req *rq, const struct config_source *src, struct problem *pb)
{
    char id[37];
    bool hit = false;

    pthread_mutex_lock(&cache_mu);
    for (int i = 0; i < ncache && !hit; i++)
        if (strcmp(cache[i].source, src->name) == 0 &&
            strcmp(cache[i].account, src->account) == 0) {
            memcpy(id, cache[i].id, sizeof(id));
            hit = true;
        }
    pthread_mutex_unlock(&cache_mu);
    if (!hit) {
        if (db_accounts_resolve(src->account, id, pb) != 0) {
            if (pb->status != 404)
                return -1;
            /* A configuration error, not the sender's: it may retry later. */
            log_event(LOG_ERROR, &rq->log, "webhook.source_account_missing",
                      LOG_S("source", src->name));
            memset(pb, 0, sizeof(*pb));
            pb->retry_after = 60;
            return problem_set(pb, 503, "source-unavailable",
                               "this source's account is not available; try again later");
        }
        pthread_mutex_lock(&cache_mu);
        if (ncache < CONFIG_MAX_SOURCES && strlen(src->account) < sizeof(cache[0].account)) {
            snprintf(cache[ncache].source, sizeof(cache[ncache].source), "%s", src->name);
            snprintf(cache[ncache].account, sizeof(cache[ncache].account), "%s", src->account);
            memcpy(cache[ncache].id, id, sizeof(id));
            ncache++;
        }
        pthread_mutex_unlock(&cache_mu);
    }
    memcpy(rq->who.account_id, id, sizeof(rq->who.account_id));
    return 0;
}

/* --- answers ------------------------------------------------------------------- */

/* A failure about a stored event (422 validation, 409) is answered with
 * the event's id beside the problem (openapi.json WebhookProblem). Returns
 * 0 with the reply filled, or -1 to let the server answer pb as it is. */
static int
problem_with_event(struct req *rq, struct reply *out, struct problem *pb, const char *event_id)
{
    char *text, *with;
    json_t *doc;

    if (event_id[0] == '\0' || (pb->status != 409 && pb->status != 422))
        return -1;
    if ((text = problem_render(pb, rq->request_id)) == NULL)
        return -1;
    doc = json_loads(text, 0, NULL);
    free(text);
    if (doc == NULL || json_object_set_new(doc, "eventId", json_string(event_id)) != 0 ||
        (with = json_dumps(doc, JSON_COMPACT)) == NULL) {
        json_decref(doc);
        return -1;
    }
    json_decref(doc);
    reply_text(out, pb->status, with, strlen(with), "application/problem+json");
    return 0;
}

static int
answer(struct req *rq, struct reply *out, int rc, struct webhook_result *res, struct problem *pb)
{
    if (rc != 0)
        return problem_with_event(rq, out, pb, res->event_id);
    reply_text(out, res->status, res->json, res->len, "application/json");
    res->json = NULL;
    return 0;
}

/* --- handlers ------------------------------------------------------------------ */

/* POST /v1/webhooks/{source}, with the configuration in force when it
 * started (a reload may replace the secrets meanwhile). */
static int
receive_with(const struct config *cf, struct req *rq, struct reply *out, struct problem *pb)
{
    const struct config_source *src = NULL;
    struct webhook_delivery d = {0};
    struct webhook_result res = {0};
    struct problem ignored = {0};
    char name[SOURCE_MAX + 1];
    enum sig_result sr;
    json_t *o;
    int rc;

    if (source_name(req_param(rq, "source"), name) == 0 && !is_reserved(name))
        src = config_source_find(cf, name);
    if (src == NULL)
        return problem_set(pb, 404, "not-found", "no such webhook source");
    /* Before any database work: an unsigned request costs us nothing. */
    if (src->scheme == CONFIG_SCHEME_STANDARD)
        sr = sig_verify_standard(req_header(rq, "webhook-id"), req_header(rq, "webhook-timestamp"),
                                 req_header(rq, "webhook-signature"), rq->body, rq->body_len,
                                 src->secret, src->secret_previous, (int64_t)time(NULL),
                                 cf->webhook_max_skew_s);
    else
        sr = sig_verify(req_header(rq, "X-Inboxd-Timestamp"),
                        req_header(rq, "X-Inboxd-Signature"), rq->body, rq->body_len, src->secret,
                        src->secret_previous, (int64_t)time(NULL), cf->webhook_max_skew_s);
    if (sr != SIG_OK)
        return problem_set(pb, 401, "invalid-signature", "%s", sig_result_str(sr));
    if (source_account(rq, src, pb) != 0)
        return -1;
    /* Idempotency-Key, as on every POST, once the account is known. */
    if ((rc = req_idempotency(rq, out, pb)) != 0)
        return rc < 0 ? -1 : 0;
    /* Not JSON, or not an object: a 400, and not stored (openapi.json). */
    if ((o = body_parse(rq->body, rq->body_len, pb)) == NULL)
        return -1;
    d.source = src->name;
    d.body = rq->body;
    d.len = rq->body_len;
    /* A NUL anywhere: the document cannot be stored as jsonb (it is kept
     * as raw text only). */
    d.payload_storable = !body_has_nul(o);
    /* The columns of the event; validation proper runs on the stored
     * payload, and an invalid deliveryId or topic is stored as NULL. */
    body_nonempty_string(o, "deliveryId", BODY_REQUIRED, EXTERNAL_ID_MAX, &d.delivery_id, &ignored);
    /* Standard Webhooks: the signed webhook-id is the delivery's id, the
     * key that deduplicates (sig_verify_standard() checked it is 1-200
     * visible characters). */
    if (src->scheme == CONFIG_SCHEME_STANDARD)
        d.delivery_id = req_header(rq, "webhook-id");
    body_nonempty_string(o, "topic", BODY_REQUIRED, TOPIC_MAX, &d.topic, &ignored);
    rc = db_webhooks_receive(&rq->who, &d, parse_delivery, &res, pb);
    json_decref(o);
    rc = answer(rq, out, rc, &res, pb);
    free(res.json);
    return rc;
}

static int
receive(struct req *rq, struct reply *out, struct problem *pb)
{
    const struct config *cf = config_hold();
    int rc;

    if (cf == NULL)
        return problem_internal(pb, "no configuration in force");
    rc = receive_with(cf, rq, out, pb);
    config_release(cf);
    return rc;
}

/* GET /v1/webhooks/events?source=&status= */
static int
list_events(struct req *rq, struct reply *out, struct problem *pb)
{
    struct webhook_event_filter f = {0};
    struct page pg;
    const char *source;
    char name[SOURCE_MAX + 1];
    char *json;
    size_t len;

    if (query_page(rq, true, &pg, pb) != 0 || query_text(rq, "source", 64, &source, pb) != 0 ||
        query_enum(rq, "status", event_statuses, &f.status, pb) != 0)
        return -1;
    if (source != NULL) {
        if (source_name(source, name) != 0)
            return query_invalid(pb, "source", "must be a source name");
        f.source = name;
    }
    if (db_webhooks_events_list(&rq->who, &f, &pg, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

/* GET /v1/webhooks/events/{id} */
static int
get_event(struct req *rq, struct reply *out, struct problem *pb)
{
    char *json;
    size_t len;

    if (db_webhooks_event_get(&rq->who, req_param(rq, "id"), &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

/* The field errors of a corrected payload are named from the replay's
 * body: "payload.message.bodyText". */
static void
prefix_fields(struct problem *pb, const char *prefix)
{
    for (int i = 0; i < pb->nfields; i++) {
        char f[sizeof(pb->fields[i].field)];

        snprintf(f, sizeof(f), "%s%s%s", prefix, pb->fields[i].field[0] ? "." : "",
                 pb->fields[i].field);
        memcpy(pb->fields[i].field, f, sizeof(f));
    }
}

static const char *const replay_fields[] = {"payload", NULL};

/* POST /v1/webhooks/events/{id}/replay, with an optional body
 * {"payload": {...}}: the corrected payload, validated by parse_delivery()
 * as a delivery's is (db_webhooks_replay). Without a body, or with a null
 * payload, the stored payload is processed again. */
static int
replay_event(struct req *rq, struct reply *out, struct problem *pb)
{
    struct webhook_result res = {0};
    const json_t *payload = NULL;
    char *corrected = NULL;
    json_t *o = NULL;
    int rc = -1;

    if (rq->body_len > 0) {
        if ((o = body_parse(rq->body, rq->body_len, pb)) == NULL)
            return -1;
        body_no_unknown(o, NULL, replay_fields, pb);
        /* body_object() refuses a NUL character: such a payload cannot be
         * jsonb. Its size is bounded by body_limit alone, as a delivery's. */
        body_object(o, "payload", BODY_OPTIONAL, SIZE_MAX, &payload, pb);
        if (body_failed(pb))
            goto out;
        if (payload != NULL && (corrected = jsontext_dump(payload)) == NULL) {
            problem_internal(pb, "replay: out of memory");
            goto out;
        }
    }
    rc = db_webhooks_replay(&rq->who, req_param(rq, "id"), corrected, parse_delivery, &res, pb);
    if (rc != 0 && corrected != NULL && pb->status == 422)
        prefix_fields(pb, "payload");
    rc = answer(rq, out, rc, &res, pb);
out:
    free(res.json);
    free(corrected);
    json_decref(o);
    return rc;
}

/* GET /v1/webhooks/registry */
static int
list_registry(struct req *rq, struct reply *out, struct problem *pb)
{
    return resource_list(rq, out, pb, db_webhooks_registry_list);
}

/* The {source}/{topicKey...} of a registry path. The topic key is the rest
 * of the path, so "orders/create" arrives whole, percent-encoded or not. */
static int
registry_key(const struct req *rq, char source[SOURCE_MAX + 1], const char **topic_key)
{
    const char *tk = req_param(rq, "topicKey");
    size_t n = tk ? strlen(tk) : 0;

    if (source_name(req_param(rq, "source"), source) != 0)
        return -1;
    if (n == 0 || !is_clean_utf8(tk, n) || utf8_chars(tk, n) > TOPIC_KEY_MAX)
        return -1;
    *topic_key = tk;
    return 0;
}

/* PUT /v1/webhooks/registry/{source}/{topicKey} {deliveryMethod,
 * callbackUrl?, lastHandshakeAt?, lastHandshakeResult?} */
static int
upsert_registry(struct req *rq, const json_t *o, const void *arg, char **json, size_t *len,
                int *status, struct problem *pb)
{
    struct subscription_in in = {0};
    char source[SOURCE_MAX + 1], at[RFC3339_BUFLEN];
    int64_t at_us = 0;
    bool has_at = false, created;

    (void)arg;
    if (registry_key(rq, source, &in.topic_key) != 0)
        return problem_set(pb, 400, "invalid-path",
                           "source must be 1-31 of A-Z a-z 0-9 _ -, and topicKey 1-200 characters "
                           "of UTF-8 text");
    in.source = source;
    body_no_unknown(o, NULL, subscription_fields, pb);
    body_nonempty_string(o, "deliveryMethod", BODY_REQUIRED, DELIVERY_METHOD_MAX,
                         &in.delivery_method, pb);
    if (body_string(o, "callbackUrl", BODY_OPTIONAL, CALLBACK_URL_MAX, &in.callback_url, pb) == 0 &&
        in.callback_url != NULL && !is_uri(in.callback_url))
        problem_field(pb, "callbackUrl", "must be an absolute URI");
    if (body_timestamp(o, "lastHandshakeAt", BODY_OPTIONAL, &at_us, &has_at, pb) == 0 && has_at) {
        rfc3339_format_us(at_us, at);
        in.last_handshake_at = at;
    }
    body_string(o, "lastHandshakeResult", BODY_OPTIONAL, HANDSHAKE_RESULT_MAX,
                &in.last_handshake_result, pb);
    if (body_failed(pb) || db_webhooks_registry_put(&rq->who, &in, json, len, &created, pb) != 0)
        return -1;
    *status = created ? 201 : 200;
    return 0;
}

static int
put_registry(struct req *rq, struct reply *out, struct problem *pb)
{
    return resource_write(rq, out, pb, upsert_registry, NULL);
}

/* DELETE /v1/webhooks/registry/{source}/{topicKey} */
static int
delete_registry(struct req *rq, struct reply *out, struct problem *pb)
{
    char source[SOURCE_MAX + 1];
    const char *topic_key;

    /* A name that could never be stored names nothing. */
    if (registry_key(rq, source, &topic_key) != 0)
        return problem_set(pb, 404, "not-found", "no such registry entry");
    if (db_webhooks_registry_delete(&rq->who, source, topic_key, pb) != 0)
        return -1;
    reply_text(out, 204, NULL, 0, NULL);
    return 0;
}

/* GET /v1/webhooks/diagnostics */
static int
diagnostics(struct req *rq, struct reply *out, struct problem *pb)
{
    char *json;
    size_t len;

    if (db_webhooks_diagnostics(&rq->who, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

/* The literal paths first: the router tries routes in table order. */
const struct route routes_webhooks[] = {
    {"GET", "/v1/webhooks/events", SCOPE_READ, ROUTE_NO_BODY, list_events, NULL},
    {"GET", "/v1/webhooks/events/{id}", SCOPE_READ, ROUTE_NO_BODY, get_event, NULL},
    {"POST", "/v1/webhooks/events/{id}/replay", SCOPE_ADMIN, 0, replay_event, NULL},
    {"GET", "/v1/webhooks/registry", SCOPE_READ, ROUTE_NO_BODY, list_registry, NULL},
    {"PUT", "/v1/webhooks/registry/{source}/{topicKey...}", SCOPE_ADMIN, 0, put_registry, NULL},
    {"DELETE", "/v1/webhooks/registry/{source}/{topicKey...}", SCOPE_ADMIN, ROUTE_NO_BODY,
     delete_registry, NULL},
    {"GET", "/v1/webhooks/diagnostics", SCOPE_READ, ROUTE_NO_BODY, diagnostics, NULL},
    {"POST", "/v1/webhooks/{source}", 0, ROUTE_WEBHOOK, receive, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
