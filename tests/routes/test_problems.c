/* routes/problems.c: every problem type inboxd can send resolves to a
 * page (RFC 9457 section 3.1.1), without a key. Which types the code can
 * send: tests/layout/problem_types.sh checks every literal slug has a row,
 * and the harness checks every problem any suite provokes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "fixtures.h"
#include "inboxd/lib/problem.h"
#include "inboxd/lib/problem_types.h"

TestSuite(problems, .init = fx_setup, .fini = fx_teardown, .timeout = 120);

Test(problems, every_type_resolves_to_a_page_without_a_key)
{
    int n = 0;

    for (const struct problem_type *pt = problem_types; pt->slug != NULL; pt++, n++) {
        char path[96], ct[64], status[16];
        struct resp r;

        snprintf(path, sizeof(path), "/problems/%s", pt->slug);
        th_get(&t, path, NULL, &r);
        cr_assert_eq(r.status, 200, "%s: %ld", path, r.status);
        cr_assert(resp_header(&r, "Content-Type", ct, sizeof(ct)));
        cr_assert_str_eq(ct, "text/html; charset=utf-8");
        cr_assert_not_null(strstr(r.body, pt->slug), "%s names its type", path);
        snprintf(status, sizeof(status), "HTTP %d", pt->status);
        cr_assert_not_null(strstr(r.body, status), "%s gives its status", path);
        cr_assert_null(strstr(r.body, "`"), "%s: code spans are rendered", path);
        resp_free(&r);
    }
    cr_assert_gt(n, 30);
}

/* The type of an actual problem, followed as a caller would. */
Test(problems, a_problem_type_is_followed_to_its_page)
{
    struct resp r, page;

    th_get(&t, "/v1/conversations/0190a000-0000-7000-8000-000000000000", key, &r);
    expect_problem(&r, 404);
    th_get(&t, jstr(r.json, "type"), NULL, &page);
    cr_assert_eq(page.status, 200, "%s", jstr(r.json, "type"));
    cr_assert_not_null(strstr(page.body, "not-found"));
    resp_free(&page);
    resp_free(&r);
}

Test(problems, an_unknown_type_is_404)
{
    struct resp r;

    th_get(&t, "/problems/no-such-problem", NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_get(&t, "/problems/%3Cscript%3E", NULL, &r);
    expect_problem(&r, 404);
    cr_assert_null(strstr(r.body, "<script>"), "the slug is not echoed");
    resp_free(&r);
}
