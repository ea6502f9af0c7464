/*
 * body: the JSON readers of request bodies.
 *
 * API.md draws the line this module enforces: bytes that are not a JSON
 * object are a 400; a well-formed object that fails validation is a 422 with
 * one error per bad field. The parser therefore accepts "\u0000" in strings
 * (JSON_ALLOW_NUL) and the readers reject it, because PostgreSQL text cannot
 * hold U+0000 and the contract wants that answered as a field error.
 *
 * Readers accumulate errors in the problem instead of stopping, so a caller
 * validates a whole body in one pass. Nothing here echoes caller input in a
 * message: details name a position or a rule, never a value. No allocation
 * depends on a caller-declared size; the size check of stored JSON stops as
 * soon as the limit is passed.
 *
 * Numbers: body_parse() hands jansson every real, and every integer beyond
 * int64, as a wrapped token (jsontext.h), so that stored JSON keeps the
 * caller's digits. The readers treat a wrapped token as the number it is.
 */
#include "inboxd/http/body.h"

#include "inboxd/lib/jsontext.h"
#include "inboxd/lib/problem.h"
#include "inboxd/lib/rfc3339.h"
#include "inboxd/lib/sbuf.h"
#include "inboxd/lib/utf8.h"
#include "inboxd/lib/uuid7.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longer member names are not echoed by body_no_unknown(): they would not
 * fit a problem field path and are more likely junk than a typo. */
#define NAME_ECHO_MAX 40

/* A timestamp longer than this cannot be valid ("+00:00" with nine
 * fractional digits is 35 bytes); the cap keeps the check cheap. */
#define TIMESTAMP_MAX 40

static bool is_echoable(const char *name, size_t len);

/* Where the member name that holds "\u0000" is: data[0..end) is valid JSON
 * up to and including that name (jansson stops right after it). Walks the
 * containers open at `end` and reports the field as their path plus the
 * name as sent ("metadata.a\u0000b"), or the containers' path alone when
 * the name is not short printable ASCII. */
static void
nul_key_field(const char *data, size_t end, struct problem *pb)
{
    /* Per open container: '{' or '[', and the member name (as sent) or
     * index the walk is in. */
    struct frame {
        char kind;
        bool want_key;
        size_t index;
        const char *name;
        size_t name_len;
    } st[64];
    int depth = 0;
    const char *last = NULL;
    size_t last_len = 0;
    char path[256] = "";
    size_t used = 0;

    for (size_t i = 0; i < end; i++) {
        char c = data[i];

        if (c == '"') {
            size_t j = i + 1;

            while (j < end && data[j] != '"')
                j += data[j] == '\\' ? 2 : 1;
            last = data + i + 1;
            last_len = (j < end ? j : end) - (i + 1);
            if (depth > 0 && depth <= 64 && st[depth - 1].kind == '{' && st[depth - 1].want_key) {
                st[depth - 1].name = last;
                st[depth - 1].name_len = last_len;
                st[depth - 1].want_key = false;
            }
            i = j;
        } else if (c == '{' || c == '[') {
            if (depth < 64)
                st[depth] = (struct frame){.kind = c, .want_key = c == '{'};
            depth++;
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == ',' && depth > 0 && depth <= 64) {
            st[depth - 1].index++;
            st[depth - 1].want_key = st[depth - 1].kind == '{';
        }
    }
    /* The innermost object's current name is the offending one. */
    for (int d = 0; d < depth - 1 && d < 64 && used < sizeof(path); d++) {
        int n;

        if (st[d].kind == '{' && !is_echoable(st[d].name, st[d].name_len)) {
            last = NULL; /* a path that stops short names no member */
            break;
        }
        n = st[d].kind == '['
                    ? snprintf(path + used, sizeof(path) - used, "[%zu]", st[d].index)
                    : snprintf(path + used, sizeof(path) - used, "%s%.*s", used ? "." : "",
                               (int)st[d].name_len, st[d].name);

        if (n < 0)
            break;
        used += (size_t)n;
    }
    if (used < sizeof(path) && last != NULL && is_echoable(last, last_len))
        snprintf(path + used, sizeof(path) - used, "%s%.*s", used ? "." : "", (int)last_len, last);
    problem_field(pb, path, "has a member name with a NUL character");
}

/* The length of the JSON number (RFC 8259 §6) at p, 0 if there is none;
 * *real tells whether it has a fraction or an exponent. */
