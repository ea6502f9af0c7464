/*
 * rfc3339 suite: accepted and rejected spellings, formatting, round trips,
 * a cross-check of the calendar arithmetic against gmtime_r(), and
 * PostgreSQL's output form. Expected microsecond values were computed with
 * Python's datetime, independently of this code.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "inboxd/lib/rfc3339.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

/* 2026-11-22T10:04:05Z */
#define T0 1795341845000000LL
#define SENTINEL INT64_C(0x5EED5EED5EED)

static const struct {
    const char *text;
    int64_t usec;
} valid_cases[] = {
    {"1970-01-01T00:00:00Z", 0},
    {"2026-11-22T10:04:05Z", T0},
    {"2026-11-22T10:04:05.1Z", T0 + 100000},
    {"2026-11-22T10:04:05.12Z", T0 + 120000},
    {"2026-11-22T10:04:05.123Z", T0 + 123000},
    {"2026-11-22T10:04:05.1234Z", T0 + 123400},
    {"2026-11-22T10:04:05.12345Z", T0 + 123450},
    {"2026-11-22T10:04:05.123456Z", T0 + 123456},
    {"2026-11-22T10:04:05.1234567Z", T0 + 123456}, /* beyond µs: truncated */
    {"2026-11-22T10:04:05.12345678Z", T0 + 123456},
    {"2026-11-22T10:04:05.123456789Z", T0 + 123456},
    {"2026-11-22T10:04:05.000000001Z", T0},
    {"2026-11-22t10:04:05z", T0}, /* lower-case t and z */
    {"2026-11-22 10:04:05Z", T0}, /* space separator */
    {"2026-11-22T12:04:05+02:00", T0},
    {"2026-11-22T05:34:05-04:30", T0},
    {"2026-11-22T10:04:05-00:00", T0},
    {"2026-11-22T10:04:05+00:00", T0},
    {"2026-11-23T10:03:05+23:59", T0},
    {"2026-11-21T10:05:05-23:59", T0},
    {"2026-11-22T15:34:20.5+05:30", T0 + 15500000},
    {"2024-02-29T12:00:00Z", 1709208000000000LL},        /* leap day */
    {"2000-02-29T00:00:00Z", 951782400000000LL},         /* leap: divisible by 400 */
    {"2023-12-31T23:59:59.999999Z", 1704067199999999LL}, /* end of year */
    {"2026-01-01T00:30:00+23:59", 1767141060000000LL},   /* previous year in UTC */
    {"1969-12-31T23:59:59.999999Z", -1},
    {"1900-03-01T00:00:00Z", -2203891200000000LL},
    {"0001-01-01T00:00:00Z", RFC3339_MIN_USEC},
    {"9999-12-31T23:59:59.999999Z", RFC3339_MAX_USEC},
    {"0001-01-01T00:00:00-00:01", RFC3339_MIN_USEC + 60000000},
};

Test(rfc3339, parse_accepts_valid_date_times)
{
    for (size_t i = 0; i < sizeof valid_cases / sizeof valid_cases[0]; i++) {
        int64_t v = SENTINEL;

        cr_expect_eq(rfc3339_parse(valid_cases[i].text, &v), 0, "case %zu: %s", i,
                     valid_cases[i].text);
        cr_expect_eq(v, valid_cases[i].usec, "case %zu: %s gave %" PRId64, i, valid_cases[i].text,
                     v);
    }
}

