/*
 * uuid7 suite: layout bits, time field, ordering from one and from several
 * threads, and the text validator.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "inboxd/lib/uuid7.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 4
#define PER_THREAD 20000

static uint64_t
hex_field(const char *s, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        v = v << 4 | (uint64_t)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    return v;
}

static uint64_t
wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

Test(uuid7, new_id_is_lowercase_hyphenated_version_7_variant_10)
{
    char id[UUID7_STRLEN + 1];

    for (int n = 0; n < 1000; n++) {
        uuid7_new(id);
        cr_assert_eq(strlen(id), UUID7_STRLEN);
        cr_assert(uuid7_is_valid(id), "%s", id);
        for (size_t i = 0; i < UUID7_STRLEN; i++)
            cr_assert(id[i] == '-' || (id[i] >= '0' && id[i] <= '9') ||
                          (id[i] >= 'a' && id[i] <= 'f'),
                      "%s", id);
        cr_assert_eq(id[14], '7', "version nibble of %s", id);
        cr_assert(strchr("89ab", id[19]) != NULL, "variant of %s", id);
    }
}

Test(uuid7, time_field_is_the_current_unix_millisecond)
{
    char id[UUID7_STRLEN + 1];
    uint64_t before = wall_ms(), ms;

    uuid7_new(id);
    /* First 48 bits: 8 hex digits, a hyphen, 4 hex digits. */
    ms = hex_field(id, 8) << 16 | hex_field(id + 9, 4);
    cr_assert_geq(ms, before);
    cr_assert_leq(ms, wall_ms() + 1);
}

Test(uuid7, ids_from_one_thread_strictly_increase)
{
    char prev[UUID7_STRLEN + 1], cur[UUID7_STRLEN + 1];

    uuid7_new(prev);
    for (int n = 0; n < 100000; n++) {
        uuid7_new(cur);
        cr_assert_lt(strcmp(prev, cur), 0, "%s then %s", prev, cur);
        memcpy(prev, cur, sizeof prev);
    }
}

static void *
make_ids(void *arg)
{
    char(*ids)[UUID7_STRLEN + 1] = arg;

    for (int n = 0; n < PER_THREAD; n++)
        uuid7_new(ids[n]);
    return NULL;
}

static int
cmp_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

Test(uuid7, ids_from_threads_are_unique_and_increase_per_thread)
{
    char(*ids)[UUID7_STRLEN + 1] = calloc(THREADS * PER_THREAD, sizeof *ids);
    pthread_t th[THREADS];

    cr_assert_not_null(ids);
    for (int t = 0; t < THREADS; t++)
        cr_assert_eq(pthread_create(&th[t], NULL, make_ids, ids + t * PER_THREAD), 0);
    for (int t = 0; t < THREADS; t++)
        cr_assert_eq(pthread_join(th[t], NULL), 0);
    for (int t = 0; t < THREADS; t++)
        for (int n = 1; n < PER_THREAD; n++)
            cr_assert_lt(strcmp(ids[t * PER_THREAD + n - 1], ids[t * PER_THREAD + n]), 0,
                         "thread %d, id %d", t, n);
    qsort(ids, THREADS * PER_THREAD, sizeof *ids, cmp_ids);
    for (int n = 1; n < THREADS * PER_THREAD; n++)
        cr_assert_neq(strcmp(ids[n - 1], ids[n]), 0, "duplicate %s", ids[n]);
    free(ids);
}

static const struct {
    const char *text;
    bool valid;
} validity_cases[] = {
    {"01890a5d-ac96-774b-bcce-b302099a8057", true},
    {"01890A5D-AC96-774B-BCCE-B302099A8057", true}, /* upper case */
    {"01890a5d-AC96-774b-bCCe-b302099a8057", true}, /* mixed case */
    {"00000000-0000-0000-0000-000000000000", true}, /* nil, any version */
    {"6ba7b810-9dad-11d1-80b4-00c04fd430c8", true}, /* version 1 */
    {"", false},
    {"01890a5d-ac96-774b-bcce-b302099a805", false},   /* 35 chars */
    {"01890a5d-ac96-774b-bcce-b302099a80577", false}, /* 37 chars */
    {"01890a5dac96-774b-bcce-b302099a80577", false},  /* hyphen missing */
    {"01890a5d-ac967-74b-bcce-b302099a8057", false},  /* hyphen moved */
    {"01890a5d-ac96-774b-bcceb-302099a8057", false},
    {"01890a5d-ac96-774b-bcce-b302099a805g", false}, /* non-hex */
    {"01890a5d-ac96-774b-bcce-b302099a805 ", false},
    {"{1890a5d-ac96-774b-bcce-b302099a8057", false},
    {"01890a5d0ac96-774b-bcce-b302099a8057", false},
    {"01890a5dac96774bbcceb302099a80570000", false}, /* no hyphens */
    {"01890a5d-ac96-774b-bcce-b302099a8057\n", false},
};

