/*
 * wdiff: word-level diff (Myers' O(ND) algorithm) and its replay.
 *
 * DESIGN. Both texts are cut into tokens (see wdiff.h) and every distinct
 * token gets a small integer id from one hash table, so the diff compares
 * integers. The common prefix and suffix are trimmed, then the middle is
 * diffed with the linear-space divide-and-conquer form of Myers' algorithm:
 * find the middle snake of the shortest edit script, recurse on both sides
 * (E. Myers, "An O(ND) Difference Algorithm and Its Variations", 1986,
 * section 4b; the bisection follows diff-match-patch's diff_bisect). The
 * result is the list of matching token runs; every gap between two runs is
 * one delete (the gap in `from`) then one insert (the gap in `to`), which is
 * what makes the ops merged by construction.
 *
 * The cost of Myers is O((N+M)D): two unrelated 64 KiB texts would take
 * seconds. Every diagonal step and snake step is therefore counted against a
 * fixed budget; once it is spent, a region still to diff becomes one delete
 * and one insert. The edit stays exact, only no longer minimal, and the time
 * stays bounded whatever a caller sends.
 *
 * This module never splits a UTF-8 sequence (bytes >= 0x80 are word bytes),
 * never logs and never aborts on input: out of memory is a NULL return.
 */
#include "inboxd/wdiff.h"

#include "inboxd/sbuf.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Work units (diagonals tried plus tokens matched along snakes) one
 * wdiff_ops() call may spend in Myers, at about 3 ns each. Two 64 KiB texts
 * with 10% of their words edited need 4 million, with 30% 31 million; two
 * unrelated ones spend it all (about 120 ms). */
#define DIFF_BUDGET 40000000LL

enum tok_class {
    TOK_WORD,
    TOK_SPACE,
    TOK_PUNCT,
};

/* One text cut into tokens: token i is text[off[i] .. off[i + 1]). */
struct toks {
    const char *text;
    size_t *off; /* n + 1 entries */
    int32_t *id; /* n entries, equal ids for equal tokens of either text */
    ptrdiff_t n;
};

/* A run of n matching tokens: a[ai ..] equals b[bi ..]. */
struct run {
    ptrdiff_t ai, bi, n;
};

struct diff {
    const int32_t *a, *b;
    ptrdiff_t *v1, *v2; /* bisection scratch, sized for the largest call */
    struct run *runs;
    size_t nruns, capruns;
    long long budget;
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

/* Cuts text into tokens; fills t->off and t->n. Returns -1 on OOM. */
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

        t->off[n++] = i++;
        if (k != TOK_PUNCT) {
            while (i < len && classify((unsigned char)text[i]) == k)
                i++;
        }
    }
    t->off[n] = len;
    t->n = (ptrdiff_t)n;
    return 0;
}

/* FNV-1a: fast on short tokens. It is not keyed, so a caller could build
 * text whose tokens collide in the table; intern() charges every extra probe
 * to the diff budget, so that costs bounded time, never a wrong id (equal
 * hashes are confirmed with memcmp). */
static uint64_t
hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

struct slot {
    const char *p; /* NULL when free */
    size_t len;
    uint64_t h;
    int32_t id;
};

/* Gives every token of a and b an id, equal ids exactly for equal bytes.
 * Returns 0, 1 when the budget ran out (the ids are then unusable), or -1 on
 * OOM. */
static int
intern(struct toks *a, struct toks *b, long long *budget)
{
    struct toks *ts[2] = {a, b};
    size_t cap = 16, mask, total = (size_t)a->n + (size_t)b->n;
    struct slot *tab;
    int32_t next = 0;
    int k;

    /* Ids are int32_t to halve the memory the diff walks; a text of 2^31
     * tokens would not have got this far in a request anyway. */
    if (total > INT32_MAX)
        return -1;
    while (cap < total * 2)
        cap *= 2;
    tab = calloc(cap, sizeof(*tab));
    if (tab == NULL)
        return -1;
    mask = cap - 1;
    for (k = 0; k < 2; k++) {
        struct toks *t = ts[k];
        ptrdiff_t i;

        for (i = 0; i < t->n; i++) {
            const char *p = t->text + t->off[i];
            size_t len = t->off[i + 1] - t->off[i];
            uint64_t h = hash_bytes(p, len);
            size_t j = (size_t)h & mask;

            while (tab[j].p != NULL &&
                   !(tab[j].h == h && tab[j].len == len && memcmp(tab[j].p, p, len) == 0)) {
                j = (j + 1) & mask;
                if (--*budget <= 0) {
                    free(tab);
                    return 1;
                }
            }
            if (tab[j].p == NULL) {
                tab[j].p = p;
                tab[j].len = len;
                tab[j].h = h;
                tab[j].id = next++;
            }
            t->id[i] = tab[j].id;
        }
    }
    free(tab);
    return 0;
}

