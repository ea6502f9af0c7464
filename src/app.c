/*
 * app: the start and stop order of the daemon's modules, in one place.
 */
#include "inboxd/app.h"

#include <stdio.h>

#include "inboxd/auth.h"
#include "inboxd/db.h"
#include "inboxd/log.h"
#include "inboxd/metrics.h"
#include "inboxd/router.h"
#include "inboxd/server.h"

static const struct config *current;

const struct config *
app_config(void)
{
    return current;
}

int
app_start(const struct config *cf, char *err, size_t errlen)
{
    current = cf;
    log_set_level(cf->log_level);
    if (router_init() != 0) {
        snprintf(err, errlen, "route table is invalid");
        return -1;
    }
    if (metrics_init() != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (db_init(cf, err, errlen) != 0)
        return -1;
    auth_init(cf);
    if (server_start(cf, err, errlen) != 0) {
        db_shutdown();
        return -1;
    }
    return 0;
}

void
app_stop(void)
{
    server_stop();
    db_shutdown();
}
