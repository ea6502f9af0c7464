/*
 * routes/messages: a conversation's messages and single messages (API.md
 * "Conversations and messages").
 *
 * Each handler validates everything it reads (422 naming every bad body
 * field, 400 for a bad query parameter), calls one db_messages function and
 * passes on the JSON text PostgreSQL rendered. No SQL here. A repeated
 * externalId is answered 200 with the stored message: that decision is
 * the database's (ON CONFLICT), never a read-then-write here.
 */
#include "inboxd/db_messages.h"

#include <limits.h>
#include <stdio.h>

#include "inboxd/body.h"
#include "inboxd/query.h"
#include "inboxd/rfc3339.h"
#include "inboxd/routes.h"
#include "inboxd/server.h"

/* Field limits (bytes). Text bodies stay well under the 1 MiB body limit. */
#define EXTERNAL_ID_MAX 200
#define SUBJECT_MAX 1000
#define TEXT_MAX ((size_t)512 * 1024)
#define FILE_NAME_MAX 1000
#define MIME_TYPE_MAX 200
#define FILE_URL_MAX 4096

/* MessageDirection, in the order of the schema's enum. */
static const char *const direction_names[] = {"inbound", "outbound", "system", NULL};

/* Reads attachments[] into in. It is not stored as JSON but as rows, so
 * it is not read with body_array(): each element's fields are checked
 * (type, NUL, length) by the readers, which name the exact field
 * ("attachments[1].fileUrl"), and the count is capped. Members that are
 * not fields of an attachment are ignored like unknown body members. */
static void
parse_attachments(const json_t *o, struct message_in *in, struct problem *pb)
{
    const json_t *arr = json_object_get(o, "attachments");
    size_t i;
    const json_t *a;

    if (arr == NULL || json_is_null(arr))
        return;
    if (!json_is_array(arr)) {
        problem_field(pb, "attachments", "must be an array");
        return;
    }
    if (json_array_size(arr) > MESSAGES_MAX_ATTACHMENTS) {
        problem_field(pb, "attachments", "must have at most %d items", MESSAGES_MAX_ATTACHMENTS);
        return;
    }
    json_array_foreach (arr, i, a) {
        struct attachment_in *at = &in->attachments[i];
        char f[4][64];

        if (!json_is_object(a)) {
            snprintf(f[0], sizeof(f[0]), "attachments[%zu]", i);
            problem_field(pb, f[0], "must be an object");
            continue;
        }
        snprintf(f[0], sizeof(f[0]), "attachments[%zu].fileName", i);
        snprintf(f[1], sizeof(f[1]), "attachments[%zu].mimeType", i);
        snprintf(f[2], sizeof(f[2]), "attachments[%zu].sizeBytes", i);
        snprintf(f[3], sizeof(f[3]), "attachments[%zu].fileUrl", i);
        body_nonempty_string(a, f[0], BODY_REQUIRED, FILE_NAME_MAX, &at->file_name, pb);
        body_nonempty_string(a, f[1], BODY_REQUIRED, MIME_TYPE_MAX, &at->mime_type, pb);
        body_int(a, f[2], BODY_REQUIRED, 0, LLONG_MAX, &at->size_bytes, NULL, pb);
        body_nonempty_string(a, f[3], BODY_REQUIRED, FILE_URL_MAX, &at->file_url, pb);
    }
    in->nattachments = json_array_size(arr);
}

/* GET /v1/conversations/{id}/messages */
static int
list_messages(struct req *rq, struct reply *out, struct problem *pb)
{
    struct page pg;
    char *json;
    size_t len;

    if (query_page(rq, true, &pg, pb) != 0)
        return -1;
    if (db_messages_list(&rq->who, req_param(rq, "id"), &pg, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

/* POST /v1/conversations/{id}/messages {externalId?, direction, subject?,
 * bodyText, bodyHtml?, sentAt?, metadata?, attachments?} */
static int
create_message(struct req *rq, struct reply *out, struct problem *pb)
{
    struct message_in in = {0};
    char sent[RFC3339_BUFLEN];
    int64_t sent_us = 0;
    bool has_sent = false;
    int dir = -1;
    bool created;
    char *json;
    size_t len;
    json_t *o;
    int rc = -1;

    if ((o = body_parse(rq->body, rq->body_len, pb)) == NULL)
        return -1;
    body_nonempty_string(o, "externalId", BODY_OPTIONAL, EXTERNAL_ID_MAX, &in.external_id, pb);
    if (body_enum(o, "direction", BODY_REQUIRED, direction_names, &dir, pb) == 0 && dir >= 0)
        in.direction = direction_names[dir];
    body_string(o, "subject", BODY_OPTIONAL, SUBJECT_MAX, &in.subject, pb);
    body_string(o, "bodyText", BODY_REQUIRED, TEXT_MAX, &in.body_text, pb);
    body_string(o, "bodyHtml", BODY_OPTIONAL, TEXT_MAX, &in.body_html, pb);
    if (body_timestamp(o, "sentAt", BODY_OPTIONAL, &sent_us, &has_sent, pb) == 0 && has_sent) {
        rfc3339_format_us(sent_us, sent);
        in.sent_at = sent;
    }
    body_object(o, "metadata", BODY_OPTIONAL, BODY_JSON_MAX, &in.metadata, pb);
    parse_attachments(o, &in, pb);
    if (body_failed(pb))
        goto out;
    if (db_messages_create(&rq->who, req_param(rq, "id"), &in, &json, &len, &created, pb) != 0)
        goto out;
    reply_text(out, created ? 201 : 200, json, len, "application/json");
    rc = 0;
out:
    json_decref(o);
    return rc;
}

/* GET /v1/messages/{id} */
static int
get_message(struct req *rq, struct reply *out, struct problem *pb)
{
    char *json;
    size_t len;

    if (db_messages_get(&rq->who, req_param(rq, "id"), &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

const struct route routes_messages[] = {
    {"GET", "/v1/conversations/{id}/messages", SCOPE_READ, ROUTE_NO_BODY, list_messages},
    {"POST", "/v1/conversations/{id}/messages", SCOPE_MESSAGES_WRITE, 0, create_message},
    {"GET", "/v1/messages/{id}", SCOPE_READ, ROUTE_NO_BODY, get_message},
    {NULL, NULL, 0, 0, NULL},
};
