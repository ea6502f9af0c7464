/*
 * fuzz: what every libFuzzer harness of tests/fuzz shares.
 *
 * A harness feeds one parser the fuzzer's bytes and checks what the
 * parser's header promises (a round trip, a status, an output that is
 * valid): a broken promise aborts, which libFuzzer reports as a crash,
 * like a sanitizer finding. Harnesses keep no state between inputs beyond
 * what their initialisation sets up once, so each input is replayable on
 * its own.
 */
#ifndef INBOXD_FUZZ_H
#define INBOXD_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken promise: says which and aborts. */
#define FUZZ_CHECK(cond)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond);   \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

/* The n bytes at data as a new NUL-terminated string (it may hold NULs
 * before the end); aborts on OOM, which is not what is being fuzzed. */
static inline char *
fuzz_strndup(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);

    FUZZ_CHECK(s != NULL);
    if (n > 0)
        memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

/* Removes every INBOXD_* variable from the environment, so that the
 * caller's settings never reach a harness's configuration. */
static inline void
fuzz_clear_env(void)
{
    extern char **environ;

    for (bool again = true; again;) {
        again = false;
        for (char **e = environ; *e; e++)
            if (strncmp(*e, "INBOXD_", 7) == 0) {
                char name[256];

                snprintf(name, sizeof(name), "%.*s", (int)strcspn(*e, "="), *e);
                unsetenv(name);
                again = true;
                break;
            }
    }
}

#endif
