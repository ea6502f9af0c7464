/*
 * watchdog: progress stamps of the HTTP loop and the reader, and the
 * verdict the main thread pings systemd on. Stamps are atomics written on
 * the loop's every turn: never a lock, never a system call but the clock.
 *
 * A part counts as progressing while its last stamp is younger than half
 * the watchdog interval. The loop wakes at least every quarter interval
 * (watchdog_wake_ms), so an idle loop stamps too; the main thread checks
 * every quarter interval, so one stall ends the pings within about half
 * the interval, and systemd restarts inboxd one interval after the last
 * ping.
 */
#include "inboxd/lib/watchdog.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inboxd/lib/clock.h"
#include "inboxd/lib/log.h"
#include "inboxd/lib/notify.h"

static const char *const part_names[WATCHDOG_PARTS] = {
    [WATCHDOG_LOOP] = "loop",
    [WATCHDOG_READER] = "reader",
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int64_t interval_ms;
static _Atomic int64_t stamps[WATCHDOG_PARTS];
static atomic_bool stalled;

static void
read_interval(void)
{
    interval_ms = (int64_t)(notify_watchdog_usec() / 1000);
}

int64_t
watchdog_interval_ms(void)
{
    pthread_once(&once, read_interval);
    return interval_ms;
}

int
watchdog_wake_ms(void)
{
    int64_t iv = watchdog_interval_ms();

    if (iv <= 0)
        return -1;
    return iv / 4 > 0 ? (int)(iv / 4) : 1;
}

void
watchdog_progress(enum watchdog_part part, int64_t at_ms)
{
    int64_t seen = atomic_load_explicit(&stamps[part], memory_order_relaxed);

    /* One writer per part in practice; the loop keeps a late stamp from
     * going back in time should there ever be two. */
    while (at_ms > seen && !atomic_compare_exchange_weak_explicit(
                               &stamps[part], &seen, at_ms, memory_order_relaxed,
                               memory_order_relaxed))
        ;
}

bool
watchdog_ok(void)
{
    int64_t iv = watchdog_interval_ms(), now = clock_ms();
    int worst = -1;
    int64_t worst_age = 0;

    if (iv <= 0)
        return true;
    for (int p = 0; p < WATCHDOG_PARTS; p++) {
        int64_t age = now - atomic_load_explicit(&stamps[p], memory_order_relaxed);

        if (age >= iv / 2 && age > worst_age) {
            worst = p;
            worst_age = age;
        }
    }
    if (worst >= 0 && !atomic_exchange(&stalled, true))
        log_event(LOG_ERROR, NULL, "watchdog.stalled", LOG_S("part", part_names[worst]),
                  LOG_I("since_ms", worst_age), LOG_I("interval_ms", iv));
    if (worst < 0 && atomic_exchange(&stalled, false))
        log_plain(LOG_WARN, NULL, "watchdog.recovered");
    return worst < 0;
}

#ifndef NDEBUG
static pthread_once_t hold_once = PTHREAD_ONCE_INIT;
static char hold_path[512], hold_held[520];

static void
read_hold_env(void)
{
    const char *p = getenv("INBOXD_DEBUG_STALL_LOOP");

    if (p == NULL || p[0] == '\0' || strlen(p) >= sizeof(hold_path))
        return;
    snprintf(hold_path, sizeof(hold_path), "%s", p);
    snprintf(hold_held, sizeof(hold_held), "%s.held", p);
}

void
watchdog_debug_hold(void)
{
    struct timespec step = {.tv_sec = 0, .tv_nsec = 10 * 1000000L};

    pthread_once(&hold_once, read_hold_env);
    if (hold_path[0] == '\0' || access(hold_path, F_OK) != 0 || rename(hold_path, hold_held) != 0)
        return;
    log_event(LOG_WARN, NULL, "watchdog.debug_hold", LOG_S("file", hold_held));
    /* A debug build's test hook: the loop is meant to stand still here. */
    while (access(hold_held, F_OK) == 0)
        nanosleep(&step, NULL);
    log_plain(LOG_WARN, NULL, "watchdog.debug_release");
}
#else
void
watchdog_debug_hold(void)
{
}
#endif
