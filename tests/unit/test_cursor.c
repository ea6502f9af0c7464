/*
 * cursor suite: round trips with and without a timestamp, the text's shape,
 * and garbled input of every kind answered with a 400 that leaves the output
 * alone. Crafted cursors are built with the test's own base64url encoder,
 * independent of the one under test.
 */
#include "inboxd/lib/cursor.h"

#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "inboxd/lib/problem.h"
#include "inboxd/lib/rfc3339.h"
#include "inboxd/lib/uuid7.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Bit-at-a-time base64url without padding. */
static void
craft(const unsigned char *raw, size_t len, char *out)
{
    size_t nbits = len * 8, o = 0;

    for (size_t bit = 0; bit < nbits; bit += 6) {
        unsigned v = 0;

        for (size_t k = 0; k < 6; k++) {
            size_t b = bit + k;
            unsigned one = b < nbits ? (raw[b / 8] >> (7 - b % 8)) & 1u : 0;

            v = v << 1 | one;
        }
        out[o++] = alphabet[v];
    }
    out[o] = '\0';
}

/* Version 1, flags, big-endian ts, id 01890a5d-ac96-774b-bcce-b302099a8057. */
static void
raw_cursor(unsigned char raw[26], unsigned char version, unsigned char flags, uint64_t ts)
{
    static const unsigned char id[16] = {0x01, 0x89, 0x0a, 0x5d, 0xac, 0x96, 0x77, 0x4b,
                                         0xbc, 0xce, 0xb3, 0x02, 0x09, 0x9a, 0x80, 0x57};

    raw[0] = version;
    raw[1] = flags;
    for (int i = 0; i < 8; i++)
        raw[2 + i] = (unsigned char)(ts >> (56 - 8 * i));
    memcpy(raw + 10, id, 16);
}

static uint64_t
next_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

Test(cursor, round_trips_with_timestamp)
{
    uint64_t seed = 0x243F6A8885A308D3ULL;
    uint64_t span = (uint64_t)(RFC3339_MAX_USEC - RFC3339_MIN_USEC) + 1;

    for (int n = 0; n < 20000; n++) {
        struct cursor in = {.has_ts = true}, out;
        struct problem pb = {0};
        char text[CURSOR_BUFLEN];

        in.ts_usec = RFC3339_MIN_USEC + (int64_t)(next_rand(&seed) % span);
        if (n == 0)
            in.ts_usec = RFC3339_MIN_USEC;
        if (n == 1)
            in.ts_usec = RFC3339_MAX_USEC;
        if (n == 2)
            in.ts_usec = -1;
        uuid7_new(in.id);
        cursor_encode(&in, text);
        cr_assert_eq(cursor_decode(text, &out, &pb), 0, "%s", text);
        cr_assert(out.has_ts);
        cr_assert_eq(out.ts_usec, in.ts_usec);
        cr_assert_str_eq(out.id, in.id);
        cr_assert_eq(pb.status, 0);
    }
}

Test(cursor, round_trips_without_timestamp)
{
    for (int n = 0; n < 1000; n++) {
        struct cursor in = {.has_ts = false, .ts_usec = 12345}, out;
        struct problem pb = {0};
        char text[CURSOR_BUFLEN];

        uuid7_new(in.id);
        cursor_encode(&in, text);
        cr_assert_eq(cursor_decode(text, &out, &pb), 0, "%s", text);
        cr_assert_not(out.has_ts);
        cr_assert_eq(out.ts_usec, 0, "ts is ignored without has_ts");
        cr_assert_str_eq(out.id, in.id);
    }
}

Test(cursor, round_trips_a_commit_position_of_any_xid8)
{
    static const uint64_t xids[] = {
        0, 1, 3, 0xFFFFFFFFULL, 0x100000000ULL, (1ULL << 63) + 5, UINT64_MAX};
    unsigned char raw[26];
    char want[40];

    for (size_t i = 0; i < sizeof xids / sizeof xids[0]; i++) {
        struct cursor in = {.has_xid = true, .xid = xids[i]}, out;
        struct problem pb = {0};
        char text[CURSOR_BUFLEN];

        strcpy(in.id, "01890a5d-ac96-774b-bcce-b302099a8057");
        cursor_encode(&in, text);
        raw_cursor(raw, 1, 2, xids[i]);
        craft(raw, sizeof raw, want);
        cr_assert_str_eq(text, want, "flag bit 1 and the xid in the 8 bytes");
        cr_assert_eq(cursor_decode(text, &out, &pb), 0, "%s", text);
        cr_assert(out.has_xid);
        cr_assert_not(out.has_ts);
        cr_assert_eq(out.xid, xids[i]);
        cr_assert_str_eq(out.id, in.id);
    }
}

