/*
 * wake: futex words (see wake.h).
 */
#include "inboxd/lib/wake.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

void
wake_word(atomic_uint *word)
{
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

unsigned
wake_wait(atomic_uint *word, const struct timespec *until)
{
    unsigned v;

    while ((v = atomic_load_explicit(word, memory_order_acquire)) == 0) {
        if (syscall(SYS_futex, word, FUTEX_WAIT_BITSET_PRIVATE, 0, until, NULL,
                    FUTEX_BITSET_MATCH_ANY) != 0 &&
            errno == ETIMEDOUT)
            return atomic_load_explicit(word, memory_order_acquire);
    }
    return v;
}
