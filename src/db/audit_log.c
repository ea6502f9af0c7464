/*
 * db_audit_log: the SQL of the audit-log list.
 *
 * DESIGN. Three statements rather than one with `$n IS NULL OR …` for every
 * filter, so that each one's plan (generic plans included) uses the index
 * that fits: without a resource id the account's entries are walked in
 * order on audit_log_at_idx (account_id, at, id), a type filter being
 * cheap to apply on the way; with a type and an id, audit_log_resource_idx
 * (account_id, resource_type, resource_id, at, id) gives exactly the rows in
 * order. An id without a type walks the at index (ids are unique, but there
 * is no index on the id alone). Bounds use coalesce() so they stay index
 * ranges in generic plans.
 *
 * Never here: HTTP, or another account's rows ($1 is the account).
 */
#include "inboxd/db/audit_log.h"

#include "inboxd/db/db.h"
#include "inboxd/db/rows.h"

enum {
    S_LIST,
    S_LIST_RESOURCE,
    S_LIST_ID,
};

/* The since bound, the cursor position (at, id) and the LIMIT, as
 * parameters `since`, `ts`, `id` and `lim` ("$4" ...). */
#define AUDIT_RANGE(since, ts, id, lim)                                                            \
    "  AND a.at >= coalesce(" since "::timestamptz, '-infinity') "                                 \
    "  AND (a.at, a.id) > (coalesce(" ts "::timestamptz, '-infinity'), "                           \
    "                      coalesce(" id "::uuid, '00000000-0000-0000-0000-000000000000')) "       \
    "ORDER BY a.at, a.id LIMIT " lim

/* clang-format off */
static const struct db_stmt stmts[] = {
    /* $2 resource type or NULL. */
    [S_LIST] = {"audit_log_list",
                "SELECT inboxd_json_audit_entry(a), a.at, a.id FROM audit_log a "
                "WHERE a.account_id = $1 AND ($2::text IS NULL OR a.resource_type = $2) "
                AUDIT_RANGE("$3", "$4", "$5", "$6"),
                6},
    /* $2 resource type, $3 resource id. */
    [S_LIST_RESOURCE] = {"audit_log_list_resource",
                         "SELECT inboxd_json_audit_entry(a), a.at, a.id FROM audit_log a "
                         "WHERE a.account_id = $1 AND a.resource_type = $2 "
                         "  AND a.resource_id = $3 "
                         AUDIT_RANGE("$4", "$5", "$6", "$7"),
                         7},
    /* $2 resource id. */
    [S_LIST_ID] = {"audit_log_list_id",
                   "SELECT inboxd_json_audit_entry(a), a.at, a.id FROM audit_log a "
                   "WHERE a.account_id = $1 AND a.resource_id = $2 "
                   AUDIT_RANGE("$3", "$4", "$5", "$6"),
                   6},
};
/* clang-format on */

int
db_audit_log_list(const struct who *w, const struct audit_filter *f, const struct page *pg,
                  char **json, size_t *len, struct problem *pb)
{
    const char *by_type[] = {w->account_id, f->resource_type, f->since,
                             pg->after_ts,  pg->after_id,     pg->fetch};
    const char *by_resource[] = {w->account_id, f->resource_type, f->resource_id, f->since,
                                 pg->after_ts,  pg->after_id,     pg->fetch};
    const char *by_id[] = {w->account_id, f->resource_id, f->since,
                           pg->after_ts,  pg->after_id,   pg->fetch};

    if (f->resource_id != NULL && f->resource_type != NULL)
        return db_list(&stmts[S_LIST_RESOURCE], by_resource, pg, 1, 2, json, len, pb);
    if (f->resource_id != NULL)
        return db_list(&stmts[S_LIST_ID], by_id, pg, 1, 2, json, len, pb);
    return db_list(&stmts[S_LIST], by_type, pg, 1, 2, json, len, pb);
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
