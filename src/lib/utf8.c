/*
 * utf8: see utf8.h. utf8_chars does no validation: callers count text
 * that jansson or utf8_valid() has already checked.
 */
#include "inboxd/lib/utf8.h"

size_t
utf8_chars(const char *s, size_t n)
{
    size_t chars = 0;

    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)s[i] & 0xC0) != 0x80;
    return chars;
}

size_t
utf8_seq(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned c, cp;
    size_t more;

    if (n == 0)
        return 0;
    c = p[0];
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        more = 1, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        more = 2, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        more = 3, cp = c & 0x07;
    else
        return 0;
    if (n <= more)
        return 0;
    for (size_t i = 1; i <= more; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    /* Overlong forms, surrogates and code points past U+10FFFF. */
    if ((more == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (more == 3 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return more + 1;
}

bool
utf8_valid(const char *s, size_t n)
{
    for (size_t i = 0, k; i < n; i += k)
        if ((k = utf8_seq(s + i, n - i)) == 0)
            return false;
    return true;
}
