/*
 * db_audit: the audit trail of every write made through the API.
 *
 * Each db function that writes calls db_audit() inside its own transaction,
 * so a write and its audit row commit or roll back together.
 */
#ifndef INBOXD_DB_AUDIT_H
#define INBOXD_DB_AUDIT_H

#include "inboxd/db/who.h"
#include "inboxd/db/db.h"

/*
 * Records `action` (a stable dotted verb: "conversation.create",
 * "draft.action.edit") on resource `type`/`id` by the caller in w (key,
 * request id, body hash, address, user agent) and the acting user
 * (NULL when none). Sent ahead (db_exec_later): it rides with the
 * transaction's next statement or its COMMIT. Returns 0, or -1 with pb.
 */
int db_audit(struct dbconn *c, const struct who *w, const char *action, const char *type,
             const char *id, const char *user_id, struct problem *pb)
    __attribute__((warn_unused_result));

#endif
