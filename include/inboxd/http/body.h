/*
 * body: decoding a request body and reading its fields with validation.
 *
 * body_parse() turns the bytes into a JSON object or a 400. The readers then
 * take one field each and, when it is wrong, add a field error to the
 * problem (a 422) and return -1. They do not stop at the first error: a
 * caller reads every field and checks once, so one answer lists every bad
 * field:
 *
 *     body_string(o, "bodyText", BODY_REQUIRED, TEXT_MAX, &in->body_text, pb);
 *     body_enum(o, "direction", BODY_REQUIRED, direction_names, &in->dir, pb);
 *     body_object(o, "metadata", BODY_OPTIONAL, BODY_JSON_MAX, &in->metadata, pb);
 *     if (body_failed(pb))
 *         return -1;
 *
 * That is why the readers are not warn_unused_result: ignoring their return
 * is the intended use, and body_failed() is the check.
 *
 * Field names and paths. `field` is what an error reports; the member looked
 * up in obj is the part of `field` after its last '.'. So a nested object is
 * read by passing it as obj with its path in front of the name:
 *
 *     body_nested(o, "message", BODY_REQUIRED, &msg, pb);
 *     body_string(msg, "message.bodyText", BODY_REQUIRED, TEXT_MAX, &t, pb);
 *     body_string(att, "attachments[2].fileName", ...);   (built with snprintf)
 *
 * obj may be NULL (an absent optional parent, or one already reported as
 * invalid): every field then reads as absent and no error is added, so a
 * caller needs no `if (msg)` around the reads of msg. Otherwise obj must be
 * an object.
 *
 * Common rules of every reader: BODY_OPTIONAL lets the field be absent or
 * JSON null (null means absent); BODY_REQUIRED reports "is required" when it
 * is absent and "must not be null" when null. On success a present value is
 * stored in the outputs; an absent one stores NULL in pointer outputs and
 * false in *present (other outputs keep their value, so initialise them with
 * the default). On failure outputs are left untouched. Strings and JSON
 * values handed out are borrowed from obj: valid while the parsed body lives,
 * never freed by the caller. Messages are short lower-case phrases safe to
 * show the caller ("must be a string"); they never echo the value.
 */
#ifndef INBOXD_BODY_H
#define INBOXD_BODY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct problem;

/* API.md: JSON metadata fields (metadata, topSources, payload, ...) hold at
 * most 64 KiB each, measured as compact JSON text. */
#define BODY_JSON_MAX ((size_t)64 * 1024)

enum body_req {
    BODY_OPTIONAL = 0,
    BODY_REQUIRED = 1,
};

/* Decodes data[0..len) (no NUL terminator needed) into a JSON object.
 * Duplicate keys are rejected; "\u0000" inside strings is accepted here, so
 * that the readers can answer it with the contract's 422.
 * Returns a new reference (caller json_decref()s), or NULL with pb set to
 * 400 "invalid-json" (empty body, not UTF-8, not JSON, duplicate key, number
 * out of range, nesting too deep; detail gives line and column but never
 * echoes input), 400 "not-an-object" (valid JSON, not an object), 422 with
 * the field when a member name holds "\u0000" (NUL text, which the contract
 * answers 422 wherever it is), or 500 on OOM. */
json_t *body_parse(const char *data, size_t len, struct problem *pb)
    __attribute__((warn_unused_result));

/* Whether v is a JSON number: a jansson number, or a token body_parse()
 * wrapped to keep it exact (every real, and integers beyond int64). */
bool body_is_number(const json_t *v) __attribute__((warn_unused_result));

/* Whether any string in v, at any depth, holds a NUL character. */
bool body_has_nul(const json_t *v) __attribute__((warn_unused_result));

/* Whether any reader (or anything else) has put a problem in pb. */
bool body_failed(const struct problem *pb) __attribute__((warn_unused_result));

/* A string of at most max_chars characters (Unicode code points, never
 * bytes; SIZE_MAX for no limit) without NUL characters (PostgreSQL text
 * cannot hold U+0000). *out is borrowed, or NULL when absent. Errors:
 * "must be a string", "must not contain NUL characters", "must be at most
 * N characters". Returns 0 or -1. */
int body_string(const json_t *obj, const char *field, enum body_req req, size_t max_chars,
                const char **out, struct problem *pb);

