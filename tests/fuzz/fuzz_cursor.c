/*
 * fuzz_cursor: cursor_decode() on any text, and the round trips of
 * cursor.h: a cursor that decodes encodes back to the same text, and
 * every valid cursor encodes to text that decodes to it.
 */
#include "fuzz.h"

#include <stdbool.h>

#include "inboxd/lib/cursor.h"
#include "inboxd/lib/problem.h"
#include "inboxd/lib/rfc3339.h"
#include "inboxd/lib/uuid7.h"

/* A valid cursor made of fuzzer bytes: 1 flag byte, 8 of time, 16 of id. */
static void
round_trip(const uint8_t *d)
{
    struct cursor c = {0}, back;
    struct problem pb;
    char text[CURSOR_BUFLEN];
    uint64_t t = 0;

    c.has_ts = d[0] & 1;
    for (int i = 0; i < 8; i++)
        t = t << 8 | d[1 + i];
    if (c.has_ts) {
        uint64_t span = (uint64_t)(RFC3339_MAX_USEC - RFC3339_MIN_USEC) + 1;

        c.ts_usec = RFC3339_MIN_USEC + (int64_t)(t % span);
    }
    for (int i = 0; i < 16; i++)
        snprintf(c.id + i * 2 + (i >= 4) + (i >= 6) + (i >= 8) + (i >= 10), 3, "%02x", d[9 + i]);
    c.id[8] = c.id[13] = c.id[18] = c.id[23] = '-';
    c.id[36] = '\0';
    FUZZ_CHECK(uuid7_is_valid(c.id));
    cursor_encode(&c, text);
    FUZZ_CHECK(strlen(text) == 35);
    problem_init(&pb);
    FUZZ_CHECK(cursor_decode(text, &back, &pb) == 0);
    FUZZ_CHECK(back.has_ts == c.has_ts && back.ts_usec == c.ts_usec);
    FUZZ_CHECK(strcmp(back.id, c.id) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    struct cursor c;
    struct problem pb;

    problem_init(&pb);
    if (cursor_decode(s, &c, &pb) == 0) {
        char text[CURSOR_BUFLEN];

        FUZZ_CHECK(pb.status == 0);
        FUZZ_CHECK(uuid7_is_valid(c.id));
        FUZZ_CHECK(c.has_ts || c.ts_usec == 0);
        FUZZ_CHECK(!c.has_ts || (c.ts_usec >= RFC3339_MIN_USEC && c.ts_usec <= RFC3339_MAX_USEC));
        /* Only the exact form cursor_encode() produces decodes. */
        cursor_encode(&c, text);
        FUZZ_CHECK(strcmp(text, s) == 0);
    } else {
        FUZZ_CHECK(pb.status == 400);
        FUZZ_CHECK(strcmp(pb.type, "invalid-cursor") == 0);
    }
    if (size >= 25)
        round_trip(data);
    free(s);
    return 0;
}
