/*
 * db_users: the SQL of an account's users (API.md "Account, users,
 * channels").
 *
 * Every function takes the caller first and runs one transaction; rows are
 * rendered by the schema's inboxd_json_user(). Another account's user is a
 * 404, exactly like a missing one.
 */
#ifndef INBOXD_DB_USERS_H
#define INBOXD_DB_USERS_H

#include <stdbool.h>
#include <stddef.h>

#include "inboxd/db/who.h"
#include "inboxd/lib/page.h"
#include "inboxd/lib/problem.h"

/*
 * A validated user body. Strings are borrowed (from the parsed request
 * body) and already checked by the route: no NUL, lengths, email shape,
 * role one of "agent" / "admin".
 *
 * POST: NULL means absent (role then defaults to agent, active to "t").
 * PATCH: email, role and active change when not NULL; a nullable field changes
 * when its set_* flag is true, to NULL when its value is NULL (the caller
 * sent JSON null).
 */
struct user_in {
    const char *email;
    const char *display_name;
    const char *role;
    const char *auth_provider;
    const char *auth_subject;
    const char *active;       /* "t", "f" or NULL */
    bool set_display_name;
    bool set_auth_provider;
    bool set_auth_subject;
};

/* GET /v1/users: a page of the account's users, oldest first (by id, which
 * is time-ordered). *json: new malloc()ed page text (caller free()s), length
 * in *len. Statuses: 503. */
int db_users_list(const struct who *w, const struct page *pg, char **json, size_t *len,
                  struct problem *pb) __attribute__((warn_unused_result));

/* GET /v1/users?authProvider=&authSubject=: the page (of at most one
 * user, the identity being unique per account) of the user with that
 * identity. *json: new malloc()ed. Statuses: 503. */
int db_users_find(const struct who *w, const char *provider, const char *subject,
                  const struct page *pg, char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

/* GET /v1/users/{id}. *json: new malloc()ed. Statuses: 404, 503. */
int db_users_get(const struct who *w, const char *id, char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

/*
 * POST /v1/users: inserts a user and audits "user.create". When the email
 * is already used in the account nothing is written: the stored user is
 * answered with *created false when every field given in `in` equals it,
 * else 409. *json: new malloc()ed; *created true for a new row.
 * Statuses: 409 (the email with other values, or the identity
 * (authProvider, authSubject) another user's), 503.
 */
int db_users_insert(const struct who *w, const struct user_in *in, char **json, size_t *len,
                    bool *created, struct problem *pb) __attribute__((warn_unused_result));

/*
 * PATCH /v1/users/{id}: changes the fields `in` names, sets updated_at and
 * audits "user.update", in one transaction. *json: new malloc()ed.
 * Statuses: 404 (no such user in the account), 409 (email or identity
 * taken by another user of the account), 503.
 */
int db_users_update(const struct who *w, const char *id, const struct user_in *in, char **json,
                    size_t *len, struct problem *pb) __attribute__((warn_unused_result));

#endif
