/*
 * route_coverage: fails when a route of the router's table was never called
 * by the integration suites (STYLE.md section 11).
 *
 * The harness appends "METHOD PATTERN STATUS" for every matched route to a
 * file per test process in INBOXD_TEST_COVERAGE_DIR, which tests/meson.build
 * sets for every test to one folder of the build. "route_coverage --reset"
 * empties it and runs first; "route_coverage" reads what the suites wrote
 * and compares it with router_routes(), and runs last (both alone, so
 * nothing writes meanwhile). Without the variable it fails: a check that
 * cannot look must not pass.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inboxd/http/router.h"
#include "inboxd/routes/routes.h"

#define MAX_ROUTES 128

struct seen {
    long calls;
    long ok; /* answers in 2xx/3xx */
};

/* What read_file() adds the lines of a coverage file to. */
struct tally {
    const struct route *const *all;
    size_t n;
    struct seen *seen;
};

static int
read_file(const char *path, void *arg)
{
    struct tally *t = arg;
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
        for (size_t i = 0; i < t->n; i++)
            if (strcmp(t->all[i]->method, method) == 0 &&
                strcmp(t->all[i]->pattern, pattern) == 0) {
                t->seen[i].calls++;
                t->seen[i].ok += status >= 200 && status < 400;
            }
    }
    fclose(f);
    return 0;
}

static int
remove_file(const char *path, void *arg)
{
    (void)arg;
    if (unlink(path) != 0) {
        perror(path);
        return -1;
    }
    return 0;
}

/* Calls fn on every coverage file ("routes-<pid>") in dir; returns how
 * many, or -1 when dir cannot be read or fn fails. */
static long
each_file(const char *dir, int (*fn)(const char *path, void *arg), void *arg)
{
    struct dirent *e;
    long files = 0;
    DIR *d;

    if ((d = opendir(dir)) == NULL) {
        perror(dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        char path[4096];

        if (strncmp(e->d_name, "routes-", 7) != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (fn(path, arg) != 0) {
            closedir(d);
            return -1;
        }
        files++;
    }
    closedir(d);
    return files;
}

/* Removes the coverage files of an earlier run; makes the folder. */
static int
reset(const char *dir)
{
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        perror(dir);
        return 1;
    }
    if (each_file(dir, remove_file, NULL) < 0)
        return 1;
    printf("route coverage: %s emptied\n", dir);
    return 0;
}

int
main(int argc, char **argv)
{
    const char *dir = getenv("INBOXD_TEST_COVERAGE_DIR");
    struct seen seen[MAX_ROUTES] = {{0}};
    const struct route *const *all;
    size_t n, missing = 0, no_success = 0;
    struct tally t;
    long files;

    if (dir == NULL || dir[0] == '\0') {
        fprintf(stderr, "INBOXD_TEST_COVERAGE_DIR is not set: run the tests with meson test "
                        "or ./dev.sh test, which set it\n");
        return 1;
    }
    if (argc == 2 && strcmp(argv[1], "--reset") == 0)
        return reset(dir);
    if (argc != 1) {
        fprintf(stderr, "usage: route_coverage [--reset]\n");
        return 2;
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
    t = (struct tally){all, n, seen};
    if ((files = each_file(dir, read_file, &t)) < 0)
        return 1;

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
    if (files == 0)
        printf("no coverage files in %s: did the integration suites run?\n", dir);
    printf("%zu of %zu routes called (%ld coverage files); %zu never succeeded\n", n - missing, n,
           files, no_success);
    return missing == 0 ? 0 : 1;
}
