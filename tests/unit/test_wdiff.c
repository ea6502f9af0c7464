/*
 * Unit tests of wdiff: the edit replays exactly, ops are merged, the diff is
 * minimal in tokens while within budget, and large inputs stay exact.
 *
 * The property tests use a seeded PRNG; a failure message carries the seed
 * and the pair number. WDIFF_SEED=<n> in the environment reruns with another
 * seed. The 64 KiB tests print their timings to stderr; time is reported,
 * never asserted.
 */
#include "inboxd/wdiff.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- helpers ---- */

struct rng {
    uint64_t s;
};

/* splitmix64: small, seedable, good enough for generating test texts. */
static uint64_t
rng_next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t
rng_below(struct rng *r, size_t n)
{
    return n == 0 ? 0 : (size_t)(rng_next(r) % n);
}

static uint64_t
base_seed(void)
{
    const char *s = getenv("WDIFF_SEED");

    return s != NULL ? strtoull(s, NULL, 10) : 20261122ULL;
}

static double
now_ms(void)
{
    struct timespec ts;

    /* C17 timespec_get: no POSIX feature macro needed for a test timer. */
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *const words[] = {"the",    "quick", "brown",  "fox",  "jumps", "over",
                                    "lazy",   "dog",   "I",      "a",    "order", "1234",
                                    "refund", "Hello", "thanks", "Anna", "ship",  "x"};
/* café, naïve, é, 日本語, 😀, 👍🏽, …, groß */
static const char *const uwords[] = {"caf\xc3\xa9",      "na\xc3\xafve",
                                     "\xc3\xa9",         "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
                                     "\xf0\x9f\x98\x80", "\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd",
                                     "\xe2\x80\xa6",     "gro\xc3\x9f"};
static const char *const puncts[] = {".", ",", "!", "?", "'", "\"", "(", ")", "-", "#", ":", "\\"};
static const char *const spaces[] = {" ", " ", " ", "  ", "\t", "\n", "\n\n", " \t ", "\r\n"};

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

static const char *
random_piece(struct rng *r)
{
    size_t k = rng_below(r, 100);

    if (k < 40)
        return words[rng_below(r, NELEMS(words))];
    if (k < 55)
        return uwords[rng_below(r, NELEMS(uwords))];
    if (k < 72)
        return puncts[rng_below(r, NELEMS(puncts))];
    return spaces[rng_below(r, NELEMS(spaces))];
}

/* A text as a list of pieces, so edits can work piece by piece. */
struct pieces {
    const char **p;
    size_t n, cap;
};

static void
pieces_push(struct pieces *ps, const char *p)
{
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 64;
        ps->p = realloc(ps->p, ps->cap * sizeof(*ps->p));
        cr_assert_not_null(ps->p);
    }
    ps->p[ps->n++] = p;
}

static char *
pieces_join(const struct pieces *ps, size_t *len)
{
    size_t i, n = 0;
    char *s;

    for (i = 0; i < ps->n; i++)
        n += strlen(ps->p[i]);
    s = malloc(n + 1);
    cr_assert_not_null(s);
    n = 0;
    for (i = 0; i < ps->n; i++) {
        size_t l = strlen(ps->p[i]);

        memcpy(s + n, ps->p[i], l);
        n += l;
    }
    s[n] = '\0';
    *len = n;
    return s;
}

static void
random_text(struct rng *r, struct pieces *ps, size_t n)
{
    size_t i;

    ps->n = 0;
    for (i = 0; i < n; i++)
        pieces_push(ps, random_piece(r));
}

/* Applies `edits` random piece edits (replace, insert, delete, move a run)
 * to from, giving to. */
