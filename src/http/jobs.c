/*
 * jobs: the JOB_THREADS threads that run what must wait on the database
 * (a handler, the refill of a streamed reply) while the loop goes on; a
 * request's connection is suspended meanwhile and resumed when its job is
 * done. Never here: sending on a connection (the loop does that).
 */
#include "inboxd/http/jobs.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "inboxd/http/live.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/http/server.h"
#include "inboxd/lib/wake.h"

/* --- suspending and resuming ------------------------------------------------ */

/*
 * Where a handler runs. The loop never waits: the connection is suspended
 * while a job thread runs the handler, or, for a route with start(), while
 * the reader does its read; then it is resumed, and the loop sends the
 * answer (MHD queues responses only from its own thread).
 */
static atomic_int suspended;

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct req *head, **tail;
    pthread_t *threads;
    int n;
    bool stop;
} jobs = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* Hands the request back to its HTTP thread; the last touch of rq. */
static void
resume(struct req *rq)
{
    atomic_store_explicit(&rq->phase, REQ_READY, memory_order_release);
    atomic_fetch_sub(&suspended, 1);
    MHD_resume_connection(rq->conn);
    server_loop_wake();
}

void
req_resume(void *arg, int rc, const struct problem *pb)
{
    struct req *rq = arg;

    rq->ok = rc >= 0;
    rq->must_wait = rc > 0;
    if (rc < 0 && pb != &rq->pb)
        rq->pb = *pb;
    if (rq->thread_waits) {
        atomic_store_explicit(&rq->resumed, 1, memory_order_release);
        wake_word(&rq->resumed);
    } else {
        resume(rq);
    }
}

int
req_run_started(struct req *rq, struct reply *out, struct problem *pb)
{
    const struct route *r = rq->match.route;

    atomic_store(&rq->resumed, 0);
    rq->thread_waits = true;
    rq->started = true;
    if (r->start(rq, pb) != 0)
        return -1;
    wake_wait(&rq->resumed, NULL);
    rq->thread_waits = false;
    if (!rq->ok)
        return -1;
    return r->fn(rq, out, pb);
}

static void
job_push(struct req *rq)
{
    rq->next_job = NULL;
    pthread_mutex_lock(&jobs.mu);
    *jobs.tail = rq;
    jobs.tail = &rq->next_job;
    pthread_cond_signal(&jobs.cv);
    pthread_mutex_unlock(&jobs.mu);
}

static void *
job_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct req *rq;

        pthread_mutex_lock(&jobs.mu);
        while (jobs.head == NULL && !jobs.stop)
            pthread_cond_wait(&jobs.cv, &jobs.mu);
        rq = jobs.head;
        if (rq == NULL) {
            pthread_mutex_unlock(&jobs.mu);
            return NULL;
        }
        jobs.head = rq->next_job;
        if (jobs.head == NULL)
            jobs.tail = &jobs.head;
        pthread_mutex_unlock(&jobs.mu);
        if (rq->pump != NULL) {
            struct pump *p = rq->pump;

            rq->pump = NULL;
            reply_pump_fill(p);
        } else {
            server_handle(rq);
            /* A claim that found nothing to claim waits in the hub,
             * which runs it again when work arrives or its wait ends. */
            if (rq->wait.park) {
                rq->wait.park = false;
                rq->wait.rerun = true;
                live_park(rq);
                continue;
            }
        }
        resume(rq);
    }
}

void
req_suspend(struct req *rq)
{
    atomic_store(&rq->phase, REQ_WAITING);
    atomic_fetch_add(&suspended, 1);
    MHD_suspend_connection(rq->conn);
}

void
req_wake(struct req *rq)
{
    resume(rq);
}

void
jobs_rerun(struct req *rq)
{
    job_push(rq);
}

void
jobs_wait(struct req *rq)
{
    req_suspend(rq);
    job_push(rq);
}


int
jobs_start(int n, size_t stack)
{
    pthread_attr_t attr;

    jobs.head = NULL;
    jobs.tail = &jobs.head;
    jobs.stop = false;
    jobs.threads = calloc((size_t)n, sizeof(*jobs.threads));
    if (jobs.threads == NULL)
        return -1;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, stack);
    for (jobs.n = 0; jobs.n < n; jobs.n++)
        if (pthread_create(&jobs.threads[jobs.n], &attr, job_main, NULL) != 0)
            break;
    pthread_attr_destroy(&attr);
    return jobs.n == n ? 0 : -1;
}

void
jobs_stop(void)
{
    pthread_mutex_lock(&jobs.mu);
    jobs.stop = true;
    pthread_cond_broadcast(&jobs.cv);
    pthread_mutex_unlock(&jobs.mu);
    for (int i = 0; i < jobs.n; i++)
        pthread_join(jobs.threads[i], NULL);
    free(jobs.threads);
    jobs.threads = NULL;
    jobs.n = 0;
}


int
jobs_suspended(void)
{
    return atomic_load(&suspended);
}
