/*
 * routes/channels: channels (being written).
 */
#include "inboxd/routes.h"

const struct route routes_channels[] = {
    {NULL, NULL, 0, 0, NULL},
};
