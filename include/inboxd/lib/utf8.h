/*
 * utf8: counting the characters (Unicode code points) of UTF-8 text.
 * Length limits of the API are in characters, never bytes: a name of 100
 * Hebrew letters or emoji is as long as one of 100 Latin letters.
 */
#ifndef INBOXD_UTF8_H
#define INBOXD_UTF8_H

#include <stddef.h>

/* The number of code points in s[0..n), which must be valid UTF-8 (every
 * byte that is not a continuation byte starts one). */
size_t utf8_chars(const char *s, size_t n) __attribute__((warn_unused_result));

#endif
