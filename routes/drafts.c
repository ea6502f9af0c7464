/*
 * routes/drafts: drafts (being written).
 */
#include "inboxd/routes.h"

const struct route routes_drafts[] = {
    {NULL, NULL, 0, 0, NULL},
};
