/*
 * routes/conversations: conversations (being written).
 */
#include "inboxd/routes.h"

const struct route routes_conversations[] = {
    {NULL, NULL, 0, 0, NULL},
};
