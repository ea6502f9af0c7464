/*
 * jobs: the threads that run what must wait on the database, while the
 * loop, which never waits, goes on serving.
 */
#ifndef INBOXD_JOBS_H
#define INBOXD_JOBS_H

#include <stddef.h>

#include "inboxd/http/reply.h"
#include "inboxd/lib/problem.h"

struct req;

/* Starts n job threads with stacks of `stack` bytes. Returns 0 or -1
 * (then call jobs_stop()). */
int jobs_start(int n, size_t stack);

/* Stops them once their queue is empty. */
void jobs_stop(void);

/* Suspends rq's connection until something resumes it (req_resume); call
 * from an MHD callback of that connection. */
void req_suspend(struct req *rq);

/* Suspends rq's connection until a job thread has run for it: the
 * handler (server_handle), or the refill of its streamed reply. */
void jobs_wait(struct req *rq);

/* A started route on a job thread (its key was not cached, or it is a
 * POST): start, wait here for the reader, render. */
int req_run_started(struct req *rq, struct reply *out, struct problem *pb);

/* Resumes rq's suspended connection (req_suspend) from any thread: the
 * loop then calls it again. */
void req_wake(struct req *rq);

/* Runs rq's handler again on a job thread; its connection is suspended
 * already (a claim that waited: live.h). */
void jobs_rerun(struct req *rq);

/* Connections suspended now: their job or read still uses them. */
int jobs_suspended(void);

#endif
