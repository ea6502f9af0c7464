/*
 * test_lsn: WAL positions read as PostgreSQL prints them, and the opaque
 * Inboxd-Position token, round trip and refusals.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "inboxd/lib/lsn.h"

Test(lsn, reads_postgresql_text)
{
    static const struct {
        const char *text;
        uint64_t lsn;
    } ok[] = {
        {"0/0", 0},
        {"0/16B3748", 0x16B3748},
        {"16/B374D848", UINT64_C(0x16B374D848)},
        {"FFFFFFFF/FFFFFFFF", UINT64_MAX},
        {"a/b", UINT64_C(0xa0000000b)},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v = 1;

        cr_assert(lsn_parse_pg(ok[i].text, &v), "%s", ok[i].text);
        cr_assert_eq(v, ok[i].lsn, "%s", ok[i].text);
    }
}

Test(lsn, refuses_other_text_and_leaves_the_output)
{
    static const char *const bad[] = {"",          "/",          "0/",       "/0",
                                      "0",         "0/0/0",      "g/0",      "0/-1",
                                      " 0/0",      "0/0 ",       "100000000/0", "0/100000000"};

    cr_assert_not(lsn_parse_pg(NULL, NULL));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 42;

        cr_assert_not(lsn_parse_pg(bad[i], &v), "\"%s\"", bad[i]);
        cr_assert_eq(v, 42);
    }
}

Test(lsn, token_round_trips)
{
    static const uint64_t vals[] = {1, 0x16B3748, UINT64_C(0x16B374D848), UINT64_MAX};

    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        char tok[LSN_TOKEN_LEN + 1];
        uint64_t v = 0;

        lsn_encode(vals[i], tok);
        cr_assert_eq(strlen(tok), LSN_TOKEN_LEN);
        cr_assert(lsn_decode(tok, &v), "%s", tok);
        cr_assert_eq(v, vals[i]);
    }
    {
        uint64_t v = 0;

        cr_assert(lsn_decode("00000016B374D848", &v));
        cr_assert_eq(v, UINT64_C(0x16B374D848));
    }
}

Test(lsn, token_refuses_what_a_write_never_returned)
{
    static const char *const bad[] = {"",
                                      "0000000000000000",
                                      "16B374D848",
                                      "000000016B374D848",
                                      "0/16B3748",
                                      "00000016B374D84g",
                                      "00000016B374D84 ",
                                      "-0000016B374D848"};

    cr_assert_not(lsn_decode(NULL, NULL));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 42;

        cr_assert_not(lsn_decode(bad[i], &v), "\"%s\"", bad[i]);
        cr_assert_eq(v, 42);
    }
}
