/*
 * log: one JSON object per line on stderr.
 *
 *   {"ts":"…","level":"info","event":"http.request","request_id":"…",
 *    "trace_id":"…","route":"GET /v1/account","status":200,"dur_ms":1.2}
 *
 * Fields are typed (LOG_S, LOG_I, LOG_F) so values are escaped correctly.
 * Never pass keys, secrets, bodies, message text or e-mail addresses.
 */
#ifndef INBOXD_LOG_H
#define INBOXD_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* The request context a line carries automatically; any member may be NULL. */
struct log_ctx {
    const char *request_id;
    const char *trace_id;
    const char *route;
};

enum { LOG_FIELD_END, LOG_FIELD_STR, LOG_FIELD_INT, LOG_FIELD_DBL };

struct log_field {
    int type;
    const char *key;
    const char *s;
    long long i;
    double d;
};

#define LOG_S(k, v) ((struct log_field){LOG_FIELD_STR, (k), (v), 0, 0})
#define LOG_I(k, v) ((struct log_field){LOG_FIELD_INT, (k), NULL, (long long)(v), 0})
#define LOG_F(k, v) ((struct log_field){LOG_FIELD_DBL, (k), NULL, 0, (double)(v)})
#define LOG_END ((struct log_field){LOG_FIELD_END, NULL, NULL, 0, 0})

/* Sets the lowest level written ("debug", "info", "warn", "error"). */
void log_set_level(const char *name);

bool log_enabled(enum log_level lvl);

/* Binds a request context to the calling thread: lines written with a NULL
 * ctx on this thread carry it until log_bind(NULL). Borrowed, not copied. */
void log_bind(const struct log_ctx *ctx);

/* Writes one line: ctx may be NULL (then the thread's bound context is used); fields ends with LOG_END. One write(2)
 * per line under a lock, so lines of concurrent threads never interleave. */
void log_fields(enum log_level lvl, const struct log_ctx *ctx, const char *event,
                const struct log_field *fields);

/* Shorthand: log_event(LOG_WARN, ctx, "db.reconnect", LOG_S("err", e), LOG_I("n", 1)); */
#define log_event(lvl, ctx, event, ...)                                                \
    do {                                                                               \
        if (log_enabled(lvl))                                                          \
            log_fields((lvl), (ctx), (event), (const struct log_field[]){__VA_ARGS__, LOG_END}); \
    } while (0)

#define log_plain(lvl, ctx, event)                                                     \
    do {                                                                               \
        if (log_enabled(lvl))                                                          \
            log_fields((lvl), (ctx), (event), (const struct log_field[]){LOG_END});     \
    } while (0)

#endif