Test(cursor, the_watermark_position_never_moves_a_cursor_back)
{
    struct cursor ahead = {.has_xid = true, .xid = 900}, out;

    strcpy(ahead.id, "01890a5d-ac96-774b-bcce-b302099a8057");
    cursor_at_watermark(1000, NULL, &out);
    cr_assert(out.has_xid);
    cr_assert_eq(out.xid, 1000);
    cr_assert_str_eq(out.id, "00000000-0000-0000-0000-000000000000");
    cursor_at_watermark(1000, &ahead, &out);
    cr_assert_eq(out.xid, 1000, "behind the watermark: moves up to it");
    ahead.xid = 1000;
    cursor_at_watermark(1000, &ahead, &out);
    cr_assert_eq(out.xid, 1000);
    cr_assert_str_eq(out.id, ahead.id, "at the watermark with an id: stays");
    ahead.xid = 1200;
    cursor_at_watermark(1000, &ahead, &out);
    cr_assert_eq(out.xid, 1200, "a lagging replica's lower watermark keeps the cursor");
}

Test(cursor, text_is_35_base64url_characters_matching_the_layout)
{
    struct cursor in = {.has_ts = true, .ts_usec = 1795341845123456LL};
    unsigned char raw[26];
    char text[CURSOR_BUFLEN], want[40];

    strcpy(in.id, "01890a5d-ac96-774b-bcce-b302099a8057");
    cursor_encode(&in, text);
    cr_assert_eq(strlen(text), 35);
    cr_assert_eq(strspn(text, alphabet), 35);
    raw_cursor(raw, 1, 1, (uint64_t)in.ts_usec);
    craft(raw, sizeof raw, want);
    cr_assert_str_eq(text, want);
}

Test(cursor, decoded_id_is_lower_case_even_from_upper_case_input)
{
    struct cursor in = {.has_ts = false}, out;
    struct problem pb = {0};
    char text[CURSOR_BUFLEN];

    strcpy(in.id, "01890A5D-AC96-774B-BCCE-B302099A8057");
    cursor_encode(&in, text);
    cr_assert_eq(cursor_decode(text, &out, &pb), 0);
    cr_assert_str_eq(out.id, "01890a5d-ac96-774b-bcce-b302099a8057");
}

static void
expect_invalid(const char *text, const char *why)
{
    struct cursor c, before;
    struct problem pb = {0};

    memset(&c, 0xA5, sizeof c);
    before = c;
    cr_expect_eq(cursor_decode(text, &c, &pb), -1, "%s: \"%s\"", why, text ? text : "(null)");
    cr_expect_eq(pb.status, 400, "%s", why);
    cr_expect_str_eq(pb.type, "invalid-cursor", "%s", why);
    cr_expect_str_eq(pb.detail, "cursor is not valid", "%s", why);
    cr_expect_eq(memcmp(&c, &before, sizeof c), 0, "%s: output written", why);
}

