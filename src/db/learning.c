/*
 * db_learning: the SQL of the corrections export.
 *
 * DESIGN. Samples are handed out in commit-position order, (write_xid,
 * id), and only below the commit watermark, inboxd_watermark()
 * (sql/current/positions.sql): every transaction below it has ended, so no
 * sample can commit later with a position behind one a consumer has
 * passed, however long its writer stayed open. (Ordered by created_at, the
 * transaction's start, a writer open across a consumer's page committed
 * behind it and was never exported.) The page and the stream share one
 * WHERE clause: the account, the `since` bound, a cursor of the time order
 * that the export handed out before (0010_lifecycle; honoured as the point
 * in time it names), and the commit position, written with coalesce()
 * rather than `$n IS NULL OR …` so that even a generic plan turns the
 * position into a range of learning_samples_xid_idx (account_id,
 * write_xid, id). The rows and the watermark come from one snapshot: the
 * page in one statement, the stream in one REPEATABLE READ transaction.
 *
 * Every answer says where to come back from (resumeCursor, and the
 * stream's Inboxd-Resume-Cursor): the last sample's position while there
 * is more, else the watermark itself, so a consumer that polls never
 * reads the same range twice and never skips a sample.
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

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "inboxd/db/db.h"
#include "inboxd/db/rows.h"
#include "inboxd/lib/sbuf.h"

enum {
    S_LIST,
    S_BEGIN,
    S_TIMEOUT,
    S_MARK,
    S_STREAM,
    S_EMBEDDINGS,
};

#define NIL_ID "'00000000-0000-0000-0000-000000000000'::uuid"

/* clang-format off */
/* $1 account, $2 since, $3/$4 a time-order cursor (created_at, id), $5/$6
 * the commit position (write_xid, id); `mark` the watermark. */
#define SAMPLE_RANGE(mark)                                                                         \
    "FROM learning_samples s "                                                                     \
    "WHERE s.account_id = $1 "                                                                     \
    "  AND (s.write_xid, s.id) > (coalesce($5::xid8, '0'::xid8), coalesce($6::uuid, " NIL_ID ")) " \
    "  AND s.write_xid < " mark " "                                                                \
    "  AND s.created_at >= coalesce($2::timestamptz, '-infinity') "                                \
    "  AND " DB_AFTER("s.created_at", "s.id", "$3", "$4") " "                                      \
    "ORDER BY s.write_xid, s.id "
/* clang-format on */

static const struct db_stmt stmts[] = {
    /* One row per sample and the watermark on each; one row with NULL
     * sample columns when the page is empty. */
    [S_LIST] = {"learning_list",
                "SELECT w.mark::text, p.j, p.write_xid::text, p.id "
                "FROM (SELECT inboxd_watermark() AS mark) w "
                "LEFT JOIN LATERAL (SELECT inboxd_json_learning_sample(s) AS j, s.write_xid, s.id "
                "                   " SAMPLE_RANGE("w.mark") "LIMIT $7) p ON true",
                7},
    /* The export's transaction: read-only, one snapshot for the watermark
     * and the rows, and the only place a statement may run for up to an
     * hour (see DESIGN). */
    [S_BEGIN] = {"learning_begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0},
    [S_TIMEOUT] = {"learning_timeout", "SET LOCAL statement_timeout = '1h'", 0},
    [S_MARK] = {"learning_mark", "SELECT inboxd_watermark()::text", 0},
    [S_STREAM] = {"learning_stream",
                  "SELECT inboxd_json_learning_sample(s) " SAMPLE_RANGE("$7::xid8"), 7},
    /* $3 the vectors as JSON text, or NULL. The sample takes the commit
     * position of this transaction, as a new one would (see the header). */
    [S_EMBEDDINGS] = {"learning_embeddings",
                      "UPDATE learning_samples s SET embeddings_json = $3::jsonb, "
                      "       write_xid = pg_current_xact_id() "
                      "WHERE s.account_id = $1 AND s.id = $2 "
                      "RETURNING inboxd_json_learning_sample(s)",
                      3},
};

/* The parameters $1-$6 of the range, from the page's cursor. */
#define RANGE_PARAMS(w, since, pg)                                                                 \
    (w)->account_id, (since), (pg)->after_ts, (pg)->after_ts ? (pg)->after_id : NULL,              \
        (pg)->after_xid, (pg)->after_xid ? (pg)->after_id : NULL

/* The cursor the page or stream was asked to continue from, if it was a
 * commit position. */
static bool
asked_position(const struct page *pg, struct cursor *c)
{
    if (pg->after_xid == NULL)
        return false;
    *c = (struct cursor){.has_xid = true, .xid = strtoull(pg->after_xid, NULL, 10)};
    snprintf(c->id, sizeof(c->id), "%s", pg->after_id);
    return true;
}

/* Where to come back from after everything below `mark` (text). */
static void
resume_cursor(const struct page *pg, const char *mark, char out[CURSOR_BUFLEN])
{
    struct cursor asked, at;

    cursor_at_watermark(strtoull(mark, NULL, 10), asked_position(pg, &asked) ? &asked : NULL, &at);
    cursor_encode(&at, out);
}

struct list {
    const char *const *params;
    const struct page *pg;
    char *json;
    size_t len;
};

/* {"items":[…],"nextCursor":…,"resumeCursor":…} from S_LIST's rows. */
static int
list_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct list *l = arg;
    PGresult *res = db_exec(c, &stmts[S_LIST], l->params, pb);
    int n, shown;
    char next[CURSOR_BUFLEN] = "", resume[CURSOR_BUFLEN];
    struct sbuf b;

    if (res == NULL)
        return -1;
    n = PQntuples(res);
    if (n == 1 && PQgetisnull(res, 0, 1))
        n = 0;
    shown = n > l->pg->limit ? l->pg->limit : n;
    sbuf_init(&b);
    sbuf_adds(&b, "{\"items\":[");
    for (int i = 0; i < shown; i++) {
        if (i > 0)
            sbuf_add(&b, ",", 1);
        sbuf_add(&b, PQgetvalue(res, i, 1), (size_t)PQgetlength(res, i, 1));
    }
    if (n > shown) {
        struct cursor last = {.has_xid = true,
                              .xid = strtoull(PQgetvalue(res, shown - 1, 2), NULL, 10)};

        snprintf(last.id, sizeof(last.id), "%s", PQgetvalue(res, shown - 1, 3));
        cursor_encode(&last, next);
        snprintf(resume, sizeof(resume), "%s", next);
    } else {
        resume_cursor(l->pg, PQgetvalue(res, 0, 0), resume);
    }
    PQclear(res);
    if (next[0])
        sbuf_addf(&b, "],\"nextCursor\":\"%s\"", next);
    else
        sbuf_adds(&b, "],\"nextCursor\":null");
    sbuf_addf(&b, ",\"resumeCursor\":\"%s\"}", resume);
    free(l->json);
    l->json = sbuf_steal(&b, &l->len);
    return l->json ? 0 : problem_internal(pb, "learning: out of memory");
}

