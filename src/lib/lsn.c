/*
 * lsn: WAL positions as text, both PostgreSQL's "X/Y" and the opaque
 * token callers carry (lsn.h). Pure: no database, no HTTP.
 */
#include "inboxd/lib/lsn.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int
hex_value(char c)
{
    static const char digits[] = "0123456789abcdef";

    return isxdigit((unsigned char)c) ? (int)(strchr(digits, tolower((unsigned char)c)) - digits)
                                      : -1;
}

/* Reads 1 to max hex digits from *p up to stop; advances *p past them. */
static bool
hex_run(const char **p, char stop, int max, uint64_t *out)
{
    uint64_t v = 0;
    int n = 0, d;

    for (; **p != stop; (*p)++, n++) {
        if (n == max || (d = hex_value(**p)) < 0)
            return false;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return n > 0;
}

bool
lsn_parse_pg(const char *text, uint64_t *out)
{
    const char *p = text;
    uint64_t hi, lo;

    if (text == NULL || !hex_run(&p, '/', 8, &hi))
        return false;
    p++;
    if (!hex_run(&p, '\0', 8, &lo))
        return false;
    *out = hi << 32 | lo;
    return true;
}

void
lsn_encode(uint64_t lsn, char out[LSN_TOKEN_LEN + 1])
{
    snprintf(out, LSN_TOKEN_LEN + 1, "%016llx", (unsigned long long)lsn);
}

bool
lsn_decode(const char *token, uint64_t *out)
{
    const char *p = token;
    uint64_t v;

    if (token == NULL || !hex_run(&p, '\0', LSN_TOKEN_LEN, &v) || p - token != LSN_TOKEN_LEN ||
        v == 0)
        return false;
    *out = v;
    return true;
}
