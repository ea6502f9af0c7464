/*
 * routes/actions: draft actions (being written).
 */
#include "inboxd/routes.h"

const struct route routes_actions[] = {
    {NULL, NULL, 0, 0, NULL},
};
