/*
 * reply: the pure part of src/http/reply.c, http_accepts_coding:
 * Accept-Encoding negotiation (RFC 9110 12.5.3) as the feed uses it to
 * decide whether a kept page may go out gzip-compressed.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stddef.h>

#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"

static const struct {
    const char *header;
    bool gzip;
} cases[] = {
    {NULL, false},
    {"", false},
    {"gzip", true},
    {"GZip", true},
    {"gzip, deflate, br", true},
    {"br;q=1.0, gzip;q=0.8, *;q=0.1", true},
    {"deflate, br", false},
    {"identity", false},
    {"*", true},
    {"*;q=0", false},
    {"gzip;q=0", false},
    {"gzip; q=0.000", false},
    {"gzip;Q=0.0, *", false},
    {"gzip;q=0.001", true},
    {"*;q=0.5, gzip;q=0", false},
    {"gzip;q=0, *", false},
    {"br, *;q=0.3", true},
    {"x-gzip", false},
    {"gzipx", false},
    {" , ,gzip , ", true},
    {"deflate;level=0, gzip", true},
};

Test(reply, gzip_is_accepted_exactly_when_the_header_says_so)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_eq(http_accepts_coding(cases[i].header, "gzip"), cases[i].gzip,
                     "Accept-Encoding: %s", cases[i].header ? cases[i].header : "(absent)");
}