static const char *const invalid_cases[] = {
    "",
    "2026",
    "2026-11-22",
    "2023-02-29T00:00:00Z", /* not a leap year */
    "1900-02-29T00:00:00Z", /* century, not a leap year */
    "2026-04-31T00:00:00Z",
    "2026-13-01T00:00:00Z",
    "2026-00-01T00:00:00Z",
    "2026-11-00T00:00:00Z",
    "0000-01-01T00:00:00Z", /* year 0 */
    "2026-11-22T24:00:00Z",
    "2026-11-22T10:60:00Z",
    "2026-11-22T10:04:60Z",     /* leap second: rejected by design */
    "2026-11-22T10:04:05",      /* missing offset */
    "2026-11-22T10:04:05Zjunk", /* trailing junk */
    "2026-11-22T10:04:05Z ",
    "2026-11-22T10:04:05+02:00x",
    " 2026-11-22T10:04:05Z",
    "2026-1-22T10:04:05Z", /* one-digit fields */
    "2026-11-2T10:04:05Z",
    "2026-11-22T1:04:05Z",
    "2026-11-22T10:4:05Z",
    "2026-11-22T10:04:5Z",
    "226-11-22T10:04:05Z",
    "+2026-11-22T10:04:05Z",
    "20261122T100405Z", /* basic format */
    "2026-11-22X10:04:05Z",
    "2026-11-22  10:04:05Z",
    "2026-11-22T10:04:05 Z",
    "2026-11-22T10:04:05.Z", /* empty fraction */
    "2026-11-22T10:04:05,123Z",
    "2026-11-22T10:04:05.1234567890Z", /* ten fraction digits */
    "2026-11-22T10:04:05+24:00",
    "2026-11-22T10:04:05+23:60",
    "2026-11-22T10:04:05+0200",
    "2026-11-22T10:04:05+02",
    "2026-11-22T10:04:05+2:00",
    "2026-11-22T10:04:05+02:00:00",
    "2026-11-22T10:04:05UTC",
    "2026-11-22T10:04:05z+01:00",
    "0001-01-01T00:00:00+00:01", /* before year 1 in UTC */
    "9999-12-31T23:59:59-00:01", /* after year 9999 in UTC */
    "2026-１1-22T10:04:05Z",     /* non-ASCII digit */
};

Test(rfc3339, parse_rejects_invalid_input_without_writing)
{
    for (size_t i = 0; i < sizeof invalid_cases / sizeof invalid_cases[0]; i++) {
        int64_t v = SENTINEL;

        cr_expect_eq(rfc3339_parse(invalid_cases[i], &v), -1, "case %zu: \"%s\"", i,
                     invalid_cases[i]);
        cr_expect_eq(v, SENTINEL, "case %zu wrote a result", i);
    }
}

Test(rfc3339, parse_rejects_null)
{
    int64_t v = SENTINEL;

    cr_assert_eq(rfc3339_parse(NULL, &v), -1);
    cr_assert_eq(rfc3339_parse_pg(NULL, &v), -1);
    cr_assert_eq(v, SENTINEL);
}

Test(rfc3339, parsers_never_read_past_the_end_of_a_prefix)
{
    const char *full = "2026-11-22T15:34:20.123456789+05:30";
    const char *pg = "2026-11-22 15:34:20.123456+05:30:15";
    int64_t v;

    /* Exact-size heap copies, so a sanitizer build catches any overread. */
    for (size_t len = 0; len < strlen(full); len++) {
        char *p = malloc(len + 1);

        cr_assert_not_null(p);
        memcpy(p, full, len);
        p[len] = '\0';
        cr_expect_eq(rfc3339_parse(p, &v), -1, "prefix \"%s\"", p);
        free(p);
    }
    for (size_t len = 0; len < strlen(pg); len++) {
        char *p = malloc(len + 1);
        bool whole_offset = len == strlen("2026-11-22 15:34:20.123456+05") ||
                            len == strlen("2026-11-22 15:34:20.123456+05:30");

        cr_assert_not_null(p);
        memcpy(p, pg, len);
        p[len] = '\0';
        /* "+05" and "+05:30" are complete offsets on their own. */
        cr_expect_eq(rfc3339_parse_pg(p, &v), whole_offset ? 0 : -1, "prefix \"%s\"", p);
        free(p);
    }
}

