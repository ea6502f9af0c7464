/*
 * admission: which client connections may stay — the header deadline,
 * the reserve for clients that send whole requests, the per-address cap
 * (admission.c says why). Called on the HTTP loop's thread only.
 */
#ifndef INBOXD_ADMISSION_H
#define INBOXD_ADMISSION_H

#include <stdbool.h>

struct sockaddr;
struct admission_conn;

/* Before the server starts: its connection limit, the header deadline in
 * seconds, and the per-address cap (0: none). */
void admission_init(int max_connections, int header_timeout_s, int per_ip);

/* A connection was accepted on fd from sa: it now waits for its headers.
 * May shut down the oldest waiting connection (the reserve), or this one
 * (the cap). The result goes to the calls below; NULL when out of memory
 * (the connection is then shut down). */
struct admission_conn *admission_opened(int fd, const struct sockaddr *sa);

/* Its request line and headers have arrived. */
void admission_headers_done(struct admission_conn *c);

/* Its request was answered: it waits for the next request's headers. */
void admission_request_done(struct admission_conn *c);

/* It is closed (frees c). */
void admission_closed(struct admission_conn *c);

/* Shuts down the connections past the header deadline. Returns the
 * milliseconds until the next deadline, or -1 when nothing waits. */
int admission_expire(void);

/* Connections open now, and shut down so far by each rule. */
struct admission_counts {
    int open;
    unsigned long long deadline, reserve, per_ip;
};
void admission_counts(struct admission_counts *out);

#endif
