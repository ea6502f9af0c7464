/*
 * app: the start and stop order of the daemon's modules, in one place.
 *
 * The retention timer (on by default: retention_interval_s, 3600 s; 0 turns
 * it off) is a thread of its own
 * that sleeps on a condition variable between sweeps; stopping it wakes it
 * and a sweep in progress stops before its next batch, so shutdown waits
 * for at most one short retention transaction.
 */
#include "inboxd/app.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "inboxd/http/auth.h"
#include "inboxd/db/db.h"
#include "inboxd/db/replica.h"
#include "inboxd/db/retention.h"
#include "inboxd/lib/clock.h"
#include "inboxd/lib/feed_cache.h"
#include "inboxd/lib/log.h"
#include "inboxd/http/metrics.h"
#include "inboxd/http/router.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/server.h"
#include "inboxd/http/tls.h"

static const struct config *current;

/* --- retention timer ------------------------------------------------------- */

static pthread_t retention_thread;
static bool retention_on;
static atomic_bool retention_stop;
static pthread_mutex_t retention_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t retention_cv;

/* One line per sweep: every table's count, the time, whether stopped. */
static void
log_swept(const struct retention_counts *n, long long dur_ms)
{
    char counts[512];
    size_t used = 0;

    counts[0] = '\0';
    for (int i = 0; i < RETENTION_TABLES && used < sizeof(counts); i++)
        used += (size_t)snprintf(counts + used, sizeof(counts) - used, "%s%s=%lld", i ? " " : "",
                                 retention_table_name(i), n->rows[i]);
    log_event(LOG_INFO, NULL, "retention.swept", LOG_S("rows", counts), LOG_I("dur_ms", dur_ms),
              LOG_I("cancelled", atomic_load(&retention_stop)));
}

static void *
retention_main(void *arg)
{
    const struct config *cf = current;
    struct retention_opts o;

    (void)arg;
    routes_retention_opts(cf, &retention_stop, &o);
    for (;;) {
        struct retention_counts n;
        struct problem pb = {0};
        struct timespec deadline;
        int64_t t0;
        int st;

        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += cf->retention_interval_s;
        pthread_mutex_lock(&retention_mu);
        while (!atomic_load(&retention_stop) &&
               pthread_cond_timedwait(&retention_cv, &retention_mu, &deadline) != ETIMEDOUT)
            ;
        pthread_mutex_unlock(&retention_mu);
        if (atomic_load(&retention_stop))
            break;
        t0 = clock_ms();
        st = db_retention_run_all(&o, &n, &pb);
        if (st == 1) {
            log_event(LOG_INFO, NULL, "retention.skipped",
                      LOG_S("reason", "another sweep holds the retention lock"));
            continue;
        }
        if (st != 0) {
            log_event(LOG_WARN, NULL, "retention.failed", LOG_I("status", pb.status),
                      LOG_S("err", pb.internal[0] ? pb.internal : pb.detail));
            continue;
        }
        log_swept(&n, clock_ms() - t0);
    }
    return NULL;
}

/* Starts the timer thread when configured. Returns 0 or -1. */
static int
retention_start(const struct config *cf)
{
    pthread_condattr_t ca;
    int rc;

    if (cf->retention_interval_s <= 0)
        return 0;
    atomic_store(&retention_stop, false);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&retention_cv, &ca);
    pthread_condattr_destroy(&ca);
    rc = pthread_create(&retention_thread, NULL, retention_main, NULL);
    if (rc != 0) {
        pthread_cond_destroy(&retention_cv);
        return -1;
    }
    retention_on = true;
    return 0;
}

static void
retention_end(void)
{
    if (!retention_on)
        return;
    pthread_mutex_lock(&retention_mu);
    atomic_store(&retention_stop, true);
    pthread_cond_signal(&retention_cv);
    pthread_mutex_unlock(&retention_mu);
    pthread_join(retention_thread, NULL);
    pthread_cond_destroy(&retention_cv);
    retention_on = false;
}