/* body_string() that also rejects "" ("must not be empty"). Whitespace-only
 * text is not empty. Returns 0 or -1. */
int body_nonempty_string(const json_t *obj, const char *field, enum body_req req, size_t max_chars,
                         const char **out, struct problem *pb);

/* A string equal to one of names (a NULL-terminated table, typically the
 * enum's static const name table); *out is its index, unchanged when absent.
 * Error: "must be one of: a, b, c" (also for a non-string). Returns 0 or -1. */
int body_enum(const json_t *obj, const char *field, enum body_req req, const char *const *names,
              int *out, struct problem *pb);

/* A JSON integer in [min, max] (5.0 is not an integer). *present (may be
 * NULL) tells whether one was given; *out is unchanged when absent.
 * Errors: "must be an integer", "must be between MIN and MAX" (or "at least"
 * / "at most" when a bound is LLONG_MIN / LLONG_MAX). Returns 0 or -1. */
int body_int(const json_t *obj, const char *field, enum body_req req, long long min, long long max,
             long long *out, bool *present, struct problem *pb);

/* true or false. *present (may be NULL) tells whether one was given; *out is
 * unchanged when absent. Error: "must be true or false". Returns 0 or -1. */
int body_bool(const json_t *obj, const char *field, enum body_req req, bool *out, bool *present,
              struct problem *pb);

/* A UUID in its 36-character hyphenated text form (8-4-4-4-12 hex digits,
 * either case: PostgreSQL's uuid type normalises it). Syntax only: no
 * version check. *out is borrowed, or NULL when absent.
 * Error: "must be a UUID". Returns 0 or -1. */
int body_uuid(const json_t *obj, const char *field, enum body_req req, const char **out,
              struct problem *pb);

/* An RFC 3339 date-time with any offset, as rfc3339_parse() accepts it
 * (ranges checked, days in month included, no leap second, years
 * 0001-9999). *usec gets microseconds since the epoch (UTC); pass it on with
 * rfc3339_format_us(). *present (may be NULL) tells whether one was given;
 * *usec is unchanged when absent. Error: "must be an RFC 3339 timestamp".
 * Returns 0 or -1. */
int body_timestamp(const json_t *obj, const char *field, enum body_req req, int64_t *usec,
                   bool *present, struct problem *pb);

/* A JSON object stored as a whole (metadata, payload, metrics): at most
 * max_bytes as compact JSON text (BODY_JSON_MAX per API.md), and no NUL
 * character in any string inside, at any depth. *out is borrowed, or NULL
 * when absent. Errors: "must be an object", "must not contain NUL
 * characters", "must be at most N bytes as JSON"; 500 on OOM.
 * Returns 0 or -1. */
int body_object(const json_t *obj, const char *field, enum body_req req, size_t max_bytes,
                const json_t **out, struct problem *pb);

/* body_object() for a JSON array (topSources, attachments); "must be an
 * array" for another type. Elements are the caller's to check.
 * Returns 0 or -1. */
int body_array(const json_t *obj, const char *field, enum body_req req, size_t max_bytes,
               const json_t **out, struct problem *pb);

/* body_object() for any JSON value but null (embeddingsJson): a null is
 * absent, as for every reader. Returns 0 or -1. */
int body_value(const json_t *obj, const char *field, enum body_req req, size_t max_bytes,
               const json_t **out, struct problem *pb);

/* A JSON object that the caller reads field by field with the readers above
 * (the webhook's "message"): type check only, since its fields carry their
 * own limits and errors. *out is borrowed, or NULL when absent; start it at
 * NULL, so that after a failure (which leaves it untouched) it can still be
 * passed as obj and its fields read as absent. Error: "must be an object".
 * Returns 0 or -1. */
int body_nested(const json_t *obj, const char *field, enum body_req req, const json_t **out,
                struct problem *pb);

/* Reports every member of obj whose name is not in known (NULL-terminated)
 * as "is not a known field", at path "parent.name" (parent NULL for the top
 * level). A name that is long or not printable ASCII is not echoed: the
 * error is then reported at parent ("" at the top level) as "has an unknown
 * field". obj NULL is fine. Returns 0, or -1 when one was found. */
int body_no_unknown(const json_t *obj, const char *parent, const char *const *known,
                    struct problem *pb);

#endif
