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
