/*
 * db_page: renders a list page from rows that PostgreSQL rendered, and runs
 * the statements every resource has: one row read (db_one), a page of rows
 * (db_list) and one row written with its audit row (db_write).
 */
#ifndef INBOXD_DB_PAGE_H
#define INBOXD_DB_PAGE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "inboxd/lib/cursor.h"
#include "inboxd/db/db.h"
#include "inboxd/db/who.h"
#include "inboxd/lib/page.h"
#include "inboxd/lib/problem.h"
#include "inboxd/lib/sbuf.h"

/*
 * The keyset bound of a list ordered by (ts, id): after the cursor position
 * given by the parameters ts_param (timestamptz) and id_param (uuid), or
 * from the start when both are NULL. Written with coalesce() rather than
 * `$n IS NULL OR …` so that a generic plan, which a prepared statement may
 * settle on, keeps it as an index condition instead of filtering every row
 * before the cursor. SQL text: DB_AFTER("d.created_at", "d.id", "$2", "$3").
 */
#define DB_AFTER(ts, id, ts_param, id_param)                                                      \
    "(" ts ", " id ") > (coalesce(" ts_param "::timestamptz, '-infinity'), coalesce(" id_param     \
    "::uuid, '00000000-0000-0000-0000-000000000000'))"

/*
 * Builds `{"items":[<col 0 of each row>],"nextCursor":"…"|null}` from up to
 * pg->limit + 1 rows. Column `json_col` holds each item's JSON text; the
 * cursor of the last item shown comes from `ts_col` (a timestamptz, or -1
 * for id-only lists) and `id_col`. Returns a new malloc()ed string (length
 * in *len), or NULL with a 500 problem on OOM or a bad timestamp.
 */
char *db_page_render(const PGresult *res, const struct page *pg, int json_col, int ts_col,
                     int id_col, size_t *len, struct problem *pb);

/*
 * Ends a page whose items are already in b: appends `],"nextCursor":…}`
 * for the rows of res as db_page_render does. Returns 0, or -1 with a 500
 * problem on a bad timestamp.
 */
int db_page_cursor(const PGresult *res, const struct page *pg, int ts_col, int id_col,
                   struct sbuf *b, struct problem *pb) __attribute__((warn_unused_result));

/* Appends `],"nextCursor":` and the text of c, or null when c is NULL, and
 * the closing brace: the end of every page. */
void db_page_next(struct sbuf *b, const struct cursor *c);

/* `{"items":[…]}` from every row's column `json_col` (claims). */
char *db_items_render(const PGresult *res, int json_col, size_t *len, struct problem *pb);

/*
 * Runs one read statement whose first row's column 0 is the answer (JSON
 * text) on a read connection (db_query). No row is a 404 "no such
 * <what>". *json: new malloc()ed, length in *len. Writes use db_write().
 */
int db_one(const struct db_stmt *st, const char *const *params, const char *what, char **json,
           size_t *len, struct problem *pb) __attribute__((warn_unused_result));

/* Runs one list statement on a read connection and renders the page
 * (column 0 the item, ts_col/id_col the cursor as for db_page_render). */
int db_list(const struct db_stmt *st, const char *const *params, const struct page *pg,
            int ts_col, int id_col, char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

/* Like db_list, for a list inside a parent resource (a conversation's
 * messages or timeline): when the page is empty, `exists` (run with the
 * same params; it uses the first ones) tells whether the parent is there,
 * and no row is a 404 "no such <what>" rather than an empty list. */
int db_list_in(const struct db_stmt *st, const struct db_stmt *exists, const char *what,
               const char *const *params, const struct page *pg, int ts_col, int id_col,
               char **json, size_t *len, struct problem *pb) __attribute__((warn_unused_result));

/* A copy of one value: new malloc()ed string or NULL (SQL NULL or OOM). */
char *db_strdup(const PGresult *res, int row, int col);

/*
 * One write and its audit row, the shape of most writes: a statement that
 * answers the row it wrote (its JSON in column 0), then db_audit() of
 * `action` on type/id in the same transaction. Fill one on the stack and
 * run it with db_write() (its own transaction) or db_write_in() (inside
 * the caller's, after checks of its own).
 */
struct db_write {
    const struct db_stmt *st;
    const char *const *params;
    const char *action; /* the audit row: action on resource type/id */
    const char *type;
    const char *id;   /* may point into arg, filled by row() */
    const char *what; /* no row: 404 "no such <what>"; NULL for a
                       * write that always answers a row (a 500 if not) */
    /* Optional, instead of that 404: says why no row was written (sets pb,
     * returns -1); it may run statements on c. */
    int (*none)(struct dbconn *c, void *arg, struct problem *pb);
    /* Optional: reads the row's other columns into arg before the audit
     * row is written. Returns the action to audit, or NULL for `action`.
     * It may run again when the transaction is retried. */
    const char *(*row)(const PGresult *res, void *arg);
    void *arg;
};

/*
 * Runs wr on c, inside a transaction the caller runs. On success *json
 * gets column 0 of the row (new malloc()ed, caller free()s; length in
 * *len), or nothing when json is NULL (a DELETE ... RETURNING id).
 * Statuses: 404 or none()'s, then db_exec()'s and db_audit()'s; 500 on
 * OOM. *json is untouched on failure.
 */
int db_write_in(struct dbconn *c, const struct who *w, const struct db_write *wr, char **json,
                size_t *len, struct problem *pb) __attribute__((warn_unused_result));

/* db_write_in() in a transaction of its own (db_tx(), so serialization
 * failures are retried); the same statuses, and 503. */
int db_write(const struct who *w, const struct db_write *wr, char **json, size_t *len,
             struct problem *pb) __attribute__((warn_unused_result));

#endif
