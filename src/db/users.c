/*
 * db_users: the SQL of an account's users.
 *
 * Every statement's $1 is the caller's account, so a user of another
 * account is never read or changed: it is simply not found. Rows are
 * rendered by inboxd_json_user() in the statement that reads or writes
 * them; no user JSON is built in C. Writes run in db_tx() and record their
 * audit row in the same transaction.
 *
 * Creating is an insert that does nothing on an existing email (ON
 * CONFLICT), so two simultaneous POSTs of one email make one row and the
 * second sees the first's once it commits. Nothing here knows HTTP.
 */
#include "inboxd/db/users.h"

#include <stdlib.h>
#include <string.h>

#include "inboxd/db/db.h"
#include "inboxd/db/audit.h"
#include "inboxd/db/rows.h"
#include "inboxd/lib/uuid7.h"

enum {
    S_LIST,
    S_BY_SUBJECT,
    S_GET,
    S_INSERT,
    S_EXISTING,
    S_LOCK,
    S_EMAIL_TAKEN,
    S_UPDATE,
};

static const struct db_stmt stmts[] = {
    [S_LIST] = {"users_list",
                "SELECT inboxd_json_user_v2(u), u.id FROM users u "
                "WHERE u.account_id = $1 AND ($2::uuid IS NULL OR u.id > $2::uuid) "
                "ORDER BY u.id LIMIT $3",
                3},
    /* The user of one identity (users_auth_subject_key, migration 0012):
     * a page of at most one, so the answer is a list like any filter's. */
    [S_BY_SUBJECT] = {"users_by_subject",
                      "SELECT inboxd_json_user_v2(u), u.id FROM users u "
                      "WHERE u.account_id = $1 AND u.auth_provider = $4 AND u.auth_subject = $5 "
                      "  AND ($2::uuid IS NULL OR u.id > $2::uuid) "
                      "ORDER BY u.id LIMIT $3",
                      5},
    [S_GET] = {"users_get",
               "SELECT inboxd_json_user_v2(u) FROM users u WHERE u.account_id = $1 AND u.id = $2", 2},
    [S_INSERT] = {"users_insert",
                  "INSERT INTO users AS u (account_id, id, email, display_name, role, "
                  "                        auth_provider, auth_subject, active) "
                  "VALUES ($1, $2, $3, $4, coalesce($5::user_role, 'agent'), $6, $7, "
                  "        coalesce($8::bool, true)) "
                  "ON CONFLICT (account_id, email) DO NOTHING "
                  "RETURNING inboxd_json_user_v2(u)",
                  8},
    /* The stored user of an email, and whether every field the request gave
     * (not NULL) equals it: the 200-or-409 decision of a repeated POST. */
    [S_EXISTING] = {"users_existing",
                    "SELECT inboxd_json_user_v2(u), "
                    "       coalesce(($3::text IS NULL OR u.display_name = $3) "
                    "            AND ($4::user_role IS NULL OR u.role = $4::user_role) "
                    "            AND ($5::text IS NULL OR u.auth_provider = $5) "
                    "            AND ($6::text IS NULL OR u.auth_subject = $6) "
                    "            AND ($7::bool IS NULL OR u.active = $7::bool), false) "
                    "FROM users u WHERE u.account_id = $1 AND u.email = $2",
                    7},
    [S_LOCK] = {"users_lock", "SELECT 1 FROM users WHERE account_id = $1 AND id = $2 FOR UPDATE",
                2},
    [S_EMAIL_TAKEN] = {"users_email_taken",
                       "SELECT 1 FROM users WHERE account_id = $1 AND email = $2 AND id <> $3", 3},
    /* email, role and active change when given; the nullable fields when
     * their flag ($4, $7, $9) is true, possibly to NULL. */
    [S_UPDATE] = {"users_update",
                  "UPDATE users AS u SET "
                  "  email = coalesce($3, u.email), "
                  "  display_name = CASE WHEN $4::bool THEN $5 ELSE u.display_name END, "
                  "  role = coalesce($6::user_role, u.role), "
                  "  auth_provider = CASE WHEN $7::bool THEN $8 ELSE u.auth_provider END, "
                  "  auth_subject = CASE WHEN $9::bool THEN $10 ELSE u.auth_subject END, "
                  "  active = coalesce($11::bool, u.active), "
                  "  updated_at = now() "
                  "WHERE u.account_id = $1 AND u.id = $2 "
                  "RETURNING inboxd_json_user_v2(u)",
                  11},
};

/* Copies row 0, column 0 of res into *json / *len. Returns 0 or -1 (OOM). */
static int
take_json(const PGresult *res, char **json, size_t *len, struct problem *pb)
{
    *len = (size_t)PQgetlength(res, 0, 0);
    *json = db_strdup(res, 0, 0);
    return *json ? 0 : problem_internal(pb, "users: out of memory");
}

int
db_users_list(const struct who *w, const struct page *pg, char **json, size_t *len,
              struct problem *pb)
{
    const char *p[] = {w->account_id, pg->after_id, pg->fetch};

    return db_list(&stmts[S_LIST], p, pg, -1, 1, json, len, pb);
}

int
db_users_find(const struct who *w, const char *provider, const char *subject,
              const struct page *pg, char **json, size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, pg->after_id, pg->fetch, provider, subject};

    return db_list(&stmts[S_BY_SUBJECT], p, pg, -1, 1, json, len, pb);
}