static const struct {
    int64_t usec;
    const char *ms;
    const char *us;
} format_cases[] = {
    {0, "1970-01-01T00:00:00.000Z", "1970-01-01T00:00:00.000000Z"},
    {T0 + 123456, "2026-11-22T10:04:05.123Z", "2026-11-22T10:04:05.123456Z"},
    {T0 + 999999, "2026-11-22T10:04:05.999Z", "2026-11-22T10:04:05.999999Z"},
    {-1, "1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999999Z"},
    {-1000, "1969-12-31T23:59:59.999Z", "1969-12-31T23:59:59.999000Z"},
    {-1001, "1969-12-31T23:59:59.998Z", "1969-12-31T23:59:59.998999Z"},
    {-2203891200000000LL, "1900-03-01T00:00:00.000Z", "1900-03-01T00:00:00.000000Z"},
    {1709208000000000LL, "2024-02-29T12:00:00.000Z", "2024-02-29T12:00:00.000000Z"},
    {RFC3339_MIN_USEC, "0001-01-01T00:00:00.000Z", "0001-01-01T00:00:00.000000Z"},
    {RFC3339_MAX_USEC, "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999999Z"},
    /* Out of range: clamped. */
    {RFC3339_MIN_USEC - 1, "0001-01-01T00:00:00.000Z", "0001-01-01T00:00:00.000000Z"},
    {INT64_MIN, "0001-01-01T00:00:00.000Z", "0001-01-01T00:00:00.000000Z"},
    {INT64_MAX, "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999999Z"},
};

Test(rfc3339, format_writes_utc_with_ms_or_us_truncated_toward_the_past)
{
    char out[RFC3339_BUFLEN];

    for (size_t i = 0; i < sizeof format_cases / sizeof format_cases[0]; i++) {
        rfc3339_format_ms(format_cases[i].usec, out);
        cr_expect_str_eq(out, format_cases[i].ms, "case %zu", i);
        rfc3339_format_us(format_cases[i].usec, out);
        cr_expect_str_eq(out, format_cases[i].us, "case %zu", i);
    }
}

/* xorshift64*: deterministic, so a failure can be replayed. */
static uint64_t
next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

static int64_t
rand_in_range(uint64_t *s)
{
    uint64_t span = (uint64_t)(RFC3339_MAX_USEC - RFC3339_MIN_USEC) + 1;

    /* Half the samples within ±100 years of 1970, where data lives. */
    if (next_rand(s) & 1)
        return (int64_t)(next_rand(s) % 6311390400000000ULL) - 3155695200000000LL;
    return RFC3339_MIN_USEC + (int64_t)(next_rand(s) % span);
}

Test(rfc3339, format_us_then_parse_round_trips_exactly)
{
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    char out[RFC3339_BUFLEN];

    for (int n = 0; n < 200000; n++) {
        int64_t x = rand_in_range(&seed), back = SENTINEL, floor_ms;

        rfc3339_format_us(x, out);
        cr_assert_eq(rfc3339_parse(out, &back), 0, "%s", out);
        cr_assert_eq(back, x, "%" PRId64 " -> %s -> %" PRId64, x, out, back);

        rfc3339_format_ms(x, out);
        cr_assert_eq(rfc3339_parse(out, &back), 0, "%s", out);
        floor_ms = x / 1000 * 1000 - (x % 1000 < 0 ? 1000 : 0);
        cr_assert_eq(back, floor_ms, "%" PRId64 " -> %s", x, out);
    }
}

Test(rfc3339, format_agrees_with_gmtime)
{
    uint64_t seed = 0xD1B54A32D192ED03ULL;
    char out[RFC3339_BUFLEN], want[64];

    for (int n = 0; n < 100000; n++) {
        int64_t x = rand_in_range(&seed);
        int64_t secs = x / 1000000 - (x % 1000000 < 0 ? 1 : 0);
        time_t t = (time_t)secs;
        struct tm tm;

        cr_assert_not_null(gmtime_r(&t, &tm));
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        rfc3339_format_us(x, out);
        cr_assert_eq(strncmp(out, want, strlen(want)), 0, "%" PRId64 ": %s vs %s", x, out, want);
    }
}

