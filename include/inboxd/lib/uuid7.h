/*
 * uuid7: time-ordered identifiers (RFC 9562 version 7).
 *
 * New ids carry the Unix time in milliseconds in their first 48 bits, so rows
 * inserted later land at the right edge of B-tree indexes. Within one process
 * the ids handed out are strictly increasing, across threads too, even when
 * many are made in the same millisecond. Text is always the lower-case
 * hyphenated form.
 */
#ifndef INBOXD_UUID7_H
#define INBOXD_UUID7_H

#include <stdbool.h>
#include <stddef.h>

#define UUID7_STRLEN 36

/* Writes a new UUIDv7 as lower-case hyphenated text plus NUL into out.
 * Thread-safe and lock-free. Strictly greater (as a string and as 128 bits)
 * than every id made before it in this process; if the clock steps back, or
 * more than ~2048 ids are made in one millisecond, the timestamp field runs
 * ahead of the clock until the clock catches up. Aborts only if the kernel
 * cannot supply random bytes (getrandom(2)), which we treat as fatal. */
void uuid7_new(char out[UUID7_STRLEN + 1]);

/* True if s is UUID text of any version: exactly 36 characters, hyphens at
 * offsets 8, 13, 18 and 23, hex digits (either case) elsewhere. NULL is not
 * valid. Never reads past the terminating NUL. */
bool uuid7_is_valid(const char *s);

/* The same for the n bytes at s, which need no NUL (a path segment, a
 * JSON string that may hold NULs). */
bool uuid7_is_text(const char *s, size_t n);

/* Copies the canonical (lower-case) form of in into out (36 chars + NUL).
 * If in is not valid per uuid7_is_valid(), out becomes "". in and out may be
 * the same buffer. */
void uuid7_lower(const char *in, char out[UUID7_STRLEN + 1]);

#endif
