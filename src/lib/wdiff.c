/*
 * wdiff: word-level diff (anchored Myers) and its replay.
 *
 * DESIGN. wdiff_ops() runs inside a request, on texts of up to 512 KiB
 * each, so its worst case is the daemon's problem. Whatever a caller sends,
 * the work is bounded by a budget linear in the number of tokens, memory is
 * linear (no n x m tables), and the edit stays exact; within that, the diff
 * is minimal where that is cheap and close to it for realistic edits.
 *
 *  1. Both texts are cut into tokens (see wdiff.h) and every distinct token
 *     gets a small integer id, so the rest compares integers. The interning
 *     table hashes with SipHash-1-3 under a key drawn from getrandom() on
 *     every call, so a caller cannot choose tokens that collide; should
 *     probing explode anyway, only the common start and end are kept.
 *  2. A region (at first, all of both texts) loses its common prefix and
 *     suffix. A region of at most SMALL_REGION tokens is diffed by Myers'
 *     O(ND) algorithm in its linear-space form, which is minimal (E. Myers,
 *     "An O(ND) Difference Algorithm and Its Variations", 1986, section 4b;
 *     the bisection follows diff-match-patch's diff_bisect).
 *  3. A larger region looks for anchors, as patience diff does: runs of k
 *     tokens (k = 1, 4, 12, 32) that occur exactly once in each side, found
 *     with a keyed rolling hash, chained by a longest increasing subsequence
 *     so that they do not cross, checked token by token and grown into the
 *     equal tokens around them. Uniqueness is judged per region, so a word
 *     common in the whole text can anchor a smaller region, and runs of
 *     k > 1 tokens anchor where single tokens repeat too much (a vocabulary
 *     of a dozen words). The k that anchors the most tokens wins.
 *  4. The anchors bound the region's edit distance D. Where Myers is cheap
 *     even for that D (always, in a small text), it diffs the region
 *     exactly; otherwise each gap between two anchors is a region of its
 *     own (step 2). The split is what keeps realistic edits fast, since
 *     Myers' cost grows with the square of the edits in one region.
 *  5. A region without anchors (unrelated texts, or text repeating itself)
 *     gets Myers with a bisection that, past HEUR_LEVELS edits, splits where
 *     its furthest path got instead of going on (as GNU diff and git do when
 *     a diff gets expensive): close to minimal for a few edits in repetitive
 *     text. A result denser than one run per HEUR_TOKENS_PER_RUN tokens
 *     ("a a a ..." against "b a b a ...") is dropped for one delete and one
 *     insert: unreadable anyway, and the costliest JSON to build.
 *  6. Every step, and every run of the result, charges a budget of
 *     WORK_BASE plus WORK_PER_TOKEN per token. A region reached with the
 *     budget spent, or whose Myers runs out of it, becomes one delete and
 *     one insert: still exact, only coarser.
 *
 * The result is the list of matching token runs; every gap between two runs
 * is one delete (the gap in `from`) then one insert (the gap in `to`), which
 * is what makes the ops merged by construction.
 *
 * This module never splits a UTF-8 sequence (bytes >= 0x80 are word bytes),
 * never logs and never aborts on input: out of memory is a NULL return.
 */
#include "inboxd/lib/wdiff.h"

#include "inboxd/lib/sbuf.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/*
 * Work units. One unit is one diagonal tried or one token compared, about
 * 3 ns at -O2. The global budget is WORK_BASE + WORK_PER_TOKEN * (tokens of
 * both texts): 23 million units for two 64 KiB texts of one-byte tokens.
 */
#ifndef WDIFF_WORK_BASE
#define WDIFF_WORK_BASE 2000000LL /* the fuzz build sets less (meson.build) */
#endif
#define WORK_BASE ((long long)WDIFF_WORK_BASE)
#define WORK_PER_TOKEN 160LL
/* Hashing a token for anchors or interning. */
#define KGRAM_COST 4LL
/* A run of the result: up to three ops, each half a dozen allocations. */
#define RUN_COST 300LL
/* Budget per token of a region for an exact Myers (step 4), on top of the
 * region's share of WORK_BASE. */
#define EXACT_PER_TOKEN 8LL
/* Budget per token of a region without anchors (step 5). */
#define FALLBACK_PER_TOKEN 64LL
/* Regions of at most this many tokens (both sides) go to Myers directly
 * (step 2): it costs at most about SMALL_REGION^2 units there. */
#define SMALL_REGION 256
/* Edits a heuristic Myers bisection explores before it splits anyway. */
#define HEUR_LEVELS 64
/* A heuristic Myers result with more than one run per this many tokens is
 * dropped for one delete and one insert (see myers()). */
#define HEUR_TOKENS_PER_RUN 16
/* Anchoring recursion deeper than this hands the region to Myers; the
 * depth only grows when anchors split a region very unevenly. */
#define MAX_DEPTH 40

static const int32_t kgram_sizes[] = {1, 4, 12, 32};

enum tok_class {
    TOK_WORD,
    TOK_SPACE,
    TOK_PUNCT,
};

/* One text cut into tokens: token i is text[off[i] .. off[i + 1]). Offsets
 * are 32-bit to halve the memory; larger texts take the coarse path. */
struct toks {
    const char *text;
    uint32_t *off; /* n + 1 entries */
    int32_t *id;   /* n entries, equal ids for equal tokens of either text */
    int32_t n;
};

/* A run of n matching tokens: a[ai ..] equals b[bi ..]. Also an anchor. */
struct run {
    int32_t ai, bi, n;
};

/* A slot of the k-gram table: the k-gram starting at region offset a - 1 of
 * `from`, KSLOT_MANY once it occurs twice there; where it occurs in `to`. */
struct kslot {
    uint32_t a; /* 0: empty */
    int32_t b;  /* KSLOT_NONE, KSLOT_TWICE, or the offset in the region */
};

