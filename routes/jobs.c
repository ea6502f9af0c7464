/*
 * routes/jobs: job runs (being written).
 */
#include "inboxd/routes.h"

const struct route routes_jobs[] = {
    {NULL, NULL, 0, 0, NULL},
};