Test(cursor, garbled_text_is_400)
{
    static const struct {
        const char *text;
        const char *why;
    } cases[] = {
        {"", "empty"},
        {"%%%", "not base64url"},
        {"AQEAAAAAAAAAAAGJCl2slndLvM6zAgmagF", "34 characters"},
        {"AQEAAAAAAAAAAAGJCl2slndLvM6zAgmagFcA", "36 characters"},
        {"AQEAAAAAAAAAAAGJCl2slndLvM6zAgmagFc=", "'=' padding"},
        {"AQEAAAAAAAAAAAGJCl2slndLvM6zAgmagF==", "'=' padding in place"},
        {"AQEAAAAAAAAAAAGJCl2slndLvM6zAgmag+c", "standard alphabet '+'"},
        {"AQEAAAAAAAAAAAGJCl2slndLvM6zAgmag/c", "standard alphabet '/'"},
        {"AQEAAAAAAAAAAAGJCl2slndLvM6zAgmag c", "space"},
        {"AQEAAAAAAAAAAAGJCl2slndLvM6zAgmag.c", "dot"},
    };

    struct cursor c;
    struct problem pb = {0};

    /* The cases are edits of this valid cursor (ts 0 with has_ts). */
    cr_assert_eq(cursor_decode("AQEAAAAAAAAAAAGJCl2slndLvM6zAgmagFc", &c, &pb), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_invalid(cases[i].text, cases[i].why);
    expect_invalid(NULL, "NULL");
}

Test(cursor, well_formed_base64_with_a_bad_payload_is_400)
{
    static const struct {
        unsigned char version, flags;
        uint64_t ts;
        const char *why;
    } cases[] = {
        {0, 1, 0, "version 0"},
        {2, 1, 0, "version 2"},
        {0xFF, 0, 0, "version 255"},
        {1, 0x04, 0, "unknown flag bit 2"},
        {1, 0x03, 0, "a timestamp and an xid at once"},
        {1, 0x81, 0, "unknown flag bit 7"},
        {1, 0, 1, "timestamp without has_ts"},
        {1, 1, (uint64_t)(RFC3339_MIN_USEC - 1), "before year 1"},
        {1, 1, (uint64_t)(RFC3339_MAX_USEC + 1), "after year 9999"},
        {1, 1, (uint64_t)INT64_MAX, "INT64_MAX"},
        {1, 1, (uint64_t)INT64_MIN, "INT64_MIN"},
    };
    unsigned char raw[26];
    char text[40];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        raw_cursor(raw, cases[i].version, cases[i].flags, cases[i].ts);
        craft(raw, sizeof raw, text);
        expect_invalid(text, cases[i].why);
    }
}

Test(cursor, crafted_valid_payload_decodes)
{
    struct cursor c;
    struct problem pb = {0};
    unsigned char raw[26];
    char text[40];

    raw_cursor(raw, 1, 1, 1795341845123456ULL);
    craft(raw, sizeof raw, text);
    cr_assert_eq(cursor_decode(text, &c, &pb), 0);
    cr_assert(c.has_ts);
    cr_assert_eq(c.ts_usec, 1795341845123456LL);
    cr_assert_str_eq(c.id, "01890a5d-ac96-774b-bcce-b302099a8057");
}

Test(cursor, second_spelling_of_the_same_bytes_is_400)
{
    struct cursor in = {.has_ts = false};
    char text[CURSOR_BUFLEN];
    const char *p;

    strcpy(in.id, "01890a5d-ac96-774b-bcce-b302099a8057");
    cursor_encode(&in, text);
    /* The last character carries 4 data bits and 2 unused ones; setting an
     * unused bit gives another string that would decode to the same bytes. */
    p = strchr(alphabet, text[34]);
    cr_assert_not_null(p);
    cr_assert_eq((p - alphabet) & 3, 0);
    text[34] = alphabet[(p - alphabet) | 1];
    expect_invalid(text, "low bits set");
}

Test(cursor, decode_never_reads_past_the_end_of_a_prefix)
{
    struct cursor in = {.has_ts = true, .ts_usec = 42};
    char text[CURSOR_BUFLEN];

    uuid7_new(in.id);
    cursor_encode(&in, text);
    /* Exact-size heap copies, so a sanitizer build catches any overread. */
    for (size_t len = 0; len < strlen(text); len++) {
        char *p = malloc(len + 1);

        cr_assert_not_null(p);
        memcpy(p, text, len);
        p[len] = '\0';
        expect_invalid(p, "prefix");
        free(p);
    }
}

Test(cursor, very_long_input_is_400)
{
    size_t len = 1 << 20;
    char *p = malloc(len + 1);

    cr_assert_not_null(p);
    memset(p, 'A', len);
    p[len] = '\0';
    expect_invalid(p, "1 MiB of 'A'");
    free(p);
}