#define KSLOT_MANY 0x80000000u
/* Slots for n k-grams: a load factor of at most 2/3. */
#define KTAB_CAP(n) ((size_t)(n) + (size_t)(n) / 2 + 16)
#define KSLOT_NONE (-1)
#define KSLOT_TWICE (-2)

struct sipkey {
    uint64_t k0, k1;
};

struct diff {
    const int32_t *a, *b;
    int32_t na, nb;
    uint64_t kmul, kxor; /* k-gram hash keys, random per call */

    /* Myers scratch: both V arrays, for the largest region so far. */
    int32_t *v;
    size_t vcap;

    /* Anchor scratch, sized for all of `from` (the largest region): 24
     * bytes a token. ha is dead once the candidates are marked, so the
     * longest chain reuses its memory for lis_prev and lis_tail. */
    uint64_t *ha;       /* k-gram hash per region offset of `from` */
    struct kslot *ktab; /* KTAB_CAP(region size) slots */
    int32_t *cand;      /* per region offset of `from`: offset in `to`, or -1 */
    int32_t *lis_prev;  /* per region offset of `from`, inside ha */
    int32_t *lis_tail;  /* LIS tails, then the chain, inside ha */

    /* Anchors of the regions being split, as a stack: a region's anchors
     * sit above its parent's. Indices, never pointers, survive growth. */
    struct run *anch;
    size_t nanch, capanch;

    struct run *runs;
    size_t nruns, capruns;

    long long budget;    /* global work left */
    long long floor;     /* the running Myers stops when budget reaches it */
    int32_t heur_levels; /* 0, or where a bisection stops being exact */
    size_t max_runs;     /* the running Myers gives up past this many runs */
    bool oom;
};

static enum tok_class
classify(unsigned char c)
{
    if (c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return TOK_WORD;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r')
        return TOK_SPACE;
    return TOK_PUNCT;
}

/* Cuts text into tokens; fills t. len is below INT32_MAX. Returns -1 on
 * OOM. */
static int
tokenise(const char *text, size_t len, struct toks *t)
{
    size_t i, n = 0;

    /* Count first: prose has a token every three bytes or so, and sizing
     * the arrays by bytes would triple the memory of a large diff. */
    for (i = 0; i < len; i++)
        n += i == 0 || classify((unsigned char)text[i]) == TOK_PUNCT ||
             classify((unsigned char)text[i]) != classify((unsigned char)text[i - 1]);
    t->text = text;
    t->off = malloc((n + 1) * sizeof(*t->off));
    t->id = malloc((n > 0 ? n : 1) * sizeof(*t->id));
    if (t->off == NULL || t->id == NULL)
        return -1;
    i = 0;
    n = 0;
    while (i < len) {
        enum tok_class k = classify((unsigned char)text[i]);

        t->off[n++] = (uint32_t)i++;
        if (k != TOK_PUNCT) {
            while (i < len && classify((unsigned char)text[i]) == k)
                i++;
        }
    }
    t->off[n] = (uint32_t)len;
    t->n = (int32_t)n;
    return 0;
}

static size_t
tok_len(const struct toks *t, int32_t i)
{
    return t->off[i + 1] - t->off[i];
}

static const char *
tok_ptr(const struct toks *t, int32_t i)
{
    return t->text + t->off[i];
}

/* ---- keys and hashes ---- */

/* Fills the per-call keys from getrandom(). Should the kernel have none to
 * give, the clock and a few addresses make a key a caller cannot read; the
 * probe limit in intern() bounds the damage of a guessed one. */
static void
random_keys(struct sipkey *sk, uint64_t *kmul, uint64_t *kxor)
{
    uint64_t k[4] = {0};
    size_t got = 0;

    while (got < sizeof(k)) {
        ssize_t r = getrandom((char *)k + got, sizeof(k) - got, GRND_NONBLOCK);

        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < sizeof(k)) {
        struct timespec ts;
        uint64_t x;
        int i;

        timespec_get(&ts, TIME_UTC);
        x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ (uint64_t)(uintptr_t)&ts ^
            (uint64_t)(uintptr_t)sk;
        for (i = 0; i < 4; i++) {
            /* splitmix64 steps */
            uint64_t z = (x += 0x9e3779b97f4a7c15ULL);

            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            k[i] ^= z ^ (z >> 31);
        }
    }
    sk->k0 = k[0];
    sk->k1 = k[1];
    *kmul = k[2] | 1; /* odd, so multiplying by it is a bijection */
    *kxor = k[3];
}

#define ROTL64(x, b) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL64(v1, 13);                                                                       \
        v1 ^= v0;                                                                                  \
        v0 = ROTL64(v0, 32);                                                                       \
        v2 += v3;                                                                                  \
        v3 = ROTL64(v3, 16);                                                                       \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL64(v3, 21);                                                                       \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL64(v1, 17);                                                                       \
        v1 ^= v2;                                                                                  \
        v2 = ROTL64(v2, 32);                                                                       \
    } while (0)

/* SipHash-1-3 (Aumasson and Bernstein), the keyed hash Python and Rust use
 * against hash flooding: one round per 8 bytes, three to finish. */
