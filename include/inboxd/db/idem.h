/*
 * db_idem: the Idempotency-Key records behind every POST (API.md
 * "Conventions"; the IETF Idempotency-Key draft).
 *
 * A first request inserts an `in_flight` record and commits it, so a
 * concurrent repeat sees it (409) instead of writing twice; the answer is
 * stored when the request finishes and replayed for 24 h to a repeat with
 * the same key, method, path and body hash. A repeat with another body is a
 * 422. Server errors delete the record so the caller can retry; when even
 * that cannot reach the database, the HTTP layer retries the release later
 * (http/idempotency.c), and `lease_s` bounds the wait on any instance.
 *
 * The window: if inboxd dies between a handler's commit and db_idem_finish,
 * the record stays `in_flight`; after `lease_s` it may be taken over, and
 * that one retry runs the handler again. Handlers whose writes dedupe by
 * their own keys (external ids, delivery ids, draft state) stay exact.
 */
#ifndef INBOXD_DB_IDEM_H
#define INBOXD_DB_IDEM_H

#include <stddef.h>

#include "inboxd/db/who.h"
#include "inboxd/lib/problem.h"

enum idem_state { IDEM_PROCEED, IDEM_REPLAY };

struct idem_replay {
    int status;
    char *body;      /* new malloc()ed; caller frees */
    size_t len;
    char etag[72];   /* the first answer's ETag header, "" for none */
    char claim[48];  /* IDEM_PROCEED: the claim's created_at, for db_idem_abort */
};

/* Starts or finds the record. IDEM_PROCEED: run the handler, then finish
 * or abort. IDEM_REPLAY: send `rp`. -1 with pb: 409 (first still in
 * flight), 422 (key reused with another request), 503. */
int db_idem_begin(const struct who *w, const char *key, const char *method, const char *path,
                  int lease_s, struct idem_replay *rp, struct problem *pb)
    __attribute__((warn_unused_result));

/* Stores the answer of the first request (etag: its ETag header, or NULL). */
int db_idem_finish(const struct who *w, const char *key, int status, const char *body,
                   const char *etag, struct problem *pb) __attribute__((warn_unused_result));

/* Forgets the record of the claim `claim` (rp->claim of db_idem_begin:
 * the first request failed on our side); a record claimed since by
 * another request is left alone. 0 also when there is nothing to delete. */
int db_idem_abort(const struct who *w, const char *key, const char *claim, struct problem *pb)
    __attribute__((warn_unused_result));

#endif
