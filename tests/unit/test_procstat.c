#include <criterion/criterion.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "inboxd/lib/procstat.h"

Test(procstat, reads_this_process)
{
    struct procstat ps;
    time_t now = time(NULL);

    cr_assert_eq(procstat_read(&ps), 0);
    /* Started before now (to the tick), and not before the kernel did. */
    cr_assert_leq(ps.start_time_s, (double)now + 1);
    cr_assert_gt(ps.start_time_s, 1e9);
    cr_assert_gt(ps.resident_bytes, 0);
    cr_assert_geq(ps.virtual_bytes, ps.resident_bytes);
    cr_assert_geq(ps.cpu_s, 0);
    cr_assert_gt(ps.open_fds, 0);
    cr_assert(ps.max_fds < 0 || ps.max_fds >= ps.open_fds);
}

Test(procstat, counts_open_descriptors)
{
    struct procstat before, after;
    int fd;

    cr_assert_eq(procstat_read(&before), 0);
    fd = open("/dev/null", O_RDONLY);
    cr_assert_geq(fd, 0);
    cr_assert_eq(procstat_read(&after), 0);
    close(fd);
    cr_assert_eq(after.open_fds, before.open_fds + 1);
}
