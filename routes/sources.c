/*
 * routes/sources: source documents (being written).
 */
#include "inboxd/routes.h"

const struct route routes_sources[] = {
    {NULL, NULL, 0, 0, NULL},
};
