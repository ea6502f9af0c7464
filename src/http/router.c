/*
 * router: matches a request line against the route tables of routes/.
 *
 * Patterns are split into segments once at start; a request path is split
 * once per request and compared segment by segment with every route. With
 * a few dozen routes a linear scan costs less than a microsecond.
 */
#include "inboxd/http/router.h"

#include "inboxd/lib/uuid7.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define MAX_ROUTES 128
#define MAX_SEGS 12

struct compiled {
    int nsegs;
    char *segs[MAX_SEGS]; /* points into `buf` */
    size_t lens[MAX_SEGS];
    bool is_param[MAX_SEGS];
    bool is_id[MAX_SEGS];
    bool rest;               /* the last segment is {name...}: one or more segments */
    char buf[256];
};

static const struct route *table[MAX_ROUTES + 1];
static const char *locations[MAX_ROUTES];
static struct compiled compiled[MAX_ROUTES];
static size_t nroutes;

static int
compile(const char *pattern, struct compiled *c)
{
    char *p;

    if (strlen(pattern) >= sizeof(c->buf) || pattern[0] != '/')
        return -1;
    strcpy(c->buf, pattern);
    c->nsegs = 0;
    p = c->buf + 1;
    while (*p) {
        char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);

        if (c->nsegs >= MAX_SEGS)
            return -1;
        c->segs[c->nsegs] = p;
        c->lens[c->nsegs] = len;
        c->is_param[c->nsegs] = len > 2 && p[0] == '{' && p[len - 1] == '}';
        c->is_id[c->nsegs] = c->is_param[c->nsegs] &&
                             ((len == 4 && strncmp(p, "{id}", 4) == 0) ||
                              (len > 4 && strncmp(p + len - 3, "Id}", 3) == 0));
        c->nsegs++;
        if (slash == NULL)
            break;
        *slash = '\0';
        p = slash + 1;
    }
    /* Names of parameters without braces, NUL-terminated in place. */
    for (int i = 0; i < c->nsegs; i++)
        if (c->is_param[i]) {
            c->segs[i][c->lens[i] - 1] = '\0';
            c->segs[i]++;
            c->lens[i] -= 2;
            if (i == c->nsegs - 1 && c->lens[i] > 3 &&
                strcmp(c->segs[i] + c->lens[i] - 3, "...") == 0) {
                c->rest = true;
                c->lens[i] -= 3;
                c->segs[i][c->lens[i]] = '\0';
            }
        }
    return 0;
}

int
router_init(const struct route *const *tables)
{
    nroutes = 0;
    memset(locations, 0, sizeof(locations));
    for (int t = 0; tables[t] != NULL; t++)
        for (const struct route *r = tables[t]; r->method != NULL; r++) {
            if (nroutes >= MAX_ROUTES || compile(r->pattern, &compiled[nroutes]) != 0)
                return -1;
            table[nroutes++] = r;
        }
    table[nroutes] = NULL;
    return 0;
}

int
router_locations(const struct route_location *list)
{
    for (const struct route_location *l = list; l->method != NULL; l++) {
        size_t r = 0;

        while (r < nroutes && (strcmp(table[r]->method, l->method) != 0 ||
                               strcmp(table[r]->pattern, l->pattern) != 0))
            r++;
        if (r == nroutes)
            return -1;
        locations[r] = l->location;
    }
    return 0;
}

const char *
router_location(int index)
{
    return index >= 0 && (size_t)index < nroutes ? locations[index] : NULL;
}

const struct route *const *
router_routes(size_t *n)
{
    *n = nroutes;
    return table;
}

/* Splits path into segments (pointers into path, lengths). -1 if too deep. */
static int
split(const char *path, const char **segs, size_t *lens)
{
    int n = 0;
    const char *p = path + 1;

    if (path[0] != '/')
        return -1;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);

        if (n >= MAX_SEGS)
            return -1;
        segs[n] = p;
        lens[n] = len;
        n++;
        if (slash == NULL)
            break;
        p = slash + 1;
        if (*p == '\0') {
            /* A trailing slash is an empty final segment: no route has one. */
            segs[n] = p;
            lens[n] = 0;
            n++;
            break;
        }
    }
    return n;
}

