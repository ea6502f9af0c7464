/*
 * db_notifications: the SQL of notifications.
 *
 * The addressee of a new notification is checked by the INSERT itself
 * (INSERT … SELECT … WHERE the user exists in the account), so the check
 * and the write are one statement and a foreign-key error never has to be
 * turned into a message. Marking read is one UPDATE that keeps the first
 * read_at (coalesce), which makes it idempotent. Writes audit in their own
 * transaction.
 *
 * Rows are rendered by inboxd_json_notification(); every statement's $1 is
 * the caller's account. Nothing here knows HTTP.
 */
#include "inboxd/db/notifications.h"

#include <stdlib.h>
#include <string.h>

#include "inboxd/db/db.h"
#include "inboxd/db/rows.h"
#include "inboxd/lib/uuid7.h"
#include "inboxd/lib/jsontext.h"

enum {
    S_LIST,
    S_INSERT,
    S_READ,
    S_GET,
};

static const struct db_stmt stmts[] = {
    /* $2 the user (with the account-wide ones), $3 true: unread only,
     * false: read only, NULL: both. */
    [S_LIST] = {"notifications_list",
                "SELECT inboxd_json_notification(n), n.created_at, n.id FROM notifications n "
                "WHERE n.account_id = $1 "
                "  AND ($2::uuid IS NULL OR n.user_id = $2::uuid OR n.user_id IS NULL) "
                "  AND ($3::bool IS NULL OR (n.read_at IS NULL) = $3::bool) "
                "  AND " DB_AFTER("n.created_at", "n.id", "$4", "$5") " "
                "ORDER BY n.created_at, n.id LIMIT $6",
                6},
    [S_INSERT] = {"notifications_insert",
                  "INSERT INTO notifications AS n (account_id, id, user_id, type, payload) "
                  "SELECT $1, $2, $3::uuid, $4, coalesce($5::jsonb, '{}'::jsonb) "
                  "WHERE $3::uuid IS NULL OR EXISTS ("
                  "  SELECT 1 FROM users u WHERE u.account_id = $1 AND u.id = $3::uuid) "
                  "RETURNING inboxd_json_notification(n)",
                  5},
    [S_READ] = {"notifications_read",
                "UPDATE notifications AS n SET read_at = coalesce(n.read_at, now()) "
                "WHERE n.account_id = $1 AND n.id = $2 "
                "RETURNING inboxd_json_notification(n)",
                2},
    [S_GET] = {"notifications_get",
               "SELECT inboxd_json_notification(n) FROM notifications n "
               "WHERE n.account_id = $1 AND n.id = $2",
               2},
};

int
db_notifications_get(const struct who *w, const char *id, char **json, size_t *len,
                     struct problem *pb)
{
    const char *p[] = {w->account_id, id};

    return db_one(&stmts[S_GET], p, "notification", json, len, pb);
}

int
db_notifications_list(const struct who *w, const char *user_id, enum notification_read rd,
                      const struct page *pg, char **json, size_t *len, struct problem *pb)
{
    const char *unread = rd == NOTIFICATION_UNREAD ? "t" : rd == NOTIFICATION_READ ? "f" : NULL;
    const char *p[] = {w->account_id, user_id, unread, pg->after_ts, pg->after_id, pg->fetch};

    return db_list(&stmts[S_LIST], p, pg, 1, 2, json, len, pb);
}

/* --- writes ---------------------------------------------------------------- */

/* The INSERT checks the addressee itself: no row means userId is not a user
 * of the account. Returns -1. */
static int
no_such_user(struct dbconn *c, void *arg, struct problem *pb)
{
    (void)c;
    (void)arg;
    return problem_field(pb, "userId", "is not a user of this account");
}

int
db_notifications_insert(const struct who *w, const struct notification_in *in, char **json,
                        size_t *len, struct problem *pb)
{
    char id[UUID7_STRLEN + 1];
    char *payload = NULL;
    const char *p[] = {w->account_id, id, in->user_id, in->type, NULL};
    const struct db_write wr = {.st = &stmts[S_INSERT],
                                .params = p,
                                .action = "notification.create",
                                .type = "notification",
                                .id = id,
                                .none = no_such_user};
    int rc;

    if (in->payload != NULL) {
        payload = jsontext_dump(in->payload);
        if (payload == NULL)
            return problem_internal(pb, "notifications: payload text: out of memory");
    }
    p[4] = payload;
    /* One id for every attempt of the transaction. */
    uuid7_new(id);
    rc = db_write(w, &wr, json, len, pb);
    free(payload);
    return rc;
}

int
db_notifications_read(const struct who *w, const char *id, char **json, size_t *len,
                      struct problem *pb)
{
    const char *p[] = {w->account_id, id};
    const struct db_write wr = {.st = &stmts[S_READ],
                                .params = p,
                                .action = "notification.read",
                                .type = "notification",
                                .id = id,
                                .what = "notification"};

    return db_write(w, &wr, json, len, pb);
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
