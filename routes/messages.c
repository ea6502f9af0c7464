/*
 * routes/messages: messages (being written).
 */
#include "inboxd/routes.h"

const struct route routes_messages[] = {
    {NULL, NULL, 0, 0, NULL},
};
