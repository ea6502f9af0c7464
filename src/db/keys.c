/*
 * db_keys: the SQL of accounts and API keys.
 *
 * Keys are stored as the hex SHA-256 of the key text with a short visible
 * prefix; the key itself never reaches the database. Lists and single
 * resources are rendered by the schema's inboxd_json_* functions.
 */
#include "inboxd/db/keys.h"

#include <stdlib.h>
#include <string.h>

#include "inboxd/db/db.h"
#include "inboxd/db/rows.h"
#include "inboxd/lib/scope.h"
#include "inboxd/lib/uuid7.h"

enum {
    S_LOOKUP,
    S_TOUCH,
    S_ACCOUNT_GET,
    S_LIST,
    S_REVOKE,
    S_ACCOUNT_INSERT,
    S_ACCOUNT_RESOLVE,
    S_INSERT,
    S_PRINT,
    S_REVOKE_ANY,
};

static const struct db_stmt stmts[] = {
    [S_LOOKUP] = {"keys_lookup",
                  "SELECT id, account_id, prefix, array_to_string(scopes, ' '), "
                  "       revoked_at IS NOT NULL, "
                  "       last_used_at IS NULL OR last_used_at < now() - interval '1 minute' "
                  "FROM api_keys WHERE key_hash = $1",
                  1},
    [S_TOUCH] = {"keys_touch",
                 "UPDATE api_keys SET last_used_at = now() WHERE account_id = $1 AND id = $2",
                 2},
    [S_ACCOUNT_GET] = {"account_get",
                       "SELECT inboxd_json_account(a) FROM accounts a WHERE a.id = $1", 1},
    [S_LIST] = {"keys_list",
                "SELECT inboxd_json_api_key(k), k.id FROM api_keys k "
                "WHERE k.account_id = $1 AND ($2::uuid IS NULL OR k.id > $2) "
                "ORDER BY k.id LIMIT $3",
                3},
    [S_REVOKE] = {"keys_revoke",
                  "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) "
                  "WHERE account_id = $1 AND id = $2 RETURNING inboxd_json_api_key(api_keys)",
                  2},
    [S_ACCOUNT_INSERT] = {"account_insert",
                          "INSERT INTO accounts (id, name) VALUES ($1, $2) "
                          "ON CONFLICT (name) DO NOTHING RETURNING id",
                          2},
    [S_ACCOUNT_RESOLVE] = {"account_resolve",
                           "SELECT id FROM accounts "
                           "WHERE name = $1 OR (length($1) = 36 AND id::text = lower($1))",
                           1},
    [S_INSERT] = {"keys_insert",
                  "INSERT INTO api_keys (account_id, id, name, scopes, prefix, key_hash) "
                  "VALUES ($1, $2, $3, string_to_array($4, ' '), $5, $6)",
                  6},
    [S_PRINT] = {"keys_print",
                 "SELECT k.id, a.name, k.name, k.prefix, array_to_string(k.scopes, ' '), "
                 "       inboxd_ts(k.created_at), coalesce(inboxd_ts(k.last_used_at), '-'), "
                 "       coalesce(inboxd_ts(k.revoked_at), '-') "
                 "FROM api_keys k JOIN accounts a ON a.id = k.account_id "
                 "WHERE $1::uuid IS NULL OR k.account_id = $1 ORDER BY a.name, k.id",
                 1},
    [S_REVOKE_ANY] = {"keys_revoke_any",
                      "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) "
                      "WHERE id = $1 RETURNING id",
                      1},
};

/* --- authentication -------------------------------------------------------- */

struct lookup {
    const char *hash;
    struct key_row *out;
    int found;
};

static int
lookup_tx(struct dbconn *c, void *arg, struct problem *pb)
{
    struct lookup *l = arg;
    const char *p[] = {l->hash};
    PGresult *res = db_exec(c, &stmts[S_LOOKUP], p, pb);
    bool touch;

    if (res == NULL)
        return -1;
    l->found = PQntuples(res) == 1;
    if (!l->found) {
        PQclear(res);
        return 0;
    }
    snprintf(l->out->id, sizeof(l->out->id), "%s", PQgetvalue(res, 0, 0));
    snprintf(l->out->account_id, sizeof(l->out->account_id), "%s", PQgetvalue(res, 0, 1));
    snprintf(l->out->prefix, sizeof(l->out->prefix), "%s", PQgetvalue(res, 0, 2));
    if (scope_parse(PQgetvalue(res, 0, 3), &l->out->scopes) != 0)
        l->out->scopes = 0;
    l->out->revoked = PQgetvalue(res, 0, 4)[0] == 't';
    touch = PQgetvalue(res, 0, 5)[0] == 't' && !l->out->revoked;
    PQclear(res);
    if (touch) {
        const char *tp[] = {l->out->account_id, l->out->id};

        res = db_exec(c, &stmts[S_TOUCH], tp, pb);
        if (res == NULL)
            return -1;
        PQclear(res);
    }
    return 0;
}

