/*
 * test_wake: a futex word hands a value from one thread to another, and a
 * wait with a deadline that has passed returns the word as it is.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <time.h>

#include "inboxd/lib/wake.h"

static void *
giver(void *arg)
{
    atomic_uint *word = arg;

    atomic_store_explicit(word, 7, memory_order_release);
    wake_word(word);
    return NULL;
}

Test(wake, a_waiter_gets_the_word_another_thread_set)
{
    atomic_uint word = 0;
    pthread_t th;

    cr_assert_eq(pthread_create(&th, NULL, giver, &word), 0);
    cr_assert_eq(wake_wait(&word, NULL), 7);
    pthread_join(th, NULL);
}

Test(wake, a_word_already_set_is_returned_at_once)
{
    atomic_uint word = 3;

    cr_assert_eq(wake_wait(&word, NULL), 3);
}

Test(wake, a_passed_deadline_returns_zero)
{
    atomic_uint word = 0;
    struct timespec past;

    clock_gettime(CLOCK_MONOTONIC, &past);
    past.tv_sec -= 1;
    cr_assert_eq(wake_wait(&word, &past), 0);
}