static size_t
number_len(const char *p, const char *end, bool *real)
{
    const char *q = p;

    *real = false;
    if (q < end && *q == '-')
        q++;
    if (q == end || *q < '0' || *q > '9')
        return 0;
    if (*q++ != '0')
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    if (q < end && *q == '.') {
        if (++q == end || *q < '0' || *q > '9')
            return 0;
        while (q < end && *q >= '0' && *q <= '9')
            q++;
        *real = true;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        if (++q < end && (*q == '+' || *q == '-'))
            q++;
        if (q == end || *q < '0' || *q > '9')
            return 0;
        while (q < end && *q >= '0' && *q <= '9')
            q++;
        *real = true;
    }
    return (size_t)(q - p);
}

/* Whether an integer token is outside int64 (jansson's json_int_t). */
static bool
integer_overflows(const char *tok, size_t n)
{
    char buf[32];

    if (n >= sizeof(buf))
        return true; /* 20 digits and a sign hold every int64 */
    memcpy(buf, tok, n);
    buf[n] = '\0';
    errno = 0;
    (void)strtoll(buf, NULL, 10);
    return errno == ERANGE;
}

/* data[0..len) with every real and every integer beyond int64 wrapped
 * (jsontext.h says how), so that the caller's own token reaches PostgreSQL.
 * NULL when there is nothing to wrap, when a string holds "\u0000" (then no
 * string may look like a wrapped number: such a body is parsed as sent and
 * its NUL answered as usual), when the bytes are not JSON enough to scan (the
 * parser says why), or on OOM (the plain parse reports it). */
static char *
wrap_numbers(const char *data, size_t len, size_t *out_len)
{
    const char *p = data, *end = data + len, *copied = data;
    struct sbuf b;
    bool any = false;

    sbuf_init(&b);
    while (p < end) {
        if (*p == '"') {
            for (p++; p < end && *p != '"'; p++) {
                if (*p != '\\')
                    continue;
                if (end - p >= 6 && memcmp(p, "\\u0000", 6) == 0)
                    goto plain;
                p++;
            }
            if (p == end)
                goto plain;
            p++;
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            bool real;
            size_t n = number_len(p, end, &real);

            if (n == 0)
                goto plain;
            if (real || integer_overflows(p, n)) {
                sbuf_add(&b, copied, (size_t)(p - copied));
                if (!jsontext_number_wrap(&b, p, n))
                    goto plain;
                copied = p + n;
                any = true;
            }
            p += n;
        } else {
            p++;
        }
    }
    if (!any)
        goto plain;
    sbuf_add(&b, copied, (size_t)(end - copied));
    return sbuf_steal(&b, out_len);
plain:
    sbuf_cleanup(&b);
    return NULL;
}

