/*
 * db_audit: one INSERT per write, in the writer's transaction.
 */
#include "inboxd/db/audit.h"

#include "inboxd/lib/uuid7.h"

static const struct db_stmt st_insert = {
    "audit_insert",
    "INSERT INTO audit_log (account_id, id, actor_key_id, actor_user_id, action, resource_type, "
    "                       resource_id, request_id, request_hash, ip, user_agent) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, left($11, 512))",
    11};

int
db_audit(struct dbconn *c, const struct who *w, const char *action, const char *type,
         const char *id, const char *user_id, struct problem *pb)
{
    char aid[37];
    const char *p[] = {w->account_id,
                       aid,
                       w->key_id[0] ? w->key_id : NULL,
                       user_id,
                       action,
                       type,
                       id,
                       w->request_id,
                       w->request_hash[0] ? w->request_hash : NULL,
                       w->ip && w->ip[0] ? w->ip : NULL,
                       w->user_agent};
    uuid7_new(aid);
    return db_exec_later(c, &st_insert, p, pb);
}

DB_STATEMENTS(&st_insert, 1)
