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

Test(utf8, sequences_are_well_formed_or_refused)
{
    static const struct {
        const char *s;
        size_t len;
    } cases[] = {
        {"a", 1},
        {"\xc3\xa9", 2},             /* é */
        {"\xe2\x82\xac", 3},         /* € */
        {"\xf0\x9f\x98\x80", 4},     /* 😀 */
        {"\xc0\xaf", 0},             /* overlong '/' */
        {"\xe0\x80\xaf", 0},         /* overlong */
        {"\xed\xa0\x80", 0},         /* a surrogate */
        {"\xf4\x90\x80\x80", 0},     /* past U+10FFFF */
        {"\xff", 0},
        {"\x80", 0},                 /* a lone continuation byte */
        {"\xe2\x82", 0},             /* cut short */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_eq(utf8_seq(cases[i].s, strlen(cases[i].s)), cases[i].len, "case %zu", i);
    cr_assert(utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80", 10));
    cr_assert_not(utf8_valid("caf\xc3", 4));
    cr_assert(utf8_valid("", 0));
}
