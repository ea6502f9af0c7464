/* Unit tests of body: parsing request bodies and the field readers. */
#include "inboxd/http/body.h"

#include "inboxd/lib/jsontext.h"
#include "inboxd/lib/problem.h"

#include <criterion/criterion.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A sentinel for "output untouched": any pointer a reader could not set. */
static const char untouched[] = "untouched";

static json_t *
parse_ok(const char *text)
{
    struct problem pb = {0};
    json_t *o = body_parse(text, strlen(text), &pb);

    cr_assert_not_null(o, "parse of %s: %d %s", text, pb.status, pb.detail);
    cr_assert_eq(pb.status, 0);
    return o;
}

/* Asserts that pb holds exactly one field error, at field with message. */
static void
assert_one_error(const struct problem *pb, const char *field, const char *message)
{
    cr_assert_eq(pb->status, 422, "status %d", pb->status);
    cr_assert_str_eq(pb->type, "validation");
    cr_assert_eq(pb->nfields, 1, "%d field errors", pb->nfields);
    cr_assert_str_eq(pb->fields[0].field, field);
    cr_assert_str_eq(pb->fields[0].message, message);
}

/* ---- body_parse ---- */

Test(body, parse_answers_bad_bodies_with_400_by_table)
{
    static const struct {
        const char *in;
        size_t len;
        const char *type;
    } cases[] = {
        {"", 0, "invalid-json"},
        {"   \n", 4, "invalid-json"},
        {"not json SECRET", 15, "invalid-json"},
        {"{\"a\": SECRET}", 13, "invalid-json"},
        {"{\"a\":1} {\"b\":2}", 15, "invalid-json"},
        {"{\"a\":1,\"a\":2}", 13, "invalid-json"},
        {"{\"a\":\"\xff\xfe\"}", 10, "invalid-json"},
        {"{\"a\":\"\xc3\"}", 9, "invalid-json"},
        {"{\"a\":1", 6, "invalid-json"},
        {"{\"a\":1}\0", 8, "invalid-json"},
        {"[1,2]", 5, "not-an-object"},
        {"\"SECRET\"", 8, "not-an-object"},
        {"42", 2, "not-an-object"},
        {"null", 4, "not-an-object"},
        {"true", 4, "not-an-object"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct problem pb = {0};
        json_t *o = body_parse(cases[i].in, cases[i].len, &pb);

        cr_assert_null(o, "case %zu parsed", i);
        cr_assert_eq(pb.status, 400, "case %zu: status %d", i, pb.status);
        cr_assert_str_eq(pb.type, cases[i].type, "case %zu: type %s", i, pb.type);
        cr_assert_eq(pb.nfields, 0);
        cr_assert_null(strstr(pb.detail, "SECRET"), "case %zu echoes input: %s", i, pb.detail);
    }
}

/* PostgreSQL cannot store NUL text, and API.md lists NUL text as a 422:
 * a member name with "\u0000" is answered as a field error naming where. */
Test(body, nul_in_a_member_name_is_422_naming_the_field)
{
    static const struct {
        const char *in;
        const char *field;
    } cases[] = {
        {"{\"a\\u0000b\":1}", "a\\u0000b"},
        {"{\"x\":1,\"metadata\":{\"ok\":[1,{}],\"k\\u0000\":2}}", "metadata.k\\u0000"},
        {"{\"attachments\":[{},{\"a\":\"}\"},{\"\\u0000\":1}]}", "attachments[2].\\u0000"},
        {"{\"\xc3\xa9t\xc3\xa9\":{\"\\u0000\":1}}", ""},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct problem pb = {0};

        cr_assert_null(body_parse(cases[i].in, strlen(cases[i].in), &pb), "case %zu", i);
        cr_assert_eq(pb.status, 422, "case %zu: %d %s", i, pb.status, pb.detail);
        cr_assert_eq(pb.nfields, 1, "case %zu", i);
        cr_assert_str_eq(pb.fields[0].field, cases[i].field, "case %zu", i);
    }
}

Test(body, parse_detail_says_where_without_echo)
{
    struct problem pb = {0};
    const char *in = "{\n  \"a\": tru SECRET\n}";

    cr_assert_null(body_parse(in, strlen(in), &pb));
    cr_assert_not_null(strstr(pb.detail, "line 2"), "%s", pb.detail);
    cr_assert_not_null(strstr(pb.detail, "column"), "%s", pb.detail);
    cr_assert_null(strstr(pb.detail, "SECRET"));
    cr_assert_null(strstr(pb.detail, "tru"));
}

Test(body, parse_names_the_error_kind)
{
    static const struct {
        const char *in;
        const char *phrase;
    } cases[] = {
        {"{\"a\":\"\xff\"}", "UTF-8"},
        {"{\"a\":1,\"a\":2}", "duplicate"},
        {"{\"a\":\"\\u0000\",\"b\":1e999}", "out of range"},
        {"{\"a\":[1,", "ends before"},
        {"", "empty"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct problem pb = {0};

        cr_assert_null(body_parse(cases[i].in, strlen(cases[i].in), &pb));
        cr_assert_not_null(strstr(pb.detail, cases[i].phrase), "case %zu: %s", i, pb.detail);
    }
}

Test(body, parse_rejects_nesting_deeper_than_jansson_allows)
{
    size_t depth = 5000, i;
    char *in = malloc(2 * depth + 8);
    struct problem pb = {0};
    size_t n = 0;

    cr_assert_not_null(in);
    in[n++] = '{';
    memcpy(in + n, "\"a\":", 4);
    n += 4;
    for (i = 0; i < depth; i++)
        in[n++] = '[';
    for (i = 0; i < depth; i++)
        in[n++] = ']';
    in[n++] = '}';
    cr_assert_null(body_parse(in, n, &pb));
    cr_assert_eq(pb.status, 400);
    cr_assert_str_eq(pb.type, "invalid-json");
    free(in);
}

Test(body, parse_accepts_nul_escape_and_body_string_reports_it)
{
    json_t *o = parse_ok("{\"a\":\"\\u0000\"}");
    struct problem pb = {0};
    const char *s = untouched;

    cr_assert_eq(body_string(o, "a", BODY_REQUIRED, 100, &s, &pb), -1);
    assert_one_error(&pb, "a", "must not contain NUL characters");
    cr_assert_eq(s, untouched);
    json_decref(o);
}

Test(body, parse_takes_length_not_terminator)
{
    struct problem pb = {0};
    /* Only the first 7 bytes are the body. */
    json_t *o = body_parse("{\"a\":1}garbage", 7, &pb);

    cr_assert_not_null(o);
    json_decref(o);
}

/* ---- body_string, body_nonempty_string ---- */

Test(body, string_reader_by_table)
{
    static const struct {
        const char *body;
        enum body_req req;
        size_t max;
        bool nonempty;
        int rc;
        const char *value;   /* expected *out on success; NULL for absent */
        const char *message; /* expected error on failure */
    } cases[] = {
        {"{\"s\":\"hi\"}", BODY_REQUIRED, 10, false, 0, "hi", NULL},
        {"{\"s\":\"hi\"}", BODY_OPTIONAL, 10, false, 0, "hi", NULL},
        {"{\"s\":\"\"}", BODY_REQUIRED, 10, false, 0, "", NULL},
        {"{\"s\":\" \"}", BODY_REQUIRED, 10, true, 0, " ", NULL},
        {"{\"s\":\"abcde\"}", BODY_REQUIRED, 5, false, 0, "abcde", NULL},
        {"{\"s\":\"\\u00e9\"}", BODY_REQUIRED, 2, false, 0, "\xc3\xa9", NULL},
        {"{}", BODY_OPTIONAL, 10, false, 0, NULL, NULL},
        {"{\"s\":null}", BODY_OPTIONAL, 10, false, 0, NULL, NULL},
        {"{\"t\":\"x\"}", BODY_OPTIONAL, 10, true, 0, NULL, NULL},
        {"{}", BODY_REQUIRED, 10, false, -1, NULL, "is required"},
        {"{\"s\":null}", BODY_REQUIRED, 10, false, -1, NULL, "must not be null"},
        {"{\"s\":5}", BODY_OPTIONAL, 10, false, -1, NULL, "must be a string"},
        {"{\"s\":true}", BODY_OPTIONAL, 10, false, -1, NULL, "must be a string"},
        {"{\"s\":[\"x\"]}", BODY_OPTIONAL, 10, false, -1, NULL, "must be a string"},
        {"{\"s\":{}}", BODY_OPTIONAL, 10, false, -1, NULL, "must be a string"},
        {"{\"s\":\"a\\u0000b\"}", BODY_OPTIONAL, 10, false, -1, NULL,
         "must not contain NUL characters"},
        {"{\"s\":\"\\u0000\"}", BODY_OPTIONAL, 0, false, -1, NULL,
         "must not contain NUL characters"},
        {"{\"s\":\"abcdef\"}", BODY_OPTIONAL, 5, false, -1, NULL, "must be at most 5 characters"},
        /* Limits count characters: one 2-byte or 4-byte character is 1. */
        {"{\"s\":\"\\u00e9\"}", BODY_OPTIONAL, 1, false, 0, "\xc3\xa9", NULL},
        {"{\"s\":\"\\ud83d\\ude00\"}", BODY_OPTIONAL, 1, false, 0, "\xf0\x9f\x98\x80", NULL},
        {"{\"s\":\"\\u00e9\\u00e9\"}", BODY_OPTIONAL, 1, false, -1, NULL,
         "must be at most 1 characters"},
        {"{\"s\":\"\"}", BODY_REQUIRED, 10, true, -1, NULL, "must not be empty"},
        {"{\"s\":\"\"}", BODY_OPTIONAL, 10, true, -1, NULL, "must not be empty"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *o = parse_ok(cases[i].body);
        struct problem pb = {0};
        const char *s = untouched;
        int rc = cases[i].nonempty
                     ? body_nonempty_string(o, "s", cases[i].req, cases[i].max, &s, &pb)
                     : body_string(o, "s", cases[i].req, cases[i].max, &s, &pb);

        cr_assert_eq(rc, cases[i].rc, "case %zu: rc %d", i, rc);
        if (rc == 0) {
            cr_assert_eq(pb.status, 0, "case %zu", i);
            if (cases[i].value == NULL)
                cr_assert_null(s, "case %zu", i);
            else
                cr_assert_str_eq(s, cases[i].value, "case %zu", i);
        } else {
            cr_assert_eq(s, untouched, "case %zu: output changed on failure", i);
            assert_one_error(&pb, "s", cases[i].message);
        }
        json_decref(o);
    }
}

Test(body, string_is_borrowed_from_the_object)
{
    json_t *o = parse_ok("{\"s\":\"hello\"}");
    struct problem pb = {0};
    const char *s = NULL;

    cr_assert_eq(body_string(o, "s", BODY_REQUIRED, SIZE_MAX, &s, &pb), 0);
    cr_assert_eq(s, json_string_value(json_object_get(o, "s")));
    json_decref(o);
}

/* ---- body_enum ---- */

static const char *const action_names[] = {"approve", "edit", "reject", NULL};

Test(body, enum_reader_by_table)
{
    static const struct {
        const char *body;
        enum body_req req;
        int rc;
        int value; /* expected *out: the index, or -7 when left alone */
        const char *message;
    } cases[] = {
        {"{\"e\":\"approve\"}", BODY_REQUIRED, 0, 0, NULL},
        {"{\"e\":\"edit\"}", BODY_REQUIRED, 0, 1, NULL},
        {"{\"e\":\"reject\"}", BODY_OPTIONAL, 0, 2, NULL},
        {"{}", BODY_OPTIONAL, 0, -7, NULL},
        {"{\"e\":null}", BODY_OPTIONAL, 0, -7, NULL},
        {"{}", BODY_REQUIRED, -1, -7, "is required"},
        {"{\"e\":null}", BODY_REQUIRED, -1, -7, "must not be null"},
        {"{\"e\":\"EDIT\"}", BODY_REQUIRED, -1, -7, "must be one of: approve, edit, reject"},
        {"{\"e\":\"\"}", BODY_REQUIRED, -1, -7, "must be one of: approve, edit, reject"},
        {"{\"e\":\"edit\\u0000x\"}", BODY_REQUIRED, -1, -7,
         "must be one of: approve, edit, reject"},
        {"{\"e\":\"edi\"}", BODY_REQUIRED, -1, -7, "must be one of: approve, edit, reject"},
        {"{\"e\":1}", BODY_REQUIRED, -1, -7, "must be one of: approve, edit, reject"},
        {"{\"e\":[\"edit\"]}", BODY_REQUIRED, -1, -7, "must be one of: approve, edit, reject"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *o = parse_ok(cases[i].body);
        struct problem pb = {0};
        int v = -7;
        int rc = body_enum(o, "e", cases[i].req, action_names, &v, &pb);

        cr_assert_eq(rc, cases[i].rc, "case %zu: rc %d", i, rc);
        cr_assert_eq(v, cases[i].value, "case %zu: value %d", i, v);
        if (rc == 0)
            cr_assert_eq(pb.status, 0, "case %zu", i);
        else
            assert_one_error(&pb, "e", cases[i].message);
        json_decref(o);
    }
}

/* ---- body_int, body_bool ---- */

Test(body, int_reader_by_table)
{
    static const struct {
        const char *body;
        enum body_req req;
        long long min, max;
        int rc;
        bool present;
        long long value; /* expected *out; -7 when left alone */
        const char *message;
    } cases[] = {
        {"{\"n\":50}", BODY_REQUIRED, 1, 200, 0, true, 50, NULL},
        {"{\"n\":1}", BODY_REQUIRED, 1, 200, 0, true, 1, NULL},
        {"{\"n\":200}", BODY_REQUIRED, 1, 200, 0, true, 200, NULL},
        {"{\"n\":-3}", BODY_REQUIRED, LLONG_MIN, LLONG_MAX, 0, true, -3, NULL},
        {"{\"n\":9223372036854775807}", BODY_REQUIRED, 0, LLONG_MAX, 0, true, LLONG_MAX, NULL},
        {"{}", BODY_OPTIONAL, 1, 200, 0, false, -7, NULL},
        {"{\"n\":null}", BODY_OPTIONAL, 1, 200, 0, false, -7, NULL},
        {"{}", BODY_REQUIRED, 1, 200, -1, false, -7, "is required"},
        {"{\"n\":0}", BODY_REQUIRED, 1, 200, -1, false, -7, "must be between 1 and 200"},
        {"{\"n\":201}", BODY_REQUIRED, 1, 200, -1, false, -7, "must be between 1 and 200"},
        {"{\"n\":-1}", BODY_REQUIRED, 0, LLONG_MAX, -1, false, -7, "must be at least 0"},
        {"{\"n\":11}", BODY_REQUIRED, LLONG_MIN, 10, -1, false, -7, "must be at most 10"},
        {"{\"n\":5.0}", BODY_REQUIRED, 1, 200, -1, false, -7, "must be an integer"},
        {"{\"n\":5.5}", BODY_REQUIRED, 1, 200, -1, false, -7, "must be an integer"},
        {"{\"n\":\"5\"}", BODY_REQUIRED, 1, 200, -1, false, -7, "must be an integer"},
        {"{\"n\":true}", BODY_REQUIRED, 1, 200, -1, false, -7, "must be an integer"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *o = parse_ok(cases[i].body);
        struct problem pb = {0};
        long long v = -7;
        bool present = !cases[i].present; /* so the reader must write it */
        int rc = body_int(o, "n", cases[i].req, cases[i].min, cases[i].max, &v, &present, &pb);

        cr_assert_eq(rc, cases[i].rc, "case %zu: rc %d", i, rc);
        cr_assert_eq(v, cases[i].value, "case %zu: value %lld", i, v);
        if (rc == 0) {
            cr_assert_eq(present, cases[i].present, "case %zu", i);
            cr_assert_eq(pb.status, 0, "case %zu", i);
        } else {
            assert_one_error(&pb, "n", cases[i].message);
        }
        json_decref(o);
    }
}

Test(body, int_present_may_be_null)
{
    json_t *o = parse_ok("{\"n\":3}");
    struct problem pb = {0};
    long long v = 0;

    cr_assert_eq(body_int(o, "n", BODY_REQUIRED, 0, 9, &v, NULL, &pb), 0);
    cr_assert_eq(v, 3);
    cr_assert_eq(body_int(o, "m", BODY_OPTIONAL, 0, 9, &v, NULL, &pb), 0);
    cr_assert_eq(v, 3);
    json_decref(o);
}

Test(body, bool_reader_by_table)
{
    static const struct {
        const char *body;
        enum body_req req;
        int rc;
        bool present;
        int value; /* 0, 1, or -1 for "left alone" (which starts as true) */
        const char *message;
    } cases[] = {
        {"{\"b\":true}", BODY_REQUIRED, 0, true, 1, NULL},
        {"{\"b\":false}", BODY_REQUIRED, 0, true, 0, NULL},
        {"{}", BODY_OPTIONAL, 0, false, -1, NULL},
        {"{\"b\":null}", BODY_OPTIONAL, 0, false, -1, NULL},
        {"{}", BODY_REQUIRED, -1, false, -1, "is required"},
        {"{\"b\":null}", BODY_REQUIRED, -1, false, -1, "must not be null"},
        {"{\"b\":\"true\"}", BODY_REQUIRED, -1, false, -1, "must be true or false"},
        {"{\"b\":1}", BODY_REQUIRED, -1, false, -1, "must be true or false"},
        {"{\"b\":0}", BODY_OPTIONAL, -1, false, -1, "must be true or false"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *o = parse_ok(cases[i].body);
        struct problem pb = {0};
        bool v = true, present = !cases[i].present;
        int rc = body_bool(o, "b", cases[i].req, &v, &present, &pb);

        cr_assert_eq(rc, cases[i].rc, "case %zu: rc %d", i, rc);
        cr_assert_eq(v, cases[i].value == -1 ? true : cases[i].value == 1, "case %zu", i);
        if (rc == 0)
            cr_assert_eq(present, cases[i].present, "case %zu", i);
        else
            assert_one_error(&pb, "b", cases[i].message);
        json_decref(o);
    }
}

/* ---- body_uuid, body_timestamp ---- */

Test(body, uuid_reader_by_table)
{
    static const struct {
        const char *body;
        enum body_req req;
        int rc;
        bool absent;
    } cases[] = {
        {"{\"u\":\"0190f5e2-7b1c-7a3d-8e4f-123456789abc\"}", BODY_REQUIRED, 0, false},
        {"{\"u\":\"0190F5E2-7B1C-7A3D-8E4F-123456789ABC\"}", BODY_REQUIRED, 0, false},
        {"{\"u\":\"00000000-0000-0000-0000-000000000000\"}", BODY_REQUIRED, 0, false},
        {"{}", BODY_OPTIONAL, 0, true},
        {"{\"u\":null}", BODY_OPTIONAL, 0, true},
        {"{\"u\":\"0190f5e2-7b1c-7a3d-8e4f-123456789ab\"}", BODY_REQUIRED, -1, false},
        {"{\"u\":\"0190f5e2-7b1c-7a3d-8e4f-123456789abcd\"}", BODY_REQUIRED, -1, false},
        {"{\"u\":\"0190f5e27b1c-7a3d-8e4f-123456789abcde\"}", BODY_REQUIRED, -1, false},
        {"{\"u\":\"0190f5e2-7b1c-7a3d-8e4f-123456789abg\"}", BODY_REQUIRED, -1, false},
        {"{\"u\":\"{190f5e2-7b1c-7a3d-8e4f-123456789ab}\"}", BODY_REQUIRED, -1, false},
        {"{\"u\":\"0190f5e2-7b1c-7a3d-8e4f-12345678\\u0000abc\"}", BODY_REQUIRED, -1, false},
        {"{\"u\":\"0190f5e2-7b1c-7a3d-8e4f-123456789abc\\u0000\"}", BODY_REQUIRED, -1, false},
        {"{\"u\":\"\"}", BODY_REQUIRED, -1, false},
        {"{\"u\":12}", BODY_REQUIRED, -1, false},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *o = parse_ok(cases[i].body);
        struct problem pb = {0};
        const char *u = untouched;
        int rc = body_uuid(o, "u", cases[i].req, &u, &pb);

        cr_assert_eq(rc, cases[i].rc, "case %zu: rc %d", i, rc);
        if (rc != 0) {
            assert_one_error(&pb, "u", "must be a UUID");
            cr_assert_eq(u, untouched);
        } else if (cases[i].absent) {
            cr_assert_null(u, "case %zu", i);
        } else {
            cr_assert_eq(strlen(u), 36, "case %zu", i);
        }
        json_decref(o);
    }
    {
        json_t *o = parse_ok("{}");
        struct problem pb = {0};
        const char *u = untouched;

        cr_assert_eq(body_uuid(o, "u", BODY_REQUIRED, &u, &pb), -1);
        assert_one_error(&pb, "u", "is required");
        json_decref(o);
    }
}

Test(body, timestamp_reader_by_table)
{
    static const struct {
        const char *body;
        enum body_req req;
        int rc;
        bool present;
        long long usec; /* expected on success with present; -7 alone */
    } cases[] = {
        {"{\"t\":\"2026-11-22T10:04:05.123Z\"}", BODY_REQUIRED, 0, true, 1795341845123000LL},
        {"{\"t\":\"2026-11-22T12:04:05.123+02:00\"}", BODY_REQUIRED, 0, true, 1795341845123000LL},
        {"{\"t\":\"2026-11-22T05:34:05.123-04:30\"}", BODY_REQUIRED, 0, true, 1795341845123000LL},
        {"{\"t\":\"2026-11-22T10:04:05Z\"}", BODY_REQUIRED, 0, true, 1795341845000000LL},
        {"{\"t\":\"1970-01-01T00:00:00Z\"}", BODY_REQUIRED, 0, true, 0},
        {"{\"t\":\"2024-02-29T00:00:00Z\"}", BODY_REQUIRED, 0, true, 1709164800000000LL},
        {"{}", BODY_OPTIONAL, 0, false, -7},
        {"{\"t\":null}", BODY_OPTIONAL, 0, false, -7},
        {"{\"t\":\"2025-02-29T00:00:00Z\"}", BODY_REQUIRED, -1, false, -7},
        {"{\"t\":\"2026-04-31T00:00:00Z\"}", BODY_REQUIRED, -1, false, -7},
        {"{\"t\":\"2026-13-01T00:00:00Z\"}", BODY_REQUIRED, -1, false, -7},
        {"{\"t\":\"2026-11-22T24:00:00Z\"}", BODY_REQUIRED, -1, false, -7},
        {"{\"t\":\"2026-11-22T10:60:00Z\"}", BODY_REQUIRED, -1, false, -7},
        {"{\"t\":\"2026-11-22T10:04:05\"}", BODY_REQUIRED, -1, false, -7},
        {"{\"t\":\"2026-11-22\"}", BODY_REQUIRED, -1, false, -7},
        {"{\"t\":\"2026-11-22T10:04:05.Z\"}", BODY_REQUIRED, -1, false, -7},
        {"{\"t\":\"2026-11-22T10:04:05+0200\"}", BODY_REQUIRED, -1, false, -7},
        {"{\"t\":\"2026-11-22T10:04:05Z \"}", BODY_REQUIRED, -1, false, -7},
        {"{\"t\":\"2026-11-22T10:04:05Z\\u0000junk\"}", BODY_REQUIRED, -1, false, -7},
        {"{\"t\":\"yesterday\"}", BODY_REQUIRED, -1, false, -7},
        {"{\"t\":1795341845}", BODY_REQUIRED, -1, false, -7},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *o = parse_ok(cases[i].body);
        struct problem pb = {0};
        int64_t t = -7;
        bool present = !cases[i].present;
        int rc = body_timestamp(o, "t", cases[i].req, &t, &present, &pb);

        cr_assert_eq(rc, cases[i].rc, "case %zu: rc %d", i, rc);
        cr_assert_eq(t, cases[i].usec, "case %zu: %lld", i, (long long)t);
        if (rc == 0)
            cr_assert_eq(present, cases[i].present, "case %zu", i);
        else
            assert_one_error(&pb, "t", "must be an RFC 3339 timestamp");
        json_decref(o);
    }
}

/* ---- body_object, body_array ---- */

Test(body, object_reader_by_table)
{
    static const struct {
        const char *body;
        enum body_req req;
        size_t max;
        int rc;
        bool present;
        const char *message;
    } cases[] = {
        {"{\"m\":{}}", BODY_REQUIRED, BODY_JSON_MAX, 0, true, NULL},
        {"{\"m\":{\"a\":[1,{\"b\":null}],\"c\":\"\\u00e9\\u0001\"}}", BODY_REQUIRED, BODY_JSON_MAX,
         0, true, NULL},
        /* A literal backslash followed by u0000 is not a NUL. */
        {"{\"m\":{\"a\":\"\\\\u0000\"}}", BODY_REQUIRED, BODY_JSON_MAX, 0, true, NULL},
        {"{\"m\":{\"a\":\"\\\\\\\\u0000\"}}", BODY_REQUIRED, BODY_JSON_MAX, 0, true, NULL},
        {"{\"m\":{\"a\":\"\\u1000\\u0100\"}}", BODY_REQUIRED, BODY_JSON_MAX, 0, true, NULL},
        {"{}", BODY_OPTIONAL, BODY_JSON_MAX, 0, false, NULL},
        {"{\"m\":null}", BODY_OPTIONAL, BODY_JSON_MAX, 0, false, NULL},
        /* {"a":"12345"} is 13 bytes of compact JSON. */
        {"{\"m\":{ \"a\" : \"12345\" }}", BODY_REQUIRED, 13, 0, true, NULL},
        {"{\"m\":{ \"a\" : \"12345\" }}", BODY_REQUIRED, 12, -1, false,
         "must be at most 12 bytes as JSON"},
        {"{}", BODY_REQUIRED, BODY_JSON_MAX, -1, false, "is required"},
        {"{\"m\":null}", BODY_REQUIRED, BODY_JSON_MAX, -1, false, "must not be null"},
        {"{\"m\":[]}", BODY_OPTIONAL, BODY_JSON_MAX, -1, false, "must be an object"},
        {"{\"m\":\"{}\"}", BODY_OPTIONAL, BODY_JSON_MAX, -1, false, "must be an object"},
        {"{\"m\":{\"a\":\"x\\u0000\"}}", BODY_OPTIONAL, BODY_JSON_MAX, -1, false,
         "must not contain NUL characters"},
        {"{\"m\":{\"a\":[{\"b\":[\"ok\",\"\\\\\\u0000\"]}]}}", BODY_OPTIONAL, BODY_JSON_MAX, -1,
         false, "must not contain NUL characters"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *o = parse_ok(cases[i].body);
        struct problem pb = {0};
        const json_t *m = (const json_t *)untouched;
        int rc = body_object(o, "m", cases[i].req, cases[i].max, &m, &pb);

        cr_assert_eq(rc, cases[i].rc, "case %zu: rc %d (%s)", i, rc,
                     pb.nfields > 0 ? pb.fields[0].message : "");
        if (rc != 0) {
            cr_assert_eq(m, (const json_t *)untouched, "case %zu", i);
            assert_one_error(&pb, "m", cases[i].message);
        } else if (cases[i].present) {
            cr_assert_eq(m, json_object_get(o, "m"), "case %zu", i);
        } else {
            cr_assert_null(m, "case %zu", i);
        }
        json_decref(o);
    }
}

Test(body, object_over_64k_is_422)
{
    size_t n = 70000;
    char *text = malloc(n + 1);
    json_t *o = json_object(), *m = json_object();
    struct problem pb = {0};
    const json_t *out = NULL;

    cr_assert_not_null(text);
    memset(text, 'x', n);
    text[n] = '\0';
    cr_assert_eq(json_object_set_new(m, "k", json_string(text)), 0);
    cr_assert_eq(json_object_set_new(o, "metadata", m), 0);
    cr_assert_eq(body_object(o, "metadata", BODY_OPTIONAL, BODY_JSON_MAX, &out, &pb), -1);
    assert_one_error(&pb, "metadata", "must be at most 65536 bytes as JSON");
    cr_assert_null(out);
    json_decref(o);
    free(text);
}

Test(body, array_reader_by_table)
{
    static const struct {
        const char *body;
        int rc;
        const char *message;
    } cases[] = {
        {"{\"a\":[]}", 0, NULL},
        {"{\"a\":[{\"url\":\"https://x\",\"score\":0.5}]}", 0, NULL},
        {"{\"a\":{}}", -1, "must be an array"},
        {"{\"a\":\"[]\"}", -1, "must be an array"},
        {"{\"a\":[\"\\u0000\"]}", -1, "must not contain NUL characters"},
        {"{\"a\":[1,2,3,4,5,6,7,8,9,10]}", -1, "must be at most 16 bytes as JSON"},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *o = parse_ok(cases[i].body);
        struct problem pb = {0};
        const json_t *a = NULL;
        int rc = body_array(o, "a", BODY_REQUIRED, 16 + 64 * (cases[i].rc == 0), &a, &pb);

        cr_assert_eq(rc, cases[i].rc, "case %zu: rc %d", i, rc);
        if (rc == 0)
            cr_assert(json_is_array(a), "case %zu", i);
        else
            assert_one_error(&pb, "a", cases[i].message);
        json_decref(o);
    }
}

/* ---- nesting, paths, accumulation ---- */

Test(body, nested_fields_report_their_path)
{
    json_t *o = parse_ok("{\"message\":{\"subject\":7}}");
    struct problem pb = {0};
    const json_t *msg = NULL;
    const char *subject = NULL, *text = NULL;

    cr_assert_eq(body_nested(o, "message", BODY_REQUIRED, &msg, &pb), 0);
    cr_assert_not_null(msg);
    body_string(msg, "message.subject", BODY_OPTIONAL, 100, &subject, &pb);
    body_string(msg, "message.bodyText", BODY_REQUIRED, 100, &text, &pb);
    cr_assert(body_failed(&pb));
    cr_assert_eq(pb.nfields, 2);
    cr_assert_str_eq(pb.fields[0].field, "message.subject");
    cr_assert_str_eq(pb.fields[0].message, "must be a string");
    cr_assert_str_eq(pb.fields[1].field, "message.bodyText");
    cr_assert_str_eq(pb.fields[1].message, "is required");
    json_decref(o);
}

Test(body, nested_value_is_read_by_last_path_segment)
{
    json_t *o = parse_ok("{\"channel\":{\"type\":\"email\",\"externalId\":\"zoho\"}}");
    struct problem pb = {0};
    const json_t *ch = NULL;
    const char *ext = NULL;

    cr_assert_eq(body_nested(o, "channel", BODY_REQUIRED, &ch, &pb), 0);
    cr_assert_eq(body_string(ch, "channel.externalId", BODY_REQUIRED, 100, &ext, &pb), 0);
    cr_assert_str_eq(ext, "zoho");
    cr_assert_not(body_failed(&pb));
    json_decref(o);
}

Test(body, fields_of_an_invalid_or_absent_parent_add_no_errors)
{
    json_t *o = parse_ok("{\"message\":\"not an object\"}");
    struct problem pb = {0};
    const json_t *msg = (const json_t *)untouched, *conv = (const json_t *)untouched;
    const char *text = untouched;
    long long n = 5;
    bool present = true;

    cr_assert_eq(body_nested(o, "message", BODY_REQUIRED, &msg, &pb), -1);
    cr_assert_eq(msg, (const json_t *)untouched);
    msg = NULL;
    cr_assert_eq(body_nested(o, "conversation", BODY_OPTIONAL, &conv, &pb), 0);
    cr_assert_null(conv);
    cr_assert_eq(body_string(msg, "message.bodyText", BODY_REQUIRED, 100, &text, &pb), 0);
    cr_assert_null(text);
    cr_assert_eq(body_int(conv, "conversation.n", BODY_REQUIRED, 0, 9, &n, &present, &pb), 0);
    cr_assert_not(present);
    cr_assert_eq(n, 5);
    assert_one_error(&pb, "message", "must be an object");
    json_decref(o);
}

Test(body, several_field_errors_accumulate_in_one_problem)
{
    json_t *o = parse_ok("{\"subject\":5,\"bodyText\":null,\"notes\":\"x\\u0000\","
                         "\"type\":\"maybe\",\"metadata\":[],\"retryable\":\"no\","
                         "\"userId\":\"nope\",\"sentAt\":\"never\",\"fine\":\"ok\"}");
    struct problem pb = {0};
    const char *subject = NULL, *text = NULL, *notes = NULL, *user = NULL, *fine = NULL;
    const json_t *meta = NULL;
    int type = -1;
    long long limit = 0;
    bool retry = false;
    int64_t sent = 0;
    static const char *const want[][2] = {
        {"subject", "must be a string"},
        {"bodyText", "must not be null"},
        {"notes", "must not contain NUL characters"},
        {"type", "must be one of: approve, edit, reject"},
        {"metadata", "must be an object"},
        {"retryable", "must be true or false"},
        {"userId", "must be a UUID"},
        {"sentAt", "must be an RFC 3339 timestamp"},
        {"limit", "is required"},
    };
    size_t i;

    body_string(o, "subject", BODY_OPTIONAL, 998, &subject, &pb);
    body_string(o, "bodyText", BODY_REQUIRED, 65536, &text, &pb);
    body_string(o, "notes", BODY_OPTIONAL, 1000, &notes, &pb);
    body_enum(o, "type", BODY_REQUIRED, action_names, &type, &pb);
    body_object(o, "metadata", BODY_OPTIONAL, BODY_JSON_MAX, &meta, &pb);
    body_bool(o, "retryable", BODY_REQUIRED, &retry, NULL, &pb);
    body_uuid(o, "userId", BODY_REQUIRED, &user, &pb);
    body_timestamp(o, "sentAt", BODY_OPTIONAL, &sent, NULL, &pb);
    body_int(o, "limit", BODY_REQUIRED, 1, 200, &limit, NULL, &pb);
    body_string(o, "fine", BODY_REQUIRED, 10, &fine, &pb);
    cr_assert(body_failed(&pb));
    cr_assert_eq(pb.status, 422);
    cr_assert_eq(pb.nfields, (int)(sizeof(want) / sizeof(want[0])));
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        cr_assert_str_eq(pb.fields[i].field, want[i][0], "error %zu", i);
        cr_assert_str_eq(pb.fields[i].message, want[i][1], "error %zu", i);
    }
    cr_assert_str_eq(fine, "ok");
    json_decref(o);
}

Test(body, many_field_errors_stop_at_the_problem_limit)
{
    json_t *o = parse_ok("{}");
    struct problem pb = {0};
    int i;

    for (i = 0; i < PROBLEM_MAX_FIELDS + 5; i++) {
        char name[16];
        const char *s = NULL;

        snprintf(name, sizeof(name), "f%d", i);
        cr_assert_eq(body_string(o, name, BODY_REQUIRED, 10, &s, &pb), -1);
    }
    cr_assert_eq(pb.status, 422);
    cr_assert_eq(pb.nfields, PROBLEM_MAX_FIELDS);
    json_decref(o);
}

Test(body, clean_body_does_not_fail)
{
    json_t *o = parse_ok("{\"type\":\"edit\",\"finalText\":\"Hello\"}");
    struct problem pb = {0};
    const char *text = NULL;
    int type = -1;

    body_enum(o, "type", BODY_REQUIRED, action_names, &type, &pb);
    body_nonempty_string(o, "finalText", BODY_OPTIONAL, 100, &text, &pb);
    cr_assert_not(body_failed(&pb));
    cr_assert_eq(pb.status, 0);
    cr_assert_eq(type, 1);
    cr_assert_str_eq(text, "Hello");
    json_decref(o);
}

Test(body, body_failed_sees_other_problems_too)
{
    struct problem pb = {0};

    cr_assert_not(body_failed(&pb));
    problem_set(&pb, 400, "invalid-json", "x");
    cr_assert(body_failed(&pb));
}

/* ---- body_no_unknown ---- */

static bool
has_error(const struct problem *pb, const char *field, const char *message)
{
    int i;

    for (i = 0; i < pb->nfields; i++) {
        if (strcmp(pb->fields[i].field, field) == 0 && strcmp(pb->fields[i].message, message) == 0)
            return true;
    }
    return false;
}

Test(body, unknown_fields_are_reported_each)
{
    static const char *const known[] = {"type", "userId", NULL};
    json_t *o = parse_ok("{\"type\":\"edit\",\"tpye\":1,\"extra\":null}");
    struct problem pb = {0};

    cr_assert_eq(body_no_unknown(o, NULL, known, &pb), -1);
    cr_assert_eq(pb.nfields, 2);
    cr_assert(has_error(&pb, "tpye", "is not a known field"));
    cr_assert(has_error(&pb, "extra", "is not a known field"));
    json_decref(o);
}

Test(body, unknown_fields_carry_the_parent_path)
{
    static const char *const known[] = {"type", NULL};
    json_t *o = parse_ok("{\"type\":\"email\",\"colour\":1}");
    struct problem pb = {0};

    cr_assert_eq(body_no_unknown(o, "channel", known, &pb), -1);
    assert_one_error(&pb, "channel.colour", "is not a known field");
    json_decref(o);
}

Test(body, unknown_field_names_that_are_unsafe_are_not_echoed)
{
    static const char *const known[] = {"a", NULL};
    json_t *o = parse_ok("{\"a\":1,\"\\u00e9t\\u00e9\":2,"
                         "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\":3,"
                         "\"a b\":4,\"\":5}");
    struct problem pb = {0};
    int i;

    cr_assert_eq(body_no_unknown(o, NULL, known, &pb), -1);
    cr_assert_eq(pb.nfields, 4);
    for (i = 0; i < pb.nfields; i++) {
        cr_assert_str_eq(pb.fields[i].field, "");
        cr_assert_str_eq(pb.fields[i].message, "has an unknown field");
    }
    json_decref(o);
}

Test(body, no_unknown_passes_known_fields_and_null_objects)
{
    static const char *const known[] = {"a", "b", NULL};
    json_t *o = parse_ok("{\"a\":1,\"b\":2}");
    struct problem pb = {0};

    cr_assert_eq(body_no_unknown(o, NULL, known, &pb), 0);
    cr_assert_eq(body_no_unknown(NULL, "x", known, &pb), 0);
    cr_assert_not(body_failed(&pb));
    json_decref(o);
}

/* ---- numbers beyond a double and int64 ---- */

/* Stored JSON keeps the caller's tokens, whatever jansson could hold. */
Test(body, stored_json_keeps_every_number_as_sent)
{
    static const char text[] =
        "{\"m\":{\"a\":12345678901234567890,\"b\":1e400,\"c\":-1E-400,"
        "\"d\":0.1000000000000000055511151231257827,\"e\":0.820,\"f\":5,"
        "\"g\":[-0.0,2.5e+3],\"h\":\"1.5\"}}";
    static const char want[] =
        "{\"a\":12345678901234567890,\"b\":1e400,\"c\":-1E-400,"
        "\"d\":0.1000000000000000055511151231257827,\"e\":0.820,\"f\":5,"
        "\"g\":[-0.0,2.5e+3],\"h\":\"1.5\"}";
    struct problem pb = {0};
    json_t *o = parse_ok(text);
    const json_t *m = NULL;
    char *dump;

    cr_assert_eq(body_object(o, "m", BODY_REQUIRED, BODY_JSON_MAX, &m, &pb), 0);
    cr_assert(body_is_number(json_object_get(m, "b")));
    cr_assert(!body_is_number(json_object_get(m, "h")));
    cr_assert(!body_has_nul(m));
    dump = jsontext_dump(m);
    cr_assert_str_eq(dump, want);
    free(dump);
    json_decref(o);
}

/* The size limit counts the caller's tokens, not their wrapping. */
Test(body, stored_json_size_counts_the_tokens_as_sent)
{
    static const char text[] = "{\"m\":[1.5,2.5,3.5]}"; /* [1.5,2.5,3.5]: 13 bytes */
    struct problem pb = {0};
    json_t *o = parse_ok(text);
    const json_t *m = NULL;

    cr_assert_eq(body_array(o, "m", BODY_REQUIRED, SIZE_MAX, &m, &pb), 0, "no limit");
    cr_assert_eq(body_array(o, "m", BODY_REQUIRED, 13, &m, &pb), 0, "%s", pb.detail);
    cr_assert_eq(body_array(o, "m", BODY_REQUIRED, 12, &m, &pb), -1);
    assert_one_error(&pb, "m", "must be at most 12 bytes as JSON");
    json_decref(o);
}

/* Typed readers see a wrapped token as the number it is. */
Test(body, typed_readers_refuse_numbers_beyond_their_range)
{
    json_t *o = parse_ok("{\"n\":99999999999999999999,\"r\":1.5,\"s\":2.5,\"t\":-1e999}");
    struct problem pb = {0};
    long long n = 7;
    const char *s = untouched;

    body_int(o, "n", BODY_REQUIRED, 1, 200, &n, NULL, &pb);
    assert_one_error(&pb, "n", "must be between 1 and 200");
    pb = (struct problem){0};
    body_int(o, "r", BODY_REQUIRED, 1, 200, &n, NULL, &pb);
    assert_one_error(&pb, "r", "must be an integer");
    pb = (struct problem){0};
    body_string(o, "s", BODY_REQUIRED, 10, &s, &pb);
    assert_one_error(&pb, "s", "must be a string");
    pb = (struct problem){0};
    body_timestamp(o, "t", BODY_REQUIRED, &(int64_t){0}, NULL, &pb);
    assert_one_error(&pb, "t", "must be an RFC 3339 timestamp");
    cr_assert_eq(n, 7);
    cr_assert_eq(s, untouched);
    json_decref(o);
}

/* A caller's NUL string is never taken for a wrapped number. */
Test(body, a_nul_string_is_never_a_number)
{
    json_t *o = parse_ok("{\"m\":{\"x\":\"\\u00001.5\",\"y\":2.5}}");
    struct problem pb = {0};
    const json_t *m = NULL;

    cr_assert(!body_is_number(json_object_get(json_object_get(o, "m"), "x")));
    body_object(o, "m", BODY_REQUIRED, BODY_JSON_MAX, &m, &pb);
    assert_one_error(&pb, "m", "must not contain NUL characters");
    json_decref(o);
}

/* An error's line and column are the caller's, wrapped numbers or not. */
Test(body, errors_after_a_wrapped_number_point_at_the_caller_text)
{
    static const char text[] = "{\"a\":1.5,\n\"b\":2.5,\n\"c\": tru}";
    struct problem pb = {0};

    cr_assert_null(body_parse(text, strlen(text), &pb));
    cr_assert_not_null(strstr(pb.detail, "line 3, column"), "%s", pb.detail);
}
