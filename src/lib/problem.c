/*
 * problem: fills and renders RFC 9457 problem documents.
 *
 * This is the only place that turns an error into bytes for a caller. The
 * `internal` text never leaves the process: it is for the log line.
 */
#include "inboxd/lib/problem.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
copy_fmt(char *dst, size_t dstlen, const char *fmt, va_list ap)
{
    int n = vsnprintf(dst, dstlen, fmt, ap);

    if (n < 0)
        dst[0] = '\0';
}

void
problem_init(struct problem *pb)
{
    pb->status = 0;
    pb->type[0] = '\0';
    pb->detail[0] = '\0';
    pb->internal[0] = '\0';
    pb->sqlstate[0] = '\0';
    pb->retry_after = 0;
    pb->allow[0] = '\0';
    pb->nfields = 0;
}

int
problem_set(struct problem *pb, int status, const char *type, const char *fmt, ...)
{
    va_list ap;

    pb->status = status;
    snprintf(pb->type, sizeof(pb->type), "%s", type);
    va_start(ap, fmt);
    copy_fmt(pb->detail, sizeof(pb->detail), fmt, ap);
    va_end(ap);
    return -1;
}

int
problem_field(struct problem *pb, const char *field, const char *fmt, ...)
{
    va_list ap;
    struct problem_field *f;

    if (pb->status == 0 || pb->status == 422) {
        pb->status = 422;
        snprintf(pb->type, sizeof(pb->type), "validation");
        snprintf(pb->detail, sizeof(pb->detail), "the request body failed validation");
    }
    /* Past the limit the first errors already tell the caller enough. */
    if (pb->nfields >= PROBLEM_MAX_FIELDS)
        return -1;
    f = &pb->fields[pb->nfields++];
    snprintf(f->field, sizeof(f->field), "%s", field);
    va_start(ap, fmt);
    copy_fmt(f->message, sizeof(f->message), fmt, ap);
    va_end(ap);
    return -1;
}

int
problem_internal(struct problem *pb, const char *fmt, ...)
{
    va_list ap;

    pb->status = 500;
    snprintf(pb->type, sizeof(pb->type), "internal");
    snprintf(pb->detail, sizeof(pb->detail), "the server could not complete the request");
    va_start(ap, fmt);
    copy_fmt(pb->internal, sizeof(pb->internal), fmt, ap);
    va_end(ap);
    return -1;
}

const char *
problem_title(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Content";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Server Error" : "Client Error";
    }
}

/* One text of the document as a JSON string, which must be UTF-8. A text
 * may not be: it can echo what a client sent (the method of a 405), or
 * its buffer can cut a character in two. Then `instead` stands in for it,
 * so that the document still renders, with its own status. NULL on OOM. */
static json_t *
text_or(const char *s, const char *instead)
{
    json_t *j = json_string(s);

    return j != NULL ? j : json_string(instead);
}

char *
problem_render(const struct problem *pb, const char *instance)
{
    json_t *doc, *errs = NULL;
    char type[128];
    char *text;
    int status = pb->status ? pb->status : 500;
    int rc = 0;

    /* A relative URI reference per RFC 9457; it resolves against the API. */
    snprintf(type, sizeof(type), "/problems/%s", pb->type[0] ? pb->type : "internal");
    doc = json_object();
    if (doc == NULL)
        return NULL;
    rc |= json_object_set_new(doc, "type", json_string(type));
    rc |= json_object_set_new(doc, "title", json_string(problem_title(status)));
    rc |= json_object_set_new(doc, "status", json_integer(status));
    rc |= json_object_set_new(doc, "detail", text_or(pb->detail, problem_title(status)));
    if (instance != NULL)
        rc |= json_object_set_new(doc, "instance", json_string(instance));
    if (pb->nfields > 0) {
        errs = json_array();
        rc |= json_object_set_new(doc, "errors", errs);
        for (int i = 0; errs != NULL && i < pb->nfields; i++) {
            json_t *e = json_pack("{s:o, s:o}", "field", text_or(pb->fields[i].field, ""),
                                  "message", text_or(pb->fields[i].message, "is not valid"));
            rc |= json_array_append_new(errs, e);
        }
    }
    text = rc == 0 ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    return text;
}
