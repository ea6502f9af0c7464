/*
 * routes/admin: audit log and retention (being written).
 */
#include "inboxd/routes.h"

const struct route routes_admin[] = {
    {NULL, NULL, 0, 0, NULL},
};
