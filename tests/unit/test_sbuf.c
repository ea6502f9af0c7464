/* Unit tests of sbuf: growth, formatting, JSON string escaping, stealing. */
#include "inboxd/lib/sbuf.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

Test(sbuf, init_allocates_nothing_and_cleanup_is_idempotent)
{
    struct sbuf b;

    sbuf_init(&b);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
    cr_assert_not(b.oom);
    sbuf_cleanup(&b);
    sbuf_cleanup(&b);
    cr_assert_null(b.data);
}

Test(sbuf, many_small_adds_grow_and_keep_every_byte)
{
    struct sbuf b;
    size_t i;

    sbuf_init(&b);
    for (i = 0; i < 100000; i++) {
        char c = (char)('a' + i % 26);

        sbuf_add(&b, &c, 1);
    }
    cr_assert_not(b.oom);
    cr_assert_eq(b.len, 100000);
    cr_assert_geq(b.cap, b.len + 1);
    for (i = 0; i < b.len; i++)
        cr_assert_eq(b.data[i], (char)('a' + i % 26), "byte %zu", i);
    cr_assert_eq(b.data[b.len], '\0');
    sbuf_cleanup(&b);
}

Test(sbuf, growth_is_geometric)
{
    struct sbuf b;
    size_t i, reallocs = 0, cap = 0;

    sbuf_init(&b);
    for (i = 0; i < 1000000; i++) {
        sbuf_add(&b, "xy", 2);
        if (b.cap != cap) {
            reallocs++;
            cap = b.cap;
        }
    }
    cr_assert_eq(b.len, 2000000);
    cr_assert_lt(reallocs, 20, "%zu reallocations for 2 MB", reallocs);
    sbuf_cleanup(&b);
}

Test(sbuf, add_keeps_embedded_nul_and_zero_length_add_is_a_no_op)
{
    struct sbuf b;

    sbuf_init(&b);
    sbuf_add(&b, NULL, 0);
    cr_assert_eq(b.len, 0);
    sbuf_add(&b, "a\0b", 3);
    cr_assert_eq(b.len, 3);
    cr_assert_eq(memcmp(b.data, "a\0b", 4), 0);
    sbuf_cleanup(&b);
}

Test(sbuf, addf_formats_short_and_long_pieces)
{
    struct sbuf b;
    char *big = malloc(5001);
    char *want = malloc(6000);

    cr_assert_not_null(big);
    cr_assert_not_null(want);
    memset(big, 'z', 5000);
    big[5000] = '\0';
    sbuf_init(&b);
    sbuf_adds(&b, "n=");
    sbuf_addf(&b, "%d,%s;", 42, "ok");
    sbuf_addf(&b, "[%s]", big);
    sbuf_addf(&b, "%s", "");
    snprintf(want, 6000, "n=42,ok;[%s]", big);
    cr_assert_not(b.oom);
    cr_assert_eq(b.len, strlen(want));
    cr_assert_str_eq(b.data, want);
    sbuf_cleanup(&b);
    free(big);
    free(want);
}

Test(sbuf, json_string_escapes_by_table)
{
    static const struct {
        const char *in;
        size_t len;
        const char *out;
    } cases[] = {
        {"", 0, "\"\""},
        {"plain text", 10, "\"plain text\""},
        {"say \"hi\"", 8, "\"say \\\"hi\\\"\""},
        {"back\\slash", 10, "\"back\\\\slash\""},
        {"a\nb\rc\td", 7, "\"a\\nb\\rc\\td\""},
        {"\b\f", 2, "\"\\b\\f\""},
        {"\x01\x1f", 2, "\"\\u0001\\u001f\""},
        {"nul\0here", 8, "\"nul\\u0000here\""},
        {"\x7f", 1, "\"\x7f\""},
        {"/", 1, "\"/\""},
        {"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80", 17,
         "\"caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\""},
        {"\"\\\"", 3, "\"\\\"\\\\\\\"\""},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sbuf b;

        sbuf_init(&b);
        sbuf_add_json_string(&b, cases[i].in, cases[i].len);
        cr_assert_not(b.oom);
        cr_assert_str_eq(b.data, cases[i].out, "case %zu", i);
        sbuf_cleanup(&b);
    }
}

