/*
 * probe: the client side of `inboxd health`: one plain HTTP/1.0 GET to an
 * inboxd, its status code back. A container health check has no curl and
 * no shell to lean on, so the binary asks itself.
 */
#ifndef INBOXD_PROBE_H
#define INBOXD_PROBE_H

#include <stddef.h>

/* GETs `path` from addr ("host:port", "[v6]:port") and sets *status to the
 * answer's status code. Everything (resolving aside) happens within
 * timeout_ms. Returns 0, or -1 with a one-line reason in err (no answer,
 * refused, timed out, not HTTP). */
int probe_get(const char *addr, const char *path, int timeout_ms, int *status, char *err,
              size_t errlen) __attribute__((warn_unused_result));

/* The address at which this host reaches a server listening on `listen`:
 * the same, with a wildcard or empty host replaced by the loopback
 * address of its family ("0.0.0.0:8080" -> "127.0.0.1:8080", "[::]:8080"
 * -> "[::1]:8080", ":8080" -> "127.0.0.1:8080"). Returns 0, or -1 when the
 * result does not fit outlen. */
int probe_local_addr(const char *listen, char *out, size_t outlen);

#endif
