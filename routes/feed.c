/*
 * routes/feed: the review feed (being written).
 */
#include "inboxd/routes.h"

const struct route routes_feed[] = {
    {NULL, NULL, 0, 0, NULL},
};
