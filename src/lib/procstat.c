/*
 * procstat: /proc/self/stat (fields 14, 15 CPU ticks; 22 start ticks since
 * boot; 23 virtual size; 24 resident pages), /proc/stat's btime, the
 * entries of /proc/self/fd and RLIMIT_NOFILE, as the Prometheus Go
 * client's process collector reads them. No HTTP here.
 */
#include "inboxd/lib/procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Boot time in Unix seconds, the "btime" line of /proc/stat. */
static int
boot_time(double *out)
{
    FILE *f = fopen("/proc/stat", "r");
    char line[256];
    int rc = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long long bt;

        if (sscanf(line, "btime %llu", &bt) == 1) {
            *out = (double)bt;
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

static int
self_stat(struct procstat *ps, double boot)
{
    FILE *f = fopen("/proc/self/stat", "r");
    char buf[1024];
    const char *p;
    unsigned long long utime, stime, start, vsize;
    long long rss;
    double tick = (double)sysconf(_SC_CLK_TCK);
    size_t n;

    if (f == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name (field 2) is in parentheses and may hold spaces or
     * parentheses itself: the fields after it start past the last ')'. */
    if ((p = strrchr(buf, ')')) == NULL || tick <= 0)
        return -1;
    /* Field 3 (state) onwards; 14 utime, 15 stime, 22 starttime, 23 vsize,
     * 24 rss. */
    if (sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d "
               "%llu %llu %lld",
               &utime, &stime, &start, &vsize, &rss) != 5)
        return -1;
    ps->cpu_s = (double)(utime + stime) / tick;
    ps->start_time_s = boot + (double)start / tick;
    ps->virtual_bytes = (double)vsize;
    ps->resident_bytes = (double)rss * (double)sysconf(_SC_PAGESIZE);
    return 0;
}

static int
open_fds(double *out)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    long n = 0;

    if (d == NULL)
        return -1;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    /* Less the descriptor of the listing itself. */
    *out = (double)(n > 0 ? n - 1 : 0);
    return 0;
}

int
procstat_read(struct procstat *ps)
{
    struct rlimit rl;
    double boot;

    memset(ps, 0, sizeof(*ps));
    if (boot_time(&boot) != 0 || self_stat(ps, boot) != 0 || open_fds(&ps->open_fds) != 0 ||
        getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        memset(ps, 0, sizeof(*ps));
        return -1;
    }
    ps->max_fds = rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur;
    return 0;
}
