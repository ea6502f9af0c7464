/*
 * uuid7: time-ordered identifiers (RFC 9562 section 5.7).
 *
 * Layout: 48 bits of Unix milliseconds, version 7, 12 bits rand_a, variant
 * 0b10, 62 bits rand_b. rand_a is used as a counter (RFC 9562 section 6.2,
 * method 1): at each new millisecond it is seeded with 11 random bits,
 * leaving at least 2048 increments before it overflows, and when it does
 * overflow the carry runs into the millisecond field. Timestamp and counter
 * together are one 60-bit number kept in an atomic; every id takes the next
 * value with a compare-and-swap, so ids are strictly increasing across
 * threads without a lock, and rand_b (fresh random bits) never decides the
 * order. The clock going back only makes us reuse the last timestamp.
 *
 * Randomness comes from getrandom(2), drawn 512 bytes at a time into a
 * per-thread buffer (one system call per 51 ids instead of one per id: a
 * request id is made on every request). A fork empties every buffer (the
 * generation bumped by a pthread_atfork child handler), so a forked child
 * never repeats its parent's bits.
 */
/* clock_gettime() under -std=c17. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "inboxd/lib/uuid7.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* (unix_ms << 12) | counter of the last id handed out; 0 before the first. */
static _Atomic uint64_t last_state;

static const char hex_digits[] = "0123456789abcdef";

static void
fill_random(unsigned char *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = getrandom(buf + got, len - got, 0);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* Without a kernel RNG ids would be guessable and could
             * collide; there is no sane way to continue. */
            abort();
        }
        got += (size_t)n;
    }
}

#define POOL_BYTES 512

static _Atomic unsigned fork_generation = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void
after_fork_child(void)
{
    atomic_fetch_add(&fork_generation, 1);
}

static void
register_atfork(void)
{
    /* Without the handler, buffers would survive a fork: fall back to
     * drawing every id's bits directly (generation 0 never matches). */
    if (pthread_atfork(NULL, NULL, after_fork_child) != 0)
        atomic_store(&fork_generation, 0);
}

static void
random_bytes(unsigned char *buf, size_t len)
{
    static _Thread_local unsigned char pool[POOL_BYTES];
    static _Thread_local size_t left;
    static _Thread_local unsigned generation;
    unsigned gen;

    pthread_once(&atfork_once, register_atfork);
    gen = atomic_load_explicit(&fork_generation, memory_order_relaxed);
    if (gen == 0 || len > POOL_BYTES) {
        fill_random(buf, len);
        return;
    }
    if (generation != gen || left < len) {
        fill_random(pool, POOL_BYTES);
        left = POOL_BYTES;
        generation = gen;
    }
    memcpy(buf, pool + POOL_BYTES - left, len);
    memset(pool + POOL_BYTES - left, 0, len); /* never hand out the same bits twice */
    left -= len;
}

static uint64_t
now_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0 || ts.tv_sec < 0)
        return 0; /* The counter keeps ids increasing regardless. */
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Returns the next (ms << 12 | counter), strictly above every earlier one. */
static uint64_t
next_state(uint16_t seed)
{
    uint64_t ms = now_ms() & 0xFFFFFFFFFFFFull;
    uint64_t fresh = (ms << 12) | (seed & 0x7FFu);
    uint64_t old = atomic_load_explicit(&last_state, memory_order_relaxed);
    uint64_t next;

    do {
        if ((old >> 12) < ms)
            next = fresh;
        else
            next = old + 1; /* Same or earlier ms: count; overflow carries. */
    } while (!atomic_compare_exchange_weak_explicit(&last_state, &old, next, memory_order_relaxed,
                                                    memory_order_relaxed));
    return next;
}

void
uuid7_new(char out[UUID7_STRLEN + 1])
{
    unsigned char rnd[10];
    unsigned char b[16];
    uint64_t state;
    size_t i, o = 0;

    random_bytes(rnd, sizeof rnd);
    state = next_state((uint16_t)(rnd[8] | rnd[9] << 8));

    /* unix_ts_ms, 48 bits big-endian. */
    for (i = 0; i < 6; i++)
        b[i] = (unsigned char)(state >> (12 + 8 * (5 - i)));
    /* ver (0111) and the 12-bit counter. */
    b[6] = (unsigned char)(0x70 | ((state >> 8) & 0x0F));
    b[7] = (unsigned char)(state & 0xFF);
    /* var (10) and 62 random bits. */
    for (i = 0; i < 8; i++)
        b[8 + i] = rnd[i];
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3F));

    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex_digits[b[i] >> 4];
        out[o++] = hex_digits[b[i] & 0x0F];
    }
    out[o] = '\0';
}

static bool
is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool
uuid7_is_text(const char *s, size_t n)
{
    if (s == NULL || n != UUID7_STRLEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!is_hex(s[i])) {
            return false;
        }
    }
    return true;
}

bool
uuid7_is_valid(const char *s)
{
    /* strnlen stops at the NUL or one past a UUID's length. */
    return s != NULL && uuid7_is_text(s, strnlen(s, UUID7_STRLEN + 1));
}

void
uuid7_lower(const char *in, char out[UUID7_STRLEN + 1])
{
    size_t i;

    if (!uuid7_is_valid(in)) {
        out[0] = '\0';
        return;
    }
    for (i = 0; i < UUID7_STRLEN; i++) {
        char c = in[i];

        out[i] = (c >= 'A' && c <= 'F') ? (char)(c - 'A' + 'a') : c;
    }
    out[UUID7_STRLEN] = '\0';
}
