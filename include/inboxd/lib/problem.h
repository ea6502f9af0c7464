/*
 * problem: the one error value of inboxd (RFC 9457 problem documents).
 *
 * Every layer reports failure by filling a struct problem and returning -1.
 * Only problem.c renders one; `internal` text goes to the log, never to the
 * caller.
 */
#ifndef INBOXD_PROBLEM_H
#define INBOXD_PROBLEM_H

#include <stdbool.h>
#include <stddef.h>

#define PROBLEM_MAX_FIELDS 16

struct problem_field {
    char field[64];
    char message[160];
};

struct problem {
    int status;             /* HTTP status; 0 while nothing went wrong */
    char type[48];          /* stable slug: "validation", "not-found", ... */
    char detail[256];       /* safe to show to the caller */
    char internal[256];     /* for the log only (SQLSTATE, errno text) */
    char sqlstate[6];       /* set by the db layer when PostgreSQL answered */
    int retry_after;        /* seconds, sent as Retry-After when > 0 */
    char allow[96];         /* Allow header for 405 */
    int nfields;
    struct problem_field fields[PROBLEM_MAX_FIELDS];
};

/* Makes pb "nothing went wrong" without clearing all of it (its field
 * array is large): what {0} gives, as far as any reader can tell. */
void problem_init(struct problem *pb);

/* Sets status, type and a printf-style detail. Always returns -1, so a
 * helper can `return problem_set(pb, 409, "conflict", "draft is %s", st);`. */
int problem_set(struct problem *pb, int status, const char *type, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Adds a field error and makes the problem a 422 "validation" problem (unless
 * it already carries another status). Returns -1. */
int problem_field(struct problem *pb, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A 500 whose detail is generic; fmt goes to `internal` only. Returns -1. */
int problem_internal(struct problem *pb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The standard reason phrase of an HTTP status ("Not Found"). */
const char *problem_title(int status);

/* Renders the problem document with `instance` (the request id; may be NULL).
 * Returns a new malloc()ed NUL-terminated string (caller free()s), or NULL on
 * OOM. */
char *problem_render(const struct problem *pb, const char *instance);

#endif
