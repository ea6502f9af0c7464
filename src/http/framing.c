/*
 * framing: what a request's target and headers must not be.
 *
 * libmicrohttpd 0.9.75 is lenient where an HTTP server must not be
 * (RFC 9112 section 6): it frames a body by Transfer-Encoding and ignores
 * a Content-Length beside it, takes the first of two Content-Lengths,
 * reads an unknown transfer coding until the client closes, and decodes
 * %00 and %2F before anyone can tell them from a NUL or a '/'. Each of
 * those is how a request is smuggled past a proxy that frames it the
 * other way. The server runs these checks on the first call of every
 * request, refuses what fails with 400 (501 for a transfer coding it
 * does not know) and closes the connection: after a framing error
 * nothing that follows on it can be trusted.
 */
#include "inboxd/http/framing.h"

#include <microhttpd.h>
#include <string.h>
#include <strings.h>

/* Headers that inboxd reads one value of: two of them would mean two
 * readings, and whichever one we picked, a proxy may have picked the
 * other. */
static const char *const singletons[] = {
    MHD_HTTP_HEADER_CONTENT_LENGTH,
    MHD_HTTP_HEADER_TRANSFER_ENCODING,
    MHD_HTTP_HEADER_HOST,
    MHD_HTTP_HEADER_AUTHORIZATION,
    MHD_HTTP_HEADER_CONTENT_TYPE,
    MHD_HTTP_HEADER_IF_MATCH,
    "Idempotency-Key",
    "Inboxd-Position",
    "X-Inboxd-Signature",
    "X-Inboxd-Timestamp",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    NULL,
};

#define NSINGLETONS (sizeof(singletons) / sizeof(singletons[0]) - 1)

/* The flaws a target can have: static, so that the server can carry one
 * from the URI callback to the first call as the request's context (a
 * void *, hence not const; nothing writes them). */
static struct framing_flaw flaws[] = {
    {400, "invalid-path", "the path holds an encoded NUL (%00)", false},
    {400, "invalid-parameter", "the query holds an encoded NUL (%00)", false},
    {400, "invalid-path", "the path holds an encoded '/' (%2F) inside a segment", true},
};

struct framing_flaw *
framing_target_flaw(const char *target)
{
    const char *query = strchr(target, '?');
    size_t path_len = query ? (size_t)(query - target) : strlen(target);

    for (const char *p = target; (p = strchr(p, '%')) != NULL; p++) {
        bool in_path = (size_t)(p - target) < path_len;

        if (p[1] == '0' && p[2] == '0')
            return &flaws[in_path ? 0 : 1];
        if (in_path && p[1] == '2' && (p[2] == 'F' || p[2] == 'f'))
            return &flaws[2];
    }
    return NULL;
}

bool
framing_is_flaw(const void *p)
{
    return p >= (const void *)&flaws[0] &&
           p < (const void *)&flaws[sizeof(flaws) / sizeof(flaws[0])];
}

struct seen {
    unsigned count[NSINGLETONS];
};

static enum MHD_Result
count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    struct seen *s = cls;

    (void)kind;
    (void)value;
    for (size_t i = 0; i < NSINGLETONS; i++)
        if (strcasecmp(key, singletons[i]) == 0)
            s->count[i]++;
    return MHD_YES;
}

/* 1*DIGIT, as RFC 9110 section 8.6 has it: no sign, no space, no list. */
static bool
is_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

int
framing_check_headers(struct MHD_Connection *conn, struct problem *pb)
{
    struct seen s = {{0}};
    const char *cl, *te;

    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &s);
    for (size_t i = 0; i < NSINGLETONS; i++)
        if (s.count[i] > 1)
            return problem_set(pb, 400, "invalid-header", "the %s header is sent %u times",
                               singletons[i], s.count[i]);
    cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (cl != NULL && te != NULL)
        return problem_set(pb, 400, "invalid-header",
                           "Content-Length and Transfer-Encoding are sent together");
    if (te != NULL && strcasecmp(te, "chunked") != 0)
        return problem_set(pb, 501, "not-implemented",
                           "the transfer coding \"%.64s\" is not supported (only chunked)", te);
    if (cl != NULL && !is_digits(cl))
        return problem_set(pb, 400, "invalid-header", "Content-Length is not a number");
    return 0;
}
