/*
 * test_watchdog: the verdict the main thread pings systemd on. Every part
 * must have made progress within half the interval; without a watchdog
 * the verdict is always yes. Criterion runs each test in a process of its
 * own, so each reads WATCHDOG_USEC afresh.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "inboxd/lib/clock.h"
#include "inboxd/lib/watchdog.h"

static void
arm(long usec)
{
    char v[32];

    snprintf(v, sizeof(v), "%ld", usec);
    setenv("WATCHDOG_USEC", v, 1);
    unsetenv("WATCHDOG_PID");
}

Test(watchdog, without_a_watchdog_the_verdict_is_always_yes)
{
    unsetenv("WATCHDOG_USEC");
    cr_expect_eq(watchdog_interval_ms(), 0);
    cr_expect_eq(watchdog_wake_ms(), -1);
    cr_expect(watchdog_ok(), "no part ever stamped, and no watchdog asked");
}

Test(watchdog, loops_wake_at_a_quarter_of_the_interval)
{
    arm(30 * 1000 * 1000);
    cr_expect_eq(watchdog_interval_ms(), 30000);
    cr_expect_eq(watchdog_wake_ms(), 7500);
}

Test(watchdog, every_part_must_have_stamped)
{
    arm(30 * 1000 * 1000);
    cr_expect_not(watchdog_ok(), "nothing stamped yet");
    watchdog_progress(WATCHDOG_LOOP, clock_ms());
    cr_expect_not(watchdog_ok(), "the reader has not stamped");
    watchdog_progress(WATCHDOG_READER, clock_ms());
    cr_expect(watchdog_ok());
}

Test(watchdog, a_stamp_older_than_half_the_interval_is_a_stall)
{
    int64_t now = clock_ms();

    arm(30 * 1000 * 1000);
    watchdog_progress(WATCHDOG_LOOP, now);
    /* Half the interval and more ago: stalled, whatever the other does. */
    watchdog_progress(WATCHDOG_READER, now - 15000 - 1000);
    cr_expect_not(watchdog_ok());
    /* An older stamp changes nothing; a newer one is progress again. */
    watchdog_progress(WATCHDOG_READER, now - 20000);
    cr_expect_not(watchdog_ok());
    watchdog_progress(WATCHDOG_READER, now);
    cr_expect(watchdog_ok());
}
