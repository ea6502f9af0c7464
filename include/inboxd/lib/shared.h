/*
 * shared: one immutable object that many threads read and a writer
 * replaces whole (RCU-like, with reference counts): the configuration in
 * force, the TLS certificates in force.
 *
 * A reader holds the object it got until it lets go; publishing a new one
 * never changes or frees an object under a reader: the old one is freed
 * (its free function runs) when its last holder lets go.
 */
#ifndef INBOXD_SHARED_H
#define INBOXD_SHARED_H

#include <pthread.h>
#include <stdatomic.h>

/* Embedded in the shared object; free() frees the object around it. */
struct shared {
    atomic_int refs;
    void (*free)(struct shared *sh);
};

/* Where the object in force is published. */
struct shared_slot {
    pthread_mutex_t mu; /* only for taking a reference of `current` */
    struct shared *current;
};

#define SHARED_SLOT_INIT                                                                           \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, NULL                                                            \
    }

/* Makes sh (ownership taken; NULL withdraws) the object in force. */
void shared_publish(struct shared_slot *slot, struct shared *sh);

/* The object in force with a reference the caller lets go of with
 * shared_release(), or NULL when none is published. */
struct shared *shared_hold(struct shared_slot *slot);

/* Lets go of a reference (NULL is fine); the last one frees the object. */
void shared_release(struct shared *sh);

#endif
