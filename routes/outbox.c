/*
 * routes/outbox: outbound delivery (the outbox) (being written).
 */
#include "inboxd/routes.h"

const struct route routes_outbox[] = {
    {NULL, NULL, 0, 0, NULL},
};
