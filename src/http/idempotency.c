/*
 * idempotency: Idempotency-Key on POST (API.md "Conventions"): the first
 * request's answer is stored with the key in the same database, and a
 * repeat gets it back. Never here: deciding what the handler answers.
 *
 * A 5xx releases the key so that a retry runs. When the database is what
 * failed, the release fails too; it is then kept in `pending` and tried
 * again before the next claim of any keyed request, so the caller's retry,
 * once PostgreSQL is back, is not told "in flight" about an attempt that
 * was answered long ago. The list is bounded; what does not fit (or an
 * instance that stops) is covered by the record's lease.
 */
#include "inboxd/http/request.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inboxd/db/idem.h"
#include "inboxd/http/server.h"
#include "inboxd/lib/log.h"

/* Idempotency-Key: 1-255 visible ASCII characters (the draft's advice). */
static int
idem_key(const struct req *rq, const char **key, struct problem *pb)
{
    const char *k = req_header(rq, "Idempotency-Key");
    size_t n;

    *key = NULL;
    if (k == NULL || strcmp(rq->method, "POST") != 0)
        return 0;
    n = strlen(k);
    if (n == 0 || n > 255)
        return problem_set(pb, 400, "invalid-header", "Idempotency-Key must be 1-255 characters");
    for (size_t i = 0; i < n; i++)
        if (k[i] < 0x20 || k[i] > 0x7e)
            return problem_set(pb, 400, "invalid-header",
                               "Idempotency-Key must be printable ASCII");
    *key = k;
    return 0;
}

/* Releases that could not reach the database, oldest first. */
#define PENDING_MAX 256

struct release {
    char account_id[37];
    char key[256];
    char claim[48];
};

static pthread_mutex_t pending_mu = PTHREAD_MUTEX_INITIALIZER;
static struct release pending[PENDING_MAX];
static size_t npending;

static void
pending_add(const struct who *w, const char *key, const char *claim)
{
    pthread_mutex_lock(&pending_mu);
    if (npending == PENDING_MAX) {
        /* The oldest one's lease runs out first anyway. */
        memmove(&pending[0], &pending[1], (PENDING_MAX - 1) * sizeof(pending[0]));
        npending--;
    }
    snprintf(pending[npending].account_id, sizeof(pending[0].account_id), "%s", w->account_id);
    snprintf(pending[npending].key, sizeof(pending[0].key), "%s", key);
    snprintf(pending[npending].claim, sizeof(pending[0].claim), "%s", claim);
    npending++;
    pthread_mutex_unlock(&pending_mu);
}

/* Tries every pending release once; keeps those that fail again. The
 * lock is not held across the database calls: each entry is taken out,
 * tried, and put back on failure. */
static void
pending_retry(void)
{
    size_t n;

    pthread_mutex_lock(&pending_mu);
    n = npending;
    pthread_mutex_unlock(&pending_mu);
    while (n-- > 0) {
        struct release r;
        struct who w = {0};
        struct problem ipb = {0};

        pthread_mutex_lock(&pending_mu);
        if (npending == 0) {
            pthread_mutex_unlock(&pending_mu);
            return;
        }
        r = pending[0];
        memmove(&pending[0], &pending[1], (npending - 1) * sizeof(pending[0]));
        npending--;
        pthread_mutex_unlock(&pending_mu);
        memcpy(w.account_id, r.account_id, sizeof(w.account_id));
        if (db_idem_abort(&w, r.key, r.claim, &ipb) != 0) {
            pending_add(&w, r.key, r.claim);
            return; /* still unreachable: the others would fail the same way */
        }
    }
}

int
req_idempotency(struct req *rq, struct reply *out, struct problem *pb)
{
    struct idem_replay rp = {0};
    const char *key;
    int st;

    if (rq->idem_key != NULL || rq->idem_replayed)
        return rq->idem_replayed ? 1 : 0;
    if (idem_key(rq, &key, pb) != 0)
        return -1;
    if (key == NULL)
        return 0;
    pending_retry();
    st = db_idem_begin(&rq->who, key, rq->method, rq->url, server_config()->idempotency_lease_s, &rp, pb);
    if (st < 0)
        return -1;
    if (st == IDEM_REPLAY) {
        reply_text(out, rp.status, rp.body, rp.len,
                   rp.status >= 400 ? "application/problem+json" : "application/json");
        memcpy(out->etag, rp.etag, sizeof(out->etag));
        out->replayed = true;
        rq->idem_replayed = true;
        return 1;
    }
    rq->idem_key = key;
    snprintf(rq->idem_claim, sizeof(rq->idem_claim), "%s", rp.claim);
    return 0;
}

void
req_idempotency_settle(struct req *rq, const char *key, const struct reply *out, const struct problem *pb,
            bool ok)
{
    struct problem ipb = {0};
    int status = ok ? (out->status ? out->status : 200) : pb->status;
    int rc;

    if (status >= 500 || (ok && (out->stream || out->parts))) {
        rc = db_idem_abort(&rq->who, key, rq->idem_claim, &ipb);
        if (rc != 0) {
            pending_add(&rq->who, key, rq->idem_claim);
            log_event(LOG_WARN, &rq->log, "http.idempotency_release_deferred",
                      LOG_I("status", status));
            return;
        }
    } else if (ok) {
        rc = db_idem_finish(&rq->who, key, status, out->body ? out->body : "",
                            out->etag[0] ? out->etag : NULL, &ipb);
    } else {
        char *text = problem_render(pb, rq->request_id);

        rc = text ? db_idem_finish(&rq->who, key, status, text, NULL, &ipb) : -1;
        free(text);
    }
    if (rc != 0)
        log_event(LOG_WARN, &rq->log, "http.idempotency_unsettled", LOG_I("status", status));
}