static bool
path_matches(const struct compiled *c, int n, const char **segs, const size_t *lens)
{
    if (c->rest ? n < c->nsegs : c->nsegs != n)
        return false;
    for (int i = 0; i < c->nsegs; i++) {
        if (c->rest && i == c->nsegs - 1) {
            /* The rest of the path, at most 255 bytes, no empty segment. */
            size_t total = (size_t)(segs[n - 1] + lens[n - 1] - segs[i]);

            for (int k = i; k < n; k++)
                if (lens[k] == 0)
                    return false;
            return total < 256;
        }
        if (c->is_param[i]) {
            if (lens[i] == 0 || lens[i] >= 256)
                return false;
            if (c->is_id[i] && !uuid7_is_text(segs[i], lens[i]))
                return false;
        } else if (c->lens[i] != lens[i] || memcmp(c->segs[i], segs[i], lens[i]) != 0) {
            return false;
        }
    }
    return true;
}

int
router_match(const char *method, const char *path, struct route_match *m, struct problem *pb)
{
    const char *segs[MAX_SEGS + 1];
    size_t lens[MAX_SEGS + 1];
    int n = split(path, segs, lens);
    size_t alen = 0;
    bool path_known = false;
    /* HEAD is answered by every GET route (RFC 9110 9.3.2): the same
     * handler, and libmicrohttpd sends its status and headers without the
     * body. */
    const char *want = strcmp(method, "HEAD") == 0 ? "GET" : method;

    memset(m, 0, sizeof(*m));
    if (n < 0)
        return problem_set(pb, 404, "not-found", "no such resource");
    pb->allow[0] = '\0';
    for (size_t r = 0; r < nroutes; r++) {
        const struct compiled *c = &compiled[r];

        if (!path_matches(c, n, segs, lens))
            continue;
        if (strcmp(table[r]->method, want) != 0) {
            /* Remember the method for the Allow header of a 405. */
            bool get = strcmp(table[r]->method, "GET") == 0;
            int w = snprintf(pb->allow + alen, sizeof(pb->allow) - alen, "%s%s%s",
                             path_known ? ", " : "", table[r]->method, get ? ", HEAD" : "");
            if (w > 0 && (size_t)w < sizeof(pb->allow) - alen)
                alen += (size_t)w;
            path_known = true;
            continue;
        }
        m->route = table[r];
        m->index = (int)r;
        for (int i = 0; i < c->nsegs; i++) {
            size_t len = lens[i];

            if (!c->is_param[i] || m->nparams >= ROUTER_MAX_PARAMS)
                continue;
            if (c->rest && i == c->nsegs - 1)
                len = (size_t)(segs[n - 1] + lens[n - 1] - segs[i]);
            m->names[m->nparams] = c->segs[i];
            memcpy(m->values[m->nparams], segs[i], len);
            m->values[m->nparams][len] = '\0';
            /* Ids are compared lower-case everywhere. */
            if (c->is_id[i])
                for (size_t k = 0; k < len; k++)
                    if (m->values[m->nparams][k] >= 'A' && m->values[m->nparams][k] <= 'F')
                        m->values[m->nparams][k] += 'a' - 'A';
            m->nparams++;
        }
        pb->allow[0] = '\0';
        return 0;
    }
    if (path_known)
        return problem_set(pb, 405, "method-not-allowed", "%s is not allowed on this resource",
                           method);
    pb->allow[0] = '\0';
    return problem_set(pb, 404, "not-found", "no such resource");
}

const char *
router_param(const struct route_match *m, const char *name)
{
    for (int i = 0; i < m->nparams; i++)
        if (strcmp(m->names[i], name) == 0)
            return m->values[i];
    return NULL;
}