static uint64_t
siphash13(const struct sipkey *k, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    uint64_t v0 = k->k0 ^ 0x736f6d6570736575ULL, v1 = k->k1 ^ 0x646f72616e646f6dULL;
    uint64_t v2 = k->k0 ^ 0x6c7967656e657261ULL, v3 = k->k1 ^ 0x7465646279746573ULL;
    uint64_t m, last = (uint64_t)n << 56;
    size_t i, j;

    for (i = 0; i + 8 <= n; i += 8) {
        m = 0;
        for (j = 0; j < 8; j++)
            m |= (uint64_t)p[i + j] << (8 * j);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    for (j = 0; i + j < n; j++)
        last |= (uint64_t)p[i + j] << (8 * j);
    v3 ^= last;
    SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* The murmur3 finaliser: spreads a k-gram hash over all 64 bits. */
static uint64_t
mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

/* ---- interning ---- */

struct interner {
    uint64_t *slot; /* high 32 bits: hash tag; low 32: id + 1; 0 when free */
    size_t cap;     /* a power of two, at least twice the ids */
    uint64_t *hash; /* per id */
    uint32_t *rep;  /* per id: a token with it, as an index over a then b */
    size_t nids, capids;
};

static int
intern_grow(struct interner *in)
{
    size_t cap = in->cap * 2, i, mask = cap - 1;
    uint64_t *slot = calloc(cap, sizeof(*slot));
    uint64_t *hash = realloc(in->hash, cap / 2 * sizeof(*hash));
    uint32_t *rep;

    if (hash != NULL)
        in->hash = hash;
    rep = hash != NULL ? realloc(in->rep, cap / 2 * sizeof(*rep)) : NULL;
    if (rep != NULL)
        in->rep = rep;
    if (slot == NULL || hash == NULL || rep == NULL) {
        free(slot);
        return -1;
    }
    for (i = 0; i < in->nids; i++) {
        size_t j = (size_t)in->hash[i] & mask;

        while (slot[j] != 0)
            j = (j + 1) & mask;
        slot[j] = (in->hash[i] & 0xffffffff00000000ULL) | (uint64_t)(i + 1);
    }
    free(in->slot);
    in->slot = slot;
    in->cap = cap;
    in->capids = cap / 2;
    return 0;
}

/* Gives every token of a and b an id, equal ids exactly for equal bytes.
 * Returns 0, 1 when probing went past any honest amount (the ids are then
 * unusable), or -1 on OOM. */
static int
intern(struct toks *a, struct toks *b, const struct sipkey *key, long long *budget)
{
    struct toks *ts[2] = {a, b};
    struct interner in = {0};
    /* With a random key a probe finds its slot in about two steps; eight
     * per token on average means the key leaked or the hash broke. */
    long long probes_left = 8LL * ((long long)a->n + b->n) + 4096;
    int k, rc = -1;

    in.cap = 32;
    in.capids = 16;
    in.slot = calloc(in.cap, sizeof(*in.slot));
    in.hash = malloc(in.capids * sizeof(*in.hash));
    in.rep = malloc(in.capids * sizeof(*in.rep));
    if (in.slot == NULL || in.hash == NULL || in.rep == NULL)
        goto out;
    for (k = 0; k < 2; k++) {
        struct toks *t = ts[k];
        int32_t i;

        for (i = 0; i < t->n; i++) {
            const char *p = tok_ptr(t, i);
            size_t len = tok_len(t, i), mask = in.cap - 1;
            uint64_t h = siphash13(key, p, len), tag = h & 0xffffffff00000000ULL;
            size_t j = (size_t)h & mask;

            for (;;) {
                uint64_t s = in.slot[j];
                uint32_t id, r;
                const struct toks *rt;

                if (s == 0)
                    break;
                id = (uint32_t)s - 1;
                r = in.rep[id];
                rt = r < (uint32_t)a->n ? a : b;
                r = r < (uint32_t)a->n ? r : r - (uint32_t)a->n;
                if ((s & 0xffffffff00000000ULL) == tag && in.hash[id] == h &&
                    tok_len(rt, (int32_t)r) == len && memcmp(tok_ptr(rt, (int32_t)r), p, len) == 0)
                    break;
                if (--probes_left < 0) {
                    rc = 1;
                    goto out;
                }
                j = (j + 1) & mask;
            }
            if (in.slot[j] != 0) {
                t->id[i] = (int32_t)((uint32_t)in.slot[j] - 1);
                continue;
            }
            in.hash[in.nids] = h;
            in.rep[in.nids] = (uint32_t)(k == 0 ? i : a->n + i);
            in.slot[j] = tag | (uint64_t)(in.nids + 1);
            t->id[i] = (int32_t)in.nids++;
            if (in.nids == in.capids && intern_grow(&in) != 0)
                goto out;
        }
    }
    *budget -= (long long)(a->n + b->n) * KGRAM_COST;
    rc = 0;
out:
    free(in.slot);
    free(in.hash);
    free(in.rep);
    return rc;
}

/* ---- runs ---- */

/* Records that a[ai .. ai+n) matches b[bi .. bi+n); runs arrive in order. */
static void
add_run(struct diff *d, int32_t ai, int32_t bi, int32_t n)
{
    struct run *last = d->nruns > 0 ? &d->runs[d->nruns - 1] : NULL;

    if (n == 0 || d->oom)
        return;
    if (last != NULL && last->ai + last->n == ai && last->bi + last->n == bi) {
        last->n += n;
        return;
    }
    /* Each run becomes up to three ops, and building those is the
     * costliest part per token: the budget bounds the ops too. */
    d->budget -= RUN_COST;
    if (d->nruns == d->capruns) {
        size_t cap = d->capruns > 0 ? d->capruns * 2 : 64;
        struct run *r = realloc(d->runs, cap * sizeof(*r));

        if (r == NULL) {
            d->oom = true;
            return;
        }
        d->runs = r;
        d->capruns = cap;
    }
    d->runs[d->nruns++] = (struct run){ai, bi, n};
}

/* ---- Myers ---- */

enum bisect_result {
    BISECT_FOUND,
    BISECT_NONE,   /* no snake in common: the region is one delete, one insert */
    BISECT_BUDGET, /* the budget ran out */
};

/* The levels (edits) a bisection of a region needing at most max_d can
 * reach: heur_levels + 1 for a heuristic one, or as many as the budget
 * left pays for (level dd costs 2 * (2dd + 1) units, so L levels 2L^2). */
static int32_t
max_levels(const struct diff *d, int32_t max_d)
{
    long long units = (d->budget - d->floor) / 2, r = 1;

    if (d->heur_levels > 0)
        return max_d < d->heur_levels + 1 ? max_d : d->heur_levels + 1;
    /* Integer square root, plus one: a power of two at or above it, then
     * Newton's method down to it (r stays below 2^31, r * r fits). */
    while (r * r < units && r < max_d)
        r *= 2;
    while (r > 1 && r * r > units)
        r = (r + units / r) / 2;
    r += 1;
    return r < max_d ? (int32_t)r : max_d;
}

/* Past d->heur_levels edits without meeting, bisect() gives up on an exact
 * answer and splits where a forward path of dd edits got furthest: the
 * part before is diffed exactly (its distance is at most dd), the part
 * after heuristically again. Cost per split is about heur_levels^2 units,
 * for at least heur_levels tokens of progress (GNU diff and git's xdiff
 * do the same past their "too expensive" cost). */
static enum bisect_result
furthest_forward(const struct diff *d, int32_t n, int32_t m, int32_t dd, int32_t k1start,
                 int32_t k1end, int32_t voff, int32_t *sx, int32_t *sy)
{
    const int32_t *v1 = d->v;
    int32_t k, best = -1;

    for (k = -dd + k1start; k <= dd - k1end; k += 2) {
        int32_t x = v1[voff + k], y = x - k;

        if (x >= 0 && x <= n && y >= 0 && y <= m && x + y > best && x + y < n + m) {
            best = x + y;
            *sx = x;
            *sy = y;
        }
    }
    return best > 0 ? BISECT_FOUND : BISECT_NONE;
}

/* Finds the middle snake of a[alo..ahi) against b[blo..bhi), both non-empty
 * and differing in their first and last tokens, and stores in *sx, *sy the
 * point (relative to alo, blo) where a shortest edit script crosses it. */
static enum bisect_result
bisect(struct diff *d, int32_t alo, int32_t ahi, int32_t blo, int32_t bhi, int32_t *sx, int32_t *sy)
{
    const int32_t *a = d->a + alo, *b = d->b + blo;
    int32_t n = ahi - alo, m = bhi - blo;
    int32_t max_d = (n + m + 1) / 2;
    int32_t lim = max_levels(d, max_d);
    /* Only diagonals -lim-1 .. lim+1 are ever touched, so only they are
     * stored and initialised: a bisection costs its levels, not the size
     * of its region (that would make the heuristic splits quadratic). */
    int32_t voff = lim + 2, vlen = 2 * lim + 5;
    int32_t delta = n - m;
    bool front = (delta & 1) != 0;
    int32_t k1start = 0, k1end = 0, k2start = 0, k2end = 0;
    int32_t *v1 = d->v, *v2 = d->v + vlen;
    int32_t i, dd, k;

    if (d->budget <= d->floor)
        return BISECT_BUDGET;
    for (i = 0; i < vlen; i++) {
        v1[i] = -1;
        v2[i] = -1;
    }
    v1[voff + 1] = 0;
    v2[voff + 1] = 0;
    d->budget -= vlen / 4;
    for (dd = 0; dd < max_d; dd++) {
        if (d->budget <= d->floor)
            return BISECT_BUDGET;
        if (d->heur_levels > 0 && dd > d->heur_levels)
            return furthest_forward(d, n, m, dd - 1, k1start, k1end, voff, sx, sy);
        if (dd > lim)
            return BISECT_BUDGET;
        /* Both directions try 2dd+1 diagonals each. */
        d->budget -= 2 * (2 * (long long)dd + 1);
        /* Forward paths, from the top left corner. */
        for (k = -dd + k1start; k <= dd - k1end; k += 2) {
            int32_t ko = voff + k, x, y, x0;

            if (k == -dd || (k != dd && v1[ko - 1] < v1[ko + 1]))
                x = v1[ko + 1];
            else
                x = v1[ko - 1] + 1;
            y = x - k;
            x0 = x;
            while (x < n && y < m && a[x] == b[y]) {
                x++;
                y++;
            }
            d->budget -= x - x0;
            v1[ko] = x;
            if (x > n) {
                k1end += 2; /* ran off the right edge */
            } else if (y > m) {
                k1start += 2; /* ran off the bottom edge */
            } else if (front) {
                int32_t k2o = voff + delta - k;

                if (k2o >= 0 && k2o < vlen && v2[k2o] != -1 && x >= n - v2[k2o]) {
                    *sx = x;
                    *sy = y;
                    return BISECT_FOUND;
                }
            }
        }
        /* Reverse paths, from the bottom right corner, in mirrored
         * coordinates (x counts tokens from the end of a). */
        for (k = -dd + k2start; k <= dd - k2end; k += 2) {
            int32_t ko = voff + k, x, y, x0;

            if (k == -dd || (k != dd && v2[ko - 1] < v2[ko + 1]))
                x = v2[ko + 1];
            else
                x = v2[ko - 1] + 1;
            y = x - k;
            x0 = x;
            while (x < n && y < m && a[n - x - 1] == b[m - y - 1]) {
                x++;
                y++;
            }
            d->budget -= x - x0;
            v2[ko] = x;
            if (x > n) {
                k2end += 2;
            } else if (y > m) {
                k2start += 2;
            } else if (!front) {
                int32_t k1o = voff + delta - k;

                if (k1o >= 0 && k1o < vlen && v1[k1o] != -1) {
                    int32_t x1 = v1[k1o];

                    if (x1 >= n - x) {
                        *sx = x1;
                        *sy = voff + x1 - k1o;
                        return BISECT_FOUND;
                    }
                }
            }
        }
    }
    return BISECT_NONE;
}

/* Diffs a[alo..ahi) against b[blo..bhi) with Myers, adding the matching
 * runs in order. Returns false when the budget ran out somewhere (that part
 * then has no runs: one delete, one insert). The part before a split
 * recurses, the part after loops: its common suffix is contiguous with the
 * one trimmed before, so they add up. Recursion depth is about log2(D),
 * since each bisection halves the edit distance of the part before. */
static bool
myers_range(struct diff *d, int32_t alo, int32_t ahi, int32_t blo, int32_t bhi)
{
    int32_t suf = 0;
    bool ok = true;

    for (;;) {
        int32_t pre = 0, s = 0, sx = 0, sy = 0;
        enum bisect_result r;

        while (alo + pre < ahi && blo + pre < bhi && d->a[alo + pre] == d->b[blo + pre])
            pre++;
        add_run(d, alo, blo, pre);
        alo += pre;
        blo += pre;
        while (alo < ahi - s && blo < bhi - s && d->a[ahi - s - 1] == d->b[bhi - s - 1])
            s++;
        ahi -= s;
        bhi -= s;
        suf += s;
        d->budget -= pre + s;
        if (alo == ahi || blo == bhi)
            break;
        if (d->nruns > d->max_runs) {
            ok = false;
            break;
        }
        r = bisect(d, alo, ahi, blo, bhi, &sx, &sy);
        /* After trimming, a split point lies strictly inside the range
         * (D >= 2), so the loop makes progress; the bounds test only makes
         * that independent of the proof. */
        if (r != BISECT_FOUND || sx + sy <= 0 || sx + sy >= (ahi - alo) + (bhi - blo)) {
            ok = r != BISECT_BUDGET;
            break;
        }
        ok = myers_range(d, alo, alo + sx, blo, blo + sy) && ok;
        alo += sx;
        blo += sy;
    }
    add_run(d, ahi, bhi, suf);
    return ok;
}

enum myers_mode {
    MYERS_EXACT,     /* minimal; what the budget does not cover is coarse */
    MYERS_TRY,       /* minimal, or nothing at all */
    MYERS_HEURISTIC, /* close to minimal, sparse, or nothing at all */
};

/* Runs Myers over the region with at most `work` units of the budget.
 * Returns whether it finished. When it did not in MYERS_TRY mode, the runs
 * it added are taken back, so the caller can try another way; in
 * MYERS_EXACT mode what it did not finish stays a delete and an insert.
 * MYERS_HEURISTIC is for regions without anchors, where the text repeats
 * itself: text with a few edits then gets a diff close to minimal, but
 * "a a a ..." against "b a b a ..." would get a run every few tokens,
 * unreadable and the costliest output there is (each op is half a dozen
 * allocations in jansson). A result with more than one run per
 * HEUR_TOKENS_PER_RUN tokens is therefore taken back whole. */
static bool
myers(struct diff *d, int32_t alo, int32_t ahi, int32_t blo, int32_t bhi, long long work,
      enum myers_mode mode)
{
    size_t saved_nruns = d->nruns;
    int32_t saved_last = d->nruns > 0 ? d->runs[d->nruns - 1].n : 0;
    long long saved_floor = d->floor;
    int32_t lim;
    size_t need;
    bool ok;

    if (d->budget - work > d->floor)
        d->floor = d->budget - work;
    d->heur_levels = mode == MYERS_HEURISTIC ? HEUR_LEVELS : 0;
    d->max_runs = mode == MYERS_HEURISTIC
                      ? saved_nruns + (size_t)(ahi - alo + bhi - blo) / HEUR_TOKENS_PER_RUN + 1
                      : SIZE_MAX;
    /* Scratch for the deepest bisection this call can afford. */
    lim = max_levels(d, (int32_t)(((long long)ahi - alo + bhi - blo + 1) / 2));
    need = 2 * (2 * (size_t)lim + 5);
    if (need > d->vcap) {
        int32_t *v = realloc(d->v, need * sizeof(*v));

        if (v == NULL) {
            d->oom = true;
            d->heur_levels = 0;
            d->max_runs = SIZE_MAX;
            d->floor = saved_floor;
            return false;
        }
        d->v = v;
        d->vcap = need;
    }
    ok = myers_range(d, alo, ahi, blo, bhi);
    d->heur_levels = 0;
    d->floor = saved_floor;
    if (d->nruns > d->max_runs || (!ok && mode == MYERS_TRY)) {
        d->nruns = saved_nruns;
        if (saved_nruns > 0)
            d->runs[saved_nruns - 1].n = saved_last;
        ok = false;
    }
    d->max_runs = SIZE_MAX;
    return ok;
}

/* ---- anchors ---- */

static void
push_anchor(struct diff *d, int32_t ai, int32_t bi, int32_t n)
{
    if (d->oom)
        return;
    if (d->nanch == d->capanch) {
        size_t cap = d->capanch > 0 ? d->capanch * 2 : 256;
        struct run *r = realloc(d->anch, cap * sizeof(*r));

        if (r == NULL) {
            d->oom = true;
            return;
        }
        d->anch = r;
        d->capanch = cap;
    }
    d->anch[d->nanch++] = (struct run){ai, bi, n};
}

/* Allocates the anchor scratch for regions of up to d->na tokens of from. */
static int
anchor_scratch(struct diff *d)
{
    size_t n = (size_t)d->na + 1;

    if (d->ha != NULL)
        return 0;
    d->ha = malloc(n * sizeof(*d->ha));
    d->ktab = malloc(KTAB_CAP(n) * sizeof(*d->ktab));
    d->cand = malloc(n * sizeof(*d->cand));
    if (d->ha == NULL || d->ktab == NULL || d->cand == NULL) {
        d->oom = true;
        return -1;
    }
    /* Two int32_t arrays of n in the n uint64_t of ha. */
    d->lis_prev = (int32_t *)(void *)d->ha;
    d->lis_tail = d->lis_prev + n;
    return 0;
}

/* Maps a hash to a slot of a table of cap < 2^32 slots by multiplying
 * (Lemire's fastrange), so the table needs no power-of-two size. */
static size_t
slot_of(uint64_t key, size_t cap)
{
    return (size_t)(((key >> 32) * (uint64_t)cap) >> 32);
}

/* Finds the k-grams that occur exactly once in a[alo..alo+n) and once in
 * b[blo..blo+m) (n, m >= k) by their hashes, and marks them in d->cand:
 * cand[i] is the offset in b of the k-gram at offset i in a, or -1. Hash
 * collisions can only lose candidates or make false ones, which the caller
 * checks token by token. Returns the number of candidates. */
static size_t
kgram_candidates(struct diff *d, int32_t alo, int32_t n, int32_t blo, int32_t m, int32_t k)
{
    const int32_t *a = d->a + alo, *b = d->b + blo;
    int32_t na = n - k + 1, nb = m - k + 1, i, j;
    size_t cap = KTAB_CAP(na), s, count = 0;
    uint64_t pw = 1, h;

    memset(d->ktab, 0, cap * sizeof(*d->ktab));
    for (i = 0; i < k - 1; i++)
        pw *= d->kmul;
    /* Rolling polynomial hash over ids + 1, keyed by a random multiplier,
     * mixed before it picks a slot. */
    h = 0;
    for (i = 0; i < k - 1; i++)
        h = h * d->kmul + (uint64_t)a[i] + 1;
    for (i = 0; i < na; i++) {
        uint64_t key;

        h = h * d->kmul + (uint64_t)a[i + k - 1] + 1;
        key = mix64(h ^ d->kxor);
        h -= ((uint64_t)a[i] + 1) * pw;
        d->ha[i] = key;
        for (s = slot_of(key, cap); d->ktab[s].a != 0; s = s + 1 < cap ? s + 1 : 0) {
            if (d->ha[(d->ktab[s].a & ~KSLOT_MANY) - 1] == key) {
                d->ktab[s].a |= KSLOT_MANY;
                break;
            }
        }
        if (d->ktab[s].a == 0) {
            d->ktab[s].a = (uint32_t)i + 1;
            d->ktab[s].b = KSLOT_NONE;
        }
    }
    h = 0;
    for (j = 0; j < k - 1; j++)
        h = h * d->kmul + (uint64_t)b[j] + 1;
    for (j = 0; j < nb; j++) {
        uint64_t key;

        h = h * d->kmul + (uint64_t)b[j + k - 1] + 1;
        key = mix64(h ^ d->kxor);
        h -= ((uint64_t)b[j] + 1) * pw;
        for (s = slot_of(key, cap); d->ktab[s].a != 0; s = s + 1 < cap ? s + 1 : 0) {
            if (d->ha[(d->ktab[s].a & ~KSLOT_MANY) - 1] == key) {
                d->ktab[s].b = d->ktab[s].b == KSLOT_NONE ? j : KSLOT_TWICE;
                break;
            }
        }
    }
    for (i = 0; i < na; i++)
        d->cand[i] = -1;
    for (s = 0; s < cap; s++) {
        if (d->ktab[s].a != 0 && (d->ktab[s].a & KSLOT_MANY) == 0 && d->ktab[s].b >= 0) {
            d->cand[d->ktab[s].a - 1] = d->ktab[s].b;
            count++;
        }
    }
    d->budget -= KGRAM_COST * ((long long)n + m) + (long long)cap / 4;
    return count;
}

/* The longest chain of candidates increasing in both texts (patience
 * sorting, O(c log c)), left in d->lis_tail[0..len). Returns len. */
static int32_t
longest_chain(struct diff *d, int32_t na)
{
    int32_t len = 0, i, t;

    for (i = 0; i < na; i++) {
        int32_t v = d->cand[i], lo = 0, hi = len;

        if (v < 0)
            continue;
        while (lo < hi) {
            int32_t mid = lo + (hi - lo) / 2;

            if (d->cand[d->lis_tail[mid]] < v)
                lo = mid + 1;
            else
                hi = mid;
        }
        d->lis_prev[i] = lo > 0 ? d->lis_tail[lo - 1] : -1;
        d->lis_tail[lo] = i;
        if (lo == len)
            len++;
    }
    i = len > 0 ? d->lis_tail[len - 1] : -1;
    for (t = len - 1; t >= 0; t--) {
        d->lis_tail[t] = i;
        i = d->lis_prev[i];
    }
    return len;
}

/* Turns the chain of k-gram candidates into anchors pushed on d->anch: each
 * is checked token by token, cut where it overlaps the anchor before it, and
 * grown into the equal tokens on both sides. Returns the tokens anchored. */
static long long
chain_anchors(struct diff *d, int32_t alo, int32_t ahi, int32_t blo, int32_t bhi, int32_t k,
              int32_t len)
{
    int32_t pea = alo, peb = blo, t;
    long long covered = 0, work = 0;

    for (t = 0; t < len && !d->oom; t++) {
        int32_t pa = alo + d->lis_tail[t], pb = blo + d->cand[d->lis_tail[t]];
        int32_t s = 0, x, y, n, j;

        if (pea - pa > s)
            s = pea - pa;
        if (peb - pb > s)
            s = peb - pb;
        if (s >= k)
            continue; /* inside the anchor before, or crossing it */
        for (j = s; j < k && d->a[pa + j] == d->b[pb + j]; j++)
            ;
        work += k - s;
        if (j < k)
            continue; /* a hash collision */
        x = pa + s;
        y = pb + s;
        n = k - s;
        while (x > pea && y > peb && d->a[x - 1] == d->b[y - 1]) {
            x--;
            y--;
            n++;
        }
        while (x + n < ahi && y + n < bhi && d->a[x + n] == d->b[y + n])
            n++;
        work += n;
        push_anchor(d, x, y, n);
        covered += n;
        pea = x + n;
        peb = y + n;
    }
    d->budget -= work;
    return covered;
}

/* Pushes on d->anch the best anchors found for the region (both sides
 * non-empty): of the k-gram sizes tried, the one anchoring most tokens.
 * Returns how many it pushed, 0 when there are none, and in *covered the
 * tokens they anchor. */
static size_t
find_anchors(struct diff *d, int32_t alo, int32_t ahi, int32_t blo, int32_t bhi, long long *covered)
{
    int32_t n = ahi - alo, m = bhi - blo, most = n < m ? n : m;
    size_t base = d->nanch, best = 0, ki;
    long long best_cover = 0;

    if (anchor_scratch(d) != 0)
        return 0;
    for (ki = 0; ki < sizeof(kgram_sizes) / sizeof(kgram_sizes[0]); ki++) {
        int32_t k = kgram_sizes[ki], len;
        long long cover;

        if (k > most || d->budget <= 0 || d->oom || best_cover == most)
            break;
        if (kgram_candidates(d, alo, n, blo, m, k) == 0)
            continue;
        len = longest_chain(d, n - k + 1);
        cover = chain_anchors(d, alo, ahi, blo, bhi, k, len);
        if (cover > best_cover) {
            size_t got = d->nanch - (base + best);

            memmove(d->anch + base, d->anch + base + best, got * sizeof(*d->anch));
            best = got;
            best_cover = cover;
        } else if (best_cover > 0) {
            d->nanch = base + best;
            break; /* longer k-grams only get rarer from here */
        }
        d->nanch = base + best;
    }
    *covered = best_cover;
    return d->oom ? 0 : best;
}

/* ---- the recursion ---- */

static void
diff_region(struct diff *d, int32_t alo, int32_t ahi, int32_t blo, int32_t bhi, int depth)
{
    int32_t pre = 0, suf = 0;
    long long len;

    while (alo + pre < ahi && blo + pre < bhi && d->a[alo + pre] == d->b[blo + pre])
        pre++;
    add_run(d, alo, blo, pre);
    alo += pre;
    blo += pre;
    while (alo < ahi - suf && blo < bhi - suf && d->a[ahi - suf - 1] == d->b[bhi - suf - 1])
        suf++;
    ahi -= suf;
    bhi -= suf;
    d->budget -= pre + suf;
    len = (long long)(ahi - alo) + (bhi - blo);
    if (alo == ahi || blo == bhi || d->budget <= 0 || d->oom) {
        /* A pure delete or insert, or out of work: no runs. */
    } else if (len <= SMALL_REGION) {
        myers(d, alo, ahi, blo, bhi, (long long)SMALL_REGION * SMALL_REGION, MYERS_EXACT);
    } else if (depth >= MAX_DEPTH) {
        myers(d, alo, ahi, blo, bhi, FALLBACK_PER_TOKEN * len, MYERS_HEURISTIC);
    } else {
        long long covered = 0, bound, exact;
        size_t base = d->nanch, nanch = find_anchors(d, alo, ahi, blo, bhi, &covered), i;
        int32_t pa = alo, pb = blo;

        /* The anchors prove an edit of `bound` tokens, so D <= bound. When
         * Myers would finish within what this region may spend on exactness
         * even for D = bound (its levels cost about D^2 / 2 units, its
         * snakes about as much again), it runs first: exact where that is
         * cheap, anchors (close to exact) where not. The region's share of
         * WORK_BASE makes all of a small text cheap enough. */
        bound = len - 2 * covered;
        exact = EXACT_PER_TOKEN * len + WORK_BASE * len / ((long long)d->na + d->nb);
        if (bound < INT32_MAX && bound * bound + len <= exact &&
            myers(d, alo, ahi, blo, bhi, exact, MYERS_TRY)) {
            /* Done, exactly. */
        } else if (nanch == 0) {
            myers(d, alo, ahi, blo, bhi, FALLBACK_PER_TOKEN * len, MYERS_HEURISTIC);
        } else {
            for (i = 0; i < nanch; i++) {
                struct run r = d->anch[base + i];

                diff_region(d, pa, r.ai, pb, r.bi, depth + 1);
                add_run(d, r.ai, r.bi, r.n);
                pa = r.ai + r.n;
                pb = r.bi + r.n;
            }
            diff_region(d, pa, ahi, pb, bhi, depth + 1);
        }
        d->nanch = base;
    }
    add_run(d, ahi, bhi, suf);
}

/* Without ids (probing gave up): only the common prefix and suffix tokens,
 * compared byte by byte, are kept; the middle is one delete and one insert. */
static void
coarse_runs(struct diff *d, const struct toks *a, const struct toks *b)
{
    int32_t pre = 0, suf = 0;

    while (pre < a->n && pre < b->n && tok_len(a, pre) == tok_len(b, pre) &&
           memcmp(tok_ptr(a, pre), tok_ptr(b, pre), tok_len(a, pre)) == 0)
        pre++;
    while (suf < a->n - pre && suf < b->n - pre &&
           tok_len(a, a->n - suf - 1) == tok_len(b, b->n - suf - 1) &&
           memcmp(tok_ptr(a, a->n - suf - 1), tok_ptr(b, b->n - suf - 1),
                  tok_len(a, a->n - suf - 1)) == 0)
        suf++;
    add_run(d, 0, 0, pre);
    add_run(d, a->n - suf, b->n - suf, suf);
}

/* ---- rendering ---- */

/* The three op names, shared by every op object of one array. */
struct op_names {
    json_t *equal, *delete, *insert;
};

/* Appends {"op": op, "text": text[lo..hi)} unless the text is empty. */
static int
append_op(json_t *ops, json_t *op, const char *text, size_t lo, size_t hi)
{
    json_t *o;

    if (lo == hi)
        return 0;
    o = json_object();
    if (o == NULL || json_array_append_new(ops, o) != 0) {
        json_decref(o);
        return -1;
    }
    /* json_stringn() checks UTF-8: a bad text fails here, not later. */
    if (json_object_set_nocheck(o, "op", op) != 0 ||
        json_object_set_new_nocheck(o, "text", json_stringn(text + lo, hi - lo)) != 0)
        return -1;
    return 0;
}

/* Turns the matching runs into ops; every gap is a delete then an insert. */
static json_t *
render_ops(const struct diff *d, const struct toks *a, const struct toks *b)
{
    struct op_names nm = {json_string("equal"), json_string("delete"), json_string("insert")};
    json_t *ops = json_array();
    int32_t pa = 0, pb = 0;
    size_t i;
    int rc = nm.equal != NULL && nm.delete != NULL && nm.insert != NULL && ops != NULL ? 0 : -1;

    for (i = 0; i <= d->nruns && rc == 0; i++) {
        /* A sentinel run of length 0 at the ends flushes the last gap. */
        struct run r = i < d->nruns ? d->runs[i] : (struct run){a->n, b->n, 0};

        rc |= append_op(ops, nm.delete, a->text, a->off[pa], a->off[r.ai]);
        rc |= append_op(ops, nm.insert, b->text, b->off[pb], b->off[r.bi]);
        rc |= append_op(ops, nm.equal, a->text, a->off[r.ai], a->off[r.ai + r.n]);
        pa = r.ai + r.n;
        pb = r.bi + r.n;
    }
    json_decref(nm.equal);
    json_decref(nm.delete);
    json_decref(nm.insert);
    if (rc != 0) {
        json_decref(ops);
        return NULL;
    }
    return ops;
}

/* Frees what only the diffing needs; safe to call twice. */
static void
diff_scratch_free(struct diff *d, struct toks *a, struct toks *b)
{
    free(d->v);
    free(d->ha);
    free(d->ktab);
    free(d->cand);
    free(d->anch);
    free(a->id);
    free(b->id);
    d->v = NULL;
    d->ha = NULL;
    d->ktab = NULL;
    d->cand = NULL;
    d->anch = NULL;
    a->id = NULL;
    b->id = NULL;
    d->a = d->b = NULL;
}

/* One delete and one insert, for texts too large to cut into tokens. */
static json_t *
coarse_ops(const char *from, size_t from_len, const char *to, size_t to_len)
{
    json_t *ops = json_array(), *del = json_string("delete"), *ins = json_string("insert");

    if (ops == NULL || del == NULL || ins == NULL || append_op(ops, del, from, 0, from_len) != 0 ||
        append_op(ops, ins, to, 0, to_len) != 0) {
        json_decref(ops);
        ops = NULL;
    }
    json_decref(del);
    json_decref(ins);
    return ops;
}

json_t *
wdiff_ops(const char *from, size_t from_len, const char *to, size_t to_len)
{
    struct toks a = {0}, b = {0};
    struct diff d = {.max_runs = SIZE_MAX};
    struct sipkey key;
    json_t *ops = NULL;
    int rc = 1;

    /* Offsets and ids are 32-bit; texts that large are far past the
     * budget anyway and take the coarse path, one delete and one insert. */
    if (from_len >= INT32_MAX || to_len >= INT32_MAX)
        return coarse_ops(from, from_len, to, to_len);
    if (tokenise(from, from_len, &a) != 0 || tokenise(to, to_len, &b) != 0)
        goto out;
    random_keys(&key, &d.kmul, &d.kxor);
    d.budget = WORK_BASE + WORK_PER_TOKEN * ((long long)a.n + b.n);
    rc = intern(&a, &b, &key, &d.budget);
    if (rc < 0)
        goto out;
    if (rc > 0) {
        coarse_runs(&d, &a, &b);
    } else {
        d.a = a.id;
        d.b = b.id;
        d.na = a.n;
        d.nb = b.n;
        diff_region(&d, 0, a.n, 0, b.n, 0);
    }
    /* Rendering needs only the runs and the offsets: the rest goes first,
     * so the ops can reuse its memory. */
    diff_scratch_free(&d, &a, &b);
    if (!d.oom)
        ops = render_ops(&d, &a, &b);
out:
    diff_scratch_free(&d, &a, &b);
    free(d.runs);
    free(a.off);
    free(b.off);
    return ops;
}

char *
wdiff_apply(const char *from, size_t from_len, const json_t *ops, size_t *out_len)
{
    struct sbuf out;
    size_t pos = 0, i;
    const json_t *op;

    if (!json_is_array(ops))
        return NULL;
    sbuf_init(&out);
    for (i = 0; i < json_array_size(ops); i++) {
        const json_t *kind, *text;
        const char *k, *t;
        size_t tlen;

        op = json_array_get(ops, i);
        kind = json_object_get(op, "op");
        text = json_object_get(op, "text");
        if (!json_is_string(kind) || !json_is_string(text))
            goto fail;
        k = json_string_value(kind);
        t = json_string_value(text);
        tlen = json_string_length(text);
        if (json_string_length(kind) != strlen(k))
            goto fail;
        if (strcmp(k, "insert") == 0) {
            sbuf_add(&out, t, tlen);
            continue;
        }
        if (strcmp(k, "equal") != 0 && strcmp(k, "delete") != 0)
            goto fail;
        if (tlen > from_len - pos || (tlen > 0 && memcmp(from + pos, t, tlen) != 0))
            goto fail;
        pos += tlen;
        if (k[0] == 'e')
            sbuf_add(&out, t, tlen);
    }
    if (pos != from_len)
        goto fail;
    return sbuf_steal(&out, out_len);
fail:
    sbuf_cleanup(&out);
    return NULL;
}
