/*
 * db_sources: the SQL of source documents, the knowledge-base pages the
 * crawler keeps and the drafts cite (API.md "Learning, jobs, sources,
 * notifications").
 *
 * `sourceUrl` is unique per account and the upsert key: one INSERT … ON
 * CONFLICT makes or updates the row, so simultaneous PUTs of one URL make
 * one row. Every function takes the caller first; another account's
 * document is a 404, exactly like a missing one.
 */
#ifndef INBOXD_DB_SOURCES_H
#define INBOXD_DB_SOURCES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "inboxd/db/who.h"
#include "inboxd/lib/page.h"
#include "inboxd/lib/problem.h"

/*
 * A validated PUT body. Strings are borrowed (from the parsed body or the
 * route's buffers) and already checked: source_url an http(s) URL, no NUL,
 * lengths; timestamps as text PostgreSQL takes (rfc3339_format_us);
 * metadata an object of at most 64 KiB.
 *
 * Each `*_set` says whether the body named the field: on insert an unnamed
 * field is NULL; on update it keeps its stored value, and a named field
 * whose value is NULL (JSON null) clears it. metadata NULL means "not
 * given": {} on insert, kept on update.
 */
struct source_in {
    const char *source_url;
    const char *title;
    const char *hash;
    const char *indexed_at;
    const char *next_refresh_at;
    const json_t *metadata;
    bool title_set, hash_set, indexed_at_set, next_refresh_at_set;
};

/*
 * PUT /v1/source-documents: inserts the document, or updates the one with
 * this sourceUrl, and audits "source_document.create" or
 * "source_document.update" in the same transaction. *json: new malloc()ed
 * (caller free()s); *created true for a new row. Statuses: 500, 503.
 */
int db_sources_upsert(const struct who *w, const struct source_in *in, char **json, size_t *len,
                      bool *created, struct problem *pb) __attribute__((warn_unused_result));

/*
 * GET /v1/source-documents: a page of the account's documents in creation
 * order (created_at, id); when due_before is not NULL (a timestamp as
 * text) only those whose next_refresh_at is earlier (documents without
 * one are left out). pg: from query_page(with_ts = true). *json: new
 * malloc()ed page text. Statuses: 500, 503.
 */
int db_sources_list(const struct who *w, const char *due_before, const struct page *pg, char **json,
                    size_t *len, struct problem *pb) __attribute__((warn_unused_result));

/* GET /v1/source-documents/{id}. *json: new malloc()ed. Statuses: 404, 503. */
int db_sources_get(const struct who *w, const char *id, char **json, size_t *len,
                   struct problem *pb) __attribute__((warn_unused_result));

/* DELETE /v1/source-documents/{id}: deletes the row for good and audits
 * "source_document.delete". Statuses: 404, 503. */
int db_sources_delete(const struct who *w, const char *id, struct problem *pb)
    __attribute__((warn_unused_result));

#endif
