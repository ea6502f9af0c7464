/*
 * jsontext: the compact JSON text of a caller's value, with every number
 * written as the caller most likely sent it.
 *
 * jansson writes reals with 17 significant digits, so 0.82 comes out as
 * 0.81999999999999995 and a caller's metadata would not come back as sent.
 * Here every real is written in the shortest form that reads back as the
 * same double (0.82, 0.10000000000000002, 1e+300), as JavaScript and
 * Python print numbers. Integers are exact within int64; PostgreSQL's
 * jsonb keeps what it is given exactly (but has no -0: -0.0 is stored 0.0).
 *
 * Better still is the caller's own token, which PostgreSQL reads as exactly
 * as it was written, beyond what a double or an int64 holds
 * (12345678901234567890, 1e400, 0.1000000000000000055511151231257827).
 * The body reader therefore hands jansson every real, and every integer
 * outside int64, as a marked string: a NUL, a per-process random mark, then
 * the token. No caller can send one (a NUL never gets this far, and the
 * mark is unknown outside the process), and jsontext_dump() writes it back
 * as the bare token.
 */
#ifndef INBOXD_JSONTEXT_H
#define INBOXD_JSONTEXT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* The compact JSON text of v (any JSON value). Returns a new malloc()ed
 * string (caller free()s), or NULL on OOM. */
char *jsontext_dump(const json_t *v) __attribute__((warn_unused_result));

/* The string member `path` ("a" or "a.b", one level down) of the JSON
 * object text json[0..len), found by a scan of the text, without building
 * the document: for a value read out of a whole answer on a hot path.
 * Returns 1 with *val (into json, not NUL-terminated) and *vlen when the
 * member is a string without escapes; 0 when there is no such member or
 * it is not a string; -1 when its string has escapes (or the text is not
 * what the scan expects): parse the document then. */
int jsontext_member(const char *json, size_t len, const char *path, size_t plen, const char **val,
                    size_t *vlen) __attribute__((warn_unused_result));

struct sbuf;

/* How many bytes longer a wrapped number's JSON text (as jansson writes the
 * string) is than its token: '"', "\u0000", the 16-digit mark, '"'. */
#define JSONTEXT_WRAP_EXTRA (1 + 6 + 16 + 1)

/* Appends the JSON string literal that carries the number token tok[0..n)
 * (valid JSON number syntax) through jansson. Returns false when no mark
 * could be made (no randomness): the caller then parses as it would have. */
bool jsontext_number_wrap(struct sbuf *b, const char *tok, size_t n);

/* Whether v is a marked number; if so, *tok and *n are its token, which
 * lives as long as v. */
bool jsontext_number(const json_t *v, const char **tok, size_t *n);

#endif
