/* router: matching, parameters, 404/405. Uses the real route tables. */
#include "inboxd/http/router.h"
#include "inboxd/routes/routes.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static void
setup(void)
{
    cr_assert_eq(router_init(routes_all), 0);
    cr_assert_eq(router_locations(routes_created), 0);
}

TestSuite(router, .init = setup);

Test(router, every_table_route_matches_itself)
{
    size_t n;
    const struct route *const *all = router_routes(&n);

    cr_assert_gt(n, 0);
    for (size_t i = 0; i < n; i++) {
        char path[256];
        struct route_match m;
        struct problem pb = {0};
        const char *p = all[i]->pattern;
        size_t len = 0;

        /* Substitute every {param} with a UUID (valid for ids and names alike). */
        while (*p) {
            if (*p == '{') {
                len += (size_t)snprintf(path + len, sizeof(path) - len, "%s",
                                        "0190f2a4-5b6c-7d8e-9f00-112233445566");
                p = strchr(p, '}') + 1;
            } else {
                path[len++] = *p++;
            }
        }
        path[len] = '\0';
        cr_assert_eq(router_match(all[i]->method, path, &m, &pb), 0, "%s %s", all[i]->method,
                     path);
        cr_assert_eq(m.route, all[i], "%s %s matched another route", all[i]->method, path);
    }
}

Test(router, unknown_path_is_404)
{
    struct route_match m;
    struct problem pb = {0};

    cr_assert_eq(router_match("GET", "/v1/nothing-here", &m, &pb), -1);
    cr_assert_eq(pb.status, 404);
    cr_assert_eq(router_match("GET", "/v1/account/", &m, &pb), -1);
    cr_assert_eq(pb.status, 404);
    cr_assert_eq(router_match("GET", "relative", &m, &pb), -1);
    cr_assert_eq(pb.status, 404);
}

Test(router, wrong_method_is_405_with_allow)
{
    struct route_match m;
    struct problem pb = {0};

    cr_assert_eq(router_match("POST", "/v1/account", &m, &pb), -1);
    cr_assert_eq(pb.status, 405);
    cr_assert_str_eq(pb.allow, "GET, HEAD");
    cr_assert_eq(router_match("PUT", "/v1/users/0190f2a4-5b6c-7d8e-9f00-112233445566", &m, &pb),
                 -1);
    cr_assert_str_eq(pb.allow, "GET, HEAD, PATCH");
}

Test(router, head_is_answered_by_the_get_route)
{
    struct route_match m;
    struct problem pb = {0};

    cr_assert_eq(router_match("HEAD", "/v1/users/0190f2a4-5b6c-7d8e-9f00-112233445566", &m, &pb),
                 0);
    cr_assert_str_eq(m.route->method, "GET");
    cr_assert_str_eq(m.route->pattern, "/v1/users/{id}");
    cr_assert_str_eq(router_param(&m, "id"), "0190f2a4-5b6c-7d8e-9f00-112233445566");
    /* A path without a GET route has no HEAD either. */
    cr_assert_eq(router_match("HEAD", "/v1/draft-requests/claim", &m, &pb), -1);
    cr_assert_eq(pb.status, 405);
    cr_assert_str_eq(pb.allow, "POST");
}

Test(router, malformed_id_does_not_match)
{
    struct route_match m;
    struct problem pb = {0};

    cr_assert_eq(router_match("DELETE", "/v1/api-keys/not-a-uuid", &m, &pb), -1);
    cr_assert_eq(pb.status, 404);
    cr_assert_eq(router_match("DELETE", "/v1/api-keys/0190f2a4-5b6c-7d8e-9f00-11223344556", &m,
                              &pb),
                 -1);
}

Test(router, id_parameter_is_lower_cased)
{
    struct route_match m;
    struct problem pb = {0};

    cr_assert_eq(router_match("DELETE", "/v1/api-keys/0190F2A4-5B6C-7D8E-9F00-AABBCCDDEEFF", &m,
                              &pb),
                 0);
    cr_assert_str_eq(router_param(&m, "id"), "0190f2a4-5b6c-7d8e-9f00-aabbccddeeff");
    cr_assert_null(router_param(&m, "other"));
}

Test(router, deep_paths_are_404_not_a_crash)
{
    struct route_match m;
    struct problem pb = {0};
    char path[600];

    for (int i = 0; i < 100; i++)
        memcpy(path + i * 2, "/a", 2);
    path[200] = '\0';
    cr_assert_eq(router_match("GET", path, &m, &pb), -1);
    cr_assert_eq(pb.status, 404);
}
