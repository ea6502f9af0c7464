/*
 * watchdog: whether the parts that serve are making progress, so that
 * systemd's WATCHDOG=1 means "serving" and not merely "the main thread is
 * alive". The HTTP loop and the reader stamp their progress here; the
 * main thread pings only while watchdog_ok().
 */
#ifndef INBOXD_WATCHDOG_H
#define INBOXD_WATCHDOG_H

#include <stdbool.h>
#include <stdint.h>

enum watchdog_part {
    WATCHDOG_LOOP,   /* the HTTP loop went round (server.c) */
    WATCHDOG_READER, /* the reader owed the database nothing, or got an answer (reader.c) */
    WATCHDOG_PARTS
};

/* The watchdog interval systemd asked for (notify_watchdog_usec(), read
 * once), in ms; 0 when there is none. */
int64_t watchdog_interval_ms(void);

/* How long a loop may sleep so that, idle, it still stamps its progress
 * often enough: a quarter of the interval; -1 when there is no watchdog. */
int watchdog_wake_ms(void);

/* Records that `part` made progress at at_ms (clock_ms()); an older time
 * than the one recorded is ignored. Lock-free; any thread. */
void watchdog_progress(enum watchdog_part part, int64_t at_ms);

/* True when every part made progress within half the interval (always
 * true without a watchdog). Logs watchdog.stalled, naming the part, when
 * this turns false, and watchdog.recovered when it turns true again. */
bool watchdog_ok(void);

/* Debug builds only: while the file named by $INBOXD_DEBUG_STALL_LOOP
 * exists, the calling loop is held here, so that a test can see the pings
 * stop. It renames the file to NAME.held when it takes hold, and lets go
 * once NAME.held is removed. A no-op in release builds (NDEBUG). */
void watchdog_debug_hold(void);

#endif
