/*
 * db_notifications: the SQL of the dashboard's notifications (API.md
 * "Learning, jobs, sources, notifications").
 *
 * A notification is for one user of the account or, with no user, for
 * everyone in it. Other modules write theirs (draft.ready, draft.failed,
 * ingest.failed) in their own transactions; this module lists them,
 * creates the ones callers post and marks them read. Every function takes
 * the caller first; another account's notification is a 404, exactly like
 * a missing one.
 */
#ifndef INBOXD_DB_NOTIFICATIONS_H
#define INBOXD_DB_NOTIFICATIONS_H

#include <jansson.h>
#include <stddef.h>

#include "inboxd/db/who.h"
#include "inboxd/lib/page.h"
#include "inboxd/lib/problem.h"

/* The read filter of a list. */
enum notification_read {
    NOTIFICATION_ANY = 0,
    NOTIFICATION_UNREAD,
    NOTIFICATION_READ,
};

/* A validated POST body, borrowed: user_id NULL (whole account) or a
 * lower-case UUID; type non-empty text; payload NULL ({}) or an object of
 * at most 64 KiB. */
struct notification_in {
    const char *user_id;
    const char *type;
    const json_t *payload;
};

/*
 * GET /v1/notifications: a page of the account's notifications, oldest
 * first (created_at, id). user_id not NULL: that user's and the
 * account-wide ones (user_id NULL) only. pg: from query_page(with_ts =
 * true). *json: new malloc()ed page text. Statuses: 500, 503.
 */
int db_notifications_list(const struct who *w, const char *user_id, enum notification_read rd,
                          const struct page *pg, char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

/*
 * POST /v1/notifications: inserts one and audits "notification.create" in
 * one transaction; the user is checked in the same statement. *json: new
 * malloc()ed. Statuses: 422 naming userId (not a user of the account), 500,
 * 503.
 */
int db_notifications_insert(const struct who *w, const struct notification_in *in, char **json,
                            size_t *len, struct problem *pb) __attribute__((warn_unused_result));

/* GET /v1/notifications/{id}. *json: new malloc()ed. Statuses: 404, 503. */
int db_notifications_get(const struct who *w, const char *id, char **json, size_t *len,
                         struct problem *pb) __attribute__((warn_unused_result));

/*
 * POST /v1/notifications/{id}/read: sets read_at unless it is set already
 * (the first read_at stays) and audits "notification.read". *json: new
 * malloc()ed. Statuses: 404, 500, 503.
 */
int db_notifications_read(const struct who *w, const char *id, char **json, size_t *len,
                          struct problem *pb) __attribute__((warn_unused_result));

#endif
