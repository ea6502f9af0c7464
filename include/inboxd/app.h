/*
 * app: starting and stopping the whole daemon (config → log → router →
 * metrics → db → auth → server), shared by `inboxd serve` and the
 * integration tests, which run inboxd inside the test process.
 */
#ifndef INBOXD_APP_H
#define INBOXD_APP_H

#include <stddef.h>

#include "inboxd/lib/config.h"

/* Starts everything on cf (which must outlive the app). Returns 0 or -1
 * with a one-line reason in err; on failure nothing is left running. */
int app_start(const struct config *cf, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The db layer's settings from the configuration (strings borrowed from
 * cf). */
struct db_settings;
void app_db_settings(const struct config *cf, struct db_settings *out);

/* Graceful stop: no new connections, in-flight requests finish, pool closed. */
void app_stop(void);

#endif
