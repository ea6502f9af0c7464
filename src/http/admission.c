/*
 * admission: which client connections may stay.
 *
 * libmicrohttpd's only clock is an idle timeout, which every byte resets:
 * a client that sends a header byte every few seconds keeps a connection
 * forever, and a few thousand such clients (slowloris) hold every
 * connection the server has while sending almost nothing. Three rules
 * keep room for clients that send whole requests:
 *
 *   - The header deadline. A connection must deliver its request line
 *     and headers within http_header_timeout_s of being opened, or of the
 *     end of its previous request (then it is an idle keep-alive one):
 *     else it is shut down.
 *   - The reserve. Past http_max_connections less a reserve, each new
 *     connection shuts down the oldest connection still waiting for its
 *     headers, so that there is always room for one more, and a client
 *     that sends its request at once is served while the slow ones take
 *     turns. Connections whose request is being answered are never shut.
 *   - The per-address cap (http_max_connections_per_ip, off by default:
 *     behind a balancer every client has the balancer's address). A
 *     connection past it is shut at once.
 *
 * Connections waiting for headers form one list in the order their wait
 * began, so the oldest, and the next deadline, are at its head. Shutting
 * down is shutdown(2) on the socket, never close(2): libmicrohttpd sees
 * the end of the stream and closes the connection as it would any other.
 * Everything here runs on the HTTP loop's thread (MHD calls back only
 * from MHD_run), so nothing is locked.
 */
#include "inboxd/http/admission.h"

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "inboxd/lib/clock.h"

/* Room kept for clients that send whole requests, in parts of
 * http_max_connections: enough to serve through a flood of slow ones. */
#define RESERVE_DIVISOR 10
#define ADDR_BUCKETS 4096

struct addr_count {
    struct addr_count *next;
    unsigned char addr[16];
    uint32_t bucket;
    int n;
};

struct admission_conn {
    struct admission_conn *prev, *next; /* in the waiting list while waiting */
    bool waiting;
    int fd;
    int64_t since_ms; /* when the wait for headers began */
    struct addr_count *addr;
};

static struct {
    int max, reserve, header_ms, per_ip;
    int open;
    struct admission_conn *head, *tail; /* waiting, oldest first */
    struct addr_count *buckets[ADDR_BUCKETS];
} st;

static atomic_ullong shut_deadline, shut_reserve, shut_per_ip;
static atomic_int open_now; /* st.open, for /metrics on other threads */

void
admission_init(int max_connections, int header_timeout_s, int per_ip)
{
    memset(&st, 0, sizeof(st));
    st.max = max_connections;
    st.reserve = max_connections / RESERVE_DIVISOR;
    st.header_ms = header_timeout_s * 1000;
    st.per_ip = per_ip;
}

static void
unlink_waiting(struct admission_conn *c)
{
    if (!c->waiting)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        st.head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        st.tail = c->prev;
    c->prev = c->next = NULL;
    c->waiting = false;
}

static void
start_waiting(struct admission_conn *c)
{
    unlink_waiting(c);
    c->since_ms = clock_ms();
    c->prev = st.tail;
    if (st.tail)
        st.tail->next = c;
    else
        st.head = c;
    st.tail = c;
    c->waiting = true;
}

/* Shuts the connection's socket down; libmicrohttpd closes it. It waits
 * no longer, so it leaves the list now. */
static void
shut(struct admission_conn *c, atomic_ullong *counter)
{
    unlink_waiting(c);
    shutdown(c->fd, SHUT_RDWR);
    atomic_fetch_add(counter, 1);
}

/* The address as 16 bytes (IPv4 mapped into IPv6), for the cap. */
static bool
addr_key(const struct sockaddr *sa, unsigned char key[16])
{
    memset(key, 0, 16);
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        key[10] = key[11] = 0xff;
        memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return true;
    }
    return false;
}

static struct addr_count *
addr_take(const struct sockaddr *sa)
{
    unsigned char key[16];
    uint32_t h = 2166136261u;
    struct addr_count **b, *a;

    if (!addr_key(sa, key))
        return NULL;
    for (int i = 0; i < 16; i++)
        h = (h ^ key[i]) * 16777619u;
    b = &st.buckets[h % ADDR_BUCKETS];
    for (a = *b; a != NULL; a = a->next)
        if (memcmp(a->addr, key, 16) == 0)
            break;
    if (a == NULL) {
        a = calloc(1, sizeof(*a));
        if (a == NULL)
            return NULL; /* not counted: the cap is a limit, not a ledger */
        memcpy(a->addr, key, 16);
        a->bucket = h % ADDR_BUCKETS;
        a->next = *b;
        *b = a;
    }
    a->n++;
    return a;
}

static void
addr_give(struct addr_count *a)
{
    struct addr_count **p;

    if (a == NULL || --a->n > 0)
        return;
    for (p = &st.buckets[a->bucket]; *p != NULL; p = &(*p)->next)
        if (*p == a) {
            *p = a->next;
            free(a);
            return;
        }
}

struct admission_conn *
admission_opened(int fd, const struct sockaddr *sa)
{
    struct admission_conn *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        shutdown(fd, SHUT_RDWR);
        return NULL;
    }
    c->fd = fd;
    st.open++;
    atomic_store(&open_now, st.open);
    if (st.per_ip > 0) {
        c->addr = addr_take(sa);
        if (c->addr != NULL && c->addr->n > st.per_ip) {
            shut(c, &shut_per_ip);
            return c;
        }
    }
    /* Make room: the oldest waiting connection goes first. */
    if (st.open > st.max - st.reserve && st.head != NULL)
        shut(st.head, &shut_reserve);
    start_waiting(c);
    return c;
}

void
admission_headers_done(struct admission_conn *c)
{
    if (c != NULL)
        unlink_waiting(c);
}

void
admission_request_done(struct admission_conn *c)
{
    if (c != NULL)
        start_waiting(c);
}

void
admission_closed(struct admission_conn *c)
{
    if (c == NULL)
        return;
    unlink_waiting(c);
    addr_give(c->addr);
    st.open--;
    atomic_store(&open_now, st.open);
    free(c);
}

int
admission_expire(void)
{
    int64_t now = clock_ms();

    while (st.head != NULL && now - st.head->since_ms >= st.header_ms)
        shut(st.head, &shut_deadline);
    if (st.head == NULL)
        return -1;
    return (int)(st.head->since_ms + st.header_ms - now);
}

void
admission_counts(struct admission_counts *out)
{
    out->open = atomic_load(&open_now);
    out->deadline = atomic_load(&shut_deadline);
    out->reserve = atomic_load(&shut_reserve);
    out->per_ip = atomic_load(&shut_per_ip);
}
