/*
 * idempotency: Idempotency-Key on POST (API.md "Conventions"): the first
 * request's answer is stored with the key in the same database, and a
 * repeat gets it back. Never here: deciding what the handler answers.
 */
#include "inboxd/http/request.h"

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
        rc = db_idem_abort(&rq->who, key, &ipb);
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

