/*
 * fuzz_accept_encoding: http_accepts_coding() on any Accept-Encoding
 * value. Beyond not crashing: the answer does not depend on case (RFC
 * 9110 codings are case-insensitive), and a header naming the coding
 * alone accepts it.
 */
#include "fuzz.h"

#include <ctype.h>

#include "inboxd/http/reply.h"

static const char *const codings[] = {"gzip", "identity", "br", "deflate", "x-gzip", NULL};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    char *up = fuzz_strndup(data, size);

    for (char *p = up; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    for (int i = 0; codings[i] != NULL; i++) {
        bool a = http_accepts_coding(s, codings[i]);

        FUZZ_CHECK(a == http_accepts_coding(up, codings[i]));
        FUZZ_CHECK(http_accepts_coding(codings[i], codings[i]));
    }
    /* The coding asked about may itself be odd (never from a client). */
    if (s[0] != '\0')
        (void)http_accepts_coding("gzip;q=0.5, *;q=0.1", s);
    (void)http_accepts_coding(NULL, "gzip");
    free(up);
    free(s);
    return 0;
}