int
db_learning_list(const struct who *w, const char *since, const struct page *pg, char **json,
                 size_t *len, struct problem *pb)
{
    const char *p[] = {RANGE_PARAMS(w, since, pg), pg->fetch};
    struct list l = {p, pg, NULL, 0};

    if (db_read(list_fn, &l, true, pb) != 0) {
        free(l.json);
        return -1;
    }
    *json = l.json;
    *len = l.len;
    return 0;
}

/* --- the stream ------------------------------------------------------------ */

struct learning_stream {
    struct dbconn *c;
    char resume[CURSOR_BUFLEN]; /* where to come back from after the last row */
    PGresult *row;              /* the row last lent out (or read ahead by open) */
    bool read_ahead;            /* row is the first row, not yet lent out */
    bool done;                  /* the statement has ended (end or error) */
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

/* The watermark of the stream's snapshot into mark (text). */
static int
read_mark(struct dbconn *c, char mark[32], struct problem *pb)
{
    PGresult *res = db_exec(c, &stmts[S_MARK], NULL, pb);

    if (res == NULL)
        return -1;
    snprintf(mark, 32, "%s", PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "0");
    PQclear(res);
    return 0;
}

int
db_learning_stream_open(const struct who *w, const char *since, const struct page *pg,
                        struct learning_stream **out, struct problem *pb)
{
    char mark[32];
    const char *p[] = {RANGE_PARAMS(w, since, pg), mark};
    struct learning_stream *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (s == NULL)
        return problem_internal(pb, "out of memory");
    s->c = db_borrow(true, pb);
    if (s->c == NULL)
        goto fail;
    if (run(s->c, &stmts[S_BEGIN], pb) != 0 || run(s->c, &stmts[S_TIMEOUT], pb) != 0 ||
        read_mark(s->c, mark, pb) != 0)
        goto fail;
    resume_cursor(pg, mark, s->resume);
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

const char *
db_learning_stream_resume(const struct learning_stream *s)
{
    return s->resume;
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

/* --- embeddings -------------------------------------------------------------- */

int
db_learning_set_embeddings(const struct who *w, const char *id, const char *embeddings,
                           char **json, size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, id, embeddings};
    const struct db_write wr = {.st = &stmts[S_EMBEDDINGS],
                                .params = p,
                                .action = "learning_sample.embeddings",
                                .type = "learning_sample",
                                .id = id,
                                .what = "learning sample"};

    return db_write(w, &wr, json, len, pb);
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
