/*
 * rfc3339: timestamps as text.
 *
 * Internally a timestamp is an int64_t count of microseconds since
 * 1970-01-01T00:00:00Z (negative before it), UTC, no leap seconds. Only
 * instants within years 0001-9999 UTC are accepted or produced, so the text
 * form always has a four-digit year. No locale, no TZ, no libc time
 * conversion is involved.
 */
#ifndef INBOXD_RFC3339_H
#define INBOXD_RFC3339_H

#include <stdint.h>

/* "YYYY-MM-DDTHH:MM:SS.ffffffZ" plus NUL. */
#define RFC3339_BUFLEN 28

/* 0001-01-01T00:00:00.000000Z and 9999-12-31T23:59:59.999999Z. */
#define RFC3339_MIN_USEC (-62135596800000000LL)
#define RFC3339_MAX_USEC (253402300799999999LL)

/* Parses an RFC 3339 date-time: YYYY-MM-DD, then 'T', 't' or one space,
 * HH:MM:SS, an optional '.' with 1-9 digits (digits past microseconds are
 * truncated), then 'Z', 'z' or +HH:MM / -HH:MM (at most 23:59). Months and
 * days are checked (leap years included), hour < 24, minute < 60, second
 * < 60: a leap second (:60) is rejected. The resulting instant must lie in
 * years 0001-9999 UTC. Nothing may follow.
 * Returns 0 and sets *usec, or -1 (s NULL, malformed or out of range) leaving
 * *usec untouched. Never reads past the NUL. */
int rfc3339_parse(const char *s, int64_t *usec) __attribute__((warn_unused_result));

/* Parses PostgreSQL's timestamptz output (DateStyle=ISO), e.g.
 * "2026-11-22 10:04:05.123456+00": date, one space, HH:MM:SS, an optional
 * '.' with 1-6 digits, then an offset +HH, +HH:MM or +HH:MM:SS (or '-').
 * 'infinity', BC dates and years past 9999 are rejected.
 * Returns 0 and sets *usec, or -1 leaving *usec untouched. */
int rfc3339_parse_pg(const char *s, int64_t *usec) __attribute__((warn_unused_result));

/* Formats usec as "2026-11-22T10:04:05.123Z": UTC, milliseconds, truncated
 * toward the past (so -1 is 1969-12-31T23:59:59.999Z). Values outside
 * RFC3339_MIN_USEC..RFC3339_MAX_USEC are clamped to that range. */
void rfc3339_format_ms(int64_t usec, char out[RFC3339_BUFLEN]);

/* Formats usec as "2026-11-22T10:04:05.123456Z" (always six digits), the
 * form we pass to PostgreSQL. rfc3339_parse() gives back exactly usec for
 * every value in range; out-of-range values are clamped as above. */
void rfc3339_format_us(int64_t usec, char out[RFC3339_BUFLEN]);

#endif
