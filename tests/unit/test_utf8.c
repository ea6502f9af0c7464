#include <criterion/criterion.h>
#include <string.h>

#include "inboxd/lib/utf8.h"

Test(utf8, counts_code_points_not_bytes)
{
    static const struct {
        const char *s;
        size_t chars;
    } cases[] = {
        {"", 0},
        {"abc", 3},
        {"\xc3\xa9t\xc3\xa9", 3},                       /* été */
        {"\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d", 4},        /* שלום */
        {"\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7", 5}, /* مرحبا */
        {"\xf0\x9f\x98\x80\xf0\x9f\x91\x8d", 2},        /* two emoji */
        {"\xe2\x82\xac", 1},                            /* € */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_eq(utf8_chars(cases[i].s, strlen(cases[i].s)), cases[i].chars, "case %zu", i);
}
