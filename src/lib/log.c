/*
 * log: structured log lines, one JSON object per line on stderr.
 *
 * A line is built in a stack buffer and written with one write(2) under a
 * mutex. Oversized values are cut rather than dropping the line.
 */
#include "inboxd/lib/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inboxd/lib/rfc3339.h"
#include "inboxd/lib/utf8.h"

/* Atomic: a reload (SIGHUP) changes it while other threads log. */
static atomic_int min_level = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static _Thread_local const struct log_ctx *bound_ctx;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
log_bind(const struct log_ctx *ctx)
{
    bound_ctx = ctx;
}

void
log_set_level(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(name, level_names[i]) == 0)
            atomic_store_explicit(&min_level, i, memory_order_relaxed);
}

bool
log_enabled(enum log_level lvl)
{
    return (int)lvl >= atomic_load_explicit(&min_level, memory_order_relaxed);
}

struct line {
    char buf[4096];
    size_t len;
    bool full; /* a piece did not fit: the field it belongs to is dropped */
};

/* Ends a line whose last fields did not fit, so that it stays JSON. */
#define TRUNCATED ",\"truncated\":true"

static void
put(struct line *l, const char *s, size_t n)
{
    /* Keep room for TRUNCATED and "}\n"; a piece goes in whole or not at
     * all, so that no escape or character is cut. */
    if (l->full || l->len + n > sizeof(l->buf) - 2 - (sizeof(TRUNCATED) - 1)) {
        l->full = true;
        return;
    }
    memcpy(l->buf + l->len, s, n);
    l->len += n;
}

static void
puts_(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

static void
put_str(struct line *l, const char *s)
{
    static const char hex[] = "0123456789abcdef";

    size_t n = s ? strlen(s) : 0, k;

    put(l, "\"", 1);
    for (size_t i = 0; i < n; i += k) {
        unsigned char c = (unsigned char)s[i];
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

        k = 1;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(l, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            put(l, esc, 6);
        } else if (c < 0x80) {
            put(l, (const char *)&c, 1);
        } else if ((k = utf8_seq(s + i, n - i)) > 0) {
            put(l, s + i, k);
        } else {
            /* A client's bytes that are not UTF-8 (a method, a header):
             * the line stays JSON. */
            put(l, "\\ufffd", 6);
            k = 1;
        }
    }
    put(l, "\"", 1);
}

static void
put_key(struct line *l, const char *key)
{
    put(l, ",", 1);
    put_str(l, key);
    put(l, ":", 1);
}

void
log_fields(enum log_level lvl, const struct log_ctx *ctx, const char *event,
           const struct log_field *f)
{
    struct line l = {.len = 0};
    struct timespec ts;
    char tbuf[RFC3339_BUFLEN], num[64];

    if (ctx == NULL)
        ctx = bound_ctx;
    clock_gettime(CLOCK_REALTIME, &ts);
    rfc3339_format_ms((int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, tbuf);
    puts_(&l, "{\"ts\":");
    put_str(&l, tbuf);
    put_key(&l, "level");
    put_str(&l, level_names[lvl]);
    put_key(&l, "event");
    put_str(&l, event);
    if (ctx != NULL) {
        if (ctx->request_id && ctx->request_id[0]) {
            put_key(&l, "request_id");
            put_str(&l, ctx->request_id);
        }
        if (ctx->trace_id && ctx->trace_id[0]) {
            put_key(&l, "trace_id");
            put_str(&l, ctx->trace_id);
        }
        if (ctx->route && ctx->route[0]) {
            put_key(&l, "route");
            put_str(&l, ctx->route);
        }
    }
    for (; f && f->type != LOG_FIELD_END; f++) {
        size_t mark = l.len;

        if (l.full)
            break;
        put_key(&l, f->key);
        switch (f->type) {
        case LOG_FIELD_STR:
            if (f->s)
                put_str(&l, f->s);
            else
                puts_(&l, "null");
            break;
        case LOG_FIELD_INT:
            snprintf(num, sizeof(num), "%lld", f->i);
            puts_(&l, num);
            break;
        default:
            snprintf(num, sizeof(num), "%.3f", f->d);
            puts_(&l, num);
            break;
        }
        if (l.full)
            l.len = mark; /* this field and the rest are dropped */
    }
    if (l.full) {
        memcpy(l.buf + l.len, TRUNCATED, sizeof(TRUNCATED) - 1);
        l.len += sizeof(TRUNCATED) - 1;
    }
    l.buf[l.len++] = '}';
    l.buf[l.len++] = '\n';
    pthread_mutex_lock(&log_lock);
    /* A failed log write has nowhere to be reported; the line is lost. */
    if (write(STDERR_FILENO, l.buf, l.len) < 0) {
    }
    pthread_mutex_unlock(&log_lock);
}
