/*
 * app: starting and stopping the whole daemon (config → log → router →
 * metrics → db → auth → server), shared by `inboxd serve` and the
 * integration tests, which run inboxd inside the test process.
 */
#ifndef INBOXD_APP_H
#define INBOXD_APP_H

#include <stddef.h>

#include "inboxd/config.h"

/* Starts everything on cf (which must outlive the app). Returns 0 or -1
 * with a one-line reason in err; on failure nothing is left running. */
int app_start(const struct config *cf, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The configuration the app runs with (for settings a route or db module
 * reads, such as attempt limits). Borrowed; valid while the app runs. */
const struct config *app_config(void);

/* Graceful stop: no new connections, in-flight requests finish, pool closed. */
void app_stop(void);

#endif
