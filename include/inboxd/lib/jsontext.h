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
 */
#ifndef INBOXD_JSONTEXT_H
#define INBOXD_JSONTEXT_H

#include <jansson.h>

/* The compact JSON text of v (any JSON value). Returns a new malloc()ed
 * string (caller free()s), or NULL on OOM. */
char *jsontext_dump(const json_t *v) __attribute__((warn_unused_result));

#endif
