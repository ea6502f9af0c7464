/*
 * procstat: the figures of this process that Prometheus clients export as
 * process_* metrics (the client_golang / client_python conventions), read
 * from /proc/self and getrlimit().
 */
#ifndef INBOXD_PROCSTAT_H
#define INBOXD_PROCSTAT_H

#include <stdbool.h>

struct procstat {
    double start_time_s;      /* Unix time the process started */
    double cpu_s;             /* user + system CPU time */
    double resident_bytes;
    double virtual_bytes;
    double open_fds;
    double max_fds;           /* the soft RLIMIT_NOFILE */
};

/* Reads the figures of the calling process. Returns 0, or -1 when /proc
 * cannot be read (not Linux, no /proc mounted); *ps is then zeroed. */
int procstat_read(struct procstat *ps) __attribute__((warn_unused_result));

#endif