static const struct {
    const char *text;
    int64_t usec;
} pg_valid_cases[] = {
    {"2026-11-22 10:04:05.123456+00", T0 + 123456},
    {"2026-11-22 10:04:05+00", T0},
    {"2026-11-22 10:04:05.5+00", T0 + 500000},
    {"2026-11-22 10:04:05.12+00", T0 + 120000},
    {"2026-11-22 15:34:05+05:30", T0},
    {"2026-11-22 04:04:05-06", T0},
    {"2026-11-22 15:34:20.5+05:30:15", T0 + 500000},
    {"2026-11-22 10:04:05-00", T0},
    {"1969-12-31 23:59:59.999999+00", -1},
    {"1970-01-01 00:00:00+00", 0},
    {"0001-01-01 00:00:00+00", RFC3339_MIN_USEC},
    {"9999-12-31 23:59:59.999999+00", RFC3339_MAX_USEC},
    {"2024-02-29 00:00:00+00", 1709164800000000LL},
};

static const char *const pg_invalid_cases[] = {
    "",
    "infinity",
    "-infinity",
    "2026-11-22T10:04:05+00", /* PostgreSQL writes a space */
    "2026-11-22 10:04:05Z",
    "2026-11-22 10:04:05",
    "2026-11-22 10:04:05.1234567+00", /* more than microseconds */
    "2026-11-22 10:04:05.+00",
    "0044-03-15 00:00:00+00 BC",
    "12026-11-22 10:04:05+00",
    "2026-11-22 10:04:05+0",
    "2026-11-22 10:04:05+00:",
    "2026-11-22 10:04:05+00:00:",
    "2026-11-22 10:04:05+00:00:00:00",
    "2026-11-22 10:04:05+24",
    "2026-11-22 10:04:05+05:60",
    "2026-11-22 10:04:05+05:30:60",
    "2026-02-30 10:04:05+00",
    "2026-11-22 10:04:05+00 ",
};

Test(rfc3339, parse_pg_reads_postgres_timestamptz_output)
{
    for (size_t i = 0; i < sizeof pg_valid_cases / sizeof pg_valid_cases[0]; i++) {
        int64_t v = SENTINEL;

        cr_expect_eq(rfc3339_parse_pg(pg_valid_cases[i].text, &v), 0, "case %zu: %s", i,
                     pg_valid_cases[i].text);
        cr_expect_eq(v, pg_valid_cases[i].usec, "case %zu: %s gave %" PRId64, i,
                     pg_valid_cases[i].text, v);
    }
    for (size_t i = 0; i < sizeof pg_invalid_cases / sizeof pg_invalid_cases[0]; i++) {
        int64_t v = SENTINEL;

        cr_expect_eq(rfc3339_parse_pg(pg_invalid_cases[i], &v), -1, "case %zu: \"%s\"", i,
                     pg_invalid_cases[i]);
        cr_expect_eq(v, SENTINEL, "case %zu wrote a result", i);
    }
}

Test(rfc3339, parse_pg_round_trips_format_us_in_postgres_form)
{
    uint64_t seed = 0x94D049BB133111EBULL;
    char out[RFC3339_BUFLEN], pg[40];

    for (int n = 0; n < 50000; n++) {
        int64_t x = rand_in_range(&seed), back = SENTINEL;

        rfc3339_format_us(x, out);
        /* "YYYY-MM-DDTHH:MM:SS.ffffffZ" -> "YYYY-MM-DD HH:MM:SS.ffffff+00" */
        snprintf(pg, sizeof pg, "%.10s %.15s+00", out, out + 11);
        cr_assert_eq(rfc3339_parse_pg(pg, &back), 0, "%s", pg);
        cr_assert_eq(back, x, "%s", pg);
    }
}
