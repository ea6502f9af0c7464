/*
 * shared: an object published for many readers, replaced whole.
 *
 * The slot holds one reference of the object in force. A reader takes its
 * own under the slot's mutex, so the object cannot be replaced and freed
 * between reading the pointer and counting the reference; letting go is
 * a plain atomic decrement, and whoever brings the count to zero (a
 * reader, or the publisher dropping the slot's reference) frees it. So no
 * object is freed while in the slot or held. Never here: what the objects
 * hold.
 */
#include "inboxd/lib/shared.h"

#include <stddef.h>

void
shared_publish(struct shared_slot *slot, struct shared *sh)
{
    struct shared *old;

    if (sh != NULL)
        atomic_store(&sh->refs, 1); /* the slot's */
    pthread_mutex_lock(&slot->mu);
    old = slot->current;
    slot->current = sh;
    pthread_mutex_unlock(&slot->mu);
    shared_release(old);
}

struct shared *
shared_hold(struct shared_slot *slot)
{
    struct shared *sh;

    pthread_mutex_lock(&slot->mu);
    sh = slot->current;
    if (sh != NULL)
        atomic_fetch_add(&sh->refs, 1);
    pthread_mutex_unlock(&slot->mu);
    return sh;
}

void
shared_release(struct shared *sh)
{
    if (sh != NULL && atomic_fetch_sub(&sh->refs, 1) == 1)
        sh->free(sh);
}
