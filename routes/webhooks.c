/*
 * routes/webhooks: inbound webhooks, their event log and registry (being written).
 */
#include "inboxd/routes.h"

const struct route routes_webhooks[] = {
    {NULL, NULL, 0, 0, NULL},
};
