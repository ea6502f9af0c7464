/*
 * route_coverage: fails when a route of the router's table was never called
 * by the integration suites (STYLE.md section 11).
 *
 * The harness appends "METHOD PATTERN STATUS" for every matched route to a
 * file per test process in INBOXD_TEST_COVERAGE_DIR; this program reads them
 * all and compares with router_routes(). meson runs it last (priority -100,
 * not parallel). Without the variable it skips (exit 77): a partial run, or
 * one outside ./dev.sh test, proves nothing either way.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inboxd/http/router.h"
#include "inboxd/routes/routes.h"

#define MAX_ROUTES 128
#define SKIP 77

struct seen {
    long calls;
    long ok; /* answers in 2xx/3xx */
};

static int
read_file(const char *path, const struct route *const *all, size_t n, struct seen *seen)
{
    FILE *f = fopen(path, "r");
    char line[700], method[16], pattern[600];
    long status;

    if (f == NULL) {
        perror(path);
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "%15s %599s %ld", method, pattern, &status) != 3)
            continue;
        for (size_t i = 0; i < n; i++)
            if (strcmp(all[i]->method, method) == 0 && strcmp(all[i]->pattern, pattern) == 0) {
                seen[i].calls++;
                seen[i].ok += status >= 200 && status < 400;
            }
    }
    fclose(f);
    return 0;
}

int
main(void)
{
    const char *dir = getenv("INBOXD_TEST_COVERAGE_DIR");
    struct seen seen[MAX_ROUTES] = {{0}};
    const struct route *const *all;
    size_t n, files = 0, missing = 0, no_success = 0;
    struct dirent *e;
    DIR *d;

    if (dir == NULL || dir[0] == '\0') {
        printf("INBOXD_TEST_COVERAGE_DIR is not set: route coverage not checked\n");
        return SKIP;
    }
    if (router_init(routes_all) != 0) {
        fprintf(stderr, "router_init failed\n");
        return 1;
    }
    all = router_routes(&n);
    if (n > MAX_ROUTES) {
        fprintf(stderr, "%zu routes, at most %d expected\n", n, MAX_ROUTES);
        return 1;
    }
    if ((d = opendir(dir)) == NULL) {
        perror(dir);
        return 1;
    }
    while ((e = readdir(d)) != NULL) {
        char path[4096];

        if (strncmp(e->d_name, "routes-", 7) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (read_file(path, all, n, seen) != 0) {
            closedir(d);
            return 1;
        }
        files++;
    }
    closedir(d);

    for (size_t i = 0; i < n; i++) {
        if (seen[i].calls == 0) {
            printf("never called: %s %s\n", all[i]->method, all[i]->pattern);
            missing++;
        } else if (seen[i].ok == 0) {
            printf("note: never answered 2xx/3xx: %s %s (%ld calls)\n", all[i]->method,
                   all[i]->pattern, seen[i].calls);
            no_success++;
        }
    }
    printf("%zu of %zu routes called (%zu coverage files); %zu never succeeded\n", n - missing, n,
           files, no_success);
    return missing == 0 ? 0 : 1;
}
