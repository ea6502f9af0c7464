/*
 * notify: sd_notify in thirty lines. The protocol is a datagram with
 * newline-separated assignments to the AF_UNIX socket named by
 * $NOTIFY_SOCKET ('@' first means the abstract namespace).
 */
#include "inboxd/lib/notify.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void
notify_send(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n;
    int fd;

    if (path == NULL || (path[0] != '/' && path[0] != '@'))
        return;
    n = strlen(path);
    if (n >= sizeof(sa.sun_path))
        return;
    memcpy(sa.sun_path, path, n);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    /* Best effort: systemd not listening is not our failure. */
    if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
               (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0) {
    }
    close(fd);
}

uint64_t
notify_watchdog_usec(void)
{
    const char *v = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");

    if (v == NULL)
        return 0;
    if (pid != NULL && atol(pid) != (long)getpid())
        return 0;
    return strtoull(v, NULL, 10);
}
