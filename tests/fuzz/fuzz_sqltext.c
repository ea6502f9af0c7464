/*
 * fuzz_sqltext: sqltext_next() over any script, and
 * sqltext_concurrent_index() on every statement it yields. The split
 * always moves forward, ends, and yields statements in order inside the
 * script, each ending at a ';' or at the end; an index name, when one is
 * found, is text of its statement and fits the buffer.
 */
#include "fuzz.h"

#include "inboxd/lib/sqltext.h"

static bool
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void
check_index(const char *stmt, size_t len)
{
    char name[64];

    for (size_t cap = 1; cap <= sizeof(name); cap *= 4) {
        if (!sqltext_concurrent_index(stmt, len, name, cap))
            continue;
        FUZZ_CHECK(name[0] != '\0' && strlen(name) < cap);
        FUZZ_CHECK(memmem(stmt, len, name, strlen(name)) != NULL);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The script is text: it ends at its first NUL, as the splitter reads it. */
    char *script = fuzz_strndup(data, size);
    const char *end = script + strlen(script), *p = script, *prev_end = script, *s;
    size_t len, semicolons = 0, n = 0;

    for (const char *c = script; c < end; c++)
        semicolons += *c == ';';
    while ((s = sqltext_next(&p, &len)) != NULL) {
        FUZZ_CHECK(s >= prev_end && s + len <= end);
        FUZZ_CHECK(s[len] == ';' || s + len == end);
        /* A statement starts past spaces and comments. */
        FUZZ_CHECK(!is_space(*s) && strncmp(s, "--", 2) != 0 && strncmp(s, "/*", 2) != 0);
        FUZZ_CHECK(p > prev_end && p <= end);
        FUZZ_CHECK(p == (s[len] == ';' ? s + len + 1 : end));
        FUZZ_CHECK(++n <= semicolons + 1);
        check_index(s, len);
        prev_end = p;
    }
    free(script);
    return 0;
}
