/*
 * db_page: list envelopes around JSON that PostgreSQL rendered, and the
 * one-row read and write every resource module runs.
 *
 * Items arrive as JSON text (the inboxd_json_* functions of the schema) and
 * are concatenated, never parsed again: a page of 200 items costs one copy.
 * No SQL of its own (the statements are the caller's), except the audit
 * row db_audit() writes; never a resource's rule: those stay with the
 * caller, in its statements and its none()/row() callbacks.
 */
#include "inboxd/db/rows.h"

#include <stdlib.h>
#include <string.h>

#include "inboxd/lib/cursor.h"
#include "inboxd/db/audit.h"
#include "inboxd/db/db.h"
#include "inboxd/lib/rfc3339.h"
#include "inboxd/lib/sbuf.h"

char *
db_strdup(const PGresult *res, int row, int col)
{
    const char *v = db_val(res, row, col);

    return v ? strdup(v) : NULL;
}

char *
db_page_render(const PGresult *res, const struct page *pg, int json_col, int ts_col, int id_col,
               size_t *len, struct problem *pb)
{
    int n = PQntuples(res);
    int shown = n > pg->limit ? pg->limit : n;
    struct sbuf b;
    char *out;

    size_t total = 64 + CURSOR_BUFLEN;

    for (int i = 0; i < shown; i++)
        total += (size_t)PQgetlength(res, i, json_col) + 1;
    sbuf_init(&b);
    sbuf_reserve(&b, total);
    sbuf_adds(&b, "{\"items\":[");
    for (int i = 0; i < shown; i++) {
        if (i > 0)
            sbuf_add(&b, ",", 1);
        sbuf_add(&b, PQgetvalue(res, i, json_col), (size_t)PQgetlength(res, i, json_col));
    }
    if (db_page_cursor(res, pg, ts_col, id_col, &b, pb) != 0) {
        sbuf_cleanup(&b);
        return NULL;
    }
    out = sbuf_steal(&b, len);
    if (out == NULL)
        problem_internal(pb, "page: out of memory");
    return out;
}

int
db_page_cursor(const PGresult *res, const struct page *pg, int ts_col, int id_col,
               struct sbuf *b, struct problem *pb)
{
    int n = PQntuples(res);
    int shown = n > pg->limit ? pg->limit : n;

    if (n > pg->limit && shown > 0) {
        struct cursor c = {0};
        const char *ts = ts_col >= 0 ? db_val(res, shown - 1, ts_col) : NULL;

        c.has_ts = ts != NULL;
        if (ts != NULL && rfc3339_parse_pg(ts, &c.ts_usec) != 0)
            return problem_internal(pb, "page: bad cursor timestamp");
        snprintf(c.id, sizeof(c.id), "%s", PQgetvalue(res, shown - 1, id_col));
        db_page_next(b, &c);
    } else {
        db_page_next(b, NULL);
    }
    return 0;
}

void
db_page_next(struct sbuf *b, const struct cursor *c)
{
    sbuf_adds(b, "],\"nextCursor\":");
    if (c != NULL) {
        char text[CURSOR_BUFLEN];

        cursor_encode(c, text);
        sbuf_addf(b, "\"%s\"}", text);
    } else {
        sbuf_adds(b, "null}");
    }
}

char *
db_items_render(const PGresult *res, int json_col, size_t *len, struct problem *pb)
{
    int n = PQntuples(res);
    struct sbuf b;
    char *out;

    sbuf_init(&b);
    sbuf_adds(&b, "{\"items\":[");
    for (int i = 0; i < n; i++) {
        if (i > 0)
            sbuf_add(&b, ",", 1);
        sbuf_add(&b, PQgetvalue(res, i, json_col), (size_t)PQgetlength(res, i, json_col));
    }
    sbuf_adds(&b, "]}");
    out = sbuf_steal(&b, len);
    if (out == NULL)
        problem_internal(pb, "items: out of memory");
    return out;
}

/* Takes the answer of a one-row statement (NULL: pb is set already) and
 * clears res: no row is a 404 "no such <what>". */
static int
take_one(PGresult *res, const char *what, char **json, size_t *len, struct problem *pb)
{
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return problem_set(pb, 404, "not-found", "no such %s", what);
    }
    *len = (size_t)PQgetlength(res, 0, 0);
    *json = db_strdup(res, 0, 0);
    PQclear(res);
    return *json ? 0 : problem_internal(pb, "out of memory");
}

