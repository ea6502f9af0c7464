/*
 * routes: the route tables of routes/<resource>.c, one per file.
 * Each table ends with an entry whose method is NULL.
 */
#ifndef INBOXD_ROUTES_H
#define INBOXD_ROUTES_H

#include <stdatomic.h>

#include "inboxd/db/retention.h"
#include "inboxd/http/router.h"
#include "inboxd/lib/config.h"

extern const struct route routes_health[];
extern const struct route routes_problems[];
extern const struct route routes_account[];
extern const struct route routes_users[];
extern const struct route routes_channels[];
extern const struct route routes_conversations[];
extern const struct route routes_messages[];
extern const struct route routes_draft_requests[];
extern const struct route routes_drafts[];
extern const struct route routes_actions[];
extern const struct route routes_feed[];
extern const struct route routes_outbox[];
extern const struct route routes_webhooks[];
extern const struct route routes_jobs[];
extern const struct route routes_sources[];
extern const struct route routes_notifications[];
extern const struct route routes_learning[];
extern const struct route routes_search[];
extern const struct route routes_admin[];
extern const struct route routes_events[];

/* The retention settings of cf as the sweep takes them (routes/admin.c):
 * the one place that maps them, for the route, the timer and the command
 * line. `cancel` as in struct retention_opts. */
void routes_retention_opts(const struct config *cf, const atomic_bool *cancel,
                           struct retention_opts *out);

/* All tables, NULL-terminated, in matching order (routes/routes.c). */
extern const struct route *const routes_all[];

/* The Location of every route's 201 (router_locations). */
extern const struct route_location routes_created[];

#endif
