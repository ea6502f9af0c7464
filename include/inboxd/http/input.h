/*
 * input: readers of the domain objects several routes accept, so that a
 * message posted to a conversation and a message inside a webhook delivery
 * are validated by one piece of code with one set of limits.
 *
 * Like body.h's readers, each adds field errors to pb (422) and the caller
 * checks body_failed() once at the end. Strings are borrowed from the JSON.
 */
#ifndef INBOXD_INPUT_H
#define INBOXD_INPUT_H

#include <jansson.h>
#include <stdbool.h>

#include "inboxd/http/body.h"
#include "inboxd/db/messages.h"
#include "inboxd/lib/problem.h"
#include "inboxd/lib/rfc3339.h"

/* Limits in characters (code points). Texts stay well under the 1 MiB body limit. */
#define INPUT_EXTERNAL_ID_MAX 200
#define INPUT_SUBJECT_MAX 1000
#define INPUT_TEXT_MAX ((size_t)512 * 1024)
#define INPUT_EMAIL_MAX 320
#define INPUT_NAME_MAX 200

/* A plausible e-mail address: a local part, one '@', a domain; no spaces,
 * control characters, angle brackets, commas or semicolons (which would
 * smuggle a second address into a header). Deliverability is not our call. */
bool input_is_email(const char *s);

/* Reads an optional or required e-mail field (string, ≤ max bytes, no NUL,
 * input_is_email). */
void input_email(const json_t *o, const char *field, enum body_req req, size_t max,
                 const char **out, struct problem *pb);

/*
 * Reads the optional `attachments` array of m (a message or a draft) into
 * out (room for MESSAGES_MAX_ATTACHMENTS) and *n: null or absent is none;
 * each element an object {fileName, mimeType, sizeBytes, fileUrl} with
 * nothing else, its errors named with the index
 * (`<prefix>attachments[2].fileUrl`). *n is left alone when there are none.
 */
void input_attachments(const json_t *m, const char *prefix, struct attachment_in *out, size_t *n,
                       struct problem *pb);

/*
 * Reads a message's fields from m into in: externalId (required when
 * `external_id_required`), subject, bodyText, bodyHtml, sentAt (normalised
 * into sent_buf), metadata and attachments[] (each element's fields named
 * with its index, the count capped at MESSAGES_MAX_ATTACHMENTS). Field paths
 * start with `prefix` ("" or "message."). The direction is the caller's.
 */
void input_message(const json_t *m, const char *prefix, bool external_id_required,
                   struct message_in *in, char sent_buf[RFC3339_BUFLEN], struct problem *pb);

#endif
