/*
 * db_sources: the SQL of source documents.
 *
 * The upsert is one INSERT … ON CONFLICT (account_id, source_url) DO
 * UPDATE, so simultaneous PUTs of one URL make one row and none fails; the
 * statement tells insert from update by the id it returns (the new id only
 * when it inserted). Fields the body did not name keep their stored value
 * on update: each has a "given" flag parameter, so JSON null can clear a
 * field while omitting it leaves it alone. Writes audit in their own
 * transaction.
 *
 * Rows are rendered by inboxd_json_source_document(); every statement's $1
 * is the caller's account. Nothing here knows HTTP.
 */
#include "inboxd/db/sources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inboxd/db/db.h"
#include "inboxd/db/rows.h"
#include "inboxd/lib/uuid7.h"
#include "inboxd/lib/jsontext.h"

enum {
    S_UPSERT,
    S_LIST,
    S_GET,
    S_DELETE,
};

static const struct db_stmt stmts[] = {
    /* $9-$12: whether title, hash, indexedAt, nextRefreshAt were given. */
    [S_UPSERT] = {"sources_upsert",
                  "INSERT INTO source_documents AS s (account_id, id, source_url, title, hash, "
                  "                                  indexed_at, next_refresh_at, metadata) "
                  "VALUES ($1, $2, $3, $4, $5, $6::timestamptz, $7::timestamptz, "
                  "        coalesce($8::jsonb, '{}'::jsonb)) "
                  "ON CONFLICT (account_id, source_url) DO UPDATE SET "
                  "  title = CASE WHEN $9::bool THEN excluded.title ELSE s.title END, "
                  "  hash = CASE WHEN $10::bool THEN excluded.hash ELSE s.hash END, "
                  "  indexed_at = CASE WHEN $11::bool "
                  "                    THEN excluded.indexed_at ELSE s.indexed_at END, "
                  "  next_refresh_at = CASE WHEN $12::bool "
                  "                         THEN excluded.next_refresh_at "
                  "                         ELSE s.next_refresh_at END, "
                  "  metadata = CASE WHEN $8::jsonb IS NULL "
                  "                  THEN s.metadata ELSE excluded.metadata END, "
                  "  updated_at = now() "
                  "RETURNING inboxd_json_source_document(s), s.id",
                  12},
    [S_LIST] = {"sources_list",
                "SELECT inboxd_json_source_document(s), s.created_at, s.id "
                "FROM source_documents s "
                "WHERE s.account_id = $1 "
                "  AND ($2::timestamptz IS NULL OR s.next_refresh_at < $2::timestamptz) "
                "  AND " DB_AFTER("s.created_at", "s.id", "$3", "$4") " "
                "ORDER BY s.created_at, s.id LIMIT $5",
                5},
    [S_GET] = {"sources_get",
               "SELECT inboxd_json_source_document(s) FROM source_documents s "
               "WHERE s.account_id = $1 AND s.id = $2",
               2},
    [S_DELETE] = {"sources_delete",
                  "DELETE FROM source_documents WHERE account_id = $1 AND id = $2 RETURNING id", 2},
};

/* --- upsert ---------------------------------------------------------------- */

struct upsert {
    const char *new_id;
    char id[UUID7_STRLEN + 1]; /* the row's: new_id when the upsert inserted */
};

/* The row() of the upsert: reads the row's id, which tells an insert from
 * an update and is the id audited. */
static const char *
upserted(const PGresult *res, void *arg)
{
    struct upsert *u = arg;

    snprintf(u->id, sizeof(u->id), "%s", PQgetvalue(res, 0, 1));
    return strcmp(u->id, u->new_id) == 0 ? "source_document.create" : "source_document.update";
}

int
db_sources_upsert(const struct who *w, const struct source_in *in, char **json, size_t *len,
                  bool *created, struct problem *pb)
{
    char new_id[UUID7_STRLEN + 1];
    struct upsert u = {.new_id = new_id};
    const char *p[] = {w->account_id,
                       new_id,
                       in->source_url,
                       in->title,
                       in->hash,
                       in->indexed_at,
                       in->next_refresh_at,
                       NULL, /* metadata, below */
                       in->title_set ? "t" : "f",
                       in->hash_set ? "t" : "f",
                       in->indexed_at_set ? "t" : "f",
                       in->next_refresh_at_set ? "t" : "f"};
    const struct db_write wr = {.st = &stmts[S_UPSERT],
                                .params = p,
                                .type = "source_document",
                                .id = u.id,
                                .row = upserted,
                                .arg = &u};
    char *meta = NULL;
    int rc = -1;

    if (in->metadata != NULL) {
        meta = jsontext_dump(in->metadata);
        if (meta == NULL)
            return problem_internal(pb, "sources: metadata text: out of memory");
    }
    p[7] = meta;
    /* One id for every attempt of the transaction. */
    uuid7_new(new_id);
    if (db_write(w, &wr, json, len, pb) != 0)
        goto out;
    *created = strcmp(u.id, new_id) == 0;
    rc = 0;
out:
    free(meta);
    return rc;
}

/* --- read ------------------------------------------------------------------ */

int
db_sources_list(const struct who *w, const char *due_before, const struct page *pg, char **json,
                size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, due_before, pg->after_ts, pg->after_id, pg->fetch};

    return db_list(&stmts[S_LIST], p, pg, 1, 2, json, len, pb);
}

int
db_sources_get(const struct who *w, const char *id, char **json, size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, id};

    return db_one(&stmts[S_GET], p, "source document", json, len, pb);
}

/* --- delete ---------------------------------------------------------------- */

int
db_sources_delete(const struct who *w, const char *id, struct problem *pb)
{
    const char *p[] = {w->account_id, id};
    const struct db_write wr = {.st = &stmts[S_DELETE],
                                .params = p,
                                .action = "source_document.delete",
                                .type = "source_document",
                                .id = id,
                                .what = "source document"};

    return db_write(w, &wr, NULL, NULL, pb);
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
