/*
 * problem_types: what every problem `type` inboxd can send means.
 *
 * RFC 9457 asks that a problem type URI, when dereferenced, give
 * human-readable documentation of the problem. inboxd's types are
 * "/problems/<slug>" (relative: they resolve against the API's address),
 * and GET /problems/<slug> answers the page this table describes. Every
 * slug passed to problem_set() must have a row here: the integration
 * harness checks every problem any test provokes, and
 * tests/layout/problem_types.sh every literal slug in the code.
 */
#ifndef INBOXD_PROBLEM_TYPES_H
#define INBOXD_PROBLEM_TYPES_H

struct problem_type {
    const char *slug;     /* "not-found" */
    int status;           /* the status it comes with */
    const char *summary;  /* one line: what happened */
    const char *todo;     /* what a caller does about it */
};

/* Every type, ending with a row whose slug is NULL. */
extern const struct problem_type problem_types[];

/* The row of slug, or NULL when inboxd never sends that type. */
const struct problem_type *problem_type_find(const char *slug);

#endif
