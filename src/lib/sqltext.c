/*
 * sqltext: SQL scripts split into statements, and the one statement
 * migrate needs to recognise (sqltext.h).
 */
#include "inboxd/lib/sqltext.h"

#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* Past a '...' or "..." quote that starts at p, at most to end (E''
 * strings take backslash escapes); a doubled quote stays inside. */
static const char *
skip_quoted(const char *p, const char *end, bool backslashes)
{
    char q = *p++;

    for (; p < end; p++) {
        if (backslashes && *p == '\\' && p + 1 < end) {
            p++;
        } else if (*p == q) {
            if (p + 1 == end || p[1] != q)
                return p + 1;
            p++;
        }
    }
    return end;
}

/* Whether c may be part of an unquoted identifier (or a number). */
static bool
is_ident_char(char c)
{
    return c == '_' || c == '$' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || (unsigned char)c >= 0x80;
}

/* Whether the quote at p opens an E'' string: an E or e before it that
 * is not the end of a longer word (WHERE'a\' is a standard string). */
static bool
is_e_prefix(const char *start, const char *p)
{
    return p > start && (p[-1] == 'E' || p[-1] == 'e') && (p - 1 == start || !is_ident_char(p[-2]));
}

/* Past a $tag$...$tag$ body that starts at p, or NULL when p starts no
 * dollar quote. */
static const char *
skip_dollar(const char *p)
{
    const char *t = p + 1, *end;
    size_t n;

    while (*t == '_' || (*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') ||
           (t > p + 1 && *t >= '0' && *t <= '9'))
        t++;
    if (*t != '$')
        return NULL;
    n = (size_t)(t - p + 1);
    for (end = t + 1; *end; end++)
        if (strncmp(end, p, n) == 0)
            return end + n;
    return end;
}

/* Past a C-style comment that starts at p. They nest, as PostgreSQL's
 * do: each inner one needs its own end. */
static const char *
skip_comment(const char *p)
{
    int depth = 0;

    while (*p) {
        if (p[0] == '/' && p[1] == '*') {
            depth++;
            p += 2;
        } else if (p[0] == '*' && p[1] == '/') {
            p += 2;
            if (--depth == 0)
                return p;
        } else {
            p++;
        }
    }
    return p;
}

/* Past spaces and comments. */
static const char *
skip_blank(const char *p)
{
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (p[0] == '-' && p[1] == '-') {
            p += strcspn(p, "\n");
        } else if (p[0] == '/' && p[1] == '*') {
            p = skip_comment(p);
        } else {
            return p;
        }
    }
}

const char *
sqltext_next(const char **pp, size_t *len)
{
    const char *start = skip_blank(*pp), *end = start + strlen(start), *p = start;

    if (*start == '\0')
        return NULL;
    while (*p && *p != ';') {
        const char *d;

        if (*p == '\'' || *p == '"') {
            p = skip_quoted(p, end, *p == '\'' && is_e_prefix(start, p));
        } else if (*p == '$' && (p == start || !is_ident_char(p[-1])) &&
                   (d = skip_dollar(p)) != NULL) {
            /* A '$' inside an identifier (a$b) starts no quote. */
            p = d;
        } else if ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*')) {
            p = skip_blank(p);
        } else {
            p++;
        }
    }
    *len = (size_t)(p - start);
    *pp = *p ? p + 1 : p;
    return start;
}

/* The next word of [*p, end): up to a space or '(', a "quoted name" whole;
 * its length in *n. */
static const char *
next_word(const char **p, const char *end, size_t *n)
{
    const char *w = *p, *e;

    while (w < end && (*w == ' ' || *w == '\t' || *w == '\n' || *w == '\r'))
        w++;
    e = w;
    while (e < end && strchr(" \t\r\n(", *e) == NULL)
        e = *e == '"' ? skip_quoted(e, end, false) : e + 1;
    *n = (size_t)(e - w);
    *p = e;
    return w;
}

static bool
is_word(const char *w, size_t n, const char *keyword)
{
    return strlen(keyword) == n && strncasecmp(w, keyword, n) == 0;
}

bool
sqltext_concurrent_index(const char *stmt, size_t len, char *name, size_t namelen)
{
    const char *p = stmt, *end = stmt + len, *w;
    size_t n;

    w = next_word(&p, end, &n);
    if (!is_word(w, n, "CREATE"))
        return false;
    w = next_word(&p, end, &n);
    if (is_word(w, n, "UNIQUE"))
        w = next_word(&p, end, &n);
    if (!is_word(w, n, "INDEX"))
        return false;
    w = next_word(&p, end, &n);
    if (!is_word(w, n, "CONCURRENTLY"))
        return false;
    w = next_word(&p, end, &n);
    if (is_word(w, n, "IF")) {
        next_word(&p, end, &n); /* NOT */
        next_word(&p, end, &n); /* EXISTS */
        w = next_word(&p, end, &n);
    }
    if (n == 0 || n >= namelen || is_word(w, n, "ON"))
        return false; /* an index without a name cannot be looked up */
    memcpy(name, w, n);
    name[n] = '\0';
    return true;
}
