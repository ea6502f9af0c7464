/*
 * sbuf: a growable byte buffer with a sticky out-of-memory flag.
 *
 * Response builders append many small pieces; checking each append would
 * bury the logic, so a failed allocation only sets `oom` and turns later
 * appends into no-ops, and the one check happens where the bytes are taken
 * (sbuf_steal). Growth is geometric, so n appends cost O(n) copies overall.
 * The size is capped at SBUF_MAX, so length arithmetic can never wrap.
 * Nothing here aborts or logs: running out of memory is the caller's 500.
 */
#include "inboxd/lib/sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The first allocation; small responses then need no regrowth. */
#define SBUF_MIN_CAP 256

void
sbuf_init(struct sbuf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->oom = false;
}

void
sbuf_cleanup(struct sbuf *b)
{
    free(b->data);
    sbuf_init(b);
}

/* Makes room for n more bytes plus the terminating NUL. Returns false (and
 * sets oom) when that is impossible; the data is untouched then. */
static bool
reserve(struct sbuf *b, size_t n)
{
    size_t need, cap;
    char *p;

    if (b->oom)
        return false;
    /* len < SBUF_MAX always holds, so this subtraction cannot wrap. */
    if (n > SBUF_MAX - b->len - 1) {
        b->oom = true;
        return false;
    }
    need = b->len + n + 1;
    if (need <= b->cap)
        return true;
    cap = b->cap < SBUF_MIN_CAP ? SBUF_MIN_CAP : b->cap;
    while (cap < need)
        cap = cap > SBUF_MAX / 2 ? SBUF_MAX : cap * 2;
    p = realloc(b->data, cap);
    if (p == NULL) {
        b->oom = true;
        return false;
    }
    b->data = p;
    b->cap = cap;
    return true;
}

void
sbuf_reserve(struct sbuf *b, size_t n)
{
    (void)reserve(b, n);
}

void
sbuf_add(struct sbuf *b, const void *p, size_t n)
{
    if (!reserve(b, n))
        return;
    if (n > 0)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void
sbuf_adds(struct sbuf *b, const char *s)
{
    sbuf_add(b, s, strlen(s));
}

void
sbuf_addf(struct sbuf *b, const char *fmt, ...)
{
    va_list ap;
    size_t avail;
    int n;

    if (b->oom)
        return;
    /* First try in the space already there; most pieces fit. */
    avail = b->cap > b->len ? b->cap - b->len : 0;
    va_start(ap, fmt);
    n = vsnprintf(avail > 0 ? b->data + b->len : NULL, avail, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        return;
    }
    if ((size_t)n >= avail) {
        if (!reserve(b, (size_t)n)) {
            /* The first pass may have written into the spare room. */
            if (b->data != NULL)
                b->data[b->len] = '\0';
            return;
        }
        va_start(ap, fmt);
        n = vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->data[b->len] = '\0';
            b->oom = true;
            return;
        }
    }
    b->len += (size_t)n;
}

void
sbuf_add_json_compact(struct sbuf *b, const char *json, size_t n)
{
    size_t i = 0, run = 0;
    bool in_string = false;

    if (!reserve(b, n))
        return;
    /* Runs of kept bytes are copied at once; whitespace outside strings
     * ends a run and is dropped. */
    for (; i < n; i++) {
        char c = json[i];

        if (in_string) {
            if (c == '\\')
                i++; /* the escaped byte stays in the run */
            else if (c == '"')
                in_string = false;
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
            sbuf_add(b, json + run, i - run);
            run = i + 1;
        }
    }
    sbuf_add(b, json + run, (i < n ? i : n) - run);
}

void
sbuf_add_json_string(struct sbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, run = 0;

    /* Most text needs no escape: reserve for that case up front. */
    if (n > SBUF_MAX - 2) {
        b->oom = true;
        return;
    }
    if (!reserve(b, n + 2))
        return;
    sbuf_add(b, "\"", 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t elen = 2;

        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            if (c >= 0x20) {
                run++;
                continue;
            }
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 0xf];
            elen = 6;
            break;
        }
        sbuf_add(b, s + i - run, run);
        run = 0;
        sbuf_add(b, esc, elen);
    }
    sbuf_add(b, s + n - run, run);
    sbuf_add(b, "\"", 1);
}

char *
sbuf_steal(struct sbuf *b, size_t *len)
{
    char *p = NULL;
    size_t n = 0;

    if (!b->oom) {
        if (b->data != NULL) {
            p = b->data;
            n = b->len;
            b->data = NULL;
        } else {
            p = calloc(1, 1);
        }
    }
    sbuf_cleanup(b);
    if (p != NULL && len != NULL)
        *len = n;
    return p;
}
