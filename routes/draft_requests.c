/*
 * routes/draft_requests: draft requests (being written).
 */
#include "inboxd/routes.h"

const struct route routes_draft_requests[] = {
    {NULL, NULL, 0, 0, NULL},
};