/* The unique key a write can still meet once the email is settled:
 * users_auth_subject_key. Rewrites db_fail()'s generic 409 into one that
 * says which. Returns -1. */
static int
identity_taken(struct problem *pb)
{
    if (strcmp(pb->sqlstate, "23505") != 0)
        return -1;
    problem_init(pb);
    return problem_set(pb, 409, "conflict",
                       "another user of the account has this authProvider and authSubject");
}

int
db_users_get(const struct who *w, const char *id, char **json, size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, id};

    return db_one(&stmts[S_GET], p, "user", json, len, pb);
}

/* --- create ---------------------------------------------------------------- */

struct insert {
    const struct who *w;
    const struct user_in *in;
    char id[UUID7_STRLEN + 1];
    char *json;
    size_t len;
    bool created;
};

static int
insert_tx(struct dbconn *c, void *arg, struct problem *pb)
{
    struct insert *x = arg;
    const struct user_in *in = x->in;
    const char *p[] = {x->w->account_id,  x->id,           in->email, in->display_name, in->role,
                       in->auth_provider, in->auth_subject, in->active};
    const char *q[] = {x->w->account_id,  in->email,        in->display_name, in->role,
                       in->auth_provider, in->auth_subject, in->active};
    PGresult *res;
    bool same;

    /* db_tx may run this again: start from nothing. */
    free(x->json);
    x->json = NULL;
    x->len = 0;
    x->created = false;

    /* ON CONFLICT settles the email; the identity's unique key is the only
     * other one an insert can meet. */
    res = db_exec(c, &stmts[S_INSERT], p, pb);
    if (res == NULL)
        return identity_taken(pb);
    if (PQntuples(res) == 1) {
        int rc = take_json(res, &x->json, &x->len, pb);

        PQclear(res);
        if (rc != 0)
            return -1;
        x->created = true;
        return db_audit(c, x->w, "user.create", "user", x->id, NULL, pb);
    }
    PQclear(res);

    /* The email exists (committed, since ON CONFLICT waited for any
     * concurrent inserter): answer it when the request says the same. */
    res = db_exec(c, &stmts[S_EXISTING], q, pb);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        /* Users are never deleted, so this cannot happen; answer it as the
         * conflict it is rather than guess. */
        PQclear(res);
        return problem_set(pb, 409, "conflict", "a user with this email exists");
    }
    same = PQgetvalue(res, 0, 1)[0] == 't';
    if (!same) {
        PQclear(res);
        return problem_set(pb, 409, "conflict",
                           "a user with this email exists with other field values");
    }
    if (take_json(res, &x->json, &x->len, pb) != 0) {
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}

int
db_users_insert(const struct who *w, const struct user_in *in, char **json, size_t *len,
                bool *created, struct problem *pb)
{
    struct insert x = {.w = w, .in = in};

    /* One id for every attempt of the transaction. */
    uuid7_new(x.id);
    if (db_tx(insert_tx, &x, pb) != 0) {
        free(x.json);
        return -1;
    }
    *json = x.json;
    *len = x.len;
    *created = x.created;
    return 0;
}

/* --- change ---------------------------------------------------------------- */

struct update {
    const struct who *w;
    const char *id;
    const struct user_in *in;
    char *json;
    size_t len;
};

static int
update_tx(struct dbconn *c, void *arg, struct problem *pb)
{
    struct update *x = arg;
    const struct user_in *in = x->in;
    const char *lp[] = {x->w->account_id, x->id};
    const char *ep[] = {x->w->account_id, in->email, x->id};
    const char *up[] = {x->w->account_id,
                        x->id,
                        in->email,
                        in->set_display_name ? "t" : "f",
                        in->display_name,
                        in->role,
                        in->set_auth_provider ? "t" : "f",
                        in->auth_provider,
                        in->set_auth_subject ? "t" : "f",
                        in->auth_subject,
                        in->active};
    const struct db_write wr = {.st = &stmts[S_UPDATE],
                                .params = up,
                                .action = "user.update",
                                .type = "user",
                                .id = x->id,
                                .what = "user"};
    PGresult *res;
    int n;

    free(x->json);
    x->json = NULL;
    x->len = 0;

    /* Lock the row first, so a missing user is a 404 whatever the body
     * says, and the email check below holds for this row until commit. */
    res = db_exec(c, &stmts[S_LOCK], lp, pb);
    if (res == NULL)
        return -1;
    n = PQntuples(res);
    PQclear(res);
    if (n == 0)
        return problem_set(pb, 404, "not-found", "no such user");

    if (in->email != NULL) {
        /* A clear answer for the common case; a concurrent writer of the
         * same email still meets the unique key, which is a 409 as well. */
        res = db_exec(c, &stmts[S_EMAIL_TAKEN], ep, pb);
        if (res == NULL)
            return -1;
        n = PQntuples(res);
        PQclear(res);
        if (n > 0)
            return problem_set(pb, 409, "conflict", "another user of the account has this email");
    }

    if (db_write_in(c, x->w, &wr, &x->json, &x->len, pb) != 0)
        return identity_taken(pb);
    return 0;
}

int
db_users_update(const struct who *w, const char *id, const struct user_in *in, char **json,
                size_t *len, struct problem *pb)
{
    struct update x = {.w = w, .id = id, .in = in};

    if (db_tx(update_tx, &x, pb) != 0) {
        free(x.json);
        return -1;
    }
    *json = x.json;
    *len = x.len;
    return 0;
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
