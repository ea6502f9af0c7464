/*
 * fuzz_router: router_match() over the real route tables of routes/.
 * The input is "<METHOD> <path>"; what matches must be a route of that
 * method whose parameters hold a piece of the path each, and what does
 * not must be a 404, or a 405 with an Allow list.
 */
#include "fuzz.h"

#include "inboxd/http/router.h"
#include "inboxd/lib/problem.h"
#include "inboxd/lib/uuid7.h"
#include "inboxd/routes/routes.h"

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    FUZZ_CHECK(router_init(routes_all) == 0);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    char *sp = strchr(s, ' ');
    const char *method = sp ? s : "GET";
    const char *path = sp ? sp + 1 : s;
    struct route_match m;
    struct problem pb;

    if (sp)
        *sp = '\0';
    problem_init(&pb);
    if (router_match(method, path, &m, &pb) == 0) {
        FUZZ_CHECK(pb.status == 0);
        /* HEAD is answered by the GET route. */
        FUZZ_CHECK(m.route != NULL &&
                   strcmp(m.route->method, strcmp(method, "HEAD") == 0 ? "GET" : method) == 0);
        FUZZ_CHECK(m.nparams >= 0 && m.nparams <= ROUTER_MAX_PARAMS);
        for (int i = 0; i < m.nparams; i++) {
            size_t n = strnlen(m.values[i], sizeof(m.values[i]));

            FUZZ_CHECK(n > 0 && n < sizeof(m.values[i]));
            FUZZ_CHECK(router_param(&m, m.names[i]) != NULL);
            /* Each value is a piece of the path (ids lower-cased). */
            if (!uuid7_is_valid(m.values[i]))
                FUZZ_CHECK(strstr(path, m.values[i]) != NULL);
        }
    } else {
        FUZZ_CHECK(pb.status == 404 || pb.status == 405);
        FUZZ_CHECK(pb.status != 405 || pb.allow[0] != '\0');
        FUZZ_CHECK(strnlen(pb.allow, sizeof(pb.allow)) < sizeof(pb.allow));
    }
    free(s);
    return 0;
}
