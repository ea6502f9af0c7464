/*
 * db_channels: the SQL of an account's channels.
 *
 * Every statement's $1 is the caller's account, so a channel of another
 * account is never read or changed: it is simply not found. Rows are
 * rendered by inboxd_json_channel() in the statement that reads or writes
 * them; no channel JSON is built in C (metadata goes in as the compact text
 * of the already validated object). Writes run in db_tx() and record their
 * audit row in the same transaction.
 *
 * Creating is an insert that does nothing on an existing externalId (ON
 * CONFLICT), so simultaneous POSTs of one externalId make one row. That
 * insert-or-find runs inside a caller's transaction (db_channels_upsert_in)
 * so a webhook delivery creates its channel with exactly this code.
 * Nothing here knows HTTP.
 */
#include "inboxd/db/channels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inboxd/db/db.h"
#include "inboxd/db/audit.h"
#include "inboxd/db/rows.h"
#include "inboxd/lib/uuid7.h"
#include "inboxd/lib/jsontext.h"

enum {
    S_LIST,
    S_GET,
    S_INSERT,
    S_EXISTING,
    S_UPDATE,
};

static const struct db_stmt stmts[] = {
    [S_LIST] = {"channels_list",
                "SELECT inboxd_json_channel(ch), ch.id FROM channels ch "
                "WHERE ch.account_id = $1 AND ($2::uuid IS NULL OR ch.id > $2::uuid) "
                "ORDER BY ch.id LIMIT $3",
                3},
    [S_GET] = {"channels_get",
               "SELECT inboxd_json_channel(ch) FROM channels ch "
               "WHERE ch.account_id = $1 AND ch.id = $2",
               2},
    [S_INSERT] = {"channels_insert",
                  "INSERT INTO channels AS ch (account_id, id, type, external_id, name, metadata) "
                  "VALUES ($1, $2, $3::channel_type, $4, $5, coalesce($6::jsonb, '{}'::jsonb)) "
                  "ON CONFLICT (account_id, external_id) DO NOTHING "
                  "RETURNING inboxd_json_channel(ch)",
                  6},
    /* The stored channel of an externalId, and whether its type and name are
     * the request's: the 200-or-409 decision of a repeated POST. */
    [S_EXISTING] = {"channels_existing",
                    "SELECT inboxd_json_channel(ch), "
                    "       ch.type = $3::channel_type AND ch.name = $4, ch.id "
                    "FROM channels ch WHERE ch.account_id = $1 AND ch.external_id = $2",
                    4},
    [S_UPDATE] = {"channels_update",
                  "UPDATE channels AS ch SET "
                  "  name = coalesce($3, ch.name), "
                  "  metadata = coalesce($4::jsonb, ch.metadata), "
                  "  updated_at = now() "
                  "WHERE ch.account_id = $1 AND ch.id = $2 "
                  "RETURNING inboxd_json_channel(ch)",
                  4},
};

/* Copies row 0, column 0 of res into *json / *len. Returns 0 or -1 (OOM). */
static int
take_json(const PGresult *res, char **json, size_t *len, struct problem *pb)
{
    *len = (size_t)PQgetlength(res, 0, 0);
    *json = db_strdup(res, 0, 0);
    return *json ? 0 : problem_internal(pb, "channels: out of memory");
}

/* The compact text of metadata, or NULL in *text when absent. Returns 0, or
 * -1 with a 500 on OOM. *text is new malloc()ed (caller free()s). */
static int
metadata_text(const json_t *metadata, char **text, struct problem *pb)
{
    *text = NULL;
    if (metadata == NULL)
        return 0;
    *text = jsontext_dump(metadata);
    return *text ? 0 : problem_internal(pb, "channels: metadata text: out of memory");
}

int
db_channels_list(const struct who *w, const struct page *pg, char **json, size_t *len,
                 struct problem *pb)
{
    const char *p[] = {w->account_id, pg->after_id, pg->fetch};

    return db_list(&stmts[S_LIST], p, pg, -1, 1, json, len, pb);
}

