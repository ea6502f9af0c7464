/*
 * routes/notifications: notifications (being written).
 */
#include "inboxd/routes.h"

const struct route routes_notifications[] = {
    {NULL, NULL, 0, 0, NULL},
};
