/*
 * clock: the monotonic clock, for deadlines and durations (never for
 * timestamps a caller sees: those come from PostgreSQL or rfc3339.h).
 */
#ifndef INBOXD_CLOCK_H
#define INBOXD_CLOCK_H

#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds / nanoseconds. */
int64_t clock_ms(void);
int64_t clock_ns(void);

/* A random 32-bit number for jitter (not for secrets): getrandom(), or
 * the clock when that fails. */
unsigned clock_jitter(void);

#endif