Test(sbuf, json_string_round_trips_through_jansson)
{
    /* Every control byte, NUL included, plus quotes, backslash and UTF-8. */
    char in[64];
    size_t i, n = 0;
    struct sbuf b;
    json_t *v;
    json_error_t err;

    for (i = 0; i < 32; i++)
        in[n++] = (char)i;
    memcpy(in + n, "\"\\/ \xc3\xa9\xf0\x9f\x98\x80~\x7f", 13);
    n += 13;
    sbuf_init(&b);
    sbuf_add_json_string(&b, in, n);
    for (i = 1; i + 1 < b.len; i++)
        cr_assert_geq((unsigned char)b.data[i], 0x20, "raw control byte at %zu", i);
    v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    cr_assert_not_null(v, "%s", err.text);
    cr_assert_eq(json_string_length(v), n);
    cr_assert_eq(memcmp(json_string_value(v), in, n), 0);
    json_decref(v);
    sbuf_cleanup(&b);
}

Test(sbuf, steal_hands_over_data_and_resets)
{
    struct sbuf b;
    size_t len = 99;
    char *s;

    sbuf_init(&b);
    sbuf_adds(&b, "hello");
    s = sbuf_steal(&b, &len);
    cr_assert_str_eq(s, "hello");
    cr_assert_eq(len, 5);
    cr_assert_null(b.data);
    cr_assert_eq(b.len, 0);
    cr_assert_eq(b.cap, 0);
    free(s);
    sbuf_adds(&b, "again");
    s = sbuf_steal(&b, NULL);
    cr_assert_str_eq(s, "again");
    free(s);
}

Test(sbuf, steal_of_empty_buffer_is_empty_string)
{
    struct sbuf b;
    size_t len = 99;
    char *s;

    sbuf_init(&b);
    s = sbuf_steal(&b, &len);
    cr_assert_not_null(s);
    cr_assert_str_eq(s, "");
    cr_assert_eq(len, 0);
    free(s);
}

Test(sbuf, oversized_add_sets_sticky_oom_and_steal_returns_null)
{
    struct sbuf b;
    size_t len = 7;

    sbuf_init(&b);
    sbuf_adds(&b, "kept");
    /* The pointer is never read: the size check comes first. */
    sbuf_add(&b, "x", SIZE_MAX - 2);
    cr_assert(b.oom);
    cr_assert_eq(b.len, 4);
    cr_assert_str_eq(b.data, "kept");
    sbuf_adds(&b, "more");
    sbuf_addf(&b, "%d", 1);
    sbuf_add_json_string(&b, "s", 1);
    cr_assert_eq(b.len, 4);
    cr_assert_null(sbuf_steal(&b, &len));
    cr_assert_eq(len, 7);
    cr_assert_not(b.oom);
    cr_assert_null(b.data);
}

Test(sbuf, oversized_json_string_sets_oom)
{
    struct sbuf b;

    sbuf_init(&b);
    sbuf_add_json_string(&b, "x", SIZE_MAX);
    cr_assert(b.oom);
    sbuf_cleanup(&b);
    cr_assert_not(b.oom);
}

/* After a reserve, adds up to that size never move the data. */
Test(sbuf, reserve_makes_room_once)
{
    struct sbuf b;
    const char *before;
    char *s;
    size_t len;

    sbuf_init(&b);
    sbuf_reserve(&b, 100000);
    cr_assert_not(b.oom);
    cr_assert_geq(b.cap, 100001);
    before = b.data;
    for (int i = 0; i < 1000; i++)
        sbuf_add(&b, "0123456789", 10);
    cr_assert_eq(b.data, before, "the buffer moved");
    s = sbuf_steal(&b, &len);
    cr_assert_eq(len, 10000);
    free(s);
}

Test(sbuf, json_compact_drops_whitespace_between_tokens_and_keeps_strings)
{
    /* As PostgreSQL's json_build_object and jsonb print. */
    static const char in[] =
        "{\"a\" : \"x y\", \"b\" : [1, 2, {\"c\": null}],\n\t\"d\" : \"q\\\" : z\\\\\", "
        "\"e\" : \"\\\\\", \"f\" : true}";
    static const char want[] =
        "{\"a\":\"x y\",\"b\":[1,2,{\"c\":null}],\"d\":\"q\\\" : z\\\\\",\"e\":\"\\\\\","
        "\"f\":true}";
    struct sbuf b;
    json_t *x, *y;
    char *out;
    size_t len;

    sbuf_init(&b);
    sbuf_add_json_compact(&b, in, strlen(in));
    out = sbuf_steal(&b, &len);
    cr_assert_not_null(out);
    cr_assert_str_eq(out, want);
    cr_assert_eq(len, strlen(want));
    /* The same document. */
    x = json_loads(in, 0, NULL);
    y = json_loads(out, 0, NULL);
    cr_assert(x && y && json_equal(x, y));
    json_decref(x);
    json_decref(y);
    free(out);
}
