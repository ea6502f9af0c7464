/*
 * routes/search: full-text message search (being written).
 */
#include "inboxd/routes.h"

const struct route routes_search[] = {
    {NULL, NULL, 0, 0, NULL},
};
