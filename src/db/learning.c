/*
 * db_learning: the SQL of the corrections export.
 *
 * DESIGN. The page and the stream share one WHERE clause: the account, the
 * `since` bound and the keyset position (DB_AFTER), written with coalesce()
 * rather than `$n IS NULL OR …` so that even a generic plan turns every
 * bound into a range of learning_samples_created_idx (account_id,
 * created_at, id).
 *
 * The stream runs on a connection borrowed for the whole response, in a
 * read-only transaction whose statement_timeout is raised for the one
 * export statement: a large export to a slow reader legitimately runs
 * longer than a request's usual timeout, and a reader that stops reading
 * altogether is cut off by the HTTP connection timeout instead. Rows arrive
 * in single-row mode, so one row (one PGresult) is in memory at a time.
 *
 * Never here: HTTP, or a PGresult handed to the caller.
 */
#include "inboxd/db/learning.h"

#include <stdbool.h>
#include <stdlib.h>

#include "inboxd/db/db.h"
#include "inboxd/db/rows.h"

enum {
    S_LIST,
    S_BEGIN,
    S_TIMEOUT,
    S_STREAM,
};

/* $1 account, $2 since, $3/$4 the cursor position (created_at, id). */
#define SAMPLE_RANGE                                                                               \
    "FROM learning_samples s "                                                                     \
    "WHERE s.account_id = $1 "                                                                     \
    "  AND s.created_at >= coalesce($2::timestamptz, '-infinity') "                                \
    "  AND " DB_AFTER("s.created_at", "s.id", "$3", "$4") " "                                     \
    "ORDER BY s.created_at, s.id "

static const struct db_stmt stmts[] = {
    [S_LIST] = {"learning_list",
                "SELECT inboxd_json_learning_sample(s), s.created_at, s.id " SAMPLE_RANGE
                "LIMIT $5",
                5},
    /* The export's transaction: read-only, and the only place a statement
     * may run for up to an hour (see DESIGN). */
    [S_BEGIN] = {"learning_begin", "BEGIN READ ONLY", 0},
    [S_TIMEOUT] = {"learning_timeout", "SET LOCAL statement_timeout = '1h'", 0},
    [S_STREAM] = {"learning_stream", "SELECT inboxd_json_learning_sample(s) " SAMPLE_RANGE, 4},
};

int
db_learning_list(const struct who *w, const char *since, const struct page *pg, char **json,
                 size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, since, pg->after_ts, pg->after_id, pg->fetch};

    return db_list(&stmts[S_LIST], p, pg, 1, 2, json, len, pb);
}

/* --- the stream ------------------------------------------------------------ */

struct learning_stream {
    struct dbconn *c;
    PGresult *row;   /* the row last lent out (or read ahead by open) */
    bool read_ahead; /* row is the first row, not yet lent out */
    bool done;       /* the statement has ended (end or error) */
};

/* Runs a statement that returns no rows. */
static int
run(struct dbconn *c, const struct db_stmt *st, struct problem *pb)
{
    PGresult *res = db_exec(c, st, NULL, pb);

    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

/* Reads the next row into s->row. Returns 1, 0 at the end, -1 on error. */
static int
pull(struct learning_stream *s, struct problem *pb)
{
    int rc;

    PQclear(s->row);
    s->row = NULL;
    if (s->done)
        return 0;
    rc = db_stream_next(s->c, &s->row, pb);
    if (rc <= 0)
        s->done = true;
    return rc;
}

int
db_learning_stream_open(const struct who *w, const char *since, const struct page *pg,
                        struct learning_stream **out, struct problem *pb)
{
    const char *p[] = {w->account_id, since, pg->after_ts, pg->after_id};
    struct learning_stream *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (s == NULL)
        return problem_internal(pb, "out of memory");
    s->c = db_borrow(true, pb);
    if (s->c == NULL)
        goto fail;
    if (run(s->c, &stmts[S_BEGIN], pb) != 0 || run(s->c, &stmts[S_TIMEOUT], pb) != 0)
        goto fail;
    if (db_stream_start(s->c, &stmts[S_STREAM], p, pb) != 0)
        goto fail;
    if (pull(s, pb) < 0)
        goto fail;
    s->read_ahead = s->row != NULL;
    *out = s;
    return 0;
fail:
    db_learning_stream_close(s);
    return -1;
}

int
db_learning_stream_next(struct learning_stream *s, const char **text, size_t *len,
                        struct problem *pb)
{
    int rc = 1;

    *text = NULL;
    *len = 0;
    if (s->read_ahead)
        s->read_ahead = false;
    else
        rc = pull(s, pb);
    if (rc <= 0)
        return rc;
    *text = PQgetvalue(s->row, 0, 0);
    *len = (size_t)PQgetlength(s->row, 0, 0);
    return 1;
}

void
db_learning_stream_close(struct learning_stream *s)
{
    if (s == NULL)
        return;
    PQclear(s->row);
    /* An unfinished statement or the open transaction is rolled back (or
     * the connection dropped) by the pool. */
    db_return(s->c);
    free(s);
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
