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
    routes_events,
    routes_problems,
    NULL,
};

/* Every route that can answer 201, and the path of what it created. */
const struct route_location routes_created[] = {
    {"POST", "/v1/users", "/v1/users/{id}"},
    {"POST", "/v1/channels", "/v1/channels/{id}"},
    {"POST", "/v1/conversations", "/v1/conversations/{id}"},
    {"POST", "/v1/conversations/{id}/messages", "/v1/messages/{id}"},
    {"POST", "/v1/conversations/{id}/drafts", "/v1/drafts/{id}"},
    {"POST", "/v1/drafts/{id}/actions", "/v1/actions/{action.id}"},
    {"POST", "/v1/webhooks/{source}", "/v1/webhooks/events/{eventId}"},
    {"PUT", "/v1/webhooks/registry/{source}/{topicKey...}",
     "/v1/webhooks/registry/{source}/{topicKey}"},
    {"POST", "/v1/jobs", "/v1/jobs/{id}"},
    {"PUT", "/v1/source-documents", "/v1/source-documents/{id}"},
    {"POST", "/v1/notifications", "/v1/notifications/{id}"},
    {NULL, NULL, NULL},
};
