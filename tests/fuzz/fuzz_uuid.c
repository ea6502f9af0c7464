/*
 * fuzz_uuid: UUID text as routes and bodies see it (uuid7.h). The
 * NUL-terminated and the counted checks agree, and uuid7_lower() gives
 * the canonical form of valid text (also in place) and "" otherwise.
 */
#include "fuzz.h"

#include <strings.h>

#include "inboxd/lib/uuid7.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    bool valid = uuid7_is_valid(s);
    bool text = uuid7_is_text((const char *)data, size);
    char out[UUID7_STRLEN + 1];

    if (memchr(data, '\0', size) == NULL)
        FUZZ_CHECK(valid == text);
    else
        FUZZ_CHECK(!text);
    uuid7_lower(s, out);
    if (valid) {
        FUZZ_CHECK(uuid7_is_valid(out));
        FUZZ_CHECK(strcasecmp(out, s) == 0);
        for (const char *p = out; *p; p++)
            FUZZ_CHECK(!(*p >= 'A' && *p <= 'Z'));
        /* In place (s holds 37 bytes: it is valid). */
        uuid7_lower(s, s);
        FUZZ_CHECK(strcmp(s, out) == 0);
    } else {
        FUZZ_CHECK(out[0] == '\0');
    }
    FUZZ_CHECK(!uuid7_is_valid(NULL));
    free(s);
    return 0;
}
