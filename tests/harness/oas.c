/*
 * oas: response validation against the embedded OpenAPI document.
 *
 * One recursive function, validate(), walks a schema and an instance
 * together and stops at the first failure, naming where it failed twice:
 * the instance path ("$.items[0].sentAt") and the schema location
 * ("#/components/schemas/Message/properties/sentAt"; a $ref moves it to the
 * referenced schema). Only what the document uses is implemented; a keyword
 * it does not know is ignored, like an annotation. Test-side only: it never
 * ships in the daemon.
 */
#include "oas.h"

#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "inboxd/lib/embedded.h"

#define PATH_MAX_LEN 512
#define MAX_DEPTH 64

struct ctx {
    const json_t *root;
    char *err;
    size_t errlen;
    int depth;
};

static int validate(struct ctx *c, const json_t *s, const char *spath, const json_t *v,
                    const char *ipath);

static int fail(struct ctx *c, const char *ipath, const char *spath, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail(struct ctx *c, const char *ipath, const char *spath, const char *fmt, ...)
{
    va_list ap;
    int n;

    n = snprintf(c->err, c->errlen, "at %s (schema %s): ", ipath, spath);
    if (n >= 0 && (size_t)n < c->errlen) {
        va_start(ap, fmt);
        vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static void join(char *out, const char *base, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* out = base + formatted suffix, truncated at PATH_MAX_LEN. */
static void
join(char *out, const char *base, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(out, PATH_MAX_LEN, "%s", base);

    if (n < 0 || n >= PATH_MAX_LEN)
        return;
    va_start(ap, fmt);
    vsnprintf(out + n, PATH_MAX_LEN - (size_t)n, fmt, ap);
    va_end(ap);
}

/* A JSON Pointer reference token: "/" is "~1" and "~" is "~0". */
static void
escape_token(const char *in, char *out, size_t outlen)
{
    size_t o = 0;

    for (; *in && o + 3 < outlen; in++) {
        if (*in == '/' || *in == '~') {
            out[o++] = '~';
            out[o++] = *in == '/' ? '1' : '0';
        } else {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
}

/* Resolves a local reference "#/a/b~1c" in root, or NULL. */
static const json_t *
resolve(const json_t *root, const char *ref)
{
    const json_t *cur = root;
    const char *p;

    if (ref == NULL || ref[0] != '#')
        return NULL;
    p = ref + 1;
    while (*p == '/' && cur != NULL) {
        char tok[256];
        size_t n = 0;

        p++;
        while (*p && *p != '/' && n + 1 < sizeof(tok)) {
            if (p[0] == '~' && (p[1] == '0' || p[1] == '1')) {
                tok[n++] = p[1] == '0' ? '~' : '/';
                p += 2;
            } else {
                tok[n++] = *p++;
            }
        }
        tok[n] = '\0';
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *end;
            unsigned long i = strtoul(tok, &end, 10);

            cur = *end == '\0' && tok[0] ? json_array_get(cur, i) : NULL;
        } else {
            cur = NULL;
        }
    }
    return *p == '\0' ? cur : NULL;
}

static bool
has_type(const json_t *v, const char *t)
{
    if (t == NULL)
        return false;
    if (strcmp(t, "null") == 0)
        return json_is_null(v);
    if (strcmp(t, "boolean") == 0)
        return json_is_boolean(v);
    if (strcmp(t, "object") == 0)
        return json_is_object(v);
    if (strcmp(t, "array") == 0)
        return json_is_array(v);
    if (strcmp(t, "string") == 0)
        return json_is_string(v);
    if (strcmp(t, "number") == 0)
        return json_is_number(v);
    if (strcmp(t, "integer") == 0)
        return json_is_integer(v) ||
               (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)));
    return false;
}

static const char *
type_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

static bool
digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

static int
num(const char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

/* API.md's output form: "2026-11-22T10:04:05.123Z", exactly. */
static bool
is_date_time(const char *s)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, leap;

    if (strlen(s) != 24 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2) || s[10] != 'T' || !digits(s + 11, 2) || s[13] != ':' ||
        !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2) || s[19] != '.' ||
        !digits(s + 20, 3) || s[23] != 'Z')
        return false;
    y = num(s, 4);
    mo = num(s + 5, 2);
    d = num(s + 8, 2);
    leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap))
        return false;
    /* Second 60 is a leap second, which RFC 3339 allows. */
    return num(s + 11, 2) <= 23 && num(s + 14, 2) <= 59 && num(s + 17, 2) <= 60;
}

