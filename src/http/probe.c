/*
 * probe: one HTTP/1.0 GET with a deadline, for `inboxd health`. Reads the
 * status line and nothing more. Never: follow redirects, keep the
 * connection, or wait past its deadline.
 */
#include "inboxd/http/probe.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "inboxd/lib/clock.h"

/* Splits "host:port" or "[v6]:port" into host and port. */
static int
split_addr(const char *addr, char *host, size_t hostlen, const char **port)
{
    const char *colon = strrchr(addr, ':');
    size_t n;

    if (colon == NULL || colon[1] == '\0')
        return -1;
    n = (size_t)(colon - addr);
    if (n >= 2 && addr[0] == '[' && addr[n - 1] == ']') {
        addr++;
        n -= 2;
    }
    if (n >= hostlen)
        return -1;
    memcpy(host, addr, n);
    host[n] = '\0';
    *port = colon + 1;
    return 0;
}

/* Waits until fd is ready for `events` or the deadline passes. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
    struct pollfd p = {.fd = fd, .events = events};
    int64_t left;
    int rc;

    do {
        left = deadline - clock_ms();
        if (left <= 0)
            return -1;
        rc = poll(&p, 1, (int)left);
    } while (rc < 0 && errno == EINTR);
    return rc > 0 ? 0 : -1;
}

static int
connect_by(const struct addrinfo *ai, int64_t deadline)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int soerr = 0;
    socklen_t len = sizeof(soerr);

    if (fd < 0)
        return -1;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        return fd;
    if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 0 &&
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0)
        return fd;
    if (soerr != 0)
        errno = soerr;
    else if (errno == EINPROGRESS)
        errno = ETIMEDOUT;
    close(fd);
    return -1;
}

/* Sends all of buf before the deadline. */
static int
send_all(int fd, const char *buf, size_t n, int64_t deadline)
{
    while (n > 0) {
        ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);

        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLOUT, deadline) != 0)
                return -1;
            continue;
        }
        if (w <= 0)
            return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads until the status line's end, EOF, a full buffer or the deadline.
 * Returns the bytes read, or -1. */
static ssize_t
read_status_line(int fd, char *buf, size_t cap, int64_t deadline)
{
    size_t n = 0;

    while (n + 1 < cap) {
        ssize_t r = recv(fd, buf + n, cap - 1 - n, 0);

        if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLIN, deadline) != 0)
                return -1;
            continue;
        }
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        n += (size_t)r;
        buf[n] = '\0';
        if (strchr(buf, '\n') != NULL)
            break;
    }
    buf[n] = '\0';
    return (ssize_t)n;
}

int
probe_get(const char *addr, const char *path, int timeout_ms, int *status, char *err,
          size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int64_t deadline = clock_ms() + timeout_ms;
    char host[256], req[600], line[256];
    const char *port;
    int fd = -1, rc, code, end = 0;
    ssize_t got;

    if (split_addr(addr, host, sizeof(host), &port) != 0) {
        snprintf(err, errlen, "\"%s\" is not host:port", addr);
        return -1;
    }
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", addr, gai_strerror(rc));
        return -1;
    }
    for (const struct addrinfo *ai = res; ai != NULL && fd < 0; ai = ai->ai_next)
        fd = connect_by(ai, deadline);
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "cannot connect to %s: %s", addr, strerror(errno));
        return -1;
    }
    rc = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n",
                  path, addr);
    if (rc < 0 || (size_t)rc >= sizeof(req) || send_all(fd, req, (size_t)rc, deadline) != 0) {
        snprintf(err, errlen, "cannot send the request to %s", addr);
        close(fd);
        return -1;
    }
    got = read_status_line(fd, line, sizeof(line), deadline);
    close(fd);
    if (got < 0) {
        snprintf(err, errlen, "no answer from %s within %d ms", addr, timeout_ms);
        return -1;
    }
    /* "HTTP/1.1 200 OK" */
    if (sscanf(line, "HTTP/1.%*1[01] %3d%n", &code, &end) != 1 || end == 0 || code < 100 ||
        code > 599) {
        snprintf(err, errlen, "%s did not answer HTTP", addr);
        return -1;
    }
    *status = code;
    return 0;
}

int
probe_local_addr(const char *listen, char *out, size_t outlen)
{
    const char *colon = strrchr(listen, ':');
    size_t hlen = colon ? (size_t)(colon - listen) : 0;
    const char *host = listen;
    int n;

    if (colon == NULL)
        return -1;
    if (hlen == 0 || (hlen == 7 && strncmp(listen, "0.0.0.0", 7) == 0) ||
        (hlen == 1 && listen[0] == '*')) {
        host = "127.0.0.1";
        hlen = strlen(host);
    } else if ((hlen == 4 && strncmp(listen, "[::]", 4) == 0) ||
               (hlen == 2 && strncmp(listen, "::", 2) == 0)) {
        host = "[::1]";
        hlen = strlen(host);
    }
    n = snprintf(out, outlen, "%.*s%s", (int)hlen, host, colon);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
