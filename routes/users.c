/*
 * routes/users: users (being written).
 */
#include "inboxd/routes.h"

const struct route routes_users[] = {
    {NULL, NULL, 0, 0, NULL},
};