/* Lower-case and hyphenated, as inboxd writes ids. */
static bool
is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f')) {
            return false;
        }
    }
    return true;
}

/* Length in code points, as JSON Schema counts it. */
static size_t
utf8_len(const char *s, size_t bytes)
{
    size_t n = 0;

    for (size_t i = 0; i < bytes; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static int
check_string(struct ctx *c, const json_t *s, const char *spath, const json_t *v, const char *ipath)
{
    const char *str = json_string_value(v);
    size_t len = utf8_len(str, json_string_length(v));
    const json_t *k;
    const char *fmt = json_string_value(json_object_get(s, "format"));

    if ((k = json_object_get(s, "minLength")) && (json_int_t)len < json_integer_value(k))
        return fail(c, ipath, spath, "%zu characters, minLength is %" JSON_INTEGER_FORMAT, len,
                    json_integer_value(k));
    if ((k = json_object_get(s, "maxLength")) && (json_int_t)len > json_integer_value(k))
        return fail(c, ipath, spath, "%zu characters, maxLength is %" JSON_INTEGER_FORMAT, len,
                    json_integer_value(k));
    if (fmt && strcmp(fmt, "uuid") == 0 && !is_uuid(str))
        return fail(c, ipath, spath, "\"%.60s\" is not a lower-case uuid", str);
    if (fmt && strcmp(fmt, "date-time") == 0 && !is_date_time(str))
        return fail(c, ipath, spath,
                    "\"%.60s\" is not a UTC date-time with milliseconds (YYYY-MM-DDTHH:MM:SS.mmmZ)",
                    str);
    if ((k = json_object_get(s, "pattern"))) {
        regex_t re;
        int rc;

        if (regcomp(&re, json_string_value(k), REG_EXTENDED | REG_NOSUB) != 0)
            return fail(c, ipath, spath, "pattern %s does not compile", json_string_value(k));
        rc = regexec(&re, str, 0, NULL, 0);
        regfree(&re);
        if (rc != 0)
            return fail(c, ipath, spath, "\"%.60s\" does not match %s", str, json_string_value(k));
    }
    return 0;
}

static int
check_number(struct ctx *c, const json_t *s, const char *spath, const json_t *v, const char *ipath)
{
    double x = json_number_value(v);
    const json_t *k;

    if ((k = json_object_get(s, "minimum")) && x < json_number_value(k))
        return fail(c, ipath, spath, "%g is below the minimum %g", x, json_number_value(k));
    if ((k = json_object_get(s, "maximum")) && x > json_number_value(k))
        return fail(c, ipath, spath, "%g is above the maximum %g", x, json_number_value(k));
    if ((k = json_object_get(s, "exclusiveMinimum")) && x <= json_number_value(k))
        return fail(c, ipath, spath, "%g is not above %g", x, json_number_value(k));
    if ((k = json_object_get(s, "exclusiveMaximum")) && x >= json_number_value(k))
        return fail(c, ipath, spath, "%g is not below %g", x, json_number_value(k));
    return 0;
}

static int
check_object(struct ctx *c, const json_t *s, const char *spath, const json_t *v, const char *ipath)
{
    const json_t *props = json_object_get(s, "properties");
    const json_t *addl = json_object_get(s, "additionalProperties");
    const json_t *req = json_object_get(s, "required");
    const json_t *k;
    const char *name;
    json_t *val;
    size_t i;
    char ip[PATH_MAX_LEN], sp[PATH_MAX_LEN], tok[256];

    json_array_foreach(req, i, k)
    {
        if (json_object_get(v, json_string_value(k)) == NULL)
            return fail(c, ipath, spath, "required member \"%s\" is missing", json_string_value(k));
    }
    if ((k = json_object_get(s, "minProperties")) &&
        (json_int_t)json_object_size(v) < json_integer_value(k))
        return fail(c, ipath, spath, "fewer than %" JSON_INTEGER_FORMAT " members",
                    json_integer_value(k));
    if ((k = json_object_get(s, "maxProperties")) &&
        (json_int_t)json_object_size(v) > json_integer_value(k))
        return fail(c, ipath, spath, "more than %" JSON_INTEGER_FORMAT " members",
                    json_integer_value(k));
    json_object_foreach((json_t *)(uintptr_t)v, name, val)
    {
        const json_t *ps = json_object_get(props, name);

        join(ip, ipath, ".%s", name);
        if (ps != NULL) {
            escape_token(name, tok, sizeof(tok));
            join(sp, spath, "/properties/%s", tok);
            if (validate(c, ps, sp, val, ip) != 0)
                return -1;
        } else if (json_is_false(addl)) {
            return fail(c, ip, spath, "member \"%s\" is not allowed (additionalProperties)", name);
        } else if (json_is_object(addl)) {
            join(sp, spath, "/additionalProperties");
            if (validate(c, addl, sp, val, ip) != 0)
                return -1;
        }
    }
    return 0;
}

static int
check_array(struct ctx *c, const json_t *s, const char *spath, const json_t *v, const char *ipath)
{
    const json_t *items = json_object_get(s, "items");
    const json_t *k, *e;
    size_t i, n = json_array_size(v);
    char ip[PATH_MAX_LEN], sp[PATH_MAX_LEN];

    if ((k = json_object_get(s, "minItems")) && (json_int_t)n < json_integer_value(k))
        return fail(c, ipath, spath, "%zu items, minItems is %" JSON_INTEGER_FORMAT, n,
                    json_integer_value(k));
    if ((k = json_object_get(s, "maxItems")) && (json_int_t)n > json_integer_value(k))
        return fail(c, ipath, spath, "%zu items, maxItems is %" JSON_INTEGER_FORMAT, n,
                    json_integer_value(k));
    if (json_is_true(json_object_get(s, "uniqueItems")))
        for (i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                if (json_equal(json_array_get(v, i), json_array_get(v, j)))
                    return fail(c, ipath, spath, "items %zu and %zu are equal (uniqueItems)", i, j);
    if (items == NULL)
        return 0;
    join(sp, spath, "/items");
    json_array_foreach(v, i, e)
    {
        join(ip, ipath, "[%zu]", i);
        if (validate(c, items, sp, e, ip) != 0)
            return -1;
    }
    return 0;
}

/* Validates v against each branch of `list` in a scratch context; returns
 * how many passed, with the first two passing indexes in first/second and
 * the failing branches' reasons collected in why. */
static int
count_branches(struct ctx *c, const json_t *list, const char *spath, const char *kw,
               const json_t *v, const char *ipath, int *first, int *second, char *why,
               size_t whylen)
{
    const json_t *b;
    size_t i, w = 0;
    int passed = 0;
    char sp[PATH_MAX_LEN], e[1024];

    why[0] = '\0';
    json_array_foreach(list, i, b)
    {
        struct ctx sub = {c->root, e, sizeof(e), c->depth};

        join(sp, spath, "/%s/%zu", kw, i);
        if (validate(&sub, b, sp, v, ipath) == 0) {
            if (passed == 0)
                *first = (int)i;
            else if (passed == 1)
                *second = (int)i;
            passed++;
        } else if (w < whylen) {
            int n = snprintf(why + w, whylen - w, "%s[%zu] %s", w ? "; " : "", i, e);

            w = n > 0 ? w + (size_t)n : w;
        }
    }
    return passed;
}

/* OpenAPI's discriminator: the member names the branch to validate against. */
static int
check_discriminator(struct ctx *c, const json_t *s, const char *spath, const json_t *v,
                    const char *ipath)
{
    const json_t *d = json_object_get(s, "discriminator");
    const char *prop = json_string_value(json_object_get(d, "propertyName"));
    const char *val = json_string_value(json_object_get(v, prop ? prop : ""));
    const char *ref;
    char dflt[300];
    const json_t *target;

    if (prop == NULL)
        return fail(c, ipath, spath, "discriminator without propertyName");
    if (val == NULL)
        return fail(c, ipath, spath, "discriminator member \"%s\" is missing or not a string",
                    prop);
    ref = json_string_value(json_object_get(json_object_get(d, "mapping"), val));
    if (ref == NULL) {
        snprintf(dflt, sizeof(dflt), "#/components/schemas/%s", val);
        ref = dflt;
    }
    target = resolve(c->root, ref);
    if (target == NULL)
        return fail(c, ipath, spath, "%s \"%s\" names no schema", prop, val);
    return validate(c, target, ref, v, ipath);
}

static int
validate(struct ctx *c, const json_t *s, const char *spath, const json_t *v, const char *ipath)
{
    const json_t *k, *b;
    size_t i;
    int rc = -1;
    char sp[PATH_MAX_LEN];

    if (json_is_true(s))
        return 0;
    if (json_is_false(s))
        return fail(c, ipath, spath, "schema false allows nothing");
    if (!json_is_object(s))
        return fail(c, ipath, spath, "schema is not an object");
    if (c->depth >= MAX_DEPTH)
        return fail(c, ipath, spath, "schema nesting deeper than %d ($ref loop?)", MAX_DEPTH);
    c->depth++;

    if ((k = json_object_get(s, "$ref"))) {
        const json_t *target = resolve(c->root, json_string_value(k));

        if (target == NULL) {
            fail(c, ipath, spath, "unresolvable $ref %s", json_string_value(k));
            goto out;
        }
        if (validate(c, target, json_string_value(k), v, ipath) != 0)
            goto out;
    }

    if ((k = json_object_get(s, "type"))) {
        bool ok = false;

        if (json_is_string(k)) {
            ok = has_type(v, json_string_value(k));
        } else {
            json_array_foreach(k, i, b)
            {
                ok |= has_type(v, json_string_value(b));
            }
        }
        if (!ok) {
            char want[128] = "";
            size_t w = 0;

            if (json_is_string(k))
                snprintf(want, sizeof(want), "%s", json_string_value(k));
            json_array_foreach(k, i, b)
            {
                int n = snprintf(want + w, sizeof(want) - w, "%s%s", i ? " or " : "",
                                 json_string_value(b));

                if (n < 0 || (size_t)n >= sizeof(want) - w)
                    break;
                w += (size_t)n;
            }
            fail(c, ipath, spath, "%s where %s is expected", type_of(v), want);
            goto out;
        }
    }
    if ((k = json_object_get(s, "const")) && !json_equal(k, v)) {
        char *want = json_dumps(k, JSON_ENCODE_ANY | JSON_COMPACT);

        fail(c, ipath, spath, "value is not the const %.80s", want ? want : "?");
        free(want);
        goto out;
    }
    if ((k = json_object_get(s, "enum"))) {
        bool ok = false;

        json_array_foreach(k, i, b)
        {
            ok |= json_equal(b, v);
        }
        if (!ok) {
            char *got = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

            fail(c, ipath, spath, "%.80s is not in the enum", got ? got : "value");
            free(got);
            goto out;
        }
    }
    if (json_is_string(v) && check_string(c, s, spath, v, ipath) != 0)
        goto out;
    if (json_is_number(v) && check_number(c, s, spath, v, ipath) != 0)
        goto out;
    if (json_is_object(v) && check_object(c, s, spath, v, ipath) != 0)
        goto out;
    if (json_is_array(v) && check_array(c, s, spath, v, ipath) != 0)
        goto out;

    json_array_foreach(json_object_get(s, "allOf"), i, b)
    {
        join(sp, spath, "/allOf/%zu", i);
        if (validate(c, b, sp, v, ipath) != 0)
            goto out;
    }
    if (json_object_get(s, "discriminator") && json_is_object(v)) {
        if (check_discriminator(c, s, spath, v, ipath) != 0)
            goto out;
    } else {
        static const char *const kws[] = {"oneOf", "anyOf"};

        for (int w = 0; w < 2; w++) {
            char why[2048];
            int first = -1, second = -1, n;

            if ((k = json_object_get(s, kws[w])) == NULL)
                continue;
            n = count_branches(c, k, spath, kws[w], v, ipath, &first, &second, why, sizeof(why));
            if (n == 0) {
                fail(c, ipath, spath, "matches no branch of %s: %s", kws[w], why);
                goto out;
            }
            if (w == 0 && n > 1) {
                fail(c, ipath, spath, "matches branches %d and %d of oneOf (exactly one must)",
                     first, second);
                goto out;
            }
        }
    }
    if ((k = json_object_get(s, "not"))) {
        char e[512];
        struct ctx sub = {c->root, e, sizeof(e), c->depth};

        join(sp, spath, "/not");
        if (validate(&sub, k, sp, v, ipath) == 0) {
            fail(c, ipath, spath, "matches the schema under not");
            goto out;
        }
    }
    if ((k = json_object_get(s, "if"))) {
        char e[512];
        struct ctx sub = {c->root, e, sizeof(e), c->depth};
        const char *branch;

        join(sp, spath, "/if");
        branch = validate(&sub, k, sp, v, ipath) == 0 ? "then" : "else";
        if ((b = json_object_get(s, branch))) {
            join(sp, spath, "/%s", branch);
            if (validate(c, b, sp, v, ipath) != 0)
                goto out;
        }
    }
    rc = 0;
out:
    c->depth--;
    return rc;
}

int
oas_validate(const json_t *root, const json_t *schema, const char *schema_path,
             const json_t *instance, char *err, size_t errlen)
{
    struct ctx c = {root, err, errlen, 0};

    err[0] = '\0';
    if (instance == NULL)
        return fail(&c, "$", schema_path, "no JSON value");
    return validate(&c, schema, schema_path, instance, "$");
}

static json_t *document;

static void
load_document(void)
{
    const struct embedded_file *f = embedded_find("openapi");

    if (f != NULL)
        document = json_loadb(f->data, f->len, 0, NULL);
}

const json_t *
oas_document(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;

    /* Tests call th_http from several threads at once. */
    pthread_once(&once, load_document);
    return document;
}

/* "application/JSON; charset=utf-8" → "application/json". */
static void
media_type(const char *ct, char *out, size_t outlen)
{
    size_t n = 0;

    while (ct && (*ct == ' ' || *ct == '\t'))
        ct++;
    for (; ct && *ct && *ct != ';' && *ct != ' ' && n + 1 < outlen; ct++)
        out[n++] = (char)tolower((unsigned char)*ct);
    out[n] = '\0';
}

static bool
is_json_media(const char *mt)
{
    size_t n = strlen(mt);

    return strcmp(mt, "application/json") == 0 || strcmp(mt, "application/x-ndjson") == 0 ||
           (n > 5 && strcmp(mt + n - 5, "+json") == 0);
}

/* The keys of an object, comma-separated, for error messages. */
static void
keys_of(const json_t *o, char *out, size_t outlen)
{
    const char *key;
    json_t *val;
    size_t w = 0;

    out[0] = '\0';
    json_object_foreach((json_t *)(uintptr_t)o, key, val)
    {
        int n = snprintf(out + w, outlen - w, "%s%s", w ? ", " : "", key);

        if (n < 0 || (size_t)n >= outlen - w)
            break;
        w += (size_t)n;
    }
}

/* A problem document's status member must be the HTTP status. */
static int
check_problem_status(struct ctx *c, const char *mt, long status, const json_t *body)
{
    if (strcmp(mt, "application/problem+json") != 0 || !json_is_object(body))
        return 0;
    if (json_integer_value(json_object_get(body, "status")) != status)
        return fail(c, "$.status", "#/components/schemas/Problem",
                    "status member %" JSON_INTEGER_FORMAT " differs from the HTTP status %ld",
                    json_integer_value(json_object_get(body, "status")), status);
    return 0;
}

int
oas_check(const char *method, const char *route_pattern, long status, const char *content_type,
          const json_t *body, char *err, size_t errlen)
{
    const json_t *doc = oas_document();
    struct ctx c = {doc, err, errlen, 0};
    const json_t *op, *responses, *resp, *content, *media, *schema;
    char docpath[512], lm[16], code[8], mt[128], tok[512], keys[256];
    char spath[PATH_MAX_LEN], base[PATH_MAX_LEN];
    const char *rref;
    size_t n;

    err[0] = '\0';
    if (doc == NULL)
        return fail(&c, "$", "#", "the embedded OpenAPI document is missing or not JSON");
    media_type(content_type, mt, sizeof(mt));

    if (route_pattern == NULL) {
        if (status != 404 && status != 405)
            return fail(&c, "$", "#", "no route matched, yet the status is %ld", status);
        if (strcmp(mt, "application/problem+json") != 0)
            return fail(&c, "$", "#", "unmatched %s answered with content type \"%s\"", method, mt);
        if (body == NULL)
            return fail(&c, "$", "#/components/schemas/Problem", "body is not JSON");
        if (validate(&c, resolve(doc, "#/components/schemas/Problem"),
                     "#/components/schemas/Problem", body, "$") != 0)
            return -1;
        return check_problem_status(&c, mt, status, body);
    }

    /* The router's last "{name...}" is the document's "{name}". */
    snprintf(docpath, sizeof(docpath), "%s", route_pattern);
    n = strlen(docpath);
    if (n > 5 && strcmp(docpath + n - 4, "...}") == 0)
        strcpy(docpath + n - 4, "}");
    for (n = 0; method[n] && n + 1 < sizeof(lm); n++)
        lm[n] = (char)tolower((unsigned char)method[n]);
    lm[n] = '\0';
    escape_token(docpath, tok, sizeof(tok));
    op = json_object_get(json_object_get(json_object_get(doc, "paths"), docpath), lm);
    if (op == NULL)
        return fail(&c, "$", "#/paths", "%s %s is not in the document", method, docpath);

    responses = json_object_get(op, "responses");
    snprintf(code, sizeof(code), "%ld", status);
    join(spath, "#/paths/", "%s/%s/responses/%s", tok, lm, code);
    if ((resp = json_object_get(responses, code)) == NULL) {
        code[1] = code[2] = 'X';
        join(spath, "#/paths/", "%s/%s/responses/%s", tok, lm, code);
        resp = json_object_get(responses, code);
    }
    if (resp == NULL) {
        join(spath, "#/paths/", "%s/%s/responses/default", tok, lm);
        resp = json_object_get(responses, "default");
    }
    if (resp == NULL) {
        join(spath, "#/paths/", "%s/%s/responses", tok, lm);
        keys_of(responses, keys, sizeof(keys));
        return fail(&c, "$", spath, "status %ld is not documented for %s %s (documented: %s)",
                    status, method, docpath, keys);
    }
    if ((rref = json_string_value(json_object_get(resp, "$ref")))) {
        snprintf(spath, sizeof(spath), "%s", rref);
        if ((resp = resolve(doc, rref)) == NULL)
            return fail(&c, "$", spath, "unresolvable response $ref");
    }

    content = json_object_get(resp, "content");
    if (json_object_size(content) == 0) {
        if (mt[0] != '\0' || body != NULL)
            return fail(&c, "$", spath, "documented without a body, answered with \"%s\"", mt);
        return 0;
    }
    if ((media = json_object_get(content, mt)) == NULL) {
        keys_of(content, keys, sizeof(keys));
        return fail(&c, "$", spath, "content type \"%s\" is not documented (documented: %s)", mt,
                    keys);
    }
    escape_token(mt, tok, sizeof(tok));
    snprintf(base, sizeof(base), "%s", spath);
    join(spath, base, "/content/%s/schema", tok);
    schema = json_object_get(media, "schema");
    if (schema == NULL || !is_json_media(mt))
        return 0;
    if (body == NULL)
        return fail(&c, "$", spath, "body is not JSON");
    if (validate(&c, schema, spath, body, "$") != 0)
        return -1;
    return check_problem_status(&c, mt, status, body);
}
