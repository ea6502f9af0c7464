/*
 * utf8: checking UTF-8 text, and counting its characters (code points).
 * Length limits of the API are in characters, never bytes: a name of 100
 * Hebrew letters or emoji is as long as one of 100 Latin letters.
 */
#ifndef INBOXD_UTF8_H
#define INBOXD_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* The number of code points in s[0..n), which must be valid UTF-8 (every
 * byte that is not a continuation byte starts one). */
size_t utf8_chars(const char *s, size_t n) __attribute__((warn_unused_result));

/* The length (1 to 4) of the well-formed UTF-8 sequence that s[0..n)
 * starts with, or 0 when it starts with none: no overlong forms,
 * surrogates or code points past U+10FFFF. */
size_t utf8_seq(const char *s, size_t n) __attribute__((warn_unused_result));

/* Whether s[0..n) is well-formed UTF-8 throughout. */
bool utf8_valid(const char *s, size_t n) __attribute__((warn_unused_result));

#endif