/* --- start and stop -------------------------------------------------------- */

void
app_db_settings(const struct config *cf, struct db_settings *out)
{
    *out = (struct db_settings){
        .conninfo = cf->database_url,
        .conninfo_ro = cf->database_url_ro,
        .pool_size = cf->pool_size,
        .pool_wait_ms = cf->pool_wait_ms,
        .pool_streams = cf->pool_streams,
        .pool_max_lifetime_s = cf->pool_max_lifetime_s,
        .connect_timeout_s = cf->connect_timeout_s,
        .statement_timeout_ms = cf->statement_timeout_ms,
        .lock_timeout_ms = cf->lock_timeout_ms,
        .prepare = cf->prepare,
        .tx_retries = cf->tx_retries,
        .draft_requests = {cf->draft_request_max_attempts, cf->draft_request_backoff_s},
        .outbox = {cf->outbox_max_attempts, cf->outbox_backoff_s},
    };
}

int
app_start(const struct config *cf, char *err, size_t errlen)
{
    struct db_settings dbs;
    struct config *live = config_dup(cf);

    if (live == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    config_publish(live);
    current = cf;
    log_set_level(cf->log_level);
    if (router_init(routes_all) != 0 || router_locations(routes_created) != 0) {
        snprintf(err, errlen, "route table is invalid");
        goto fail;
    }
    if (metrics_init() != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    app_db_settings(cf, &dbs);
    if (db_init(&dbs, err, errlen) != 0)
        goto fail;
    auth_init(cf);
    feed_cache_configure((size_t)cf->feed_cache_kb * 1024);
    feed_pages_configure((size_t)cf->feed_pages);
    if (server_start(cf, err, errlen) != 0) {
        db_shutdown();
        goto fail;
    }
    if (retention_start(cf) != 0) {
        snprintf(err, errlen, "cannot start the retention timer");
        server_stop();
        db_shutdown();
        goto fail;
    }
    if (db_replica_watch_start() != 0) {
        snprintf(err, errlen, "cannot start the replica watcher");
        retention_end();
        server_stop();
        db_shutdown();
        goto fail;
    }
    return 0;
fail:
    config_publish(NULL);
    return -1;
}

int
app_reload(const struct config *read)
{
    const struct config *running = config_hold();
    struct config *next = running ? config_dup(read) : NULL;
    char kept[512], changed[512], err[512];
    int rc = -1;

    if (running == NULL)
        return -1; /* not serving */
    if (next == NULL || config_reconcile(next, running, kept, sizeof(kept), changed,
                                         sizeof(changed)) != 0) {
        log_event(LOG_ERROR, NULL, "config.reload_failed", LOG_S("err", "out of memory"));
        goto out;
    }
    /* Everything that can fail comes first: a reload that fails changes
     * nothing. */
    if (tls_load(next, err, sizeof(err)) != 0) {
        log_event(LOG_ERROR, NULL, "config.reload_failed", LOG_S("err", err));
        goto out;
    }
    log_set_level(next->log_level);
    db_set_timeouts(next->statement_timeout_ms, next->lock_timeout_ms);
    config_publish(next);
    next = NULL;
    if (kept[0] != '\0')
        log_event(LOG_WARN, NULL, "config.restart_needed", LOG_S("settings", kept),
                  LOG_S("detail", "these settings change only when inboxd restarts; "
                                  "the running values stay"));
    /* At warn: a reload is recorded even when it just raised the level. */
    log_event(LOG_WARN, NULL, "config.reloaded", LOG_S("changed", changed),
              LOG_S("log_level", read->log_level));
    rc = 0;
out:
    if (next != NULL) {
        config_cleanup(next);
        free(next);
    }
    config_release(running);
    return rc;
}

void
app_stop(void)
{
    retention_end();
    server_stop();
    db_replica_watch_stop();
    db_shutdown();
    feed_pages_configure(0);
    feed_cache_clear();
    config_publish(NULL);
}
