/*
 * db_retention: one retention sweep (API.md "Administration").
 *
 * The rules: webhook events succeeded/skipped older than 14 days are
 * deleted; archived/superseded drafts older than 90 days with no learning
 * sample are deleted (with their actions); message bodies of conversations
 * closed longer than `closed_days` are blanked (body_text '', body_html
 * NULL), each message once; conversations soft-deleted more than 30 days ago
 * are removed with everything that hangs off them.
 *
 * Each rule is a loop of short transactions of at most `batch` rows each
 * (rows locked by someone else are skipped, not waited for), so a large
 * backlog never holds locks for long and a sweep can stop between batches.
 */
#ifndef INBOXD_DB_RETENTION_H
#define INBOXD_DB_RETENTION_H

#include <stdatomic.h>

#include "inboxd/db/who.h"
#include "inboxd/lib/problem.h"

struct retention_opts {
    int batch;                 /* rows per transaction (retention_batch), >= 1 */
    int closed_days;           /* retention_closed_days, >= 1 */
    const atomic_bool *cancel; /* when not NULL and true, stop before the next batch */
};

/* What one sweep did: the RetentionResult of openapi.json. */
struct retention_counts {
    long long webhook_events; /* deleted */
    long long drafts;         /* deleted */
    long long message_bodies; /* blanked */
    long long conversations;  /* removed */
};

/*
 * POST /v1/admin/retention/run: sweeps the caller's account only, after
 * auditing "retention.run" (resource "account"). *out is reset, then holds
 * the counts. A sweep that fails half-way keeps what its finished batches
 * did. Returns 0, or -1 with pb (503).
 */
int db_retention_run(const struct who *w, const struct retention_opts *o,
                     struct retention_counts *out, struct problem *pb)
    __attribute__((warn_unused_result));

/*
 * `inboxd retention` and the in-process timer: sweeps every account, one
 * after the other, holding the PostgreSQL advisory lock 7345102205
 * (session level, pg_try_advisory_lock) so that of several instances
 * one sweeps at a time. *out is reset, then holds the totals. Returns 0
 * (also when cancelled: *out has what was done), 1 when another sweep
 * holds the lock (nothing done), or -1 with pb (503).
 */
int db_retention_run_all(const struct retention_opts *o, struct retention_counts *out,
                         struct problem *pb) __attribute__((warn_unused_result));

#endif
