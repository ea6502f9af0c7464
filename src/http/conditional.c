/*
 * conditional: reading If-Match into the bare tag a db function compares.
 */
#include "inboxd/http/conditional.h"

#include <stdio.h>
#include <string.h>

#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"

int
etag_if_match(const struct req *rq, char buf[32], const char **val, struct problem *pb)
{
    const char *h = req_header(rq, "If-Match");
    size_t n;

    *val = NULL;
    if (h == NULL)
        return 0;
    while (*h == ' ')
        h++;
    if (strcmp(h, "*") == 0)
        return 0;
    n = strlen(h);
    while (n > 0 && h[n - 1] == ' ')
        n--;
    if (n < 3 || n > 22 || h[0] != '"' || h[n - 1] != '"')
        return problem_set(pb, 400, "invalid-header",
                           "If-Match must be one entity tag as given in ETag");
    for (size_t i = 1; i < n - 1; i++)
        if (h[i] < '0' || h[i] > '9')
            return problem_set(pb, 400, "invalid-header",
                               "If-Match must be one entity tag as given in ETag");
    memcpy(buf, h + 1, n - 2);
    buf[n - 2] = '\0';
    *val = buf;
    return 0;
}