/* Records that a[ai .. ai+n) matches b[bi .. bi+n); runs arrive in order. */
static void
add_run(struct diff *d, ptrdiff_t ai, ptrdiff_t bi, ptrdiff_t n)
{
    struct run *last = d->nruns > 0 ? &d->runs[d->nruns - 1] : NULL;

    if (n == 0 || d->oom)
        return;
    if (last != NULL && last->ai + last->n == ai && last->bi + last->n == bi) {
        last->n += n;
        return;
    }
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

static void diff_range(struct diff *d, ptrdiff_t alo, ptrdiff_t ahi, ptrdiff_t blo, ptrdiff_t bhi);

/* Finds the middle snake of a[alo..ahi) against b[blo..bhi), both non-empty
 * and differing in their first and last tokens, and stores in *sx, *sy the
 * point (relative to alo, blo) where a shortest edit script crosses it.
 * Returns false when the budget ran out or the texts have nothing in
 * common; the whole range is then a delete and an insert. */
static bool
bisect(struct diff *d, ptrdiff_t alo, ptrdiff_t ahi, ptrdiff_t blo, ptrdiff_t bhi, ptrdiff_t *sx,
       ptrdiff_t *sy)
{
    const int32_t *a = d->a + alo, *b = d->b + blo;
    ptrdiff_t n = ahi - alo, m = bhi - blo;
    ptrdiff_t max_d = (n + m + 1) / 2;
    ptrdiff_t voff = max_d, vlen = 2 * max_d + 2;
    ptrdiff_t delta = n - m;
    bool front = (delta & 1) != 0;
    ptrdiff_t k1start = 0, k1end = 0, k2start = 0, k2end = 0;
    ptrdiff_t *v1 = d->v1, *v2 = d->v2;
    ptrdiff_t i, dd, k;

    if (d->budget <= 0)
        return false;
    for (i = 0; i < vlen; i++) {
        v1[i] = -1;
        v2[i] = -1;
    }
    v1[voff + 1] = 0;
    v2[voff + 1] = 0;
    for (dd = 0; dd < max_d; dd++) {
        if (d->budget <= 0)
            return false;
        d->budget -= 2 * dd + 1;
        /* Forward paths, from the top left corner. */
        for (k = -dd + k1start; k <= dd - k1end; k += 2) {
            ptrdiff_t ko = voff + k, x, y, x0;

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
                ptrdiff_t k2o = voff + delta - k;

                if (k2o >= 0 && k2o < vlen && v2[k2o] != -1 && x >= n - v2[k2o]) {
                    *sx = x;
                    *sy = y;
                    return true;
                }
            }
        }
        /* Reverse paths, from the bottom right corner, in mirrored
         * coordinates (x counts tokens from the end of a). */
        for (k = -dd + k2start; k <= dd - k2end; k += 2) {
            ptrdiff_t ko = voff + k, x, y, x0;

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
                ptrdiff_t k1o = voff + delta - k;

                if (k1o >= 0 && k1o < vlen && v1[k1o] != -1) {
                    ptrdiff_t x1 = v1[k1o];

                    if (x1 >= n - x) {
                        *sx = x1;
                        *sy = voff + x1 - k1o;
                        return true;
                    }
                }
            }
        }
    }
    return false;
}

/* Diffs a[alo..ahi) against b[blo..bhi), adding the matching runs in
 * order. Recursion depth is about log2(D), since each bisection halves the
 * edit distance of both sides. */
