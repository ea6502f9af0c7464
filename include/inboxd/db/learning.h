/*
 * db_learning: the corrections export (learning samples, API.md "Learning,
 * jobs, sources, notifications").
 *
 * Two ways to read the same range, in commit order (the order of the
 * writers' transaction ids, then id) and only below the commit watermark,
 * so that no sample ever commits behind a position already handed out: a
 * keyset page for the JSON list, and an iterator for the NDJSON stream that
 * pulls one row at a time from a borrowed connection in single-row mode, so
 * the export of any range holds one row in memory. No PGresult leaves this
 * module: the iterator lends out each row's JSON text.
 */
#ifndef INBOXD_DB_LEARNING_H
#define INBOXD_DB_LEARNING_H

#include <stddef.h>

#include "inboxd/db/who.h"
#include "inboxd/lib/page.h"
#include "inboxd/lib/problem.h"

/*
 * GET /v1/learning-samples: a page of the account's samples created at or
 * after `since` (RFC 3339 with microseconds, NULL for all) and after the
 * page's cursor (query_page_xid(): a commit position, or a point in time
 * from an older cursor). *json: new malloc()ed page text (caller free()s),
 * `{"items", "nextCursor", "resumeCursor"}`, length in *len. Statuses: 503.
 */
int db_learning_list(const struct who *w, const char *since, const struct page *pg, char **json,
                     size_t *len, struct problem *pb) __attribute__((warn_unused_result));

/*
 * PATCH /v1/learning-samples/{id} {embeddingsJson}: sets the sample's
 * vectors to `embeddings` (compact JSON text, the caller's numbers as
 * sent; NULL clears them), audited "learning_sample.embeddings", in one
 * transaction. The sample takes that transaction's commit position
 * (write_xid), exactly as if it were written now: the export hands it out
 * again, with its vectors, after every position handed out before, and
 * a consumer following it by cursor receives it once more (the same id).
 * *json: the sample, new malloc()ed. Statuses: 404, 503.
 */
int db_learning_set_embeddings(const struct who *w, const char *id, const char *embeddings,
                               char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

/* An open export: a borrowed connection streaming rows. Opaque. */
struct learning_stream;

/*
 * Opens the export of every sample of the account created at or after
 * `since` (NULL: all) and after pg's cursor position (as for the list;
 * pg->limit is ignored). Borrows a connection for the life of the
 * stream and reads the first row before returning, so that a database that
 * fails at once is reported here (503) rather than mid-stream.
 * On success *out is a new stream the caller must close with
 * db_learning_stream_close() on every path. Returns 0, or -1 with pb (503)
 * and *out NULL.
 */
int db_learning_stream_open(const struct who *w, const char *since, const struct page *pg,
                            struct learning_stream **out, struct problem *pb)
    __attribute__((warn_unused_result));

/*
 * The next sample as JSON text (no newline). Returns 1 with *text and *len
 * set (borrowed: valid until the next call or close), 0 at the end of the
 * range, -1 on a database error mid-stream (pb set; the stream is finished,
 * close it).
 */
int db_learning_stream_next(struct learning_stream *s, const char **text, size_t *len,
                            struct problem *pb) __attribute__((warn_unused_result));

/* The cursor to continue from once every row was read (the watermark's
 * position, or the cursor asked for when that is further on): text of
 * CURSOR_BUFLEN, valid until close. */
const char *db_learning_stream_resume(const struct learning_stream *s);

/* Gives the connection back (also when the stream was abandoned half-way)
 * and frees s. NULL is a no-op. */
void db_learning_stream_close(struct learning_stream *s);

#endif
