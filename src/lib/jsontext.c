/*
 * jsontext: json_dumps(), then every real token rewritten in its shortest
 * round-trip form. Only tokens outside strings are touched; jansson's
 * output is valid JSON, so a string is '"' to the next unescaped '"'.
 * No HTTP and no database here.
 */
#include "inboxd/lib/jsontext.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inboxd/lib/sbuf.h"

/* The shortest "%.*g" of d that strtod() reads back as d, kept a real in
 * JSON's eyes the way jansson keeps it ("1.0", not "1"). */
static void
add_real(struct sbuf *b, const char *tok, size_t n)
{
    char in[64], out[40];
    double d;

    if (n >= sizeof(in)) {
        sbuf_add(b, tok, n);
        return;
    }
    memcpy(in, tok, n);
    in[n] = '\0';
    d = strtod(in, NULL);
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, sizeof(out), "%.*g", prec, d);
        if (strtod(out, NULL) == d)
            break;
    }
    sbuf_adds(b, out);
    if (strpbrk(out, ".eEni") == NULL) /* "n", "i": never, JSON has no nan/inf */
        sbuf_adds(b, ".0");
}

char *
jsontext_dump(const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    struct sbuf b;
    const char *p;

    if (text == NULL)
        return NULL;
    sbuf_init(&b);
    for (p = text; *p;) {
        if (*p == '"') {
            const char *q = p + 1;

            while (*q != '"')
                q += *q == '\\' ? 2 : 1;
            sbuf_add(&b, p, (size_t)(q + 1 - p));
            p = q + 1;
        } else if (*p == '-' || (*p >= '0' && *p <= '9')) {
            size_t n = strspn(p, "-+0123456789.eE");
            bool real = memchr(p, '.', n) != NULL || memchr(p, 'e', n) != NULL ||
                        memchr(p, 'E', n) != NULL;

            if (real)
                add_real(&b, p, n);
            else
                sbuf_add(&b, p, n);
            p += n;
        } else {
            sbuf_add(&b, p, 1);
            p++;
        }
    }
    free(text);
    return sbuf_steal(&b, NULL);
}
