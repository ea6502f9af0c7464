/*
 * wake: one thread waits for another to hand it something, on a futex word
 * of its own.
 *
 * The giver sets the word (wake_set, usually under its own mutex) and
 * wakes the waiter after letting any mutex go (wake_word), so the woken
 * thread does not at once block on that mutex; condition variables
 * signalled under the mutex cost every hand-over two more futex calls and
 * a context switch. Setting the word is the giver's last write to the
 * waiter's memory: a waiter that sees it may return at once, and the
 * FUTEX_WAKE that follows only names the address; at worst it wakes the
 * next waiter of that thread at the same place, which finds its word 0 and
 * sleeps again.
 */
#ifndef INBOXD_WAKE_H
#define INBOXD_WAKE_H

#include <stdatomic.h>
#include <time.h>

/* Wakes one thread sleeping on word (after the word was set). */
void wake_word(atomic_uint *word);

/* Sleeps while *word is 0, until `until` (CLOCK_MONOTONIC; NULL: no limit).
 * Returns the word (0 on time-out). */
unsigned wake_wait(atomic_uint *word, const struct timespec *until);

#endif
