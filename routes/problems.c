/*
 * routes/problems: GET /problems/{name}, the page each problem `type`
 * resolves to (RFC 9457 section 3.1.1: a type URI, dereferenced, should
 * give human-readable documentation). Public, like /healthz: a caller
 * reading a problem document may hold no key. The text is the table of
 * lib/problem_types.c; nothing here comes from the request but the slug,
 * which is echoed only once found in that table.
 */
#include <stdbool.h>
#include <stdlib.h>

#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/lib/problem.h"
#include "inboxd/lib/problem_types.h"
#include "inboxd/lib/sbuf.h"
#include "inboxd/routes/routes.h"

/* Escapes s for HTML text, and renders `code` spans as <code>. */
static void
add_text(struct sbuf *b, const char *s)
{
    bool code = false;

    for (; *s; s++) {
        switch (*s) {
        case '&': sbuf_adds(b, "&amp;"); break;
        case '<': sbuf_adds(b, "&lt;"); break;
        case '>': sbuf_adds(b, "&gt;"); break;
        case '"': sbuf_adds(b, "&quot;"); break;
        case '`':
            sbuf_adds(b, code ? "</code>" : "<code>");
            code = !code;
            break;
        default: sbuf_add(b, s, 1); break;
        }
    }
    if (code)
        sbuf_adds(b, "</code>");
}

static int
get_problem(struct req *rq, struct reply *out, struct problem *pb)
{
    const struct problem_type *t = problem_type_find(req_param(rq, "name"));
    struct sbuf b;
    size_t len;
    char *text;

    if (t == NULL)
        return problem_set(pb, 404, "not-found", "no such problem type");
    sbuf_init(&b);
    sbuf_addf(&b,
              "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">"
              "<title>%s: %s</title></head>\n<body>\n<h1>%s</h1>\n<p>HTTP %d %s</p>\n<p>",
              t->slug, problem_title(t->status), t->slug, t->status, problem_title(t->status));
    add_text(&b, t->summary);
    sbuf_adds(&b, "</p>\n<p>What to do: ");
    add_text(&b, t->todo);
    sbuf_adds(&b, "</p>\n<p>Problem documents are RFC 9457 <code>application/problem+json</code>; "
                  "see the API's OpenAPI document, <a href=\"/v1/openapi.json\">"
                  "/v1/openapi.json</a>.</p>\n</body>\n</html>\n");
    if ((text = sbuf_steal(&b, &len)) == NULL)
        return problem_internal(pb, "problem page: out of memory");
    reply_text(out, 200, text, len, "text/html; charset=utf-8");
    return 0;
}

const struct route routes_problems[] = {
    {"GET", "/problems/{name}", 0, ROUTE_PUBLIC | ROUTE_NO_BODY, get_problem, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
