/*
 * routes/users: the people of an account (API.md "Account, users,
 * channels").
 *
 * Reads need `read`, writes `admin` (openapi.json x-scope). Each handler
 * parses and validates, calls one db_users function and passes its JSON
 * text on. Every body field is checked before anything is written: email
 * shape (loosely: one '@', no whitespace or control bytes, at most 254
 * characters), role, lengths, no NUL; unknown members are refused so a typo is
 * never silently ignored. No SQL here.
 */
#include <jansson.h>
#include <stdbool.h>
#include <string.h>

#include "inboxd/http/body.h"
#include "inboxd/http/input.h"
#include "inboxd/db/users.h"
#include "inboxd/http/query.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/http/resource.h"
#include "inboxd/lib/uuid7.h"

/* RFC 5321's path limit (256) less the angle brackets. */
#define EMAIL_MAX 254
#define NAME_MAX_CHARS 200
#define PROVIDER_MAX 200
/* OpenID Connect allows subjects of up to 255 ASCII characters. */
#define SUBJECT_MAX 255

static const char *const role_names[] = {"agent", "admin", NULL};

static const char *const user_fields[] = {"email",       "displayName", "role", "authProvider",
                                          "authSubject", "active",      NULL};

static void
read_email(const json_t *o, enum body_req req, const char **out, struct problem *pb)
{
    const char *v = NULL;

    if (body_string(o, "email", req, EMAIL_MAX, &v, pb) != 0 || v == NULL)
        return;
    if (!input_is_email(v)) {
        problem_field(pb, "email", "must be an email address");
        return;
    }
    *out = v;
}

/* A PATCH member that may be absent but not null (email, role). */
static void
reject_null(const json_t *o, const char *field, struct problem *pb)
{
    if (json_is_null(json_object_get(o, field)))
        problem_field(pb, field, "must not be null");
}

/* A nullable text member of a PATCH: absent leaves *set false; null sets
 * *set with *out NULL (clear it); a valid string sets both. */
static void
read_nullable(const json_t *o, const char *field, size_t max, const char **out, bool *set,
              struct problem *pb)
{
    const json_t *v = json_object_get(o, field);

    *out = NULL;
    *set = false;
    if (v == NULL)
        return;
    if (json_is_null(v)) {
        *set = true;
        return;
    }
    if (body_string(o, field, BODY_OPTIONAL, max, out, pb) == 0)
        *set = true;
}

/* Reads a POST (patch false) or PATCH body into in. Returns 0, or -1 with
 * a 422 naming every bad field. Strings in `in` are borrowed from o. */
static int
parse_user(const json_t *o, bool patch, struct user_in *in, struct problem *pb)
{
    int role = -1;
    bool active = true, has_active = false;

    body_no_unknown(o, NULL, user_fields, pb);
    read_email(o, patch ? BODY_OPTIONAL : BODY_REQUIRED, &in->email, pb);
    body_enum(o, "role", BODY_OPTIONAL, role_names, &role, pb);
    body_bool(o, "active", BODY_OPTIONAL, &active, &has_active, pb);
    if (patch) {
        reject_null(o, "email", pb);
        reject_null(o, "role", pb);
        reject_null(o, "active", pb);
        read_nullable(o, "displayName", NAME_MAX_CHARS, &in->display_name, &in->set_display_name,
                      pb);
        read_nullable(o, "authProvider", PROVIDER_MAX, &in->auth_provider, &in->set_auth_provider,
                      pb);
        read_nullable(o, "authSubject", SUBJECT_MAX, &in->auth_subject, &in->set_auth_subject, pb);
        if (json_object_size(o) == 0)
            problem_field(pb, "", "must name at least one field to change");
    } else {
        body_string(o, "displayName", BODY_OPTIONAL, NAME_MAX_CHARS, &in->display_name, pb);
        body_string(o, "authProvider", BODY_OPTIONAL, PROVIDER_MAX, &in->auth_provider, pb);
        body_string(o, "authSubject", BODY_OPTIONAL, SUBJECT_MAX, &in->auth_subject, pb);
    }
    if (body_failed(pb))
        return -1;
    in->role = role >= 0 ? role_names[role] : NULL;
    in->active = !has_active ? NULL : active ? "t" : "f";
    return 0;
}

/* GET /v1/users, or with ?authProvider=&authSubject= the user of that
 * identity: both or neither, since one alone names no user (400). */
static int
list_users(struct req *rq, struct reply *out, struct problem *pb)
{
    const char *provider = NULL, *subject = NULL;
    struct page pg;
    char *json;
    size_t len;

    if (query_text(rq, "authProvider", PROVIDER_MAX, &provider, pb) != 0 ||
        query_text(rq, "authSubject", SUBJECT_MAX, &subject, pb) != 0)
        return -1;
    if (provider == NULL && subject == NULL)
        return resource_list(rq, out, pb, db_users_list);
    if (provider == NULL || subject == NULL)
        return query_invalid(pb, provider ? "authSubject" : "authProvider",
                             "authProvider and authSubject go together");
    if (query_page(rq, false, &pg, pb) != 0 ||
        db_users_find(&rq->who, provider, subject, &pg, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

static int
get_user(struct req *rq, struct reply *out, struct problem *pb)
{
    return resource_get(rq, out, pb, db_users_get);
}

static int
insert_user(struct req *rq, const json_t *o, const void *arg, char **json, size_t *len,
            int *status, struct problem *pb)
{
    struct user_in in = {0};
    bool created;

    (void)arg;
    if (parse_user(o, false, &in, pb) != 0 ||
        db_users_insert(&rq->who, &in, json, len, &created, pb) != 0)
        return -1;
    *status = created ? 201 : 200;
    return 0;
}

static int
post_user(struct req *rq, struct reply *out, struct problem *pb)
{
    return resource_write(rq, out, pb, insert_user, NULL);
}

static int
update_user(struct req *rq, const json_t *o, const void *arg, char **json, size_t *len,
            int *status, struct problem *pb)
{
    struct user_in in = {0};
    char id[UUID7_STRLEN + 1];

    (void)arg;
    (void)status;
    uuid7_lower(req_param(rq, "id"), id);
    if (parse_user(o, true, &in, pb) != 0)
        return -1;
    return db_users_update(&rq->who, id, &in, json, len, pb);
}

static int
patch_user(struct req *rq, struct reply *out, struct problem *pb)
{
    return resource_write(rq, out, pb, update_user, NULL);
}

const struct route routes_users[] = {
    {"GET", "/v1/users", SCOPE_READ, ROUTE_NO_BODY, list_users, NULL},
    {"POST", "/v1/users", SCOPE_ADMIN, 0, post_user, NULL},
    {"GET", "/v1/users/{id}", SCOPE_READ, ROUTE_NO_BODY, get_user, NULL},
    {"PATCH", "/v1/users/{id}", SCOPE_ADMIN, 0, patch_user, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
