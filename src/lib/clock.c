/*
 * clock: the monotonic clock and jitter. Nothing here may block.
 */
#include "inboxd/lib/clock.h"

#include <sys/random.h>
#include <time.h>

int64_t
clock_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t
clock_ms(void)
{
    return clock_ns() / 1000000;
}

unsigned
clock_jitter(void)
{
    unsigned r = 0;

    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (unsigned)clock_ns();
    return r;
}
