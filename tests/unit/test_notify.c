/*
 * test_notify: a state goes as one datagram to $NOTIFY_SOCKET, nothing is
 * sent without it, and the watchdog interval is ours only when systemd
 * meant this process.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "inboxd/lib/notify.h"

/* A datagram socket bound to a fresh path, named in NOTIFY_SOCKET. */
static int
listener(char path[108])
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

    cr_assert_geq(fd, 0);
    snprintf(path, 108, "/tmp/inboxd-notify-%d.sock", (int)getpid());
    unlink(path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    setenv("NOTIFY_SOCKET", path, 1);
    return fd;
}

Test(notify, a_state_is_one_datagram_to_the_socket)
{
    char path[108], buf[64];
    int fd = listener(path);
    ssize_t n;

    notify_send("READY=1");
    n = recv(fd, buf, sizeof(buf) - 1, 0);
    cr_assert_eq(n, 7);
    buf[n] = '\0';
    cr_assert_str_eq(buf, "READY=1");
    close(fd);
    unlink(path);
}

Test(notify, nothing_is_sent_without_the_variable)
{
    char path[108], buf[64];
    int fd = listener(path);

    unsetenv("NOTIFY_SOCKET");
    notify_send("READY=1");
    setenv("NOTIFY_SOCKET", path, 1);
    notify_send("STOPPING=1");
    /* The first datagram waiting is the second send's. */
    cr_assert_eq(recv(fd, buf, sizeof(buf), 0), 10);
    cr_assert_eq(memcmp(buf, "STOPPING=1", 10), 0);
    close(fd);
    unlink(path);
}

Test(notify, the_watchdog_interval_is_ours_only_for_our_pid)
{
    char pid[32];

    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
    cr_assert_eq(notify_watchdog_usec(), 0);
    setenv("WATCHDOG_USEC", "5000000", 1);
    cr_assert_eq(notify_watchdog_usec(), 5000000);
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    cr_assert_eq(notify_watchdog_usec(), 5000000);
    snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1);
    cr_assert_eq(notify_watchdog_usec(), 0);
}