json_t *
body_parse(const char *data, size_t len, struct problem *pb)
{
    const int flags = JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY;
    json_error_t err;
    json_t *root = NULL;
    const char *what;
    char *wrapped;
    size_t wrapped_len = 0;

    if (len == 0) {
        problem_set(pb, 400, "invalid-json", "the request body is empty");
        return NULL;
    }
    /* JSON_DECODE_ANY so that a valid scalar ("42", "null") is told apart
     * from broken bytes: it is answered "not-an-object" below. Bytes that
     * fail with their numbers wrapped are parsed again as sent, so that an
     * error's line and column are the caller's. */
    if ((wrapped = wrap_numbers(data, len, &wrapped_len)) != NULL) {
        root = json_loadb(wrapped, wrapped_len, flags, &err);
        free(wrapped);
    }
    if (root == NULL)
        root = json_loadb(data, len, flags, &err);
    if (root == NULL) {
        /* err.text quotes the input near the error, so it never reaches the
         * caller; the error code picks a fixed phrase instead. */
        switch (json_error_code(&err)) {
        case json_error_out_of_memory:
            problem_internal(pb, "json_loadb: out of memory");
            return NULL;
        case json_error_invalid_utf8:
            what = "the request body is not valid UTF-8";
            break;
        case json_error_duplicate_key:
            what = "the request body has a duplicate object key";
            break;
        case json_error_numeric_overflow:
            what = "the request body has a number out of range";
            break;
        case json_error_stack_overflow:
            what = "the request body is nested too deeply";
            break;
        case json_error_null_byte_in_key:
            /* Well-formed JSON whose text PostgreSQL cannot store: the
             * contract's 422 for NUL text, naming where it is. */
            nul_key_field(data, err.position >= 0 && (size_t)err.position < len ? (size_t)err.position : len, pb);
            return NULL;
        case json_error_premature_end_of_input:
            what = "the request body ends before the JSON value does";
            break;
        default:
            what = "the request body is not valid JSON";
            break;
        }
        problem_set(pb, 400, "invalid-json", "%s (line %d, column %d)", what, err.line, err.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        problem_set(pb, 400, "not-an-object", "the request body must be a JSON object");
        return NULL;
    }
    return root;
}

bool
body_failed(const struct problem *pb)
{
    return pb->status != 0;
}

/* The member that `field` names in obj: the part after the last '.'. */
static const char *
member_name(const char *field)
{
    const char *dot = strrchr(field, '.');

    return dot != NULL ? dot + 1 : field;
}

/* The common start of every reader. Returns 1 with *v set when the field is
 * present and not null, 0 when it is absent (or null) and that is allowed,
 * and -1 after reporting a required field that is missing. */
static int
lookup(const json_t *obj, const char *field, enum body_req req, const json_t **v,
       struct problem *pb)
{
    const json_t *x;

    /* A NULL parent was absent or already reported: its children are not
     * there, and saying so again would only repeat the parent's error. */
    if (obj == NULL)
        return 0;
    x = json_object_get(obj, member_name(field));
    if (x == NULL || json_is_null(x)) {
        if (req == BODY_REQUIRED)
            return problem_field(pb, field, x == NULL ? "is required" : "must not be null");
        return 0;
    }
    *v = x;
    return 1;
}

static bool
has_nul(const json_t *s)
{
    return json_string_length(s) != strlen(json_string_value(s));
}

/* Walks v: whether a string anywhere in it holds a NUL (a wrapped number is
 * not a string), counting the wrapped numbers on the way. */
static bool
walk_nul(const json_t *v, size_t *numbers)
{
    const char *k, *tok;
    size_t i, n;
    json_t *m;

    switch (json_typeof(v)) {
    case JSON_STRING:
        if (jsontext_number(v, &tok, &n)) {
            (*numbers)++;
            return false;
        }
        return has_nul(v);
    case JSON_OBJECT:
        json_object_foreach ((json_t *)(uintptr_t)v, k, m)
            if (walk_nul(m, numbers))
                return true;
        return false;
    case JSON_ARRAY:
        json_array_foreach (v, i, m)
            if (walk_nul(m, numbers))
                return true;
        return false;
    default:
        return false;
    }
}

bool
body_has_nul(const json_t *v)
{
    size_t numbers = 0;

    return walk_nul(v, &numbers);
}

bool
body_is_number(const json_t *v)
{
    const char *tok;
    size_t n;

    return json_is_number(v) || jsontext_number(v, &tok, &n);
}

static int
read_string(const json_t *obj, const char *field, enum body_req req, size_t max_chars,
            bool nonempty, const char **out, struct problem *pb)
{
    const json_t *v = NULL;
    int rc = lookup(obj, field, req, &v, pb);

    if (rc < 0)
        return -1;
    if (rc == 0) {
        *out = NULL;
        return 0;
    }
    if (!json_is_string(v) || body_is_number(v))
        return problem_field(pb, field, "must be a string");
    if (has_nul(v))
        return problem_field(pb, field, "must not contain NUL characters");
    /* Characters, not bytes: no code point takes more than 4 bytes, so
     * only a string longer than max_chars bytes needs counting. */
    if (json_string_length(v) > max_chars &&
        utf8_chars(json_string_value(v), json_string_length(v)) > max_chars)
        return problem_field(pb, field, "must be at most %zu characters", max_chars);
    if (nonempty && json_string_length(v) == 0)
        return problem_field(pb, field, "must not be empty");
    *out = json_string_value(v);
    return 0;
}

int
body_string(const json_t *obj, const char *field, enum body_req req, size_t max_chars,
            const char **out, struct problem *pb)
{
    return read_string(obj, field, req, max_chars, false, out, pb);
}

int
body_nonempty_string(const json_t *obj, const char *field, enum body_req req, size_t max_chars,
                     const char **out, struct problem *pb)
{
    return read_string(obj, field, req, max_chars, true, out, pb);
}

int
body_enum(const json_t *obj, const char *field, enum body_req req, const char *const *names,
          int *out, struct problem *pb)
{
    const json_t *v = NULL;
    int rc = lookup(obj, field, req, &v, pb);
    char list[128];
    size_t used = 0;
    int i;

    if (rc <= 0)
        return rc;
    if (json_is_string(v)) {
        /* Compare lengths too, so "approve\u0000x" is not "approve". */
        for (i = 0; names[i] != NULL; i++) {
            if (json_string_length(v) == strlen(names[i]) &&
                memcmp(json_string_value(v), names[i], json_string_length(v)) == 0) {
                *out = i;
                return 0;
            }
        }
    }
    list[0] = '\0';
    for (i = 0; names[i] != NULL && used < sizeof(list); i++) {
        int n = snprintf(list + used, sizeof(list) - used, "%s%s", i > 0 ? ", " : "", names[i]);

        if (n < 0)
            break;
        used += (size_t)n;
    }
    return problem_field(pb, field, "must be one of: %s", list);
}

static int
out_of_range(const char *field, long long min, long long max, struct problem *pb)
{
    if (min == LLONG_MIN)
        return problem_field(pb, field, "must be at most %lld", max);
    if (max == LLONG_MAX)
        return problem_field(pb, field, "must be at least %lld", min);
    return problem_field(pb, field, "must be between %lld and %lld", min, max);
}

int
body_int(const json_t *obj, const char *field, enum body_req req, long long min, long long max,
         long long *out, bool *present, struct problem *pb)
{
    const json_t *v = NULL;
    int rc = lookup(obj, field, req, &v, pb);
    const char *tok;
    long long x;
    size_t n;

    if (rc < 0)
        return -1;
    if (rc == 0) {
        if (present != NULL)
            *present = false;
        return 0;
    }
    if (jsontext_number(v, &tok, &n)) /* beyond int64, or a real */
        return strpbrk(tok, ".eE") == NULL ? out_of_range(field, min, max, pb)
                                          : problem_field(pb, field, "must be an integer");
    if (!json_is_integer(v))
        return problem_field(pb, field, "must be an integer");
    x = json_integer_value(v);
    if (x < min || x > max)
        return out_of_range(field, min, max, pb);
    *out = x;
    if (present != NULL)
        *present = true;
    return 0;
}

int
body_bool(const json_t *obj, const char *field, enum body_req req, bool *out, bool *present,
          struct problem *pb)
{
    const json_t *v = NULL;
    int rc = lookup(obj, field, req, &v, pb);

    if (rc < 0)
        return -1;
    if (rc == 0) {
        if (present != NULL)
            *present = false;
        return 0;
    }
    if (!json_is_boolean(v))
        return problem_field(pb, field, "must be true or false");
    *out = json_is_true(v);
    if (present != NULL)
        *present = true;
    return 0;
}

int
body_uuid(const json_t *obj, const char *field, enum body_req req, const char **out,
          struct problem *pb)
{
    const json_t *v = NULL;
    int rc = lookup(obj, field, req, &v, pb);

    if (rc < 0)
        return -1;
    if (rc == 0) {
        *out = NULL;
        return 0;
    }
    /* Checking json_string_length() byte by byte also rejects any NUL. */
    if (!json_is_string(v) || !uuid7_is_text(json_string_value(v), json_string_length(v)))
        return problem_field(pb, field, "must be a UUID");
    *out = json_string_value(v);
    return 0;
}

int
body_timestamp(const json_t *obj, const char *field, enum body_req req, int64_t *usec,
               bool *present, struct problem *pb)
{
    const json_t *v = NULL;
    int rc = lookup(obj, field, req, &v, pb);
    int64_t t;

    if (rc < 0)
        return -1;
    if (rc == 0) {
        if (present != NULL)
            *present = false;
        return 0;
    }
    /* rfc3339_parse() stops at the first NUL, so "...Z\u0000junk" must be
     * refused before it would read as a valid prefix. */
    if (!json_is_string(v) || has_nul(v) || json_string_length(v) > TIMESTAMP_MAX ||
        rfc3339_parse(json_string_value(v), &t) != 0)
        return problem_field(pb, field, "must be an RFC 3339 timestamp");
    *usec = t;
    if (present != NULL)
        *present = true;
    return 0;
}

/* The size of a value's compact JSON text, counted as the encoder writes it
 * and stopped as soon as it passes max. */
struct scan {
    size_t size;
    size_t max;
};

static int
scan_chunk(const char *buf, size_t n, void *data)
{
    struct scan *sc = data;

    (void)buf;
    sc->size += n;
    return sc->size > sc->max ? -1 : 0;
}

/* The JSON types read_stored_json() takes. */
enum stored { STORED_ANY, STORED_OBJECT, STORED_ARRAY };

static int
read_stored_json(const json_t *obj, const char *field, enum body_req req, size_t max_bytes,
                 enum stored want, const json_t **out, struct problem *pb)
{
    const json_t *v = NULL;
    int rc = lookup(obj, field, req, &v, pb);
    struct scan sc = {.max = max_bytes};
    size_t numbers = 0;

    if (rc < 0)
        return -1;
    if (rc == 0) {
        *out = NULL;
        return 0;
    }
    if (want == STORED_OBJECT && !json_is_object(v))
        return problem_field(pb, field, "must be an object");
    if (want == STORED_ARRAY && !json_is_array(v))
        return problem_field(pb, field, "must be an array");
    if (walk_nul(v, &numbers))
        return problem_field(pb, field, "must not contain NUL characters");
    /* A wrapped number is written longer than the caller's token (and
     * SIZE_MAX, no limit, stays no limit). */
    sc.max = numbers > (SIZE_MAX - sc.max) / JSONTEXT_WRAP_EXTRA
                 ? SIZE_MAX
                 : sc.max + numbers * JSONTEXT_WRAP_EXTRA;
    if (json_dump_callback(v, scan_chunk, &sc, JSON_COMPACT | JSON_ENCODE_ANY) != 0) {
        if (sc.size > sc.max)
            return problem_field(pb, field, "must be at most %zu bytes as JSON", max_bytes);
        return problem_internal(pb, "json_dump_callback failed on %s", field);
    }
    *out = v;
    return 0;
}

int
body_object(const json_t *obj, const char *field, enum body_req req, size_t max_bytes,
            const json_t **out, struct problem *pb)
{
    return read_stored_json(obj, field, req, max_bytes, STORED_OBJECT, out, pb);
}

int
body_array(const json_t *obj, const char *field, enum body_req req, size_t max_bytes,
           const json_t **out, struct problem *pb)
{
    return read_stored_json(obj, field, req, max_bytes, STORED_ARRAY, out, pb);
}

int
body_value(const json_t *obj, const char *field, enum body_req req, size_t max_bytes,
           const json_t **out, struct problem *pb)
{
    return read_stored_json(obj, field, req, max_bytes, STORED_ANY, out, pb);
}

int
body_nested(const json_t *obj, const char *field, enum body_req req, const json_t **out,
            struct problem *pb)
{
    const json_t *v = NULL;
    int rc = lookup(obj, field, req, &v, pb);

    if (rc < 0)
        return -1;
    if (rc == 0) {
        *out = NULL;
        return 0;
    }
    if (!json_is_object(v))
        return problem_field(pb, field, "must be an object");
    *out = v;
    return 0;
}

/* Whether a member name can be echoed in a field path: short printable
 * ASCII, so the problem document stays valid and readable. */
static bool
is_echoable(const char *name, size_t len)
{
    size_t i;

    if (len == 0 || len > NAME_ECHO_MAX)
        return false;
    for (i = 0; i < len; i++) {
        if (name[i] < 0x21 || name[i] > 0x7e)
            return false;
    }
    return true;
}

static bool
is_known(const char *name, size_t len, const char *const *known)
{
    size_t i;

    for (i = 0; known[i] != NULL; i++) {
        if (strlen(known[i]) == len && memcmp(known[i], name, len) == 0)
            return true;
    }
    return false;
}

int
body_no_unknown(const json_t *obj, const char *parent, const char *const *known, struct problem *pb)
{
    /* jansson's iterators take json_t * although they only read; this is
     * the one place body.c drops const, and nothing is modified through
     * it. */
    json_t *o = (json_t *)(uintptr_t)obj;
    const char *key;
    size_t key_len;
    json_t *v;
    int rc = 0;

    if (obj == NULL)
        return 0;
    json_object_keylen_foreach (o, key, key_len, v) {
        char path[128];

        if (is_known(key, key_len, known))
            continue;
        if (is_echoable(key, key_len)) {
            if (parent != NULL)
                snprintf(path, sizeof(path), "%s.%.*s", parent, (int)key_len, key);
            else
                snprintf(path, sizeof(path), "%.*s", (int)key_len, key);
            rc = problem_field(pb, path, "is not a known field");
        } else {
            rc = problem_field(pb, parent != NULL ? parent : "", "has an unknown field");
        }
    }
    return rc;
}