static void
random_edits(struct rng *r, const struct pieces *from, struct pieces *to, size_t edits)
{
    size_t e, i;

    to->n = 0;
    for (i = 0; i < from->n; i++)
        pieces_push(to, from->p[i]);
    for (e = 0; e < edits; e++) {
        size_t at = rng_below(r, to->n + 1), kind = rng_below(r, 4);

        if (kind == 0 && at < to->n) {
            to->p[at] = random_piece(r);
        } else if (kind == 1 || to->n == 0) {
            pieces_push(to, NULL);
            memmove(to->p + at + 1, to->p + at, (to->n - 1 - at) * sizeof(*to->p));
            to->p[at] = random_piece(r);
        } else if (kind == 2 && at < to->n) {
            memmove(to->p + at, to->p + at + 1, (to->n - at - 1) * sizeof(*to->p));
            to->n--;
        } else if (to->n > 1) {
            size_t a = rng_below(r, to->n), b = rng_below(r, to->n);
            const char *t = to->p[a];

            to->p[a] = to->p[b];
            to->p[b] = t;
        }
    }
}

/* The tokeniser of wdiff.h, restated, to count tokens and measure
 * minimality. Returns the number of tokens; fills start/len when given. */
static int
tok_class(unsigned char c)
{
    if (c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return 0;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r')
        return 1;
    return 2;
}

static size_t
tokens(const char *s, size_t len, size_t *start, size_t *tlen)
{
    size_t i = 0, n = 0;

    while (i < len) {
        size_t b = i;
        int k = tok_class((unsigned char)s[i++]);

        if (k != 2) {
            while (i < len && tok_class((unsigned char)s[i]) == k)
                i++;
        }
        if (start != NULL) {
            start[n] = b;
            tlen[n] = i - b;
        }
        n++;
    }
    return n;
}

/* Length of the longest common token subsequence, by dynamic programming:
 * the reference a minimal diff is checked against. */
static size_t
lcs_tokens(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t *as = malloc((alen + 1) * sizeof(size_t)), *al = malloc((alen + 1) * sizeof(size_t));
    size_t *bs = malloc((blen + 1) * sizeof(size_t)), *bl = malloc((blen + 1) * sizeof(size_t));
    size_t n = tokens(a, alen, as, al), m = tokens(b, blen, bs, bl), i, j, res;
    size_t *prev = calloc(m + 1, sizeof(size_t)), *cur = calloc(m + 1, sizeof(size_t));

    cr_assert(as && al && bs && bl && prev && cur);
    for (i = 1; i <= n; i++) {
        for (j = 1; j <= m; j++) {
            if (al[i - 1] == bl[j - 1] && memcmp(a + as[i - 1], b + bs[j - 1], al[i - 1]) == 0)
                cur[j] = prev[j - 1] + 1;
            else
                cur[j] = prev[j] > cur[j - 1] ? prev[j] : cur[j - 1];
        }
        memcpy(prev, cur, (m + 1) * sizeof(size_t));
    }
    res = prev[m];
    free(as);
    free(al);
    free(bs);
    free(bl);
    free(prev);
    free(cur);
    return res;
}

struct op_stats {
    size_t nops;
    size_t equal_bytes;
    size_t changed_tokens; /* tokens deleted plus tokens inserted */
};

/* Checks everything wdiff_ops() promises about ops for this pair. `ctx`
 * goes into every failure message (seed and pair number). */
static struct op_stats
check_diff(const char *from, size_t flen, const char *to, size_t tlen, const char *ctx)
{
    struct op_stats st = {0};
    json_t *ops = wdiff_ops(from, flen, to, tlen);
    const char *prev = NULL;
    char *out;
    size_t olen = 0, i;

    cr_assert_not_null(ops, "%s: wdiff_ops returned NULL", ctx);
    cr_assert(json_is_array(ops), "%s", ctx);
    st.nops = json_array_size(ops);
    if (flen == 0 && tlen == 0)
        cr_assert_eq(st.nops, 0, "%s: empty texts give ops", ctx);
    for (i = 0; i < st.nops; i++) {
        const json_t *op = json_array_get(ops, i);
        const char *kind = json_string_value(json_object_get(op, "op"));
        const json_t *text = json_object_get(op, "text");

        cr_assert_eq(json_object_size(op), 2, "%s: op %zu has extra members", ctx, i);
        cr_assert_not_null(kind, "%s: op %zu", ctx, i);
        cr_assert(strcmp(kind, "equal") == 0 || strcmp(kind, "delete") == 0 ||
                      strcmp(kind, "insert") == 0,
                  "%s: op %zu is %s", ctx, i, kind);
        cr_assert(json_is_string(text), "%s: op %zu", ctx, i);
        cr_assert_gt(json_string_length(text), 0, "%s: op %zu has empty text", ctx, i);
        if (prev != NULL) {
            cr_assert_str_neq(prev, kind, "%s: ops %zu and %zu are both %s", ctx, i - 1, i, kind);
            cr_assert(!(strcmp(prev, "insert") == 0 && strcmp(kind, "delete") == 0),
                      "%s: insert before delete at %zu", ctx, i);
        }
        if (kind[0] == 'e')
            st.equal_bytes += json_string_length(text);
        else
            st.changed_tokens +=
                tokens(json_string_value(text), json_string_length(text), NULL, NULL);
        prev = kind;
    }
    out = wdiff_apply(from, flen, ops, &olen);
    cr_assert_not_null(out, "%s: ops do not fit from", ctx);
    cr_assert_eq(olen, tlen, "%s: replay gives %zu bytes, want %zu", ctx, olen, tlen);
    cr_assert_eq(memcmp(out, to, tlen), 0, "%s: replay differs from to", ctx);
    cr_assert_eq(out[olen], '\0', "%s", ctx);
    free(out);
    json_decref(ops);
    return st;
}

/* ---- the property test ---- */

Test(wdiff, random_pairs_replay_exactly_with_merged_minimal_ops)
{
    uint64_t seed = base_seed();
    struct rng r = {seed};
    struct pieces a = {0}, b = {0};
    size_t pair;

    for (pair = 0; pair < 5000; pair++) {
        size_t mode = rng_below(&r, 10), alen, blen;
        char *as, *bs, ctx[96];
        struct op_stats st;
        size_t n, m, lcs;

        random_text(&r, &a, rng_below(&r, 5) == 0 ? rng_below(&r, 3) : rng_below(&r, 60));
        if (mode == 0)
            random_text(&r, &b, rng_below(&r, 60)); /* unrelated */
        else if (mode == 1)
            random_edits(&r, &a, &b, 0); /* identical */
        else
            random_edits(&r, &a, &b, 1 + rng_below(&r, mode * 2));
        as = pieces_join(&a, &alen);
        bs = pieces_join(&b, &blen);
        snprintf(ctx, sizeof(ctx), "seed %llu pair %zu", (unsigned long long)seed, pair);
        st = check_diff(as, alen, bs, blen, ctx);
        n = tokens(as, alen, NULL, NULL);
        m = tokens(bs, blen, NULL, NULL);
        lcs = lcs_tokens(as, alen, bs, blen);
        cr_assert_eq(st.changed_tokens, n + m - 2 * lcs, "%s: %zu tokens changed, minimal is %zu",
                     ctx, st.changed_tokens, n + m - 2 * lcs);
        free(as);
        free(bs);
    }
    free(a.p);
    free(b.p);
}

/* ---- specific cases ---- */

static json_t *
ops_of(const char *from, const char *to)
{
    json_t *ops = wdiff_ops(from, strlen(from), to, strlen(to));

    cr_assert_not_null(ops);
    return ops;
}

static void
assert_ops(const char *from, const char *to, const char *want)
{
    json_t *ops = ops_of(from, to);
    char *got = json_dumps(ops, JSON_COMPACT);

    cr_assert_str_eq(got, want, "%s -> %s", from, to);
    free(got);
    json_decref(ops);
}

Test(wdiff, both_empty_gives_empty_array)
{
    json_t *ops = wdiff_ops(NULL, 0, NULL, 0);

    cr_assert_not_null(ops);
    cr_assert(json_is_array(ops));
    cr_assert_eq(json_array_size(ops), 0);
    json_decref(ops);
}

Test(wdiff, empty_to_text_is_one_insert)
{
    assert_ops("", "Hello there.", "[{\"op\":\"insert\",\"text\":\"Hello there.\"}]");
}

Test(wdiff, text_to_empty_is_one_delete)
{
    assert_ops("Hello there.", "", "[{\"op\":\"delete\",\"text\":\"Hello there.\"}]");
}

Test(wdiff, identical_texts_are_one_equal)
{
    assert_ops("Same \xe6\x97\xa5\xe6\x9c\xac text\n", "Same \xe6\x97\xa5\xe6\x9c\xac text\n",
               "[{\"op\":\"equal\",\"text\":\"Same \xe6\x97\xa5\xe6\x9c\xac text\\n\"}]");
}

Test(wdiff, replaced_word_is_delete_then_insert_between_equals)
{
    assert_ops("Hello Anna, thanks!", "Hello Bob, thanks!",
               "[{\"op\":\"equal\",\"text\":\"Hello \"},{\"op\":\"delete\",\"text\":\"Anna\"},"
               "{\"op\":\"insert\",\"text\":\"Bob\"},{\"op\":\"equal\",\"text\":\", thanks!\"}]");
}

Test(wdiff, changed_accent_replaces_the_whole_word_never_part_of_a_character)
{
    assert_ops("un caf\xc3\xa9 noir", "un cafe noir",
               "[{\"op\":\"equal\",\"text\":\"un \"},{\"op\":\"delete\",\"text\":\"caf\xc3\xa9\"},"
               "{\"op\":\"insert\",\"text\":\"cafe\"},{\"op\":\"equal\",\"text\":\" noir\"}]");
}

Test(wdiff, whitespace_and_punctuation_are_tokens)
{
    assert_ops("Hi  there.", "Hi there!",
               "[{\"op\":\"equal\",\"text\":\"Hi\"},{\"op\":\"delete\",\"text\":\"  \"},"
               "{\"op\":\"insert\",\"text\":\" \"},{\"op\":\"equal\",\"text\":\"there\"},"
               "{\"op\":\"delete\",\"text\":\".\"},{\"op\":\"insert\",\"text\":\"!\"}]");
}

Test(wdiff, separated_changes_merge_into_one_delete_and_one_insert)
{
    /* "b" and "d" change, the space between is kept: two gaps. */
    assert_ops("a b c d e", "a B c D e",
               "[{\"op\":\"equal\",\"text\":\"a \"},{\"op\":\"delete\",\"text\":\"b\"},"
               "{\"op\":\"insert\",\"text\":\"B\"},{\"op\":\"equal\",\"text\":\" c \"},"
               "{\"op\":\"delete\",\"text\":\"d\"},{\"op\":\"insert\",\"text\":\"D\"},"
               "{\"op\":\"equal\",\"text\":\" e\"}]");
}

Test(wdiff, invalid_utf8_gives_null)
{
    json_t *ops = wdiff_ops("ok \xff", 4, "ok", 2);

    cr_assert_null(ops);
}

Test(wdiff, apply_refuses_ops_that_do_not_fit)
{
    static const char *const cases[] = {
        "{}",
        "[1]",
        "[{\"op\":\"equal\"}]",
        "[{\"text\":\"abc\"}]",
        "[{\"op\":\"keep\",\"text\":\"abc\"}]",
        "[{\"op\":\"equal\",\"text\":7}]",
        "[{\"op\":\"equal\",\"text\":\"abd\"}]",
        "[{\"op\":\"equal\",\"text\":\"ab\"}]",
        "[{\"op\":\"delete\",\"text\":\"abcd\"}]",
        "[{\"op\":\"equal\",\"text\":\"abc\"},{\"op\":\"delete\",\"text\":\"x\"}]",
        "[{\"op\":\"insert\",\"text\":\"abc\"}]",
        "[{\"op\":\"insert\\u0000\",\"text\":\"x\"},{\"op\":\"equal\",\"text\":\"abc\"}]",
        "[]",
    };
    size_t i;

    for (i = 0; i < NELEMS(cases); i++) {
        json_error_t err;
        json_t *ops = json_loads(cases[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        size_t len = 77;

        cr_assert_not_null(ops, "case %zu: %s", i, err.text);
        cr_assert_null(wdiff_apply("abc", 3, ops, &len), "case %zu applied", i);
        cr_assert_eq(len, 77, "case %zu", i);
        json_decref(ops);
    }
    cr_assert_null(wdiff_apply("abc", 3, NULL, NULL));
}

Test(wdiff, apply_accepts_unmerged_and_empty_ops)
{
    json_t *ops = json_loads("[{\"op\":\"equal\",\"text\":\"a\"},{\"op\":\"equal\",\"text\":\"\"},"
                             "{\"op\":\"insert\",\"text\":\"X\"},{\"op\":\"equal\",\"text\":\"b\"},"
                             "{\"op\":\"delete\",\"text\":\"c\"}]",
                             0, NULL);
    size_t len = 0;
    char *out = wdiff_apply("abc", 3, ops, &len);

    cr_assert_str_eq(out, "aXb");
    cr_assert_eq(len, 3);
    free(out);
    out = wdiff_apply("abc", 3, ops, NULL);
    cr_assert_str_eq(out, "aXb");
    free(out);
    json_decref(ops);
}

Test(wdiff, apply_of_empty_ops_to_empty_text_is_empty)
{
    json_t *ops = json_array();
    size_t len = 9;
    char *out = wdiff_apply(NULL, 0, ops, &len);

    cr_assert_not_null(out);
    cr_assert_str_eq(out, "");
    cr_assert_eq(len, 0);
    free(out);
    json_decref(ops);
}

/* ---- 64 KiB texts ---- */

#define BIG (64 * 1024)

/* A text of about BIG bytes (never more) built from random pieces. */
static char *
big_text(struct rng *r, struct pieces *ps, const char *const *vocab, size_t nvocab, size_t *len)
{
    size_t total = 0;

    ps->n = 0;
    for (;;) {
        const char *w = vocab != NULL ? vocab[rng_below(r, nvocab)] : random_piece(r);

        if (total + strlen(w) + 1 > BIG)
            break;
        pieces_push(ps, w);
        total += strlen(w);
        if (vocab != NULL) {
            pieces_push(ps, rng_below(r, 12) == 0 ? ".\n" : " ");
            total += ps->p[ps->n - 1][1] != '\0' ? 2 : 1;
        }
    }
    return pieces_join(ps, len);
}

/* Times wdiff_ops over the pair: the first run and the best of `runs`. */
static void
time_diff(const char *label, const char *a, size_t alen, const char *b, size_t blen)
{
    double best = 1e9, first = 0;
    size_t nops = 0;
    int i;

    for (i = 0; i < 5; i++) {
        double t0 = now_ms(), dt;
        json_t *ops = wdiff_ops(a, alen, b, blen);

        dt = now_ms() - t0;
        cr_assert_not_null(ops);
        nops = json_array_size(ops);
        json_decref(ops);
        if (i == 0)
            first = dt;
        if (dt < best)
            best = dt;
    }
    fprintf(stderr,
            "wdiff timing: %s: %zu + %zu bytes, %zu ops: first %.2f ms, best of 5 %.2f ms\n", label,
            alen, blen, nops, first, best);
}

Test(wdiff, big_texts_with_scattered_edits_replay_exactly)
{
    static const char *const ascii[] = {
        "the",    "customer", "order",   "refund",  "we",     "are",  "sorry",    "for",
        "delay",  "your",     "package", "will",    "arrive", "on",   "Monday",   "thanks",
        "please", "reply",    "to",      "this",    "email",  "with", "tracking", "number",
        "and",    "address",  "Anna",    "support", "team",   "is",   "here",     "help"};
    const char *prose[NELEMS(ascii) + NELEMS(uwords)];
    uint64_t seed = base_seed() + 1;
    struct rng r = {seed};
    struct pieces a = {0}, b = {0};
    size_t alen, blen, i, edits;
    char *as, *bs, ctx[64];
    struct op_stats st;

    /* Mostly ASCII prose with some accented, CJK and emoji words. */
    memcpy(prose, ascii, sizeof(ascii));
    memcpy(prose + NELEMS(ascii), uwords, sizeof(uwords));
    as = big_text(&r, &a, prose, NELEMS(prose), &alen);

    /* Edit about 10% of the words: replace, insert or delete one piece. */
    edits = a.n / 2 / 10;
    b.n = 0;
    for (i = 0; i < a.n; i++) {
        size_t k = rng_below(&r, a.n);

        if (k >= edits * 2 || i % 2 == 1) {
            pieces_push(&b, a.p[i]);
        } else if (k < edits) {
            pieces_push(&b, prose[rng_below(&r, NELEMS(prose))]);
        } else if (k % 2 == 0) {
            pieces_push(&b, a.p[i]);
            pieces_push(&b, " ");
            pieces_push(&b, prose[rng_below(&r, NELEMS(prose))]);
        }
    }
    bs = pieces_join(&b, &blen);
    snprintf(ctx, sizeof(ctx), "seed %llu", (unsigned long long)seed);
    st = check_diff(as, alen, bs, blen, ctx);
    /* Within budget the diff is fine-grained: most text stays "equal". */
    cr_assert_gt(st.equal_bytes, alen * 8 / 10, "%s: only %zu of %zu bytes equal", ctx,
                 st.equal_bytes, alen);
    time_diff("64 KiB, ~10% of words edited", as, alen, bs, blen);
    free(as);
    free(bs);
    free(a.p);
    free(b.p);
}

Test(wdiff, big_unrelated_texts_replay_exactly)
{
    static const char *const latin[] = {"lorem", "ipsum",       "dolor",      "sit",
                                        "amet",  "consectetur", "adipiscing", "elit",
                                        "sed",   "do",          "eiusmod"};
    static const char *const kana[] = {"\xe3\x81\x82", "\xe3\x81\x84\xe3\x81\x86",
                                       "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x98\x80"};
    uint64_t seed = base_seed() + 2;
    struct rng r = {seed};
    struct pieces a = {0}, b = {0};
    size_t alen, blen;
    char *as, *bs, ctx[64];

    snprintf(ctx, sizeof(ctx), "seed %llu", (unsigned long long)seed);
    /* Same vocabulary, independent texts: many common tokens, huge D. */
    as = big_text(&r, &a, NULL, 0, &alen);
    bs = big_text(&r, &b, NULL, 0, &blen);
    check_diff(as, alen, bs, blen, ctx);
    time_diff("64 KiB, two unrelated texts, same vocabulary", as, alen, bs, blen);
    free(as);
    free(bs);
    /* Disjoint vocabularies: only the whitespace is common. */
    as = big_text(&r, &a, latin, NELEMS(latin), &alen);
    bs = big_text(&r, &b, kana, NELEMS(kana), &blen);
    check_diff(as, alen, bs, blen, ctx);
    time_diff("64 KiB, two unrelated texts, disjoint words", as, alen, bs, blen);
    free(as);
    free(bs);
    free(a.p);
    free(b.p);
}

Test(wdiff, big_repetitive_texts_replay_exactly)
{
    char *a = malloc(BIG), *b = malloc(BIG);
    size_t i;

    cr_assert(a && b);
    /* "a a a ..." against "b a b a ...": long snakes on many diagonals. */
    for (i = 0; i < BIG; i++) {
        a[i] = i % 2 ? ' ' : 'a';
        b[i] = i % 2 ? ' ' : (i % 4 ? 'a' : 'b');
    }
    check_diff(a, BIG, b, BIG, "repetitive");
    time_diff("64 KiB, repetitive", a, BIG, b, BIG);
    free(a);
    free(b);
}
