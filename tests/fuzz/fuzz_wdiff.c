/*
 * fuzz_wdiff: the word diff of an edit action (wdiff.h).
 *
 * The first byte picks the mode. Even: the rest is "<from>\xff<to>" (0xff
 * never occurs in UTF-8, so either text may hold anything else);
 * wdiff_ops() must give merged ops that wdiff_apply() replays to exactly
 * <to>, or NULL when a text is not UTF-8. Odd: the rest is
 * "<from>\xff<ops as JSON>", ops a caller could have stored; replaying
 * them must be refused or succeed, never crash.
 */
#include "fuzz.h"

#include <jansson.h>

#include "inboxd/lib/wdiff.h"

static void
check_merged(const json_t *ops)
{
    const char *prev = NULL;
    size_t i;
    json_t *op;

    FUZZ_CHECK(json_is_array(ops));
    json_array_foreach (ops, i, op) {
        const char *kind = json_string_value(json_object_get(op, "op"));
        const json_t *text = json_object_get(op, "text");

        FUZZ_CHECK(kind != NULL && json_is_string(text));
        FUZZ_CHECK(json_string_length(text) > 0);
        FUZZ_CHECK(prev == NULL || strcmp(prev, kind) != 0);
        prev = kind;
    }
}

static void
diff(const char *from, size_t from_len, const char *to, size_t to_len)
{
    json_t *ops = wdiff_ops(from, from_len, to, to_len);
    char *back;
    size_t back_len = 0;

    if (ops == NULL)
        return; /* not UTF-8 (or OOM) */
    check_merged(ops);
    back = wdiff_apply(from, from_len, ops, &back_len);
    FUZZ_CHECK(back != NULL);
    FUZZ_CHECK(back_len == to_len && memcmp(back, to, to_len) == 0);
    FUZZ_CHECK(back[back_len] == '\0');
    free(back);
    json_decref(ops);
}

static void
replay(const char *from, size_t from_len, const char *json, size_t json_len)
{
    json_t *ops = json_loadb(json, json_len, JSON_ALLOW_NUL | JSON_DECODE_ANY, NULL);
    size_t out_len = 0;
    char *out;

    if (ops == NULL)
        return;
    out = wdiff_apply(from, from_len, ops, &out_len);
    if (out != NULL)
        FUZZ_CHECK(out[out_len] == '\0');
    free(out);
    json_decref(ops);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *rest, *sep, *second;
    size_t n, first_len;

    if (size == 0)
        return 0;
    rest = (const char *)data + 1;
    n = size - 1;
    sep = memchr(rest, 0xff, n);
    first_len = sep ? (size_t)(sep - rest) : n;
    second = sep ? sep + 1 : rest + n;
    if (data[0] % 2 == 0)
        diff(first_len ? rest : NULL, first_len, second, n - first_len - (sep != NULL));
    else
        replay(rest, first_len, second, n - first_len - (sep != NULL));
    return 0;
}
