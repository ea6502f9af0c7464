/*
 * test_clock: the monotonic clock never goes back, its two units agree,
 * and jitter varies.
 */
#include <criterion/criterion.h>
#include <stdbool.h>

#include "inboxd/lib/clock.h"

Test(clock, never_goes_back_and_its_units_agree)
{
    int64_t ns = clock_ns(), ms;

    for (int i = 0; i < 1000; i++) {
        int64_t next = clock_ns();

        cr_assert_geq(next, ns);
        ns = next;
    }
    ms = clock_ms();
    /* ms was read after ns: at least ns's whole milliseconds. */
    cr_assert_geq(ms, ns / 1000000);
}

Test(clock, jitter_is_not_one_number)
{
    unsigned first = clock_jitter();
    bool differs = false;

    for (int i = 0; i < 64 && !differs; i++)
        differs = clock_jitter() != first;
    cr_assert(differs, "64 draws all gave %u", first);
}
