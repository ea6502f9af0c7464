/* Unit tests of parts: pieces kept in order, empty ones skipped, the cap
 * held, and the owner released exactly once. */
#include "inboxd/lib/parts.h"

#include <criterion/criterion.h>
#include <string.h>

static int releases;

static void
count_release(void *ctx)
{
    cr_assert_eq(ctx, &releases);
    releases++;
}

Test(parts, pieces_stay_in_order_and_empty_ones_are_skipped)
{
    static const char a[] = "{\"items\":[", b[] = "{}", c[] = "]}";
    struct parts *p;
    char joined[64] = "";

    releases = 0;
    p = parts_new(4, count_release, &releases);
    cr_assert_not_null(p);
    cr_assert_eq(parts_add(p, a, strlen(a)), 0);
    cr_assert_eq(parts_add(p, "", 0), 0);
    cr_assert_eq(parts_add(p, b, strlen(b)), 0);
    cr_assert_eq(parts_add(p, c, strlen(c)), 0);
    cr_assert_eq(p->n, 3);
    for (size_t i = 0; i < p->n; i++)
        strncat(joined, p->v[i].base, p->v[i].len);
    cr_assert_str_eq(joined, "{\"items\":[{}]}");
    /* The pieces are borrowed, not copied. */
    cr_assert_eq(p->v[0].base, a);
    parts_free(p);
    cr_assert_eq(releases, 1);
    parts_free(NULL);
    cr_assert_eq(releases, 1);
}

Test(parts, a_full_body_refuses_more_pieces)
{
    struct parts *p = parts_new(2, count_release, &releases);

    releases = 0;
    cr_assert_not_null(p);
    cr_assert_eq(parts_add(p, "a", 1), 0);
    cr_assert_eq(parts_add(p, "b", 1), 0);
    cr_assert_eq(parts_add(p, "c", 1), -1);
    cr_assert_eq(p->n, 2);
    parts_free(p);
    cr_assert_eq(releases, 1);
}