int
db_channels_get(const struct who *w, const char *id, char **json, size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, id};

    return db_one(&stmts[S_GET], p, "channel", json, len, pb);
}

/* --- create ---------------------------------------------------------------- */

int
db_channels_upsert_in(struct dbconn *c, const struct who *w, const struct channel_in *in,
                      const char *new_id, struct channel_upsert *out, struct problem *pb)
{
    const char *q[] = {w->account_id, in->external_id, in->type, in->name};
    char *meta = NULL;
    PGresult *res;
    int rc;

    /* The caller's transaction may run this again: start from nothing. */
    free(out->json);
    memset(out, 0, sizeof(*out));

    if (metadata_text(in->metadata, &meta, pb) != 0)
        return -1;
    /* The insert and the look-up of the stored row go together: when the
     * externalId exists the look-up answers (committed, since ON CONFLICT
     * waited for any concurrent inserter, and it is a new statement, so a
     * new snapshot); when the insert made the row, the look-up is dropped. */
    {
        const char *p[] = {w->account_id, new_id, in->type, in->external_id, in->name, meta};

        rc = db_send(c, &stmts[S_INSERT], p, pb);
    }
    free(meta);
    if (rc != 0 || db_send(c, &stmts[S_EXISTING], q, pb) != 0)
        return -1;
    if ((res = db_recv(c, pb)) == NULL)
        return -1;
    if (PQntuples(res) == 1) {
        rc = take_json(res, &out->json, &out->len, pb);
        PQclear(res);
        PQclear(db_recv(c, pb));
        if (rc != 0 || pb->status != 0)
            return -1;
        snprintf(out->id, sizeof(out->id), "%s", new_id);
        out->created = true;
        out->same = true;
        return db_audit(c, w, "channel.create", "channel", new_id, NULL, pb);
    }
    PQclear(res);
    if ((res = db_recv(c, pb)) == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        /* Channels are not deleted through the API; should one vanish in
         * between, the request still conflicted when it ran. */
        PQclear(res);
        return problem_set(pb, 409, "conflict", "a channel with this externalId exists");
    }
    rc = take_json(res, &out->json, &out->len, pb);
    if (rc == 0) {
        out->same = PQgetvalue(res, 0, 1)[0] == 't';
        snprintf(out->id, sizeof(out->id), "%s", PQgetvalue(res, 0, 2));
    }
    PQclear(res);
    return rc;
}

struct insert {
    const struct who *w;
    const struct channel_in *in;
    char id[UUID7_STRLEN + 1];
    struct channel_upsert out;
};

static int
insert_tx(struct dbconn *c, void *arg, struct problem *pb)
{
    struct insert *x = arg;

    if (db_channels_upsert_in(c, x->w, x->in, x->id, &x->out, pb) != 0)
        return -1;
    /* A repeated POST is answered with the stored channel only when it is
     * the same channel (openapi.json's rule; metadata is not compared). */
    if (!x->out.same)
        return problem_set(pb, 409, "conflict",
                           "a channel with this externalId exists with another type or name");
    return 0;
}

int
db_channels_insert(const struct who *w, const struct channel_in *in, char **json, size_t *len,
                   bool *created, struct problem *pb)
{
    struct insert x = {.w = w, .in = in};

    /* One id for every attempt of the transaction. */
    uuid7_new(x.id);
    if (db_tx(insert_tx, &x, pb) != 0) {
        free(x.out.json);
        return -1;
    }
    *json = x.out.json;
    *len = x.out.len;
    *created = x.out.created;
    return 0;
}

/* --- change ---------------------------------------------------------------- */

int
db_channels_update(const struct who *w, const char *id, const struct channel_in *in, char **json,
                   size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, id, in->name, NULL};
    const struct db_write wr = {.st = &stmts[S_UPDATE],
                                .params = p,
                                .action = "channel.update",
                                .type = "channel",
                                .id = id,
                                .what = "channel"};
    char *meta = NULL;
    int rc;

    if (metadata_text(in->metadata, &meta, pb) != 0)
        return -1;
    p[3] = meta;
    rc = db_write(w, &wr, json, len, pb);
    free(meta);
    return rc;
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