static void
diff_range(struct diff *d, ptrdiff_t alo, ptrdiff_t ahi, ptrdiff_t blo, ptrdiff_t bhi)
{
    ptrdiff_t pre = 0, suf = 0, sx, sy;

    while (alo + pre < ahi && blo + pre < bhi && d->a[alo + pre] == d->b[blo + pre])
        pre++;
    add_run(d, alo, blo, pre);
    alo += pre;
    blo += pre;
    while (alo < ahi - suf && blo < bhi - suf && d->a[ahi - suf - 1] == d->b[bhi - suf - 1])
        suf++;
    ahi -= suf;
    bhi -= suf;
    /* With one side empty the middle is a pure delete or insert. After
     * trimming, a split point lies strictly inside the range (D >= 2), so
     * the recursion makes progress; the bounds test only makes that
     * independent of the proof. */
    if (alo < ahi && blo < bhi && bisect(d, alo, ahi, blo, bhi, &sx, &sy) && sx + sy > 0 &&
        sx + sy < (ahi - alo) + (bhi - blo)) {
        diff_range(d, alo, alo + sx, blo, blo + sy);
        diff_range(d, alo + sx, ahi, blo + sy, bhi);
    }
    add_run(d, ahi, bhi, suf);
}

/* Appends {"op": op, "text": text[lo..hi)} unless the text is empty. */
static int
append_op(json_t *ops, const char *op, const char *text, size_t lo, size_t hi)
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
    if (json_object_set_new(o, "op", json_string(op)) != 0 ||
        json_object_set_new(o, "text", json_stringn(text + lo, hi - lo)) != 0)
        return -1;
    return 0;
}

/* Turns the matching runs into ops; every gap is a delete then an insert. */
static json_t *
render_ops(const struct diff *d, const struct toks *a, const struct toks *b)
{
    json_t *ops = json_array();
    ptrdiff_t pa = 0, pb = 0;
    size_t i;
    int rc = 0;

    if (ops == NULL)
        return NULL;
    for (i = 0; i <= d->nruns && rc == 0; i++) {
        /* A sentinel run of length 0 at the ends flushes the last gap. */
        struct run r = i < d->nruns ? d->runs[i] : (struct run){a->n, b->n, 0};

        rc |= append_op(ops, "delete", a->text, a->off[pa], a->off[r.ai]);
        rc |= append_op(ops, "insert", b->text, b->off[pb], b->off[r.bi]);
        rc |= append_op(ops, "equal", a->text, a->off[r.ai], a->off[r.ai + r.n]);
        pa = r.ai + r.n;
        pb = r.bi + r.n;
    }
    if (rc != 0) {
        json_decref(ops);
        return NULL;
    }
    return ops;
}

json_t *
wdiff_ops(const char *from, size_t from_len, const char *to, size_t to_len)
{
    struct toks a = {0}, b = {0};
    struct diff d = {.budget = DIFF_BUDGET};
    json_t *ops = NULL;
    size_t vlen;
    int rc;

    if (tokenise(from, from_len, &a) != 0 || tokenise(to, to_len, &b) != 0)
        goto out;
    rc = intern(&a, &b, &d.budget);
    if (rc < 0)
        goto out;
    if (rc > 0) {
        /* No ids, no diff: no runs make it one delete and one insert. */
        ops = render_ops(&d, &a, &b);
        goto out;
    }
    /* Scratch for the largest bisection: its diagonals -D..D and a guard
     * on either side. */
    vlen = (size_t)((a.n + b.n + 1) / 2) * 2 + 2;
    d.v1 = malloc(vlen * sizeof(*d.v1));
    d.v2 = malloc(vlen * sizeof(*d.v2));
    if (d.v1 == NULL || d.v2 == NULL)
        goto out;
    d.a = a.id;
    d.b = b.id;
    diff_range(&d, 0, a.n, 0, b.n);
    if (!d.oom)
        ops = render_ops(&d, &a, &b);
out:
    free(d.v1);
    free(d.v2);
    free(d.runs);
    free(a.off);
    free(a.id);
    free(b.off);
    free(b.id);
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