int
db_one(const struct db_stmt *st, const char *const *params, const char *what, char **json,
       size_t *len, struct problem *pb)
{
    return take_one(db_query(st, params, true, pb), what, json, len, pb);
}

struct list {
    const struct db_stmt *st;
    const struct db_stmt *exists; /* NULL: a top-level list */
    const char *what;
    const char *const *params;
    const struct page *pg;
    int ts_col, id_col;
    char *json;
    size_t len;
};

static int
list_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct list *l = arg;
    PGresult *res = db_exec(c, l->st, l->params, pb);

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0 && l->exists != NULL) {
        /* Rows prove the parent is there; no rows may mean it is not. */
        PGresult *ex = db_exec(c, l->exists, l->params, pb);
        int found = ex ? PQntuples(ex) : -1;

        PQclear(ex);
        if (found <= 0) {
            PQclear(res);
            return found < 0 ? -1 : problem_set(pb, 404, "not-found", "no such %s", l->what);
        }
    }
    free(l->json);
    l->json = db_page_render(res, l->pg, 0, l->ts_col, l->id_col, &l->len, pb);
    PQclear(res);
    return l->json ? 0 : -1;
}

int
db_list(const struct db_stmt *st, const char *const *params, const struct page *pg, int ts_col,
        int id_col, char **json, size_t *len, struct problem *pb)
{
    return db_list_in(st, NULL, NULL, params, pg, ts_col, id_col, json, len, pb);
}

int
db_list_in(const struct db_stmt *st, const struct db_stmt *exists, const char *what,
           const char *const *params, const struct page *pg, int ts_col, int id_col, char **json,
           size_t *len, struct problem *pb)
{
    struct list l = {st, exists, what, params, pg, ts_col, id_col, NULL, 0};

    if (db_read(list_fn, &l, true, pb) != 0) {
        free(l.json);
        return -1;
    }
    *json = l.json;
    *len = l.len;
    return 0;
}

/* --- one row written, and its audit row ------------------------------------ */

int
db_write_in(struct dbconn *c, const struct who *w, const struct db_write *wr, char **json,
            size_t *len, struct problem *pb)
{
    PGresult *res = db_exec(c, wr->st, wr->params, pb);
    const char *action = wr->action;
    char *copy = NULL;
    size_t n = 0;

    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        if (wr->none != NULL)
            return wr->none(c, wr->arg, pb);
        if (wr->what == NULL)
            /* An INSERT or an upsert always answers its row. */
            return problem_internal(pb, "%s: no row", wr->st->name);
        return problem_set(pb, 404, "not-found", "no such %s", wr->what);
    }
    if (json != NULL) {
        n = (size_t)PQgetlength(res, 0, 0);
        copy = db_strdup(res, 0, 0);
        if (copy == NULL) {
            PQclear(res);
            return problem_internal(pb, "%s: out of memory", wr->st->name);
        }
    }
    if (wr->row != NULL) {
        const char *chosen = wr->row(res, wr->arg);

        if (chosen != NULL)
            action = chosen;
    }
    PQclear(res);
    if (db_audit(c, w, action, wr->type, wr->id, NULL, pb) != 0) {
        free(copy);
        return -1;
    }
    if (json != NULL) {
        *json = copy;
        *len = n;
    }
    return 0;
}

struct write {
    const struct who *w;
    const struct db_write *wr;
    bool want_json;
    char *json;
    size_t len;
};

static int
write_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct write *x = arg;

    /* db_tx may run this again: start from nothing. */
    free(x->json);
    x->json = NULL;
    x->len = 0;
    return db_write_in(c, x->w, x->wr, x->want_json ? &x->json : NULL, &x->len, pb);
}

int
db_write(const struct who *w, const struct db_write *wr, char **json, size_t *len,
         struct problem *pb)
{
    struct write x = {w, wr, json != NULL, NULL, 0};

    if (db_tx(write_fn, &x, pb) != 0) {
        free(x.json);
        return -1;
    }
    if (json != NULL) {
        *json = x.json;
        *len = x.len;
    }
    return 0;
}