Test(uuid7, is_valid_accepts_uuid_text_only)
{
    for (size_t i = 0; i < sizeof validity_cases / sizeof validity_cases[0]; i++)
        cr_expect_eq(uuid7_is_valid(validity_cases[i].text), validity_cases[i].valid,
                     "case %zu: \"%s\"", i, validity_cases[i].text);
}

Test(uuid7, is_valid_rejects_null)
{
    cr_assert_not(uuid7_is_valid(NULL));
}

Test(uuid7, is_valid_stops_at_the_end_of_short_strings)
{
    const char *good = "01890a5d-ac96-774b-bcce-b302099a8057";

    /* Exact-size heap copies, so a sanitizer build catches any overread. */
    for (size_t len = 0; len < UUID7_STRLEN; len++) {
        char *p = malloc(len + 1);

        cr_assert_not_null(p);
        memcpy(p, good, len);
        p[len] = '\0';
        cr_expect_not(uuid7_is_valid(p), "prefix of %zu", len);
        free(p);
    }
}

Test(uuid7, lower_canonicalises_and_empties_invalid_input)
{
    char out[UUID7_STRLEN + 1];
    char same[UUID7_STRLEN + 1] = "01890A5D-AC96-774B-BCCE-B302099A8057";

    uuid7_lower("01890A5D-AC96-774b-BCCE-B302099A8057", out);
    cr_assert_str_eq(out, "01890a5d-ac96-774b-bcce-b302099a8057");
    uuid7_lower(same, same);
    cr_assert_str_eq(same, "01890a5d-ac96-774b-bcce-b302099a8057");
    uuid7_lower("not-a-uuid", out);
    cr_assert_str_eq(out, "");
    uuid7_lower(NULL, out);
    cr_assert_str_eq(out, "");
}

/* Random bits are buffered per thread; a forked child must not hand out the
 * bits its parent still has buffered. Parent and child each make the next
 * id after the fork: their random tails (the last 12 hex digits) differ. */
Test(uuid7, a_forked_child_does_not_repeat_the_parents_random_bits)
{
    for (int round = 0; round < 8; round++) {
        char warm[UUID7_STRLEN + 1], mine[UUID7_STRLEN + 1], theirs[UUID7_STRLEN + 1] = "";
        int fds[2];
        pid_t pid;
        int status;

        uuid7_new(warm); /* fills this thread's buffer */
        cr_assert_eq(pipe(fds), 0);
        pid = fork();
        cr_assert_geq(pid, 0);
        if (pid == 0) {
            char id[UUID7_STRLEN + 1];

            uuid7_new(id);
            _exit(write(fds[1], id, UUID7_STRLEN) == UUID7_STRLEN ? 0 : 1);
        }
        close(fds[1]);
        uuid7_new(mine);
        cr_assert_eq(read(fds[0], theirs, UUID7_STRLEN), UUID7_STRLEN);
        close(fds[0]);
        cr_assert_eq(waitpid(pid, &status, 0), pid);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        cr_assert_str_neq(mine + 24, theirs + 24, "parent %s and child %s share random bits",
                          mine, theirs);
    }
}

/* A UUID inside a longer text (a path segment) is judged by its length,
 * and a NUL inside the length is not hex. */
Test(uuid7, text_is_judged_by_its_length)
{
    const char path[] = "01a24d5b-bd1f-7662-bec6-cffbbe4dbe6b/messages";
    const char nul[] = "01a24d5b-bd1f-7662-bec6-cffbbe4d\0e6b";

    cr_assert(uuid7_is_text(path, 36));
    cr_assert_not(uuid7_is_text(path, 37));
    cr_assert_not(uuid7_is_text(path, 35));
    cr_assert_not(uuid7_is_text(nul, 36));
    cr_assert_not(uuid7_is_text(NULL, 36));
    cr_assert_not(uuid7_is_valid(path));
}
