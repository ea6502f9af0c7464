/*
 * db_audit_log: reading the audit trail (GET /v1/audit-log).
 *
 * The writer is db_audit (one row per write, in the writer's transaction);
 * this module only lists an account's entries, oldest first by (at, id).
 */
#ifndef INBOXD_DB_AUDIT_LOG_H
#define INBOXD_DB_AUDIT_LOG_H

#include <stddef.h>

#include "inboxd/db/who.h"
#include "inboxd/lib/page.h"
#include "inboxd/lib/problem.h"

/* Filters of the list; NULL members do not filter. Strings are borrowed. */
struct audit_filter {
    const char *resource_type; /* exact resource type ("draft") */
    const char *resource_id;   /* exact resource id (lower-case UUID) */
    const char *since;         /* entries at or after (RFC 3339, microseconds) */
};

/*
 * A page of the account's audit entries matching f, oldest first, after
 * pg's cursor. *json: new malloc()ed page text (caller free()s), length in
 * *len. Statuses: 503.
 */
int db_audit_log_list(const struct who *w, const struct audit_filter *f, const struct page *pg,
                      char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

#endif
