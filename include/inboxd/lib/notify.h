/*
 * notify: the systemd notification protocol (sd_notify), without
 * libsystemd: one datagram to $NOTIFY_SOCKET. A no-op outside systemd.
 */
#ifndef INBOXD_NOTIFY_H
#define INBOXD_NOTIFY_H

#include <stdint.h>

/* Sends a state string ("READY=1", "STOPPING=1", "WATCHDOG=1"). */
void notify_send(const char *state);

/* The watchdog interval systemd asked for, in microseconds (0 = none). */
uint64_t notify_watchdog_usec(void);

#endif
