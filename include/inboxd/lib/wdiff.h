/*
 * wdiff: the word-level edit stored for an `edit` action (API.md "Review").
 *
 * A text is cut into tokens: a maximal run of word bytes (ASCII letters and
 * digits, and every byte of a UTF-8 multibyte sequence, so a sequence is
 * never split), a maximal run of whitespace (space, \t, \n, \v, \f, \r), or
 * one byte of anything else (punctuation). The edit is a JSON array of
 * operations over those tokens,
 *
 *     [{"op": "equal"|"delete"|"insert", "text": "..."}, ...]
 *
 * that, replayed over the original text, gives the new text byte for byte:
 * "equal" and "delete" consume their text from the original (which must be
 * there), "equal" and "insert" produce theirs.
 */
#ifndef INBOXD_WDIFF_H
#define INBOXD_WDIFF_H

#include <jansson.h>
#include <stddef.h>

/* Computes the edit from from[0..from_len) to to[0..to_len) (no NUL
 * terminators needed; either pointer may be NULL when its length is 0).
 * Both must be valid UTF-8; since tokens never split a UTF-8 sequence, every
 * op's text then is too. Ops are merged: no op has empty text and no two
 * neighbours have the same kind; between two "equal"s the "delete" comes
 * before the "insert". Two empty texts give an empty array.
 * The diff is minimal in tokens for small texts and wherever that is cheap,
 * and close to minimal elsewhere (texts are split at runs of tokens unique
 * to both, the pieces diffed exactly); for realistic edits, up to a fifth of
 * the words changed with any vocabulary, the tests find it minimal. The
 * work is bounded by a budget linear in the number of tokens, memory is
 * linear too (about 25 bytes a token, plus about 0.4 KiB an op for the
 * JSON). Past the budget, and in text that only repeats a short pattern,
 * what is left becomes one delete and one insert: still an exact edit,
 * just a coarser one. Two 64 KiB texts take 2-25 ms whatever they hold, two
 * 512 KiB texts up to about 0.2 s (-O2, one core; test_wdiff.c prints
 * timings).
 * Returns a new reference (caller json_decref()s), or NULL on OOM or when a
 * text is not valid UTF-8. The "op" strings are shared by the objects of
 * the array (three of them, not one per op): treat the ops as read-only. */
json_t *wdiff_ops(const char *from, size_t from_len, const char *to, size_t to_len)
    __attribute__((warn_unused_result));

/* Replays ops over from[0..from_len). Ops that are not such an array, name
 * another op, or do not match from (an "equal"/"delete" text that is not
 * next in from, or from not consumed to its end) are refused. Empty texts
 * are accepted. Returns a new malloc()ed NUL-terminated string (caller
 * free()s; it may contain NULs if the texts do) with its length in *out_len
 * (out_len may be NULL), or NULL when refused or on OOM (*out_len untouched). */
char *wdiff_apply(const char *from, size_t from_len, const json_t *ops, size_t *out_len)
    __attribute__((warn_unused_result));

#endif
