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

/*
 * Applies a configuration read again (SIGHUP) to the running daemon: the
 * webhook sources, log_level, statement_timeout_ms and lock_timeout_ms
 * (from each connection's next transaction), webhook_max_skew_s and the
 * TLS certificates (new handshakes; connections already open keep theirs).
 * Settings that cannot change while serving keep their running values and
 * are named in a warning. Nothing changes when the new certificates cannot
 * be loaded. Logs what it did; returns 0 or -1. `read` stays the caller's.
 */
int app_reload(const struct config *read);

/* Graceful stop: no new connections, in-flight requests finish, pool closed. */
void app_stop(void);

#endif
