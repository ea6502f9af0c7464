/*
 * routes/learning: the corrections export (learning samples) (being written).
 */
#include "inboxd/routes.h"

const struct route routes_learning[] = {
    {NULL, NULL, 0, 0, NULL},
};
