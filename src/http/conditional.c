/*
 * conditional: reading If-Match into the bare tag a db function compares.
 *
 * RFC 9110 section 13.1.1: If-Match is "*" or a list of entity tags,
 * compared strongly. Only a header that is not that syntax is a 400; a
 * well-formed tag that inboxd never issued (a weak one, one that is not
 * our decimal form, one too large) simply does not match, and the write
 * answers 412 like any other stale tag.
 */
#include "inboxd/http/conditional.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"

/* Our tags are non-negative int8 values (db/etag.h): at most 19 digits. */
#define TAG_DIGITS_MAX 19

/* A tag that no row can have (tags are microseconds since 1970, never
 * negative): compared in the write, it fails the precondition there, so a
 * missing resource is still a 404 and an existing one a 412. */
#define TAG_NEVER "-1"

static bool
is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* etagc of RFC 9110: %x21 / %x23-7E / obs-text. */
static bool
is_etagc(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c != 0x7f);
}

/* Whether the opaque tag t[0..n) is one inboxd could have issued. */
static bool
is_ours(const char *t, size_t n)
{
    if (n == 0 || n > TAG_DIGITS_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (t[i] < '0' || t[i] > '9')
            return false;
    /* 19 digits may still exceed INT64_MAX, which no tag reaches. */
    return n < TAG_DIGITS_MAX || memcmp(t, "9223372036854775807", n) <= 0;
}

static int
malformed(struct problem *pb)
{
    return problem_set(pb, 400, "invalid-header",
                       "If-Match must be \"*\" or a list of entity tags (RFC 9110)");
}

int
etag_if_match(const struct req *rq, char buf[32], const char **val, struct problem *pb)
{
    const char *h = req_header(rq, "If-Match");
    const char *p;
    bool any = false, found = false;

    *val = NULL;
    if (h == NULL)
        return 0;
    p = h;
    while (is_ows(*p))
        p++;
    if (*p == '*') {
        for (p++; is_ows(*p); p++)
            ;
        return *p == '\0' ? 0 : malformed(pb);
    }
    /* #entity-tag: elements separated by commas with optional blanks;
     * empty elements are allowed by the list rule (RFC 9110 5.6.1). */
    while (*p != '\0') {
        const char *t;
        bool weak = false;

        while (is_ows(*p) || *p == ',')
            p++;
        if (*p == '\0')
            break;
        if (p[0] == 'W' && p[1] == '/') {
            weak = true;
            p += 2;
        }
        if (*p != '"')
            return malformed(pb);
        t = ++p;
        while (is_etagc((unsigned char)*p))
            p++;
        if (*p != '"')
            return malformed(pb);
        any = true;
        /* The first strong tag of our form is the one compared; the write
         * compares one value. */
        if (!found && !weak && is_ours(t, (size_t)(p - t))) {
            memcpy(buf, t, (size_t)(p - t));
            buf[p - t] = '\0';
            found = true;
        }
        p++;
        while (is_ows(*p))
            p++;
        if (*p != '\0' && *p != ',')
            return malformed(pb);
    }
    if (!any)
        return malformed(pb);
    if (!found)
        snprintf(buf, 32, "%s", TAG_NEVER);
    *val = buf;
    return 0;
}
