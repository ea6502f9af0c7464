/*
 * jsontext: json_dumps(), then every real token rewritten in its shortest
 * round-trip form. Only tokens outside strings are touched; jansson's
 * output is valid JSON, so a string is '"' to the next unescaped '"'.
 * No HTTP and no database here.
 */
#include "inboxd/lib/jsontext.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "inboxd/lib/sbuf.h"

/* The mark of a wrapped number token: 16 hex digits after a NUL, drawn once
 * per process. As the encoder writes it: "\u0000" then the digits. */
#define MARK_HEX 16
#define MARK_ESCAPED "\"\\u0000"

static char mark[MARK_HEX + 1];
static bool mark_ok;
static pthread_once_t mark_once = PTHREAD_ONCE_INIT;

static void
make_mark(void)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[MARK_HEX / 2];

    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return;
    for (size_t i = 0; i < sizeof(r); i++) {
        mark[2 * i] = hex[r[i] >> 4];
        mark[2 * i + 1] = hex[r[i] & 15];
    }
    mark_ok = true;
}

static bool
mark_ready(void)
{
    pthread_once(&mark_once, make_mark);
    return mark_ok;
}

bool
jsontext_number_wrap(struct sbuf *b, const char *tok, size_t n)
{
    if (!mark_ready())
        return false;
    sbuf_adds(b, MARK_ESCAPED);
    sbuf_add(b, mark, MARK_HEX);
    sbuf_add(b, tok, n);
    sbuf_add(b, "\"", 1);
    return true;
}

bool
jsontext_number(const json_t *v, const char **tok, size_t *n)
{
    const char *s;
    size_t len;

    if (!json_is_string(v) || !mark_ready())
        return false;
    s = json_string_value(v);
    len = json_string_length(v);
    if (len <= 1 + MARK_HEX || s[0] != '\0' || memcmp(s + 1, mark, MARK_HEX) != 0)
        return false;
    *tok = s + 1 + MARK_HEX;
    *n = len - 1 - MARK_HEX;
    return true;
}

/* The shortest "%.*g" of d that strtod() reads back as d, kept a real in
 * JSON's eyes the way jansson keeps it ("1.0", not "1"). */
static void
add_real(struct sbuf *b, const char *tok, size_t n)
{
    char in[64], out[40];
    double d;

    if (n >= sizeof(in)) {
        sbuf_add(b, tok, n);
        return;
    }
    memcpy(in, tok, n);
    in[n] = '\0';
    d = strtod(in, NULL);
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, sizeof(out), "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            break;
    }
    sbuf_adds(b, out);
    if (strpbrk(out, ".eEni") == NULL) /* "n", "i": never, JSON has no nan/inf */
        sbuf_adds(b, ".0");
}

char *
jsontext_dump(const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    struct sbuf b;
    const char *p;
    bool wrapped;

    if (text == NULL)
        return NULL;
    wrapped = mark_ready();
    sbuf_init(&b);
    for (p = text; *p;) {
        if (*p == '"') {
            const char *q = p + 1;

            while (*q != '"')
                q += *q == '\\' ? 2 : 1;
            if (wrapped && strncmp(p, MARK_ESCAPED, strlen(MARK_ESCAPED)) == 0 &&
                strncmp(p + strlen(MARK_ESCAPED), mark, MARK_HEX) == 0) {
                const char *tok = p + strlen(MARK_ESCAPED) + MARK_HEX;

                sbuf_add(&b, tok, (size_t)(q - tok)); /* a number token has no escapes */
            } else {
                sbuf_add(&b, p, (size_t)(q + 1 - p));
            }
            p = q + 1;
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            size_t n = strspn(p, "-+0123456789.eE");
            bool real = memchr(p, '.', n) != NULL || memchr(p, 'e', n) != NULL ||
                        memchr(p, 'E', n) != NULL;

            if (real)
                add_real(&b, p, n);
            else
                sbuf_add(&b, p, n);
            p += n;
        } else {
            sbuf_add(&b, p, 1);
            p++;
        }
    }
    free(text);
    return sbuf_steal(&b, NULL);
}

/* --- a member, by a scan of the text ------------------------------------- */

static const char *
skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at a '"': past the closing one, or NULL if the text ends first. */
static const char *
skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Past the value at p (whitespace first), or NULL. */
static const char *
skip_value(const char *p, const char *end)
{
    int depth = 0;

    p = skip_ws(p, end);
    if (p < end && *p == '"')
        return skip_string(p, end);
    if (p < end && *p != '{' && *p != '[') {
        while (p < end && !strchr(",}] \t\r\n", *p))
            p++;
        return p;
    }
    while (p < end) {
        if (*p == '"') {
            if ((p = skip_string(p, end)) == NULL)
                return NULL;
            continue;
        }
        if (*p == '{' || *p == '[')
            depth++;
        else if ((*p == '}' || *p == ']') && --depth == 0)
            return p + 1;
        p++;
    }
    return NULL;
}

int
jsontext_member(const char *json, size_t len, const char *path, size_t plen, const char **val,
                size_t *vlen)
{
    const char *end = json + len, *p = skip_ws(json, end);
    const char *dot = memchr(path, '.', plen);
    size_t nlen = dot ? (size_t)(dot - path) : plen;

    if (p == end || *p != '{')
        return -1;
    for (p = skip_ws(p + 1, end); p < end && *p != '}';) {
        const char *key = p + 1, *q;

        if (*p != '"' || (q = skip_string(p, end)) == NULL)
            return -1;
        p = skip_ws(q, end);
        if (p == end || *p != ':')
            return -1;
        p = skip_ws(p + 1, end);
        if ((size_t)(q - 1 - key) == nlen && memcmp(key, path, nlen) == 0) {
            if (dot != NULL)
                return (q = skip_value(p, end)) == NULL
                           ? -1
                           : jsontext_member(p, (size_t)(q - p), dot + 1, plen - nlen - 1, val, vlen);
            if (p == end || *p != '"')
                return 0;
            if ((q = skip_string(p, end)) == NULL)
                return -1;
            if (memchr(p + 1, '\\', (size_t)(q - 1 - (p + 1))) != NULL)
                return -1;
            *val = p + 1;
            *vlen = (size_t)(q - 1 - (p + 1));
            return 1;
        }
        if ((p = skip_value(p, end)) == NULL)
            return -1;
        p = skip_ws(p, end);
        if (p < end && *p == ',')
            p = skip_ws(p + 1, end);
    }
    return p < end ? 0 : -1;
}
