/*
 * routes: the list of every route table. Adding a resource file means
 * adding its table here and to include/inboxd/routes/routes.h.
 */
#include "inboxd/routes/routes.h"

#include <stddef.h>

const struct route *const routes_all[] = {
    routes_health,
    routes_account,
    routes_users,
    routes_channels,
    routes_conversations,
    routes_messages,
    routes_draft_requests,
    routes_drafts,
    routes_actions,
    routes_feed,
    routes_outbox,
    routes_webhooks,
    routes_jobs,
    routes_sources,
    routes_notifications,
    routes_learning,
    routes_search,
    routes_admin,
    routes_problems,
    NULL,
};
