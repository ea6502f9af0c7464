/*
 * fuzz_rfc3339: rfc3339_parse() and rfc3339_parse_pg() on any text, and
 * the round trips of rfc3339.h: what parses is in range and formats to
 * text that parses back to the same instant; every int64 formats (clamped)
 * to text that parses.
 */
#include "fuzz.h"

#include "inboxd/lib/rfc3339.h"

static int64_t
clamp(int64_t v)
{
    return v < RFC3339_MIN_USEC ? RFC3339_MIN_USEC : v > RFC3339_MAX_USEC ? RFC3339_MAX_USEC : v;
}

/* Floor division, for the milliseconds the _ms form keeps. */
static int64_t
floor_ms(int64_t us)
{
    int64_t q = us / 1000;

    return (us % 1000 < 0 ? q - 1 : q) * 1000;
}

static void
check_formats(int64_t v)
{
    char buf[RFC3339_BUFLEN];
    int64_t back = 0;

    rfc3339_format_us(v, buf);
    FUZZ_CHECK(strlen(buf) == 27);
    FUZZ_CHECK(rfc3339_parse(buf, &back) == 0);
    FUZZ_CHECK(back == clamp(v));
    rfc3339_format_ms(v, buf);
    FUZZ_CHECK(strlen(buf) == 24);
    FUZZ_CHECK(rfc3339_parse(buf, &back) == 0);
    FUZZ_CHECK(back == floor_ms(clamp(v)));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    int64_t us = 12345, pg = 12345;

    if (rfc3339_parse(s, &us) == 0) {
        FUZZ_CHECK(us >= RFC3339_MIN_USEC && us <= RFC3339_MAX_USEC);
        check_formats(us);
    } else {
        FUZZ_CHECK(us == 12345); /* untouched on failure */
    }
    if (rfc3339_parse_pg(s, &pg) == 0)
        FUZZ_CHECK(pg >= RFC3339_MIN_USEC && pg <= RFC3339_MAX_USEC);
    else
        FUZZ_CHECK(pg == 12345);
    if (size >= 8) {
        uint64_t v = 0;

        for (int i = 0; i < 8; i++)
            v = v << 8 | data[i];
        check_formats((int64_t)v);
    }
    free(s);
    return 0;
}
