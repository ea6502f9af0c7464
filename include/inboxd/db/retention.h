/*
 * db_retention: one retention sweep (API.md "Administration", and the
 * retention paragraph of "Additions in v1.1").
 *
 * A sweep works through one list of tables (retention.c, `tables`), each
 * with its own rule and period in days (0: that table is kept forever):
 *
 *   idempotency_keys       deleted once past their 24 h replay window
 *   webhook_events         every status, with payload and raw body, after 14 d
 *   learning_samples       after `learning_samples_days` (0 by default: kept)
 *   drafts                 archived/superseded with no learning sample, after 90 d
 *   message_bodies         messages of conversations closed longer than
 *                          `closed_days`: body text, HTML and subject blanked
 *   draft_texts            drafts of those conversations: suggested text blanked
 *   action_texts           their actions: final text, HTML, notes, diff blanked
 *   webhook_payloads       webhook events that made their messages: payload, raw body
 *   conversation_subjects  those conversations, once every copy above is blank:
 *                          subject blanked
 *   conversations          soft-deleted ones after 30 d, with all they hold
 *   notifications          after 90 d
 *   draft_requests         done/failed ones, 30 d after they finished
 *   job_runs               succeeded/failed ones, 90 d after they finished
 *   audit_log              after `audit_log_days` (0 by default: kept)
 *   events                 the live event log, after `events_days` (7); the
 *                          furthest position deleted is the account's horizon
 *
 * Each table is a loop of short transactions of at most `batch` rows each
 * (rows locked by someone else are skipped, not waited for), so a large
 * backlog never holds locks for long and a sweep can stop between batches.
 */
#ifndef INBOXD_DB_RETENTION_H
#define INBOXD_DB_RETENTION_H

#include <stdatomic.h>

#include "inboxd/db/who.h"
#include "inboxd/lib/problem.h"

/* The periods, in days; 0 keeps that table's rows forever. */
struct retention_periods {
    int closed_days;           /* retention_closed_days: blank copied text, >= 1 */
    int webhook_events_days;   /* retention_webhook_events_days */
    int drafts_days;           /* retention_drafts_days */
    int deleted_days;          /* retention_deleted_days: soft-deleted conversations */
    int notifications_days;    /* retention_notifications_days */
    int draft_requests_days;   /* retention_draft_requests_days (finished ones) */
    int job_runs_days;         /* retention_job_runs_days (finished ones) */
    int learning_samples_days; /* retention_learning_samples_days */
    int audit_log_days;        /* retention_audit_log_days */
    int events_days;           /* retention_events_days */
};

struct retention_opts {
    int batch; /* rows per transaction (retention_batch), >= 1 */
    struct retention_periods days;
    const atomic_bool *cancel; /* when not NULL and true, stop before the next batch */
};

/* The tables of a sweep, in the order it works through them. */
#define RETENTION_TABLES 15

/* What one sweep did, per table: rows deleted or blanked. */
struct retention_counts {
    long long rows[RETENTION_TABLES];
};

/* Table i's name (snake_case: the metric's label and the command line's)
 * and its field in the RetentionResult of openapi.json (camelCase). */
const char *retention_table_name(int i);
const char *retention_table_field(int i);

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

/* Totals of this process since it started, for /metrics: rows per table
 * (rows[i] as above), and the Unix time the last sweep that ran to its end
 * finished (0: none yet). */
void db_retention_stats(unsigned long long rows[RETENTION_TABLES], long long *last_sweep_unix);

#endif
