/*
 * resource: the handlers that several routes share word for word: one
 * row by its id, and a page of rows with no filter but the cursor. The
 * route names the db function; the answer is its JSON as it is.
 */
#ifndef INBOXD_RESOURCE_H
#define INBOXD_RESOURCE_H

#include <jansson.h>
#include <stddef.h>

#include "inboxd/db/who.h"
#include "inboxd/lib/page.h"
#include "inboxd/lib/problem.h"

struct req;
struct reply;

/* A db function that reads one row of the caller's account by id, or a
 * page of rows: *json (malloc()ed, len bytes) on 0, pb on -1. */
typedef int (*resource_get_fn)(const struct who *w, const char *id, char **json, size_t *len,
                               struct problem *pb);
typedef int (*resource_list_fn)(const struct who *w, const struct page *pg, char **json,
                                size_t *len, struct problem *pb);

/* GET .../{id}: 200 with get()'s row; its 404 or 503 otherwise. */
int resource_get(struct req *rq, struct reply *out, struct problem *pb, resource_get_fn get)
    __attribute__((warn_unused_result));

/* GET ...?limit=&cursor=: 200 with list()'s page; 400 for a bad limit or
 * cursor (query.h). */
int resource_list(struct req *rq, struct reply *out, struct problem *pb, resource_list_fn list)
    __attribute__((warn_unused_result));

/* A route's part of a write: reads the body's object o into its input
 * (strings may be borrowed from o, which lives until this returns) and
 * makes its one db call; arg is resource_write()'s. Returns 0 with the
 * row's JSON in *json (malloc()ed, len bytes) and the answer's *status
 * (200 unless set: 201 for a new row), or -1 with pb (422 naming every
 * bad field, or the db's problem). */
typedef int (*resource_write_fn)(struct req *rq, const json_t *o, const void *arg, char **json,
                                 size_t *len, int *status, struct problem *pb);

/* POST, PUT or PATCH with a JSON object: 400 unless the body is one, then
 * write(); answers its row with its status. */
int resource_write(struct req *rq, struct reply *out, struct problem *pb, resource_write_fn write,
                   const void *arg) __attribute__((warn_unused_result));

#endif
