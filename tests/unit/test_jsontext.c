#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "inboxd/lib/jsontext.h"

/* What a caller sends comes back as sent (within double and int64). */
Test(jsontext, numbers_come_back_as_sent)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"{\"score\":0.82}", "{\"score\":0.82}"},
        {"[0.1,0.2,0.3,0.10000000000000002]", "[0.1,0.2,0.3,0.10000000000000002]"},
        {"[1.0,-0.0,2.5e-8,1e300,-1.7976931348623157e308]",
         "[1.0,-0.0,2.5e-08,1e+300,-1.7976931348623157e+308]"},
        {"[9223372036854775807,-9223372036854775808,0,-1]",
         "[9223372036854775807,-9223372036854775808,0,-1]"},
        {"{\"s\":\"0.82 1e5 \\\"0.3\\\"\",\"n\":[{\"x\":123.456}]}",
         "{\"s\":\"0.82 1e5 \\\"0.3\\\"\",\"n\":[{\"x\":123.456}]}"},
        {"{\"k\\\"0.5\":0.5}", "{\"k\\\"0.5\":0.5}"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_error_t err;
        json_t *v = json_loads(cases[i].in, JSON_DECODE_ANY, &err);
        char *text;

        cr_assert_not_null(v, "case %zu: %s", i, err.text);
        text = jsontext_dump(v);
        cr_assert_not_null(text);
        cr_assert_str_eq(text, cases[i].out, "case %zu", i);
        free(text);
        json_decref(v);
    }
}

/* A member read off the text, as reply_locate() reads a 201's id. */
Test(jsontext, member_finds_a_string_by_a_scan_of_the_text)
{
    static const char doc[] =
        "{\"x\" : {\"id\": \"inner\", \"s\": \"}{\\\"id\\\"\"}, \"n\": [1, {\"id\": 2}], "
        "\"num\": -1.5e3, \"id\" : \"01a2-b\",\n \"action\": {\"type\": \"a\", \"id\": \"act-1\"}, "
        "\"esc\": \"a\\\"b\", \"obj\": {}, \"nul\": null}";
    const char *v = NULL;
    size_t n = 0;

    cr_assert_eq(jsontext_member(doc, strlen(doc), "id", 2, &v, &n), 1);
    cr_assert_eq(n, 6);
    cr_assert_eq(strncmp(v, "01a2-b", n), 0);
    cr_assert_eq(jsontext_member(doc, strlen(doc), "action.id", 9, &v, &n), 1);
    cr_assert_eq(strncmp(v, "act-1", n), 0);
    cr_assert_eq(n, 5);
    cr_assert_eq(jsontext_member(doc, strlen(doc), "x.id", 4, &v, &n), 1);
    cr_assert_eq(strncmp(v, "inner", n), 0);
    /* Absent, or not a string: 0; a string with escapes: -1 (parse). */
    cr_assert_eq(jsontext_member(doc, strlen(doc), "missing", 7, &v, &n), 0);
    cr_assert_eq(jsontext_member(doc, strlen(doc), "num", 3, &v, &n), 0);
    cr_assert_eq(jsontext_member(doc, strlen(doc), "nul", 3, &v, &n), 0);
    cr_assert_eq(jsontext_member(doc, strlen(doc), "obj.id", 6, &v, &n), 0);
    cr_assert_eq(jsontext_member(doc, strlen(doc), "esc", 3, &v, &n), -1);
    /* Text that is not an object, or ends early: -1. */
    cr_assert_eq(jsontext_member("[1]", 3, "id", 2, &v, &n), -1);
    cr_assert_eq(jsontext_member("{\"a\": \"b", 8, "id", 2, &v, &n), -1);
    cr_assert_eq(jsontext_member("{\"a\": {\"id\": ", 13, "a.id", 4, &v, &n), -1);
}