int
db_keys_lookup(const char *hash, struct key_row *out, struct problem *pb)
{
    struct lookup l = {.hash = hash, .out = out};

    /* Autocommit: the touch is a tiny write of its own, not worth a BEGIN. */
    if (db_read(lookup_tx, &l, false, pb) != 0)
        return -1;
    return l.found;
}

/* --- HTTP ------------------------------------------------------------------ */

int
db_account_get(const struct who *w, char **json, size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id};

    return db_one(&stmts[S_ACCOUNT_GET], p, "account", json, len, pb);
}

int
db_keys_list(const struct who *w, const struct page *pg, char **json, size_t *len,
             struct problem *pb)
{
    const char *p[] = {w->account_id, pg->after_id, pg->fetch};

    return db_list(&stmts[S_LIST], p, pg, -1, 1, json, len, pb);
}

int
db_keys_revoke(const struct who *w, const char *id, char **json, size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, id};
    const struct db_write wr = {.st = &stmts[S_REVOKE],
                                .params = p,
                                .action = "api_key.revoke",
                                .type = "api_key",
                                .id = id,
                                .what = "api key"};

    return db_write(w, &wr, json, len, pb);
}

/* --- command line ---------------------------------------------------------- */

struct idout {
    const struct db_stmt *st;
    const char *const *params;
    char *id;
    int found;
};

static int
id_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct idout *o = arg;
    PGresult *res = db_exec(c, o->st, o->params, pb);

    if (res == NULL)
        return -1;
    o->found = PQntuples(res);
    if (o->found >= 1 && o->id != NULL)
        snprintf(o->id, 37, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return 0;
}

int
db_accounts_create(const char *name, char id[37], struct problem *pb)
{
    char newid[37];
    const char *p[] = {newid, name};
    struct idout o = {&stmts[S_ACCOUNT_INSERT], p, id, 0};

    uuid7_new(newid);
    if (db_tx(id_fn, &o, pb) != 0)
        return -1;
    if (o.found == 0)
        return problem_set(pb, 409, "conflict", "an account named \"%s\" exists", name);
    return 0;
}

int
db_accounts_resolve(const char *id_or_name, char id[37], struct problem *pb)
{
    const char *p[] = {id_or_name};
    struct idout o = {&stmts[S_ACCOUNT_RESOLVE], p, id, 0};

    if (db_read(id_fn, &o, false, pb) != 0)
        return -1;
    if (o.found == 0)
        return problem_set(pb, 404, "not-found", "no account \"%s\"", id_or_name);
    return 0;
}

int
db_keys_insert(const char *account_id, const char *name, unsigned scopes, const char *prefix,
               const char *hash, char id[37], struct problem *pb)
{
    char list[160];
    const char *p[] = {account_id, id, name, list, prefix, hash};
    struct idout o = {&stmts[S_INSERT], p, NULL, 0};

    uuid7_new(id);
    scope_format(scopes, list, sizeof(list));
    return db_tx(id_fn, &o, pb);
}

struct print {
    const char *account_id;
    FILE *out;
};

static int
print_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct print *pr = arg;
    const char *p[] = {pr->account_id};
    PGresult *res = db_exec(c, &stmts[S_PRINT], p, pb);

    if (res == NULL)
        return -1;
    fprintf(pr->out, "%-36s  %-20s  %-20s  %-12s  %-24s  %-24s  %-24s  %s\n", "id", "account",
            "name", "prefix", "created", "last used", "revoked", "scopes");
    for (int i = 0; i < PQntuples(res); i++)
        fprintf(pr->out, "%-36s  %-20s  %-20s  %-12s  %-24s  %-24s  %-24s  %s\n",
                PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
                PQgetvalue(res, i, 3), PQgetvalue(res, i, 5), PQgetvalue(res, i, 6),
                PQgetvalue(res, i, 7), PQgetvalue(res, i, 4));
    PQclear(res);
    return 0;
}

int
db_keys_print(const char *account_id, FILE *out, struct problem *pb)
{
    struct print pr = {account_id, out};

    return db_read(print_fn, &pr, false, pb);
}

int
db_keys_revoke_any(const char *id, struct problem *pb)
{
    const char *p[] = {id};
    struct idout o = {&stmts[S_REVOKE_ANY], p, NULL, 0};

    if (db_tx(id_fn, &o, pb) != 0)
        return -1;
    if (o.found == 0)
        return problem_set(pb, 404, "not-found", "no api key %s", id);
    return 0;
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
