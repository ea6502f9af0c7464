/*
 * sbuf: a growable byte buffer for building response bodies (JSON text
 * pieces, NDJSON lines).
 *
 * Errors are sticky, not returned: when an allocation fails (or the buffer
 * would pass SBUF_MAX bytes) `oom` is set and every later add is a no-op, so
 * a caller appends freely and checks once at the end, usually through
 * sbuf_steal() returning NULL (Redis sds, with a sticky error flag).
 *
 * While `data` is not NULL it is NUL-terminated at `len`. The caller owns the
 * struct; sbuf_cleanup() frees what it holds.
 */
#ifndef INBOXD_SBUF_H
#define INBOXD_SBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest buffer sbuf builds, NUL included; anything larger is oom. */
#define SBUF_MAX (SIZE_MAX / 2)

struct sbuf {
    char *data; /* NULL until the first add; owned by the buffer */
    size_t len; /* bytes used, not counting the terminating NUL */
    size_t cap; /* bytes allocated */
    bool oom;   /* an add failed; sticky until sbuf_steal() or sbuf_cleanup() */
};

/* Makes b an empty buffer. Allocates nothing, cannot fail. */
void sbuf_init(struct sbuf *b);

/* Frees the data and leaves b as sbuf_init() does (oom cleared). Safe on an
 * initialised, cleaned or stolen-from buffer. */
void sbuf_cleanup(struct sbuf *b);

/* Appends n bytes from p (which may hold NULs; p may be NULL when n is 0).
 * On failure sets oom and appends nothing; p is not read then. */
void sbuf_add(struct sbuf *b, const void *p, size_t n);

/* Makes room for n more bytes at once (a large answer whose size is known
 * then grows without copies); a failure sets oom like an add. */
void sbuf_reserve(struct sbuf *b, size_t n);

/* Appends the NUL-terminated string s (without its NUL). */
void sbuf_adds(struct sbuf *b, const char *s);

/* Appends printf-style formatted text. A formatting error sets oom too. */
void sbuf_addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends s[0..n) as one quoted JSON string: '"' and '\\' escaped, \b \f \n
 * \r \t by name, other bytes below 0x20 (NUL included) as \u00xx, everything
 * else (UTF-8 included) copied as is. s must be valid UTF-8 for the result to
 * be valid JSON; it is not checked here. */
void sbuf_add_json_string(struct sbuf *b, const char *s, size_t n);

/* Appends JSON text without the whitespace between its tokens (PostgreSQL
 * writes `{"a" : 1, "b" : [1, 2]}`); strings are copied byte for byte. json
 * must be valid JSON: only where a string starts and ends is tracked. */
void sbuf_add_json_compact(struct sbuf *b, const char *json, size_t n);

/* Hands over the data: returns the NUL-terminated bytes (a new malloc()ed
 * string the caller free()s; "" when nothing was added) and stores the
 * length in *len (len may be NULL). Returns NULL when oom is set or the final
 * allocation fails. Either way b is left empty as after sbuf_init(). */
char *sbuf_steal(struct sbuf *b, size_t *len) __attribute__((warn_unused_result));

#endif
