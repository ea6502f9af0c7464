/*
 * input: shared readers of messages and e-mail addresses (see input.h).
 * No SQL and no HTTP here: JSON in, validated C structs out.
 */
#include "inboxd/http/input.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#define FILE_NAME_MAX 1000
#define MIME_TYPE_MAX 200
#define FILE_URL_MAX 4096

static const char *const attachment_fields[] = {"fileName", "mimeType", "sizeBytes", "fileUrl", NULL};

bool
input_is_email(const char *s)
{
    const char *at = strchr(s, '@');

    if (at == NULL || at == s || at[1] == '\0' || strchr(at + 1, '@') != NULL)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p <= 0x20 || *p == 0x7f || *p == '<' || *p == '>' || *p == ',' || *p == ';')
            return false;
    return true;
}

void
input_email(const json_t *o, const char *field, enum body_req req, size_t max, const char **out,
            struct problem *pb)
{
    const char *v = NULL;

    if (body_string(o, field, req, max, &v, pb) != 0 || v == NULL)
        return;
    if (!input_is_email(v)) {
        problem_field(pb, field, "must be an e-mail address");
        return;
    }
    *out = v;
}

void
input_attachments(const json_t *m, const char *prefix, struct attachment_in *out, size_t *n,
                  struct problem *pb)
{
    const json_t *arr = m ? json_object_get(m, "attachments") : NULL;
    const json_t *a;
    char path[64];
    size_t i;

    snprintf(path, sizeof(path), "%sattachments", prefix);
    if (arr == NULL || json_is_null(arr))
        return;
    if (!json_is_array(arr)) {
        problem_field(pb, path, "must be an array");
        return;
    }
    if (json_array_size(arr) > MESSAGES_MAX_ATTACHMENTS) {
        problem_field(pb, path, "must have at most %d items", MESSAGES_MAX_ATTACHMENTS);
        return;
    }
    json_array_foreach (arr, i, a) {
        struct attachment_in *at = &out[i];
        char f[4][96];

        if (!json_is_object(a)) {
            snprintf(f[0], sizeof(f[0]), "%s[%zu]", path, i);
            problem_field(pb, f[0], "must be an object");
            continue;
        }
        snprintf(f[0], sizeof(f[0]), "%s[%zu]", path, i);
        body_no_unknown(a, f[0], attachment_fields, pb);
        snprintf(f[0], sizeof(f[0]), "%s[%zu].fileName", path, i);
        snprintf(f[1], sizeof(f[1]), "%s[%zu].mimeType", path, i);
        snprintf(f[2], sizeof(f[2]), "%s[%zu].sizeBytes", path, i);
        snprintf(f[3], sizeof(f[3]), "%s[%zu].fileUrl", path, i);
        body_nonempty_string(a, f[0], BODY_REQUIRED, FILE_NAME_MAX, &at->file_name, pb);
        body_nonempty_string(a, f[1], BODY_REQUIRED, MIME_TYPE_MAX, &at->mime_type, pb);
        body_int(a, f[2], BODY_REQUIRED, 0, LLONG_MAX, &at->size_bytes, NULL, pb);
        body_nonempty_string(a, f[3], BODY_REQUIRED, FILE_URL_MAX, &at->file_url, pb);
    }
    *n = json_array_size(arr);
}

void
input_message(const json_t *m, const char *prefix, bool external_id_required,
              struct message_in *in, char sent_buf[RFC3339_BUFLEN], struct problem *pb)
{
    char f[6][64];
    int64_t sent_us = 0;
    bool has_sent = false;

    snprintf(f[0], sizeof(f[0]), "%sexternalId", prefix);
    snprintf(f[1], sizeof(f[1]), "%ssubject", prefix);
    snprintf(f[2], sizeof(f[2]), "%sbodyText", prefix);
    snprintf(f[3], sizeof(f[3]), "%sbodyHtml", prefix);
    snprintf(f[4], sizeof(f[4]), "%ssentAt", prefix);
    snprintf(f[5], sizeof(f[5]), "%smetadata", prefix);
    body_nonempty_string(m, f[0], external_id_required ? BODY_REQUIRED : BODY_OPTIONAL,
                         INPUT_EXTERNAL_ID_MAX, &in->external_id, pb);
    body_string(m, f[1], BODY_OPTIONAL, INPUT_SUBJECT_MAX, &in->subject, pb);
    body_string(m, f[2], BODY_REQUIRED, INPUT_TEXT_MAX, &in->body_text, pb);
    body_string(m, f[3], BODY_OPTIONAL, INPUT_TEXT_MAX, &in->body_html, pb);
    if (body_timestamp(m, f[4], BODY_OPTIONAL, &sent_us, &has_sent, pb) == 0 && has_sent) {
        rfc3339_format_us(sent_us, sent_buf);
        in->sent_at = sent_buf;
    }
    body_object(m, f[5], BODY_OPTIONAL, BODY_JSON_MAX, &in->metadata, pb);
    input_attachments(m, prefix, in->attachments, &in->nattachments, pb);
}
