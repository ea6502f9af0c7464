/*
 * utf8: see utf8.h. No validation here: callers count text that jansson or
 * the query reader has already checked.
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
