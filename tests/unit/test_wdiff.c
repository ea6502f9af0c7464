/*
 * Unit tests of wdiff: the edit replays exactly, ops are merged, the diff is
 * minimal in tokens on small pairs and close to minimal on realistic larger
 * ones, and large or hostile inputs stay exact.
 *
 * The property tests use a seeded PRNG; a failure message carries the seed
 * and the pair number, and every run prints the seed. WDIFF_SEED=<n> in the
 * environment reruns with another seed. The 64 KiB and 512 KiB tests print
 * their timings to stderr (CPU time, best of 5; run with -j1 for numbers
 * worth comparing); time is reported, never asserted.
 */
#include "inboxd/lib/wdiff.h"

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

/* Processor time of this process: less disturbed by other load than the
 * wall clock. */
static double
cpu_ms(void)
{
    return (double)clock() * 1e3 / CLOCKS_PER_SEC;
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

/* Styles of generated text, each stressing something else. */
enum style {
    STYLE_MIXED,   /* words, unicode, punctuation, whitespace: random_piece */
    STYLE_TINY,    /* two words and a space: every token repeats endlessly */
    STYLE_SPACES,  /* mostly whitespace runs of every kind */
    STYLE_UNICODE, /* multibyte words only, with spaces */
    STYLE_COUNT,
};

static const char *
style_piece(struct rng *r, enum style st)
{
    static const char *const tiny[] = {"a", "b", " "};

    switch (st) {
    case STYLE_TINY:
        return tiny[rng_below(r, NELEMS(tiny))];
    case STYLE_SPACES:
        return rng_below(r, 4) == 0 ? words[rng_below(r, 4)] : spaces[rng_below(r, NELEMS(spaces))];
    case STYLE_UNICODE:
        return rng_below(r, 3) == 0 ? " " : uwords[rng_below(r, NELEMS(uwords))];
    default:
        return random_piece(r);
    }
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
random_text(struct rng *r, struct pieces *ps, size_t n, enum style st)
{
    size_t i;

    ps->n = 0;
    for (i = 0; i < n; i++)
        pieces_push(ps, style_piece(r, st));
}

/* Applies `edits` random piece edits (replace, insert, delete, swap two
 * pieces) to from, giving to. */
static void
random_edits(struct rng *r, const struct pieces *from, struct pieces *to, size_t edits,
             enum style st)
{
    size_t e, i;

    to->n = 0;
    for (i = 0; i < from->n; i++)
        pieces_push(to, from->p[i]);
    for (e = 0; e < edits; e++) {
        size_t at = rng_below(r, to->n + 1), kind = rng_below(r, 4);

        if (kind == 0 && at < to->n) {
            to->p[at] = style_piece(r, st);
        } else if (kind == 1 || to->n == 0) {
            pieces_push(to, NULL);
            memmove(to->p + at + 1, to->p + at, (to->n - 1 - at) * sizeof(*to->p));
            to->p[at] = style_piece(r, st);
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

/* Interns the tokens of s as small ids (test code: a plain FNV-1a table,
 * no adversary here). Returns the ids; *n is the token count. */
struct idmap {
    const char **p;
    size_t *len;
    uint32_t *id;
    size_t cap;
    uint32_t next;
};

static uint32_t *
token_ids(struct idmap *im, const char *s, size_t slen, size_t *n)
{
    size_t *start = malloc((slen + 1) * sizeof(size_t)),
           *tlen = malloc((slen + 1) * sizeof(size_t));
    size_t k = tokens(s, slen, start, tlen), i;
    uint32_t *ids = malloc((k + 1) * sizeof(*ids));

    cr_assert(start && tlen && ids);
    for (i = 0; i < k; i++) {
        uint64_t h = 1469598103934665603ULL;
        size_t j;

        for (j = 0; j < tlen[i]; j++)
            h = (h ^ (unsigned char)s[start[i] + j]) * 1099511628211ULL;
        for (j = (size_t)(h ^ (h >> 29)) & (im->cap - 1); im->p[j] != NULL;
             j = (j + 1) & (im->cap - 1)) {
            if (im->len[j] == tlen[i] && memcmp(im->p[j], s + start[i], tlen[i]) == 0)
                break;
        }
        if (im->p[j] == NULL) {
            im->p[j] = s + start[i];
            im->len[j] = tlen[i];
            im->id[j] = im->next++;
        }
        ids[i] = im->id[j];
    }
    free(start);
    free(tlen);
    *n = k;
    return ids;
}

/* Length of the longest common token subsequence by Hyyro's bit-parallel
 * algorithm, O(n m / 64): the reference for texts too long for lcs_tokens.
 * (The small-pair property test checks it against lcs_tokens.) */
static size_t
lcs_fast(const char *a, size_t alen, const char *b, size_t blen)
{
    struct idmap im = {0};
    size_t n, m, w, i, j, res = 0;
    uint32_t *ai, *bi, *cnt, *first, *pos, *fill;
    uint64_t *v, *mask, **cache;

    im.cap = 16;
    while (im.cap < 2 * (alen + blen + 1))
        im.cap *= 2;
    im.p = calloc(im.cap, sizeof(*im.p));
    im.len = calloc(im.cap, sizeof(*im.len));
    im.id = calloc(im.cap, sizeof(*im.id));
    cr_assert(im.p && im.len && im.id);
    ai = token_ids(&im, a, alen, &n);
    bi = token_ids(&im, b, blen, &m);
    w = n / 64 + 1;
    /* Positions of every id in a, grouped by id. */
    cnt = calloc(im.next + 1, sizeof(*cnt));
    first = calloc(im.next + 1, sizeof(*first));
    fill = calloc(im.next + 1, sizeof(*fill));
    pos = malloc((n + 1) * sizeof(*pos));
    v = malloc(w * sizeof(*v));
    mask = calloc(w, sizeof(*mask));
    cache = calloc(im.next + 1, sizeof(*cache));
    cr_assert(cnt && first && fill && pos && v && mask && cache);
    for (i = 0; i < n; i++)
        cnt[ai[i]]++;
    for (i = 0; i < im.next; i++)
        first[i + 1] = first[i] + cnt[i];
    for (i = 0; i < n; i++)
        pos[first[ai[i]] + fill[ai[i]]++] = (uint32_t)i;
    /* Frequent ids (at most 64 of them) keep their match mask; the others
     * get theirs built and cleared row by row. */
    for (i = 0; i < im.next; i++) {
        if (cnt[i] > w) {
            cache[i] = calloc(w, sizeof(**cache));
            cr_assert_not_null(cache[i]);
            for (j = first[i]; j < first[i + 1]; j++)
                cache[i][pos[j] / 64] |= 1ULL << (pos[j] % 64);
        }
    }
    for (i = 0; i < w; i++)
        v[i] = ~0ULL;
    for (j = 0; j < m; j++) {
        uint32_t c = bi[j];
        const uint64_t *mk = cache[c] != NULL ? cache[c] : mask;
        uint64_t carry = 0, borrow = 0;
        size_t q;

        if (cache[c] == NULL)
            for (q = first[c]; q < first[c + 1]; q++)
                mask[pos[q] / 64] |= 1ULL << (pos[q] % 64);
        for (i = 0; i < w; i++) {
            uint64_t x = v[i], u = x & mk[i];
            uint64_t sum = x + u + carry, diff = x - u - borrow;

            carry = sum < x || (carry && sum == x);
            borrow = x < u || (borrow && x == u);
            v[i] = sum | diff;
        }
        if (cache[c] == NULL)
            for (q = first[c]; q < first[c + 1]; q++)
                mask[pos[q] / 64] = 0;
    }
    for (i = 0; i < n; i++)
        res += ((v[i / 64] >> (i % 64)) & 1) == 0;
    for (i = 0; i < im.next; i++)
        free(cache[i]);
    free(cache);
    free(mask);
    free(v);
    free(pos);
    free(fill);
    free(first);
    free(cnt);
    free(ai);
    free(bi);
    free(im.p);
    free(im.len);
    free(im.id);
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

    fprintf(stderr, "wdiff small pairs: seed %llu\n", (unsigned long long)seed);
    for (pair = 0; pair < 5000; pair++) {
        size_t mode = rng_below(&r, 10), alen, blen;
        enum style sty = (enum style)rng_below(&r, STYLE_COUNT);
        char *as, *bs, ctx[96];
        struct op_stats st;
        size_t n, m, lcs;

        random_text(&r, &a, rng_below(&r, 5) == 0 ? rng_below(&r, 3) : rng_below(&r, 60), sty);
        if (mode == 0)
            random_text(&r, &b, rng_below(&r, 60), sty); /* unrelated */
        else if (mode == 1)
            random_edits(&r, &a, &b, 0, sty); /* identical */
        else
            random_edits(&r, &a, &b, 1 + rng_below(&r, mode * 2), sty);
        as = pieces_join(&a, &alen);
        bs = pieces_join(&b, &blen);
        snprintf(ctx, sizeof(ctx), "seed %llu pair %zu", (unsigned long long)seed, pair);
        st = check_diff(as, alen, bs, blen, ctx);
        n = tokens(as, alen, NULL, NULL);
        m = tokens(bs, blen, NULL, NULL);
        lcs = lcs_tokens(as, alen, bs, blen);
        /* The bit-parallel reference the larger tests rely on agrees. */
        cr_assert_eq(lcs_fast(as, alen, bs, blen), lcs, "%s: lcs_fast", ctx);
        cr_assert_eq(st.changed_tokens, n + m - 2 * lcs, "%s: %zu tokens changed, minimal is %zu",
                     ctx, st.changed_tokens, n + m - 2 * lcs);
        free(as);
        free(bs);
    }
    free(a.p);
    free(b.p);
}

/* Totals of tokens changed against the minimal, over a class of pairs. */
struct excess {
    size_t pairs, changed, minimal, above, worst;
};

static void
excess_add(struct excess *e, size_t changed, size_t minimal)
{
    e->pairs++;
    e->changed += changed;
    e->minimal += minimal;
    if (changed > minimal) {
        e->above++;
        if (changed - minimal > e->worst)
            e->worst = changed - minimal;
    }
}

static void
excess_print(const char *label, const struct excess *e)
{
    fprintf(stderr,
            "wdiff mid-size pairs, %s: %zu pairs, %zu tokens changed, minimal %zu (+%.3f%%); "
            "%zu pairs above minimal, the worst by %zu tokens\n",
            label, e->pairs, e->changed, e->minimal,
            e->minimal > 0 ? 100.0 * (double)(e->changed - e->minimal) / (double)e->minimal : 0.0,
            e->above, e->worst);
}

/* Pairs of a hundred to twenty thousand tokens: the larger ones are split
 * at anchors instead of diffed by Myers as a whole, so the result is exact
 * but no longer minimal by construction. Realistic edits (the minimal edit
 * changes at most a tenth of the tokens: a fifth of the words, with the
 * spaces between them) must stay within 1% of minimal in total, denser ones
 * within 5%; unrelated and self-repeating pairs must only replay exactly. */
Test(wdiff, mid_size_pairs_replay_exactly_and_stay_close_to_minimal)
{
    uint64_t seed = base_seed() + 3;
    struct rng r = {seed};
    struct pieces a = {0}, b = {0};
    struct excess realistic = {0}, dense = {0};
    size_t pair;

    for (pair = 0; pair < 1200; pair++) {
        size_t mode = rng_below(&r, 10), alen, blen;
        size_t npieces = pair % 3 == 0 ? 3000 + rng_below(&r, 20000) : 100 + rng_below(&r, 3000);
        enum style sty = (enum style)rng_below(&r, STYLE_COUNT);
        char *as, *bs, ctx[96];
        struct op_stats st;
        size_t n, m, lcs, need;

        random_text(&r, &a, npieces, sty);
        if (mode == 0) {
            random_text(&r, &b, 100 + rng_below(&r, 3000), sty); /* unrelated */
        } else if (mode == 1) {
            /* A short pattern repeated, against another: no anchors. */
            size_t i, pa = 1 + rng_below(&r, 6), pb = 1 + rng_below(&r, 6);

            random_text(&r, &b, pa + pb, sty);
            for (i = pa + pb; i < npieces; i++)
                pieces_push(&b, b.p[i < npieces / 2 ? i % pa : pa + i % pb]);
            random_edits(&r, &b, &a, rng_below(&r, 20), sty);
        } else {
            /* From identical to a fifth of the pieces edited. */
            static const size_t per_mille[] = {0, 10, 20, 50, 100, 150, 200, 200};

            random_edits(&r, &a, &b, mode == 3 ? 1 : npieces * per_mille[mode - 2] / 1000, sty);
        }
        as = pieces_join(&a, &alen);
        bs = pieces_join(&b, &blen);
        snprintf(ctx, sizeof(ctx), "seed %llu pair %zu", (unsigned long long)seed, pair);
        st = check_diff(as, alen, bs, blen, ctx);
        if (mode >= 2) {
            n = tokens(as, alen, NULL, NULL);
            m = tokens(bs, blen, NULL, NULL);
            lcs = lcs_fast(as, alen, bs, blen);
            need = n + m - 2 * lcs;
            cr_assert_geq(st.changed_tokens, need, "%s: below minimal?", ctx);
            excess_add(need * 10 <= n + m ? &realistic : &dense, st.changed_tokens, need);
        }
        free(as);
        free(bs);
    }
    fprintf(stderr, "wdiff mid-size pairs: seed %llu\n", (unsigned long long)seed);
    excess_print("realistic edits", &realistic);
    excess_print("denser edits", &dense);
    cr_assert_leq(realistic.changed, realistic.minimal + realistic.minimal / 100,
                  "seed %llu: realistic", (unsigned long long)seed);
    cr_assert_leq(dense.changed, dense.minimal + dense.minimal / 20, "seed %llu: dense",
                  (unsigned long long)seed);
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

/* ---- 64 KiB and 512 KiB texts ---- */

#define KIB 1024

/* A random vocabulary of `nvocab` words, lowercase ASCII with one word in
 * eight multibyte; short words are 1-3 letters, the others 2-9. */
static char **
make_vocab(struct rng *r, size_t nvocab, bool short_words)
{
    char **v = malloc(nvocab * sizeof(*v));
    size_t i, j;

    cr_assert_not_null(v);
    for (i = 0; i < nvocab; i++) {
        size_t len = short_words ? 1 + rng_below(r, 3) : 2 + rng_below(r, 8);

        v[i] = malloc(len + 16); /* room for the longest of uwords */
        cr_assert_not_null(v[i]);
        for (j = 0; j < len; j++)
            v[i][j] = (char)('a' + rng_below(r, 26));
        v[i][len] = '\0';
        if (i % 8 == 7)
            strcat(v[i], uwords[rng_below(r, NELEMS(uwords))]);
    }
    return v;
}

static void
free_vocab(char **v, size_t nvocab)
{
    size_t i;

    for (i = 0; i < nvocab; i++)
        free(v[i]);
    free(v);
}

/* A growing text buffer for the generators. */
struct text {
    char *p;
    size_t n, cap;
};

static void
text_add(struct text *t, const char *s)
{
    size_t len = strlen(s);

    if (t->n + len + 1 > t->cap) {
        t->cap = (t->n + len + 1) * 2;
        t->p = realloc(t->p, t->cap);
        cr_assert_not_null(t->p);
    }
    memcpy(t->p + t->n, s, len + 1);
    t->n += len;
}

/* Words and separators (mostly a space, sometimes a sentence or line end,
 * now and then a run of whitespace). */
static const char *
separator(struct rng *r)
{
    size_t k = rng_below(r, 40);

    return k == 0 ? ".\n\n" : k == 1 ? ", " : k == 2 ? ".  " : k == 3 ? "\t" : " ";
}

enum big_kind {
    BIG_EVERY_10TH_REPLACED, /* every 10th word replaced by a random one */
    BIG_FIFTH_EDITED,        /* 10% of words replaced, 5% deleted, 5% inserted */
    BIG_TEMPLATE,            /* one 40-word paragraph repeated, every 10th word replaced */
    BIG_UNRELATED,           /* two independent texts, same vocabulary */
    BIG_DISJOINT,            /* two independent texts, no word in common */
    BIG_A_VS_BA,             /* "a a a ..." against "b a b a ..." */
    BIG_AB_VS_AC,            /* "a b a b ..." against "a c a c ..." */
    BIG_FNV_COLLISIONS,      /* words colliding in FNV-1a's low 20 bits, 10% replaced */
    BIG_SHUFFLED,            /* distinct words, then the same words shuffled */
    BIG_REVERSED,            /* distinct words, then the same words backwards */
};

struct big_case {
    const char *label;
    enum big_kind kind;
    size_t nvocab;
    bool short_words;
    bool realistic; /* held to near-minimality at 64 KiB */
};

static const struct big_case big_cases[] = {
    {"every 10th word replaced, 20000 words", BIG_EVERY_10TH_REPLACED, 20000, false, true},
    {"every 10th word replaced, 1000 words", BIG_EVERY_10TH_REPLACED, 1000, false, true},
    {"every 10th word replaced, 100 short words", BIG_EVERY_10TH_REPLACED, 100, true, true},
    {"every 10th word replaced, 12 short words", BIG_EVERY_10TH_REPLACED, 12, true, true},
    {"20% of words edited, 20000 words", BIG_FIFTH_EDITED, 20000, false, true},
    {"20% of words edited, 1000 short words", BIG_FIFTH_EDITED, 1000, true, true},
    {"20% of words edited, 100 words", BIG_FIFTH_EDITED, 100, false, true},
    {"20% of words edited, 12 short words", BIG_FIFTH_EDITED, 12, true, true},
    {"templated paragraph, every 10th word replaced", BIG_TEMPLATE, 60, false, true},
    {"unrelated texts, 50 words", BIG_UNRELATED, 50, false, false},
    {"unrelated texts, disjoint words", BIG_DISJOINT, 1000, false, false},
    {"\"a a a\" vs \"b a b a\"", BIG_A_VS_BA, 0, false, false},
    {"\"a b a b\" vs \"a c a c\"", BIG_AB_VS_AC, 0, false, false},
    {"FNV-1a colliding words, 10% replaced", BIG_FNV_COLLISIONS, 0, false, false},
    {"unrelated texts, 2 short words", BIG_UNRELATED, 2, true, false},
    {"distinct words against them shuffled", BIG_SHUFFLED, 0, false, false},
    {"distinct words against them reversed", BIG_REVERSED, 0, false, false},
};

/* 2^14 words of 14 four-byte blocks whose FNV-1a hashes (the unkeyed hash
 * an interning table might use) share their low 20 bits: at each stage two
 * blocks lead from the same state to the same state. */
#define FNV_STAGES 14
#define FNV_BLOCK 4

static void
fnv_blocks(char blk[FNV_STAGES][2][FNV_BLOCK])
{
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    uint32_t *seen = malloc(sizeof(*seen) << 20);
    uint64_t h = 1469598103934665603ULL;
    int st, j;

    cr_assert_not_null(seen);
    for (st = 0; st < FNV_STAGES; st++) {
        uint32_t t;

        memset(seen, 0xff, sizeof(*seen) << 20);
        for (t = 0;; t++) {
            char c[FNV_BLOCK];
            uint64_t hh = h;
            uint32_t x = t, key;

            for (j = 0; j < FNV_BLOCK; j++) {
                c[j] = alnum[x % 62];
                x /= 62;
                hh = (hh ^ (unsigned char)c[j]) * 1099511628211ULL;
            }
            key = (uint32_t)(hh & 0xfffff);
            if (seen[key] != UINT32_MAX) {
                x = seen[key];
                for (j = 0; j < FNV_BLOCK; j++) {
                    blk[st][0][j] = alnum[x % 62];
                    x /= 62;
                }
                memcpy(blk[st][1], c, FNV_BLOCK);
                h = hh;
                break;
            }
            seen[key] = t;
        }
    }
    free(seen);
}

static void
fnv_word(struct rng *r, char blk[FNV_STAGES][2][FNV_BLOCK], char *w)
{
    int st;

    for (st = 0; st < FNV_STAGES; st++)
        memcpy(w + st * FNV_BLOCK, blk[st][rng_below(r, 2)], FNV_BLOCK);
    w[FNV_STAGES * FNV_BLOCK] = '\0';
}

/* "w0 w1 w2 ..." against the same words shuffled or reversed. */
static void
permuted_pair(struct rng *r, bool reverse, size_t size, struct text *a, struct text *b)
{
    size_t n = 0, i, *perm;
    char w[32];

    while (a->n + 24 < size) {
        snprintf(w, sizeof(w), "w%zu ", n++);
        text_add(a, w);
    }
    perm = malloc((n + 1) * sizeof(*perm));
    cr_assert_not_null(perm);
    for (i = 0; i < n; i++)
        perm[i] = reverse ? n - 1 - i : i;
    for (i = n; !reverse && i > 1; i--) {
        size_t j = rng_below(r, i), t = perm[i - 1];

        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    for (i = 0; i < n; i++) {
        snprintf(w, sizeof(w), "w%zu ", perm[i]);
        text_add(b, w);
    }
    free(perm);
}

/* Builds the pair of one case, each text at most `size` bytes. */
static void
big_pair(const struct big_case *c, size_t size, uint64_t seed, struct text *a, struct text *b)
{
    struct rng r = {seed};
    char **v = c->nvocab > 0 ? make_vocab(&r, c->nvocab, c->short_words) : NULL;
    char **other = c->kind == BIG_DISJOINT ? make_vocab(&r, c->nvocab, c->short_words) : NULL;
    static char blk[FNV_STAGES][2][FNV_BLOCK];
    char w[FNV_STAGES * FNV_BLOCK + 1], w2[FNV_STAGES * FNV_BLOCK + 1];
    size_t i = 0, limit = size - 64;

    a->n = b->n = 0;
    text_add(a, "");
    text_add(b, "");
    if (c->kind == BIG_FNV_COLLISIONS)
        fnv_blocks(blk);
    if (c->kind == BIG_SHUFFLED || c->kind == BIG_REVERSED) {
        permuted_pair(&r, c->kind == BIG_REVERSED, size, a, b);
        return; /* no vocabulary to free */
    }
    for (i = 0; a->n < limit && b->n < limit; i++) {
        const char *word = v != NULL ? v[rng_below(&r, c->nvocab)] : NULL;
        const char *sep = separator(&r);
        size_t k = rng_below(&r, 100);

        switch (c->kind) {
        case BIG_EVERY_10TH_REPLACED:
            text_add(a, word);
            text_add(a, sep);
            text_add(b, i % 10 == 0 ? v[rng_below(&r, c->nvocab)] : word);
            text_add(b, sep);
            break;
        case BIG_FIFTH_EDITED:
            text_add(a, word);
            text_add(a, sep);
            if (k < 10) {
                text_add(b, v[rng_below(&r, c->nvocab)]);
                text_add(b, sep);
            } else if (k >= 15) {
                text_add(b, word);
                text_add(b, sep);
                if (k < 20) {
                    text_add(b, v[rng_below(&r, c->nvocab)]);
                    text_add(b, " ");
                }
            }
            break;
        case BIG_TEMPLATE:
            text_add(a, v[i % 40]);
            text_add(a, i % 40 == 39 ? ".\n\n" : " ");
            text_add(b, i % 10 == 3 ? word : v[i % 40]);
            text_add(b, i % 40 == 39 ? ".\n\n" : " ");
            break;
        case BIG_UNRELATED:
        case BIG_DISJOINT:
            text_add(a, word);
            text_add(a, sep);
            text_add(b, (other != NULL ? other : v)[rng_below(&r, c->nvocab)]);
            text_add(b, separator(&r));
            break;
        case BIG_A_VS_BA:
            text_add(a, "a ");
            text_add(b, i % 2 == 0 ? "b " : "a ");
            break;
        case BIG_AB_VS_AC:
            text_add(a, i % 2 == 0 ? "a " : "b ");
            text_add(b, i % 2 == 0 ? "a " : "c ");
            break;
        case BIG_SHUFFLED:
        case BIG_REVERSED:
            break; /* made by permuted_pair() */
        case BIG_FNV_COLLISIONS:
            fnv_word(&r, blk, w);
            fnv_word(&r, blk, w2);
            text_add(a, w);
            text_add(a, " ");
            text_add(b, k < 10 ? w2 : w);
            text_add(b, " ");
            break;
        }
    }
    if (v != NULL)
        free_vocab(v, c->nvocab);
    if (other != NULL)
        free_vocab(other, c->nvocab);
}

/* Times wdiff_ops over the pair: processor time of the first run and the
 * best of five, and the best wall time. */
static void
time_diff(const char *size_label, const char *label, const struct text *a, const struct text *b,
          const char *minimality)
{
    double best = 1e9, first = 0, wall = 1e9;
    size_t nops = 0;
    int i;

    for (i = 0; i < 5; i++) {
        double w0 = now_ms(), t0 = cpu_ms(), dt, dw;
        json_t *ops = wdiff_ops(a->p, a->n, b->p, b->n);

        dt = cpu_ms() - t0;
        dw = now_ms() - w0;
        cr_assert_not_null(ops);
        nops = json_array_size(ops);
        json_decref(ops);
        if (i == 0)
            first = dt;
        best = dt < best ? dt : best;
        wall = dw < wall ? dw : wall;
    }
    fprintf(stderr,
            "wdiff timing: %s, %s: %zu + %zu bytes, %zu ops%s: cpu best of 5 %.1f ms "
            "(first %.1f), wall best %.1f ms\n",
            size_label, label, a->n, b->n, nops, minimality, best, first, wall);
}

/* Every case at `size` bytes replays exactly; at 64 KiB the realistic ones
 * stay within 1% of the minimal edit (measured with lcs_fast). */
static void
big_cases_at(size_t size, const char *size_label, bool measure_minimality)
{
    uint64_t seed = base_seed() + 4;
    struct text a = {0}, b = {0};
    size_t i;

    for (i = 0; i < NELEMS(big_cases); i++) {
        const struct big_case *c = &big_cases[i];
        char ctx[160], minimality[96] = "";
        struct op_stats st;

        big_pair(c, size, seed + i, &a, &b);
        cr_assert_leq(a.n, size);
        cr_assert_leq(b.n, size);
        snprintf(ctx, sizeof(ctx), "%s, %s, seed %llu", size_label, c->label,
                 (unsigned long long)(seed + i));
        st = check_diff(a.p, a.n, b.p, b.n, ctx);
        if (measure_minimality) {
            size_t n = tokens(a.p, a.n, NULL, NULL), m = tokens(b.p, b.n, NULL, NULL);
            size_t need = n + m - 2 * lcs_fast(a.p, a.n, b.p, b.n);

            snprintf(minimality, sizeof(minimality), ", %zu tokens changed (minimal %zu, +%.2f%%)",
                     st.changed_tokens, need,
                     need > 0 ? 100.0 * (double)(st.changed_tokens - need) / (double)need : 0.0);
            if (c->realistic)
                cr_assert_leq(st.changed_tokens, need + need / 100, "%s: %zu changed, minimal %zu",
                              ctx, st.changed_tokens, need);
        } else {
            snprintf(minimality, sizeof(minimality), ", %zu tokens changed", st.changed_tokens);
        }
        time_diff(size_label, c->label, &a, &b, minimality);
    }
    free(a.p);
    free(b.p);
}

Test(wdiff, pairs_of_64_kib_replay_exactly_and_realistic_ones_stay_near_minimal)
{
    big_cases_at(64 * KIB, "64 KiB", true);
}

Test(wdiff, pairs_of_512_kib_replay_exactly)
{
    big_cases_at(512 * KIB, "512 KiB", false);
}

Test(wdiff, null_text_of_length_zero_is_empty)
{
    json_t *del = wdiff_ops("a", 1, NULL, 0), *ins = wdiff_ops(NULL, 0, "b", 1);
    char *d = json_dumps(del, JSON_COMPACT), *i = json_dumps(ins, JSON_COMPACT);

    cr_assert_str_eq(d, "[{\"op\":\"delete\",\"text\":\"a\"}]");
    cr_assert_str_eq(i, "[{\"op\":\"insert\",\"text\":\"b\"}]");
    free(d);
    free(i);
    json_decref(del);
    json_decref(ins);
}

/* The hash keys are random per call; they must never show in the result. */
Test(wdiff, same_pair_gives_same_ops_whatever_the_hash_keys)
{
    struct text a = {0}, b = {0};
    char *first = NULL;
    int i;

    big_pair(&big_cases[7], 16 * KIB, base_seed() + 5, &a, &b);
    for (i = 0; i < 4; i++) {
        json_t *ops = wdiff_ops(a.p, a.n, b.p, b.n);
        char *got = json_dumps(ops, JSON_COMPACT);

        cr_assert_not_null(got);
        if (first == NULL)
            first = got;
        else {
            cr_assert_str_eq(got, first, "run %d differs", i);
            free(got);
        }
        json_decref(ops);
    }
    free(first);
    free(a.p);
    free(b.p);
}
